#!/usr/bin/env bash
# The whole test suite: the command the README names and CI runs (`.ci/run`).
#
# 1. formatting and lints (warnings are errors);
# 1b. the dependency policy (deny.toml) with cargo-deny, installed if missing: bans, licenses
#    and sources always; advisories when the RustSec database can be had (see below);
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

step "cargo deny (dependency policy, deny.toml)"
./scripts/install-tools.sh
cargo deny check bans licenses sources
# Advisories need the RustSec advisory database, which cargo-deny fetches with git from
# GitHub. Where GitHub is out of reach (some CI machines reach only crates.io) the check
# uses a copy already on the machine and prints its date, or says plainly that advisories
# were not checked: it does not fail the suite for a network it cannot reach.
advisory_dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
    cargo deny check advisories
elif db=$(ls -d "$advisory_dbs"/advisory-db-*/.git 2>/dev/null | head -n 1) && [ -n "$db" ]; then
    db=$(dirname "$db")
    age_days=$(( ($(date +%s) - $(git -C "$db" log -1 --format=%ct)) / 86400 ))
    echo "advisory database not fetchable; using the copy in $db:" \
        "last commit $(git -C "$db" log -1 --format=%cs), $age_days days old" \
        "(advisories published since then are not checked)"
    cargo deny --offline check advisories
else
    echo "WARNING: ADVISORIES NOT CHECKED: the RustSec advisory database could not be" \
        "fetched (no network access to it) and there is no copy in $advisory_dbs"
fi

step "cargo test (all targets)"
cargo test --workspace --all-targets

step "doctests"
cargo test --workspace --doc

step "loom"
./scripts/loom.sh
