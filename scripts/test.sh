#!/usr/bin/env bash
# The whole test suite: the command the README names and CI runs (`.ci/run`).
#
# 1. formatting and lints (warnings are errors);
# 2. every unit, integration, example and bench target of the workspace in the test profile
#    (opt-level 3, debug assertions on): the model checks, the Lab 2 suite (its own runner
#    bounds how many real-time tests run at once), the simulator, trace validation,
#    model-driven tests, proptest, mutation checks, benches run once each;
# 3. doctests (the embedding examples in the docs and the README);
# 4. loom models of the runtime's synchronisation (LOOM_MAX_PREEMPTIONS=2; own target dir).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test (all targets)"
cargo test --workspace --all-targets

step "doctests"
cargo test --workspace --doc

step "loom"
./scripts/loom.sh
