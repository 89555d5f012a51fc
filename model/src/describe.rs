//! Human-readable actions, steps and states, for counterexamples and the explorer
//! ("S2 times out, becomes candidate in term 2") instead of raw debug dumps.

use crate::model::{Action, RaftModel};
use crate::network::{Message, Packet};
use crate::server::ServerState;
use crate::state::ClusterState;
use crate::types::Role;
use stateright::Model;
use std::fmt;

/// A short description of an action.
pub fn action(action: &Action) -> String {
    match action {
        Action::Timeout(i) => format!("{i} times out"),
        Action::RequestVote(i, j) => format!("{i} sends RequestVote to {j}"),
        Action::BecomeLeader(i) => format!("{i} becomes leader"),
        Action::ClientRequest(i, v) => format!("client proposes v{v} to {i}"),
        Action::Sync(i) => format!("{i}'s log write becomes durable (sync)"),
        Action::AdvanceCommitIndex(i) => format!("{i} advances its commit index"),
        Action::AppendEntries(i, j) => format!("{i} replicates to {j}"),
        Action::Snapshot(i, index) => format!("{i}'s service snapshots at index {index}"),
        Action::Restart(i) => format!("{i} crashes and restarts"),
        Action::Receive(p) => format!("{} receives {} from {}", p.dst, message(&p.msg), p.src),
        Action::Drop(p) => format!("network loses {}", packet(p)),
        Action::Duplicate(p) => format!("network duplicates {}", packet(p)),
    }
}

/// A description of a step, saying what changed: the action, then each server's changes,
/// the messages it put in flight, and the messages the model pruned because they can no
/// longer change anything (see `network::is_dead`).
pub fn step(before: &ClusterState, act: &Action, after: &ClusterState) -> String {
    let sent: Vec<Packet> = sent(before, act, after).into_iter().cloned().collect();
    let pruned: Vec<Packet> = pruned(before, act, after).into_iter().cloned().collect();
    step_text(before, act, after, &sent, &pruned)
}

fn step_text(
    before: &ClusterState,
    act: &Action,
    after: &ClusterState,
    sent: &[Packet],
    pruned: &[Packet],
) -> String {
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
    if !sent.is_empty() {
        let sent: Vec<String> = sent.iter().map(packet).collect();
        out.push_str(" — sends ");
        out.push_str(&sent.join(", "));
    }
    if !pruned.is_empty() {
        let pruned: Vec<String> = pruned.iter().map(packet).collect();
        out.push_str(" — pruned as dead (delivering it could change nothing): ");
        out.push_str(&pruned.join(", "));
    }
    out
}

/// The messages a step sent and the messages the model pruned as dead, including a reply
/// sent and pruned in the same step (which `sent` and `pruned` cannot see from the two
/// states alone): found by replaying the step with pruning off.
pub fn traffic(
    model: &RaftModel,
    before: &ClusterState,
    act: &Action,
    after: &ClusterState,
) -> (Vec<Packet>, Vec<Packet>) {
    let unpruned = RaftModel::new(crate::config::Config {
        prune_dead_messages: false,
        ..model.config.clone()
    })
    .next_state(before, act.clone());
    let Some(full) = unpruned else {
        let sent = sent(before, act, after).into_iter().cloned().collect();
        let pruned = pruned(before, act, after).into_iter().cloned().collect();
        return (sent, pruned);
    };
    let sent = sent(before, act, &full).into_iter().cloned().collect();
    let pruned = full
        .network
        .packets()
        .filter(|p| after.network.copies_of(p) < full.network.copies_of(p))
        .cloned()
        .collect();
    (sent, pruned)
}

/// The packets a step put in flight (a duplicate is not a send).
pub fn sent<'a>(before: &ClusterState, act: &Action, after: &'a ClusterState) -> Vec<&'a Packet> {
    if matches!(act, Action::Duplicate(_)) {
        return Vec::new();
    }
    after
        .network
        .packets()
        .filter(|p| after.network.copies_of(p) > before.network.copies_of(p))
        .collect()
}

