#!/usr/bin/env bash
# Installs the tools scripts/test.sh needs beyond the Rust toolchain, when missing.
#
# cargo-deny (dependency policy, deny.toml) is built from crates.io with its locked
# dependencies. It is installed only if `cargo deny --version` fails; on a fresh machine the
# build takes several minutes (measured in docs/impl.md, "Dependency policy").
set -euo pipefail

if cargo deny --version >/dev/null 2>&1; then
    echo "cargo-deny present: $(cargo deny --version)"
else
    echo "cargo-deny missing: running 'cargo install cargo-deny --locked' (builds from crates.io)"
    start=$(date +%s)
    cargo install cargo-deny --locked
    echo "cargo-deny installed in $(( $(date +%s) - start )) s: $(cargo deny --version)"
fi
