//! Server processes on 127.0.0.1 and the faults done to them.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use raft_kv::protocol::{Admin, Reply};
use raft_kv::Client;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const BIN: &str = env!("CARGO_BIN_EXE_raft-kv");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Up,
    Paused,
    Down,
}

pub struct Cluster {
    dir: tempfile::TempDir,
    peers: Vec<SocketAddr>,
    clients: Vec<SocketAddr>,
    children: Vec<Option<Child>>,
    health: Vec<Health>,
    stale_reads: bool,
    pub faults: Vec<String>,
}

/// Free ports on 127.0.0.1 (bound and released; a race with another process taking one
/// shows up as a server that cannot listen, which fails the run loudly).
fn free_addresses(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address"))
        .collect()
}

fn join(addresses: &[SocketAddr]) -> String {
    addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl Cluster {
    pub fn start(servers: usize, stale_reads: bool) -> Cluster {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("secret"), rand::random::<[u8; 32]>()).expect("secret file");
        let addresses = free_addresses(2 * servers);
        let mut cluster = Cluster {
            dir,
            peers: addresses[..servers].to_vec(),
            clients: addresses[servers..].to_vec(),
            children: (0..servers).map(|_| None).collect(),
            health: vec![Health::Down; servers],
            stale_reads,
            faults: Vec::new(),
        };
        for id in 0..servers {
            cluster.spawn(id, true);
        }
        cluster
    }

    pub fn client_addresses(&self) -> Vec<SocketAddr> {
        self.clients.clone()
    }

    fn data_dir(&self, id: usize) -> PathBuf {
        self.dir.path().join(format!("server-{id}"))
    }

    fn spawn(&mut self, id: usize, create: bool) {
        let log = std::fs::File::create(self.dir.path().join(format!("server-{id}.log")))
            .or_else(|_| {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(self.dir.path().join(format!("server-{id}.log")))
            })
            .expect("log file");
        let mut command = Command::new(BIN);
        command
            .args(["server", "--id", &id.to_string()])
            .args([
                "--peers",
                &join(&self.peers),
                "--clients",
                &join(&self.clients),
            ])
            .arg("--data-dir")
            .arg(self.data_dir(id))
            .arg("--secret-file")
            .arg(self.dir.path().join("secret"))
            .args(["--snapshot-every", "200", "--fault-admin"])
            .stdout(Stdio::null())
            .stderr(log);
        if create {
            command.arg("--create");
        }
        if self.stale_reads {
            command.arg("--stale-reads");
        }
        let child = command.spawn().expect("start a raft-kv server");
        self.children[id] = Some(child);
        self.health[id] = Health::Up;
    }

    fn signal(&self, id: usize, signal: &str) {
        if let Some(child) = &self.children[id] {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill {signal} failed");
        }
    }

    fn kill9(&mut self, id: usize) {
        if let Some(mut child) = self.children[id].take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
        self.health[id] = Health::Down;
    }

    fn admin(&self, id: usize, admin: Admin) -> Option<Reply> {
        if self.health[id] != Health::Up {
            return None;
        }
        let mut client = Client::new(self.clients.clone());
        client.attempt_timeout = Duration::from_millis(300);
        client.admin(id, admin)
    }

    fn leader(&self) -> Option<usize> {
        (0..self.clients.len()).find(|&id| {
            matches!(
                self.admin(id, Admin::Status),
                Some(Reply::Status { leader: true, .. })
            )
        })
    }

    /// Cuts every link between `a` and `b` (each side cuts its links to the other).
    fn partition(&self, a: &[usize], b: &[usize]) {
        let n = self.clients.len();
        for id in 0..n {
            let others: Vec<usize> = if a.contains(&id) {
                b.to_vec()
            } else if b.contains(&id) {
                a.to_vec()
            } else {
                Vec::new()
            };
            let _ = self.admin(id, Admin::Cut(others));
        }
    }

    /// One fault, chosen with `rng`; returns its description.
    pub fn inject(&mut self, rng: &mut ChaCha8Rng) -> String {
        let n = self.clients.len();
        // Undo the previous fault first, most of the time, so the cluster keeps working.
        if rng.gen_bool(0.7) {
            self.heal_everything();
        }
        match rng.gen_range(0..6) {
            0 | 1 => {
                let id = rng.gen_range(0..n);
                self.kill9(id);
                std::thread::sleep(Duration::from_millis(rng.gen_range(100..800)));
                self.spawn(id, false);
                format!("kill -9 server {id} and restart it")
            }
            2 => {
                let id = rng.gen_range(0..n);
                if self.health[id] == Health::Up {
                    self.signal(id, "-STOP");
                    self.health[id] = Health::Paused;
                }
                format!("SIGSTOP server {id}")
            }
            3 => match self.leader() {
                Some(leader) => {
                    let rest: Vec<usize> = (0..n).filter(|&i| i != leader).collect();
                    self.partition(&[leader], &rest);
                    format!("isolate leader {leader}")
                }
                None => "isolate leader (none found)".into(),
            },
            4 => {
                let mut ids: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    ids.swap(i, rng.gen_range(0..=i));
                }
                let minority = ids[..(n - 1) / 2].to_vec();
                let majority = ids[(n - 1) / 2..].to_vec();
                self.partition(&minority, &majority);
                format!("partition {minority:?} | {majority:?}")
            }
            _ => {
                // A bridge: two halves that see only the middle server.
                let mut ids: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    ids.swap(i, rng.gen_range(0..=i));
                }
                let bridge = ids[0];
                let half = (n - 1) / 2;
                let (a, b) = (ids[1..1 + half].to_vec(), ids[1 + half..].to_vec());
                self.partition(&a, &b);
                format!("bridge {bridge} between {a:?} and {b:?}")
            }
        }
    }

    /// Resumes paused servers, restarts dead ones, removes every cut.
    pub fn heal_everything(&mut self) {
        for id in 0..self.clients.len() {
            match self.health[id] {
                Health::Paused => {
                    self.signal(id, "-CONT");
                    self.health[id] = Health::Up;
                }
                Health::Down => self.spawn(id, false),
                Health::Up => {}
            }
        }
        for id in 0..self.clients.len() {
            let _ = self.admin(id, Admin::HealAll);
        }
    }

    /// Waits (up to 30 s) until a write succeeds.
    pub fn wait_for_service(&self) {
        let start = Instant::now();
        let mut client = Client::new(self.clients.clone());
        client.deadline = Duration::from_secs(30);
        if let Err(error) = client.put("__probe", "ok") {
            let logs: Vec<String> = (0..self.clients.len())
                .map(|id| {
                    std::fs::read_to_string(self.dir.path().join(format!("server-{id}.log")))
                        .unwrap_or_default()
                })
                .collect();
            panic!(
                "the cluster did not serve a write within {:?}: {error}\nlogs: {logs:#?}",
                start.elapsed()
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 0..self.children.len() {
            if self.health[id] == Health::Paused {
                self.signal(id, "-CONT");
            }
            self.kill9(id);
        }
    }
}
