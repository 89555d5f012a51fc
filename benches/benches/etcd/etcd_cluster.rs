//! A 3-member etcd cluster of separate `etcd` processes on 127.0.0.1, and a put client over
//! etcd's JSON gateway (HTTP/1.1 keep-alive, `POST /v3/kv/put`, base64 keys and values).

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;

use crate::processes::{all_running, free_addresses, wait_until, Leash, Process};
use crate::Putter;

/// Members of the cluster.
const MEMBERS: usize = 3;

/// The etcd program: `RAFT_BENCH_ETCD_BIN`, or `etcd` from PATH.
pub fn program() -> OsString {
    std::env::var_os("RAFT_BENCH_ETCD_BIN").unwrap_or_else(|| "etcd".into())
}

/// `etcd --version`'s first line, or `None` if etcd is not installed.
pub fn version() -> Option<String> {
    let out = Command::new(program()).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| text.lines().next().unwrap_or("").trim().to_string())
}

/// A running etcd cluster: killed when dropped.
pub struct EtcdCluster {
    processes: Vec<Process>,
    client_urls: Vec<String>,
    leader: usize,
}

impl EtcdCluster {
    /// Starts three members with data directories under `root`, etcd's defaults otherwise
    /// (fsync of the WAL on every commit, as etcd always does; snapshot count 100,000), and
    /// waits until they have a leader.
    pub fn start(root: &Path) -> Result<EtcdCluster, String> {
        let addresses = free_addresses(2 * MEMBERS).map_err(|e| e.to_string())?;
        let (client, peer) = addresses.split_at(MEMBERS);
        let client_urls: Vec<String> = client.iter().map(|a| format!("http://{a}")).collect();
        let peer_urls: Vec<String> = peer.iter().map(|a| format!("http://{a}")).collect();
        let initial_cluster = (0..MEMBERS)
            .map(|i| format!("m{i}={}", peer_urls[i]))
            .collect::<Vec<_>>()
            .join(",");
        let mut processes = Vec::new();
        for i in 0..MEMBERS {
            let name = format!("m{i}");
            let mut command = Command::new(program());
            command
                .arg("--name")
                .arg(&name)
                .arg("--data-dir")
                .arg(root.join(&name))
                .args(["--listen-client-urls", &client_urls[i]])
                .args(["--advertise-client-urls", &client_urls[i]])
                .args(["--listen-peer-urls", &peer_urls[i]])
                .args(["--initial-advertise-peer-urls", &peer_urls[i]])
                .args(["--initial-cluster", &initial_cluster])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "raft-bench"])
                .args(["--logger", "zap", "--log-outputs", "stderr"])
                .args(["--log-level", "error"]);
            let log = root.join(format!("etcd-{name}.log"));
            let process = Process::spawn(&format!("etcd {name}"), command, &log, Leash::Watchdog)
                .map_err(|e| format!("cannot start etcd: {e}"))?;
            processes.push(process);
        }
        let mut cluster = EtcdCluster {
            processes,
            client_urls,
            leader: 0,
        };
        let agent = agent();
        cluster.leader = wait_until(Duration::from_secs(30), || {
            all_running(&mut cluster.processes, root)?;
            cluster.find_leader(&agent)
        })?;
        Ok(cluster)
    }

    /// The member that leads, by asking each for its status (`/v3/maintenance/status`).
    fn find_leader(&self, agent: &ureq::Agent) -> Result<usize, String> {
        for (i, url) in self.client_urls.iter().enumerate() {
            let status = post(agent, &format!("{url}/v3/maintenance/status"), "{}".into())?;
            let status: serde_json::Value =
                serde_json::from_str(&status).map_err(|e| e.to_string())?;
            let me = &status["header"]["member_id"];
            let leader = &status["leader"];
            if leader.is_null() || leader == "0" {
                return Err("no leader yet".into());
            }
            if me == leader {
                return Ok(i);
            }
        }
        Err("no member says it leads".into())
    }

    /// A client of the leader (every put goes to the leader directly, as raft-kv's client
    /// does after its leader discovery: no forwarding hop).
    pub fn client(&self) -> EtcdClient {
        EtcdClient::new(&self.client_urls[self.leader])
    }

    /// CPU time used so far by all members.
    pub fn cpu_time(&self) -> Duration {
        self.processes.iter().filter_map(Process::cpu_time).sum()
    }
}

/// An HTTP agent with timeouts on connecting, reading and writing only. Not a global or
/// per-call timeout: ureq resolves the address on every request, pooled connection or not,
/// and with such a timeout it does so on a new thread (a thread per put, measured at about
/// 100 µs of client CPU per put here).
fn agent() -> ureq::Agent {
    let timeout = Some(Duration::from_secs(10));
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(timeout)
            .timeout_per_read(timeout)
            .timeout_per_write(timeout)
            .build(),
    )
}

fn post(agent: &ureq::Agent, url: &str, body: String) -> Result<String, String> {
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status();
    // The body is read to its end, so the connection goes back to the agent's pool.
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("POST {url}: reading the reply: {e}"))?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("POST {url}: {status}: {text}"))
    }
}

/// Puts over etcd's JSON gateway: one keep-alive HTTP/1.1 connection (ureq's pool keeps
/// it between requests; TCP_NODELAY is ureq's default).
pub struct EtcdClient {
    agent: ureq::Agent,
    put_url: String,
}

impl EtcdClient {
    /// A client of the member at `base_url` (`http://host:port`).
    pub fn new(base_url: &str) -> EtcdClient {
        EtcdClient {
            agent: agent(),
            put_url: format!("{base_url}/v3/kv/put"),
        }
    }
}

impl Putter for EtcdClient {
    fn put(&mut self, key: &str, value: &str) -> Result<(), String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = format!(
            r#"{{"key":"{}","value":"{}"}}"#,
            b64.encode(key),
            b64.encode(value)
        );
        let reply = post(&self.agent, &self.put_url, body)?;
        // A successful put answers with the header of the new revision.
        if reply.contains("\"header\"") {
            Ok(())
        } else {
            Err(format!("unexpected reply to a put: {reply}"))
        }
    }
}
