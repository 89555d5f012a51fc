//! The abstraction function: a cluster of cores (plus services, disks and in-flight
//! messages) as a `raft_model::ClusterState`. Field by field (`docs/conformance.md`):
//!
//! | model (`ServerState`)        | core / simulator                                        |
//! |------------------------------|---------------------------------------------------------|
//! | `current_term`, `voted_for`  | `Core::current_term`, `Core::voted_for`                 |
//! | `log`                        | `Core::log().entries()`, command bytes -> proposal no.  |
//! | `snapshot.{index,term}`      | `Core::snapshot_index/term`                             |
//! | `snapshot.data`              | `Core::snapshot_data()` decoded (the service's values)  |
//! | `role`                       | `Core::role`                                            |
//! | `commit_index`, `last_applied` | `Core::commit_index`, `Core::last_applied`            |
//! | `votes_granted`              | `Core::votes_granted` (candidates; empty otherwise)     |
//! | `next_index`, `match_index`  | `Core::next_index/match_index` (leaders; own slot 0)    |
//! | `applied`                    | the simulator's `Service::applied`                      |
//! | `durable_index`              | `Core::durable_index` (= the disk's synced log end)     |
//!
//! Abstracted away: timers and the RNG (the model's actions are enabled at any time), the
//! leader's `in_flight` flow-control counts and `leader_id` (they only decide *when* the core
//! sends, never *what*), delivery times and partitions (the model's network is an
//! unordered multiset; a partition only loses messages). A crashed server is mapped as
//! the core restored from the durable part of its disk, which is the state the model's
//! `Restart` produces. The harness's sync of a server's storage (`Step::Sync`, fed to the
//! core as `Input::Persisted`) is the model's `Sync(i)`.
//! The model counts in `u8`: a value beyond its bounds is [`Beyond`], and trace validation
//! stops there (counted as a truncation).

use raft_impl::core::{self as core, Core, Role as CoreRole};
use raft_model::{
    Action, ClusterState, Entry, History, Message, Network, Packet, Role, ServerId, ServerSet,
    ServerState, Snapshot,
};

use crate::cluster::{Cluster, InFlight, Step, Wire};
use crate::service::{decode_command, decode_snapshot, Service};

/// A core value the model cannot represent within its bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beyond(pub String);

/// Largest term mapped: `History::elected` is a `u32` bit set indexed by term.
pub const MAX_TERM: u64 = 30;
/// Largest index or command value mapped (the model's `u8`, with room for `+ 1`).
pub const MAX_INDEX: u64 = 250;

fn small(x: u64, max: u64, what: &str) -> Result<u8, Beyond> {
    if x <= max {
        Ok(x as u8)
    } else {
        Err(Beyond(format!("{what} {x} > {max}")))
    }
}

fn term(x: u64) -> Result<u8, Beyond> {
    small(x, MAX_TERM, "term")
}

fn index(x: u64) -> Result<u8, Beyond> {
    small(x, MAX_INDEX, "index")
}

fn value(bytes: &[u8]) -> Result<u8, Beyond> {
    let v = decode_command(bytes).ok_or_else(|| Beyond("undecodable command".into()))?;
    small(u64::from(v), MAX_INDEX, "command")
}

fn values(values: &[u32]) -> Result<Vec<u8>, Beyond> {
    values
        .iter()
        .map(|&v| small(u64::from(v), MAX_INDEX, "command"))
        .collect()
}

fn id(i: usize) -> ServerId {
    ServerId::from(i)
}