/// The packets that left the network in a step without being delivered or lost by it: the
/// model removed them as dead (a reply or request that can no longer change anything).
pub fn pruned<'a>(before: &'a ClusterState, act: &Action, after: &ClusterState) -> Vec<&'a Packet> {
    let consumed = match act {
        Action::Receive(p) | Action::Drop(p) => Some(p),
        _ => None,
    };
    before
        .network
        .packets()
        .filter(|p| {
            let expected = before.network.copies_of(p) - u8::from(consumed == Some(*p));
            expected > 0 && after.network.copies_of(p) == 0
        })
        .collect()
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
        parts.push(format!("has votes {}", servers(a.votes_granted.iter())));
    }
    if b.log != a.log || b.snapshot != a.snapshot {
        parts.push(format!("log {}", log(a)));
    } else if b.durable_index != a.durable_index {
        parts.push(format!("log durable to index {}", a.durable_index));
    }
    if b.commit_index != a.commit_index {
        parts.push(format!("commit {}", a.commit_index));
    }
    if b.applied != a.applied {
        parts.push(format!("applied {}", values(&a.applied)));
    }
    if a.role == Role::Leader && (b.next_index != a.next_index || b.match_index != a.match_index) {
        parts.push(progress(a));
    }
    if parts.is_empty() {
        "unchanged".to_string()
    } else {
        parts.join(", ")
    }
}

/// A leader's view of each follower, `next/match S2 2/1 S3 1/0`: Figure 2's `nextIndex[]`
/// and `matchIndex[]` (the leader's own slot is not used, so it is not shown).
pub fn progress(s: &ServerState) -> String {
    let peers: Vec<String> = s
        .next_index
        .iter()
        .zip(&s.match_index)
        .enumerate()
        .filter(|(_, (next, _))| **next != 0)
        .map(|(j, (next, m))| format!("S{} {next}/{m}", j + 1))
        .collect();
    format!("next/match {}", peers.join(" "))
}

fn servers(ids: impl Iterator<Item = crate::types::ServerId>) -> String {
    let ids: Vec<String> = ids.map(|i| i.to_string()).collect();
    format!("{{{}}}", ids.join(", "))
}

/// Values as `[v1 v2]`.
pub fn values(values: &[crate::types::Value]) -> String {
    let v: Vec<String> = values.iter().map(|v| format!("v{v}")).collect();
    format!("[{}]", v.join(" "))
}

/// A role in lower case.
pub fn role(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

/// A log as `[t1:v1 t2:v2]`, entry `k` at index `k`; after a snapshot
/// `[snap ≤2@t1 (v1 v2) | t2:v3]`: the snapshot covers indices 1 to 2 (its last entry has
/// term 1, the service state is v1 v2), and the entries after the bar start at index 3.
/// An entry not yet on stable storage (past `durable_index`, §10.2.1) is starred: `t2:v3*`.
pub fn log(s: &ServerState) -> String {
    let base = s.snapshot.last_included_index;
    let entries: Vec<String> = s
        .log
        .iter()
        .enumerate()
        .map(|(k, e)| {
            let durable = base + 1 + k as crate::types::Index <= s.durable_index;
            format!("{e:?}{}", if durable { "" } else { "*" })
        })
        .collect();
    if s.snapshot.last_included_index == 0 {
        format!("[{}]", entries.join(" "))
    } else {
        let data: Vec<String> = s.snapshot.data.iter().map(|v| format!("v{v}")).collect();
        format!(
            "[snap ≤{}@t{} ({}) | {}]",
            s.snapshot.last_included_index,
            s.snapshot.last_included_term,
            data.join(" "),
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
                // The fast-backup hint (§5.3): the term of the conflicting entry and the
                // first index of that term, or where the follower's too-short log ends.
                match conflict_term {
                    Some(t) => format!(
                        "AppendReply(t{term}, reject, conflict t{t} from {conflict_index})"
                    ),
                    None => format!(
                        "AppendReply(t{term}, reject, log too short, next {conflict_index})"
                    ),
                }
            }
        }
        Message::InstallSnapshot {
            term,
            last_included_index,
            last_included_term,
            data,
            ..
        } => format!(
            "InstallSnapshot(t{term}, {last_included_index}@t{last_included_term}, {})",
            values(data)
        ),
        Message::InstallSnapshotReply {
            term,
            last_included_index,
        } => format!("SnapshotReply(t{term}, {last_included_index})"),
    }
}

/// A packet in one line, `S1→S2 message`.
pub fn packet(p: &Packet) -> String {
    format!("{}→{} {}", p.src, p.dst, message(&p.msg))
}

