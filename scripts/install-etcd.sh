#!/usr/bin/env bash
# Installs etcd (server and etcdctl) for the raft-kv vs etcd benchmark
# (scripts/bench-etcd.sh, docs/performance.md "raft-kv against etcd").
#
# Debian's packages `etcd-server` and `etcd-client` (bookworm: etcd 3.4.23), with apt-get.
# Idempotent: does nothing if `etcd` is already on PATH. Needs root (or sudo) to install.
# Prints the version in use (`sed -n 1p`, not `head -n 1`: head may exit before etcd has
# written its other lines, and the SIGPIPE would fail the script under pipefail).
set -euo pipefail

if ! command -v etcd >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-etcd: etcd is not on PATH and there is no apt-get here;" >&2
        echo "install etcd 3.4+ yourself (https://etcd.io/docs/v3.4/install/)" >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    # --no-install-recommends: the package's recommendations are not needed to run it.
    $sudo apt-get install -y -q --no-install-recommends etcd-server etcd-client
    # Debian's package enables a system-wide etcd service on 127.0.0.1:2379; where systemd
    # runs, it is stopped and disabled so it neither holds the benchmark's ports nor adds
    # load during a run. (In a container without systemd it was never started.)
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
        $sudo systemctl disable --now etcd || true
    fi
fi

etcd --version | sed -n 1p
if command -v etcdctl >/dev/null 2>&1; then
    ETCDCTL_API=3 etcdctl version | sed -n 1p
fi
