#!/usr/bin/env bash
# raft-kv against etcd, on this machine (docs/performance.md, "raft-kv against etcd"):
# installs etcd if it is missing (scripts/install-etcd.sh), builds the release `raft-kv`
# binary, and runs the `etcd` bench of the benches crate, which starts a 3-node etcd and a
# 3-node raft-kv (separate processes on 127.0.0.1, data on disk, fsync on), drives both with
# the same client code at 1, 16 and 64 clients, and prints the table.
#
# The machine's load is printed before, every 20 seconds during, and after the run: other
# work on the machine changes every figure.
#
# Arguments go to the bench (a criterion filter, for example `etcd_vs_raft_kv/.*/64`).
# Environment: RAFT_BENCH_ETCD_SECONDS (measurement time per system and client count,
# default 10), RAFT_BENCH_ETCD_DIR (data directories; default target/tmp),
# RAFT_BENCH_ETCD_SYSTEMS (etcd, raft-kv or both).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-etcd.sh
# The bench runs the binary next to its own profile directory: target/release/raft-kv.
cargo build --release -p raft-kv --bin raft-kv

echo "load before the run: $(uptime)"
(
    while sleep 20; do
        echo "load during the run: $(uptime)"
    done
) &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true' EXIT

cargo bench -p raft-benches --bench etcd -- "$@"

echo "load after the run: $(uptime)"