/// The properties `model` checks that fail in `state`, one `VIOLATES Name: reason` line
/// each, or a line saying none does. Evaluated by the checker's own code
/// ([`crate::properties::violations`]), so it is the truth about this state, unlike the
/// explorer's property panel (which reports what its own search has found so far).
pub fn verdict(model: &RaftModel, state: &ClusterState) -> String {
    let violations = crate::properties::violations(model, state);
    if violations.is_empty() {
        return "no safety property is violated in this state".to_string();
    }
    violations
        .iter()
        .map(|v| format!("VIOLATES {}: {}", v.property, v.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The explorer's text for a step: what the step did, whether the state it reached breaks
/// a property, then the whole state.
pub fn explorer_step(
    model: &RaftModel,
    before: &ClusterState,
    act: &Action,
    after: &ClusterState,
) -> String {
    let (sent, pruned) = traffic(model, before, act, after);
    format!(
        "{}\n\n{}\n\n{}",
        step_text(before, act, after, &sent, &pruned),
        verdict(model, after),
        state_text(after)
    )
}

/// The whole state, one line per server, then the network and the history variables.
pub fn state_text(state: &ClusterState) -> String {
    let mut out = String::new();
    for (i, s) in state.servers.iter().enumerate() {
        out.push_str(&format!("S{} {}\n", i + 1, server_line(s)));
    }
    out.push_str("network:");
    if state.network.is_empty() {
        out.push_str(" (empty)");
    }
    for (p, n) in &state.network.in_flight {
        out.push_str(&format!("\n  {}", packet(p)));
        if *n > 1 {
            out.push_str(&format!(" ×{n} (copies)"));
        }
    }
    let h = &state.history;
    out.push_str(&format!(
        "\nhistory: committed {}; leaders elected in terms {}; proposals {}, crashes {}",
        committed(state),
        elected_terms(h.elected),
        h.proposals,
        h.crashes
    ));
    if h.snapshots > 0 {
        out.push_str(&format!(", snapshots {}", h.snapshots));
    }
    out
}

/// The committed history as `[1=t1:v1 (in t1)]`: index, the entry first committed there,
/// and the term of the server that first applied it (Leader Completeness speaks of leaders
/// of later terms).
pub fn committed(state: &ClusterState) -> String {
    let c: Vec<String> = state
        .history
        .committed
        .iter()
        .enumerate()
        .map(|(k, c)| format!("{}=t{}:v{} (in t{})", k + 1, c.term, c.value, c.commit_term))
        .collect();
    format!("[{}]", c.join(", "))
}

/// The terms in which some server became leader, from `History::elected` (bit `t` = term `t`).
pub fn elected_terms(elected: u32) -> String {
    let terms: Vec<String> = (0..32)
        .filter(|t| elected & (1 << t) != 0)
        .map(|t| t.to_string())
        .collect();
    if terms.is_empty() {
        "(none)".to_string()
    } else {
        format!("{{{}}}", terms.join(", "))
    }
}

impl fmt::Debug for ClusterState {
    /// The whole state (what the CLI prints as a counterexample's final state and the
    /// explorer shows for its initial state), then the properties this state violates.
    /// The `always` properties do not depend on the bounds, so the default model's list is
    /// the one every model checks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&state_text(self))?;
        let model = RaftModel::new(crate::config::Config::default());
        for v in crate::properties::violations(&model, self) {
            write!(f, "\nVIOLATES {}: {}", v.property, v.reason)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&server_line(self))
    }
}

/// One server: role, term, vote, log (entries not yet durable starred), commit index, what
/// its service applied, and the candidate's votes or the leader's next/match per follower.
pub fn server_line(s: &ServerState) -> String {
    let vote = s.voted_for.map_or("-".to_string(), |v| v.to_string());
    let mut line = format!(
        "{:<9} term {} vote {} log {} commit {} applied {}",
        role(s.role),
        s.current_term,
        vote,
        log(s),
        s.commit_index,
        values(&s.applied)
    );
    match s.role {
        Role::Candidate => line.push_str(&format!(" votes {}", servers(s.votes_granted.iter()))),
        Role::Leader => line.push_str(&format!(" {}", progress(s))),
        Role::Follower => {}
    }
    line
}
