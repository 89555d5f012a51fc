//! What a learner sees in the explorer: every offered action is enabled, every state has a
//! picture, and the state where a property breaks says so — checked through the model's
//! API and through the explorer's own HTTP API (`raft-model explore`).

use raft_model::check::{run, CheckOptions, StopWhen, Strategy};
use raft_model::properties::LEADER_COMPLETENESS;
use raft_model::{Action, Bug, ClusterState, Config, RaftModel, ServerId};
use serde_json::Value as Json;
use stateright::{Model, Path};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// splitmix64: a tiny seeded generator, so a failing walk can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The seed: `RAFT_MODEL_SEED` if set (to replay), else the clock.
fn seed() -> u64 {
    match std::env::var("RAFT_MODEL_SEED") {
        Ok(s) => s.parse().expect("RAFT_MODEL_SEED is a u64"),
        Err(_) => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    }
}

/// Bounds whose guards differ: the default, bigger clusters and budgets, each bug that
/// changes when an action is enabled, and the network variants.
fn configs() -> Vec<Config> {
    let mut configs = vec![
        Config::default(),
        Config {
            servers: 5,
            max_term: 4,
            max_requests: 4,
            max_crashes: 3,
            max_snapshots: None,
            max_inflight: Some(6),
            ..Config::default()
        },
        Config {
            max_inflight: None,
            duplicates: false,
            max_requests: 3,
            ..Config::default()
        },
        Config {
            drops: false,
            prune_dead_messages: false,
            max_inflight: Some(4),
            max_requests: 2,
            ..Config::default()
        },
        Config {
            servers: 1,
            ..Config::default()
        },
    ];
    for bug in Bug::ALL {
        configs.push(Config {
            max_inflight: Some(4),
            max_crashes: 2,
            max_requests: 3,
            ..bug.bound()
        });
    }
    configs
}

#[test]
fn offered_actions_are_exactly_the_enabled_ones_on_random_paths() {
    let seed = seed();
    println!("seed {seed} (replay with RAFT_MODEL_SEED={seed})");
    let mut rng = Rng(seed);
    let mut checked = 0usize;
    for config in configs() {
        let model = RaftModel::new(config.clone());
        for walk in 0..200 {
            let mut state = model.init_states().remove(0);
            for depth in 0..60 {
                let mut offered = Vec::new();
                model.actions(&state, &mut offered);
                let enabled = model.enabled_actions(&state);
                assert_eq!(
                    offered,
                    enabled,
                    "seed {seed}, walk {walk}, depth {depth}, bounds {}:\n\
                     actions() must offer exactly what next_state accepts, in order\nstate:\n{state:?}",
                    config.describe()
                );
                checked += 1;
                if offered.is_empty() {
                    break;
                }
                let action = offered[rng.below(offered.len())].clone();
                state = model
                    .next_state(&state, action)
                    .expect("an enabled action is accepted");
            }
        }
    }
    println!("{checked} states checked");
}

/// A path with 5 servers, 12 entries, a sync, a snapshot, a duplicate, a loss, a 13th
/// entry not yet durable and a new candidate.
fn five_server_path() -> (RaftModel, Vec<Action>) {
    let model = RaftModel::new(Config {
        servers: 5,
        max_requests: 13,
        max_inflight: Some(12),
        max_snapshots: Some(3),
        ..Config::default()
    });
    let mut state = model.init_states().remove(0);
    let mut actions = Vec::new();
    let mut step = |state: &mut ClusterState, action: Action| {
        *state = model
            .next_state(state, action.clone())
            .unwrap_or_else(|| panic!("refused {action:?}"));
        actions.push(action);
    };
    let to = |state: &ClusterState, dst: u8| {
        state
            .network
            .packets()
            .find(|p| p.dst == ServerId(dst))
            .cloned()
    };
    let (s1, s2, s4) = (ServerId(0), ServerId(1), ServerId(3));
    step(&mut state, Action::Timeout(s1));
    for j in 1..=2 {
        let request = to(&state, j).expect("a RequestVote");
        step(&mut state, Action::Receive(request));
        let reply = to(&state, 0).expect("a vote");
        step(&mut state, Action::Receive(reply));
    }
    step(&mut state, Action::BecomeLeader(s1));
    for v in 1..=12 {
        step(&mut state, Action::ClientRequest(s1, v));
    }
    // Two followers are not a majority of five: the leader counts itself once its log is
    // durable (rule D1).
    step(&mut state, Action::Sync(s1));
    for j in 1..=2 {
        while let Some(p) = to(&state, j) {
            step(&mut state, Action::Receive(p));
        }
        while let Some(p) = to(&state, 0) {
            step(&mut state, Action::Receive(p));
        }
        step(&mut state, Action::AppendEntries(s1, ServerId(j)));
        let request = to(&state, j).expect("entries");
        step(&mut state, Action::Receive(request));
        let reply = to(&state, 0).expect("a reply");
        step(&mut state, Action::Receive(reply));
    }
    step(&mut state, Action::AdvanceCommitIndex(s1));
    step(&mut state, Action::Snapshot(s1, 12));
    step(&mut state, Action::AppendEntries(s1, s2));
    let heartbeat = to(&state, 3).expect("S4's heartbeat");
    step(&mut state, Action::Duplicate(heartbeat.clone()));
    step(&mut state, Action::Drop(heartbeat));
    step(&mut state, Action::AppendEntries(s1, s4));
    step(&mut state, Action::ClientRequest(s1, 13));
    step(&mut state, Action::Timeout(ServerId(4)));
    (model, actions)
}

