//! Human-readable actions, steps and states, for counterexamples and the explorer
//! ("S2 times out, becomes candidate in term 2") instead of raw debug dumps.

use crate::model::Action;
use crate::network::{Message, Packet};
use crate::server::ServerState;
use crate::state::ClusterState;
use crate::types::Role;
use std::fmt;

/// A short description of an action.
pub fn action(action: &Action) -> String {
    match action {
        Action::Timeout(i) => format!("{i} times out"),
        Action::RequestVote(i, j) => format!("{i} sends RequestVote to {j}"),
        Action::BecomeLeader(i) => format!("{i} becomes leader"),
        Action::ClientRequest(i, v) => format!("client proposes v{v} to {i}"),
        Action::AdvanceCommitIndex(i) => format!("{i} advances its commit index"),
        Action::AppendEntries(i, j) => format!("{i} replicates to {j}"),
        Action::Snapshot(i, index) => format!("{i}'s service snapshots at index {index}"),
        Action::Restart(i) => format!("{i} crashes and restarts"),
        Action::Receive(p) => format!("{} receives {} from {}", p.dst, message(&p.msg), p.src),
        Action::Drop(p) => format!("network loses {}", packet(p)),
        Action::Duplicate(p) => format!("network duplicates {}", packet(p)),
    }
}

/// A description of a step, saying what changed.
pub fn step(before: &ClusterState, act: &Action, after: &ClusterState) -> String {
    let mut out = action(act);
    let changes: Vec<String> = before
        .servers
        .iter()
        .zip(&after.servers)
        .enumerate()
        .filter(|(_, (b, a))| b != a)
        .map(|(i, (b, a))| format!("S{}: {}", i + 1, server_change(b, a)))
        .collect();
    if !changes.is_empty() {
        out.push_str(" — ");
        out.push_str(&changes.join("; "));
    }
    let sent: Vec<String> = after
        .network
        .packets()
        .filter(|p| after.network.copies_of(p) > before.network.copies_of(p))
        .map(packet)
        .collect();
    if !sent.is_empty() && !matches!(act, Action::Duplicate(_)) {
        out.push_str(" — sends ");
        out.push_str(&sent.join(", "));
    }
    out
}

fn server_change(b: &ServerState, a: &ServerState) -> String {
    let mut parts = Vec::new();
    if b.role != a.role || b.current_term != a.current_term {
        parts.push(format!("{} in term {}", role(a.role), a.current_term));
    }
    if b.voted_for != a.voted_for {
        parts.push(match a.voted_for {
            Some(v) => format!("votes for {v}"),
            None => "no vote".to_string(),
        });
    }
    if b.votes_granted != a.votes_granted && a.role == Role::Candidate {
        parts.push(format!("has votes {:?}", a.votes_granted));
    }
    if b.log != a.log || b.snapshot != a.snapshot {
        parts.push(format!("log {}", log(a)));
    }
    if b.commit_index != a.commit_index {
        parts.push(format!("commit {}", a.commit_index));
    }
    if b.applied != a.applied {
        parts.push(format!("applied {:?}", a.applied));
    }
    if b.next_index != a.next_index || b.match_index != a.match_index {
        parts.push(format!("next {:?} match {:?}", a.next_index, a.match_index));
    }
    if parts.is_empty() {
        "unchanged".to_string()
    } else {
        parts.join(", ")
    }
}

fn role(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

/// A log as `[snap 1@t1 | t1:v2 t2:v3]`.
pub fn log(s: &ServerState) -> String {
    let entries: Vec<String> = s.log.iter().map(|e| format!("{e:?}")).collect();
    if s.snapshot.last_included_index == 0 {
        format!("[{}]", entries.join(" "))
    } else {
        format!(
            "[snap {}@t{} {:?} | {}]",
            s.snapshot.last_included_index,
            s.snapshot.last_included_term,
            s.snapshot.data,
            entries.join(" ")
        )
    }
}

/// A message in one line.
pub fn message(msg: &Message) -> String {
    match msg {
        Message::RequestVote {
            term,
            last_log_index,
            last_log_term,
            ..
        } => format!("RequestVote(t{term}, last {last_log_index}@t{last_log_term})"),
        Message::RequestVoteReply { term, vote_granted } => {
            format!("VoteReply(t{term}, {})", if *vote_granted { "granted" } else { "refused" })
        }
        Message::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
            ..
        } => format!(
            "AppendEntries(t{term}, prev {prev_log_index}@t{prev_log_term}, {entries:?}, commit {leader_commit})"
        ),
        Message::AppendEntriesReply {
            term,
            success,
            match_index,
            conflict_index,
            conflict_term,
        } => {
            if *success {
                format!("AppendReply(t{term}, ok, match {match_index})")
            } else {
                format!("AppendReply(t{term}, reject, conflict {conflict_index}/{conflict_term:?})")
            }
        }
        Message::InstallSnapshot {
            term,
            last_included_index,
            last_included_term,
            data,
            ..
        } => format!("InstallSnapshot(t{term}, {last_included_index}@t{last_included_term}, {data:?})"),
        Message::InstallSnapshotReply {
            term,
            last_included_index,
        } => format!("SnapshotReply(t{term}, {last_included_index})"),
    }
}

fn packet(p: &Packet) -> String {
    format!("{}→{} {}", p.src, p.dst, message(&p.msg))
}

impl fmt::Debug for ClusterState {
    /// One line per server, then the network and history: what the explorer shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.servers.iter().enumerate() {
            writeln!(f, "S{} {}", i + 1, server_line(s))?;
        }
        write!(f, "network:")?;
        if self.network.is_empty() {
            write!(f, " (empty)")?;
        }
        for (p, n) in &self.network.in_flight {
            write!(
                f,
                "\n  {}{}",
                packet(p),
                if *n > 1 {
                    format!(" ×{n}")
                } else {
                    String::new()
                }
            )?;
        }
        let h = &self.history;
        write!(
            f,
            "\nhistory: committed {:?}, proposals {}, crashes {}, elected terms {:#b}",
            h.committed
                .iter()
                .map(|c| (c.term, c.value))
                .collect::<Vec<_>>(),
            h.proposals,
            h.crashes,
            h.elected
        )
    }
}

impl fmt::Debug for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&server_line(self))
    }
}

fn server_line(s: &ServerState) -> String {
    let vote = s.voted_for.map_or("-".to_string(), |v| v.to_string());
    let mut line = format!(
        "{:<9} term {} vote {} log {} commit {} applied {:?}",
        role(s.role),
        s.current_term,
        vote,
        log(s),
        s.commit_index,
        s.applied
    );
    match s.role {
        Role::Candidate => line.push_str(&format!(" votes {:?}", s.votes_granted)),
        Role::Leader => line.push_str(&format!(
            " next {:?} match {:?}",
            s.next_index, s.match_index
        )),
        Role::Follower => {}
    }
    line
}