/// One server: its core and its service.
pub fn map_server(core: &Core, service: &Service) -> Result<ServerState, Beyond> {
    let n = core.config().servers;
    let me = core.id();
    let log = core
        .log()
        .entries()
        .iter()
        .map(|e| {
            Ok(Entry {
                term: term(e.term)?,
                value: value(&e.command)?,
            })
        })
        .collect::<Result<Vec<_>, Beyond>>()?;
    let data = decode_snapshot(core.snapshot_data())
        .ok_or_else(|| Beyond("undecodable snapshot".into()))?;
    let role = match core.role() {
        CoreRole::Follower => Role::Follower,
        CoreRole::Candidate => Role::Candidate,
        CoreRole::Leader => Role::Leader,
    };
    let mut votes_granted = ServerSet::default();
    for j in core.votes_granted().unwrap_or_default() {
        votes_granted.insert(id(j));
    }
    // The model keeps the leader's own slots at 0; the core keeps its last index there.
    let per_peer = |f: &dyn Fn(usize) -> Option<u64>| -> Result<Vec<u8>, Beyond> {
        if role != Role::Leader {
            return Ok(Vec::new());
        }
        (0..n)
            .map(|j| {
                if j == me {
                    Ok(0)
                } else {
                    index(f(j).unwrap_or(0))
                }
            })
            .collect()
    };
    Ok(ServerState {
        current_term: term(core.current_term())?,
        voted_for: core.voted_for().map(id),
        log,
        snapshot: Snapshot {
            last_included_index: index(core.snapshot_index())?,
            last_included_term: term(core.snapshot_term())?,
            data: values(&data)?,
        },
        role,
        commit_index: index(core.commit_index())?,
        last_applied: index(core.last_applied())?,
        votes_granted,
        next_index: per_peer(&|j| core.next_index(j))?,
        match_index: per_peer(&|j| core.match_index(j))?,
        applied: values(&service.applied)?,
        durable_index: index(core.durable_index())?,
    })
}