#[test]
fn the_picture_shows_five_servers_twelve_entries_and_the_path() {
    let (model, actions) = five_server_path();
    let init = model.init_states().remove(0);
    let path = Path::from_actions(&model, init, actions.iter()).expect("a path of the model");
    let svg = model.as_svg(path).expect("every state has a picture");
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    for lane in ["S1", "S2", "S3", "S4", "S5"] {
        assert!(
            svg.contains(&format!(">{lane}</text>")),
            "a lane for {lane}"
        );
    }
    assert!(svg.contains("LEADER") && svg.contains("candidate"));
    assert!(svg.contains(">t1:v12</text>"), "entries as term:value");
    assert!(
        svg.contains("fill='white' stroke='#1e88e5' stroke-width='2' stroke-dasharray='4 3'"),
        "the entry not yet durable, hollow and dashed"
    );
    assert!(svg.contains(">D</text>"), "the sync marker");
    assert!(svg.contains("log synced (durable)"), "the legend");
    assert!(
        svg.contains("snapshot ≤12 = commit"),
        "the snapshot boundary"
    );
    assert!(
        svg.contains("applied [v1 v2 v3"),
        "what the service applied"
    );
    assert!(svg.contains("next/match S2 13/12"), "the leader's progress");
    assert!(svg.contains(">+1</text>"), "the duplicate");
    assert!(
        svg.contains("stroke='#c62828' stroke-width='3'"),
        "the loss"
    );
    assert!(
        svg.contains("InstallSnapshot(t1, 12@t1"),
        "a message in flight"
    );
    assert!(svg.contains("no safety property is violated in this state"));
    let steps = actions.len();
    assert!(svg.contains(&format!("step {steps}: S5 times out")));
}

/// The explorer child process, killed when the test ends (even on failure).
struct Explorer {
    child: Child,
    addr: String,
}

impl Drop for Explorer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Explorer {
    fn start(flags: &[&str]) -> Explorer {
        // A free port: bind to port 0, read the port, release it for the child.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_raft-model"))
            .arg("explore")
            .args(flags)
            .args(["--addr", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start raft-model explore");
        let explorer = Explorer { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(&explorer.addr).is_err() {
            assert!(Instant::now() < deadline, "the explorer did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        explorer
    }

    /// `GET path` with plain HTTP/1.1; the body parsed as JSON.
    fn get(&self, path: &str) -> Json {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to the explorer");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("set a timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("send the request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .expect("read the response");
        // Split and de-chunk as bytes: a chunk boundary may fall inside a UTF-8 character.
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("headers, then a body");
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        let body = &response[split + 4..];
        assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_vec()
        };
        let body = String::from_utf8(body).expect("a UTF-8 body");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e})"))
    }
}

/// Decodes a chunked HTTP body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = std::str::from_utf8(&body[..line]).expect("an ASCII chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        let rest = &body[line + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        body = &rest[size + 2..];
    }
}

#[test]
fn the_explorer_serves_a_picture_per_state_and_marks_the_violation() {
    // The counterexample `raft-model check --bug no-election-restriction` finds: the same
    // search (breadth first, stopping at the bug's property) and the same encoding of the
    // path as action indices that the CLI prints after `#/steps/`.
    let bug = Bug::NoElectionRestriction;
    let options = CheckOptions {
        strategy: Strategy::Bfs,
        stop_when: StopWhen::Found(LEADER_COMPLETENESS),
        ..CheckOptions::default()
    };
    let report = run(RaftModel::new(bug.bound()), &options);
    let result = report.property(LEADER_COMPLETENESS).expect("checked");
    let encoded = result
        .explorer_path
        .clone()
        .expect("a counterexample to LeaderCompleteness");
    let indices: Vec<&str> = encoded.split('/').collect();
    assert!(indices.len() > 2, "a path of several steps: {encoded}");

    let explorer = Explorer::start(&["--bug", bug.name()]);
    let init = explorer.get("/.states");
    let init = init.as_array().expect("a list of initial states");
    assert_eq!(init.len(), 1);
    assert!(init[0]["svg"]
        .as_str()
        .is_some_and(|s| s.contains("initial state")));

    for k in 1..indices.len() {
        let prefix = indices[..k].join("/");
        let next = explorer.get(&format!("/.states/{prefix}"));
        let next = next.as_array().expect("a list of next states");
        for choice in next {
            assert!(
                choice.get("state").is_some(),
                "after /{prefix} the explorer lists an action the model refuses: {}",
                choice["action"]
            );
        }
        let wanted: u64 = indices[k].parse().expect("an action index");
        let step = next
            .iter()
            .find(|s| s["actionIndex"].as_u64() == Some(wanted))
            .unwrap_or_else(|| panic!("action {wanted} after /{prefix}"));
        let svg = step["svg"].as_str().expect("every state has a picture");
        let outcome = step["outcome"].as_str().expect("every step has a text");
        assert!(svg.starts_with("<svg"));
        let last = k == indices.len() - 1;
        let violated = format!("VIOLATES {LEADER_COMPLETENESS}");
        if last {
            assert!(
                outcome.contains(&violated),
                "the last state says so:\n{outcome}"
            );
            assert!(svg.contains(&violated), "the picture says so too");
            assert!(
                outcome.contains("\nS1 ") && outcome.contains("\nhistory: "),
                "the default view is the whole state:\n{outcome}"
            );
        } else {
            assert!(
                !outcome.contains(&violated) && !svg.contains(&violated),
                "step {k} of a shortest counterexample does not violate it yet:\n{outcome}"
            );
        }
    }
}
