//! A 3-server raft-kv cluster of separate `raft-kv server` processes on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::processes::{all_running, free_addresses, wait_until, Leash, Process};
use crate::Putter;

/// Servers of the cluster.
const SERVERS: usize = 3;

/// The `raft-kv` binary the bench runs: `RAFT_KV_BIN` if set, else the one next to this
/// bench's own profile directory (`target/release/raft-kv` under `cargo bench`,
/// `target/debug/raft-kv` under `cargo test`).
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("RAFT_KV_BIN") {
        return PathBuf::from(path);
    }
    // The bench runs as <target>/<profile>/deps/etcd-<hash>.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("raft-kv")))
        .unwrap_or_else(|| PathBuf::from("raft-kv"))
}

/// A running raft-kv cluster: killed when dropped.
pub struct KvCluster {
    processes: Vec<Process>,
    clients: Vec<SocketAddr>,
}

impl KvCluster {
    /// Starts three servers of `binary` with data directories under `root` (the disk
    /// storage, which syncs every write before it is acknowledged) and waits until a put
    /// succeeds.
    pub fn start(binary: &Path, root: &Path) -> Result<KvCluster, String> {
        let addresses = free_addresses(2 * SERVERS).map_err(|e| e.to_string())?;
        let (clients, peers) = addresses.split_at(SERVERS);
        let list = |addresses: &[SocketAddr]| {
            addresses
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let secret = root.join("secret");
        // Peers authenticate each other with it; a bench on 127.0.0.1 needs no real secret.
        std::fs::write(&secret, b"raft-kv bench cluster, 127.0.0.1 only")
            .map_err(|e| format!("cannot write {}: {e}", secret.display()))?;
        let mut processes = Vec::new();
        for id in 0..SERVERS {
            let mut command = Command::new(binary);
            command
                .args(["server", "--id", &id.to_string()])
                .args(["--peers", &list(peers), "--clients", &list(clients)])
                .arg("--data-dir")
                .arg(root.join(format!("server-{id}")))
                .arg("--create")
                .arg("--secret-file")
                .arg(&secret)
                .arg("--exit-with-parent");
            let log = root.join(format!("raft-kv-{id}.log"));
            let process =
                Process::spawn(&format!("raft-kv server {id}"), command, &log, Leash::Stdin)
                    .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
            processes.push(process);
        }
        let mut cluster = KvCluster {
            processes,
            clients: clients.to_vec(),
        };
        let mut probe = cluster.client();
        probe.deadline = Duration::from_secs(1);
        wait_until(Duration::from_secs(30), || {
            all_running(&mut cluster.processes, root)?;
            probe
                .put("bench-ready", "yes")
                .map_err(|e| format!("no put succeeds yet: {e}"))
        })?;
        Ok(cluster)
    }

    /// A client of the cluster (raft-kv's client library: it finds the leader).
    pub fn client(&self) -> raft_kv::Client {
        raft_kv::Client::new(self.clients.clone())
    }

    /// CPU time used so far by all servers.
    pub fn cpu_time(&self) -> Duration {
        self.processes.iter().filter_map(Process::cpu_time).sum()
    }
}

impl Putter for raft_kv::Client {
    fn put(&mut self, key: &str, value: &str) -> Result<(), String> {
        raft_kv::Client::put(self, key, value).map_err(|e| e.to_string())
    }
}