/// One RPC.
pub fn map_message(m: &core::Message) -> Result<Message, Beyond> {
    Ok(match m {
        core::Message::RequestVote {
            term: t,
            candidate,
            last_log_index,
            last_log_term,
        } => Message::RequestVote {
            term: term(*t)?,
            candidate: id(*candidate),
            last_log_index: index(*last_log_index)?,
            last_log_term: term(*last_log_term)?,
        },
        core::Message::RequestVoteReply {
            term: t,
            vote_granted,
        } => Message::RequestVoteReply {
            term: term(*t)?,
            vote_granted: *vote_granted,
        },
        core::Message::AppendEntries {
            term: t,
            leader,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => Message::AppendEntries {
            term: term(*t)?,
            leader: id(*leader),
            prev_log_index: index(*prev_log_index)?,
            prev_log_term: term(*prev_log_term)?,
            entries: entries
                .iter()
                .map(|e| {
                    Ok(Entry {
                        term: term(e.term)?,
                        value: value(&e.command)?,
                    })
                })
                .collect::<Result<_, Beyond>>()?,
            leader_commit: index(*leader_commit)?,
        },
        core::Message::AppendEntriesReply {
            term: t,
            success,
            match_index,
            conflict_index,
            conflict_term,
        } => Message::AppendEntriesReply {
            term: term(*t)?,
            success: *success,
            match_index: index(*match_index)?,
            conflict_index: index(*conflict_index)?,
            conflict_term: conflict_term.map(term).transpose()?,
        },
        core::Message::InstallSnapshot {
            term: t,
            leader,
            last_included_index,
            last_included_term,
            data,
            offset,
            done,
        } if *offset == 0 && *done => Message::InstallSnapshot {
            term: term(*t)?,
            leader: id(*leader),
            last_included_index: index(*last_included_index)?,
            last_included_term: term(*last_included_term)?,
            data: values(
                &decode_snapshot(data).ok_or_else(|| Beyond("undecodable snapshot".into()))?,
            )?,
        },
        core::Message::InstallSnapshotReply {
            term: t,
            last_included_index,
            done: true,
            ..
        } => Message::InstallSnapshotReply {
            term: term(*t)?,
            last_included_index: index(*last_included_index)?,
        },
        // The model sends a snapshot whole: a chunk of a larger one has no model action.
        core::Message::InstallSnapshot { .. } | core::Message::InstallSnapshotReply { .. } => {
            return Err(Beyond("a snapshot chunk".into()))
        }
    })
}

/// One message with its endpoints, as the model's packet.
pub fn map_wire(w: &Wire) -> Result<Packet, Beyond> {
    Ok(Packet {
        src: id(w.from),
        dst: id(w.to),
        msg: map_message(&w.message)?,
    })
}

/// The in-flight messages as the model's multiset (delivery times are forgotten).
pub fn map_network(network: &[InFlight]) -> Result<Network, Beyond> {
    let mut packets = network
        .iter()
        .map(|m| {
            Ok(Packet {
                src: id(m.from),
                dst: id(m.to),
                msg: map_message(&m.message)?,
            })
        })
        .collect::<Result<Vec<_>, Beyond>>()?;
    packets.sort();
    let mut in_flight: Vec<(Packet, u8)> = Vec::new();
    for p in packets {
        match in_flight.last_mut() {
            Some((last, n)) if *last == p => {
                *n = n
                    .checked_add(1)
                    .ok_or_else(|| Beyond("over 255 copies".into()))?
            }
            _ => in_flight.push((p, 1)),
        }
    }
    if in_flight
        .iter()
        .map(|(_, n)| usize::from(*n))
        .sum::<usize>()
        > 255
    {
        return Err(Beyond("over 255 messages in flight".into()));
    }
    Ok(Network { in_flight })
}

/// The whole cluster; `history` (the model's ghost variables) is carried over from the
/// model's own prediction, since the cores have no counterpart.
pub fn map_cluster(cluster: &Cluster, history: History) -> Result<ClusterState, Beyond> {
    let servers = cluster
        .cores
        .iter()
        .zip(&cluster.services)
        .map(|(core, service)| map_server(core, service))
        .collect::<Result<Vec<_>, Beyond>>()?;
    Ok(ClusterState {
        servers,
        network: map_network(&cluster.network)?,
        history,
    })
}

/// A recorded step as the model's action.
pub fn map_step(step: &Step) -> Result<Action, Beyond> {
    Ok(match step {
        Step::Timeout(i) => Action::Timeout(id(*i)),
        Step::RequestVote(i, j) => Action::RequestVote(id(*i), id(*j)),
        Step::BecomeLeader(i) => Action::BecomeLeader(id(*i)),
        Step::ClientRequest(i, v) => {
            Action::ClientRequest(id(*i), small(u64::from(*v), MAX_INDEX, "command")?)
        }
        Step::AdvanceCommitIndex(i) => Action::AdvanceCommitIndex(id(*i)),
        Step::AppendEntries(i, j) => Action::AppendEntries(id(*i), id(*j)),
        Step::Snapshot(i, at) => Action::Snapshot(id(*i), index(*at)?),
        Step::Restart(i) => Action::Restart(id(*i)),
        Step::Receive(w) => Action::Receive(map_wire(w)?),
        Step::Drop(w) => Action::Drop(map_wire(w)?),
        Step::Duplicate(w) | Step::Resend(w) => Action::Duplicate(map_wire(w)?),
        Step::Sync(i) => Action::Sync(id(*i)),
    })
}

/// The action's name, for coverage (receives also by message kind).
pub fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Timeout(_) => "Timeout",
        Action::RequestVote(..) => "RequestVote",
        Action::BecomeLeader(_) => "BecomeLeader",
        Action::ClientRequest(..) => "ClientRequest",
        Action::AdvanceCommitIndex(_) => "AdvanceCommitIndex",
        Action::AppendEntries(..) => "AppendEntries",
        Action::Snapshot(..) => "Snapshot",
        Action::Restart(_) => "Restart",
        Action::Sync(_) => "Sync",
        Action::Receive(p) => match p.msg {
            Message::RequestVote { .. } => "Receive(RequestVote)",
            Message::RequestVoteReply { .. } => "Receive(RequestVoteReply)",
            Message::AppendEntries { .. } => "Receive(AppendEntries)",
            Message::AppendEntriesReply { .. } => "Receive(AppendEntriesReply)",
            Message::InstallSnapshot { .. } => "Receive(InstallSnapshot)",
            Message::InstallSnapshotReply { .. } => "Receive(InstallSnapshotReply)",
        },
        Action::Drop(_) => "Drop",
        Action::Duplicate(_) => "Duplicate",
    }
}

/// Every action name [`action_name`] can return: coverage must reach each.
pub const ACTION_NAMES: [&str; 17] = [
    "Timeout",
    "RequestVote",
    "BecomeLeader",
    "ClientRequest",
    "AdvanceCommitIndex",
    "AppendEntries",
    "Snapshot",
    "Restart",
    "Sync",
    "Receive(RequestVote)",
    "Receive(RequestVoteReply)",
    "Receive(AppendEntries)",
    "Receive(AppendEntriesReply)",
    "Receive(InstallSnapshot)",
    "Receive(InstallSnapshotReply)",
    "Drop",
    "Duplicate",
];
