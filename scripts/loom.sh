#!/usr/bin/env bash
# loom models of the threaded runtime (conformance/tests/loom_runtime.rs).
# `--cfg loom` swaps the runtime's locks, condvar, atomics and threads for loom's
# (impl/src/sync.rs). Its own target dir, so the flag change does not invalidate the
# normal build. Deeper: LOOM_MAX_PREEMPTIONS=3 scripts/loom.sh (see docs/conformance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
exec cargo test -p raft-conformance --release --test loom_runtime -- --nocapture --test-threads=1 "$@"
