//! The stateright `Model`: the actions of Figure 2 and §7 as a flat list of guarded
//! actions, and `next_state` as a match with one short arm per action. Protocol logic lives
//! in the per-concern modules; this file only moves messages and records history.

use crate::config::Config;
use crate::network::{Message, Packet};
use crate::properties as p;
use crate::receive::receive;
use crate::server::ServerState;
use crate::state::{reached, ClusterState};
use crate::types::{Index, Role, ServerId, Value};
use crate::{commit, election, history, replication, restart, snapshot};
use stateright::{Model, Path, Property};

/// One step of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Server times out and starts an election, sending RequestVote to every other server.
    Timeout(ServerId),
    /// Candidate (re)sends its RequestVote to one server whose vote it lacks.
    RequestVote(ServerId, ServerId),
    /// Candidate with a majority becomes leader and sends heartbeats to every other server.
    BecomeLeader(ServerId),
    /// Leader appends a client command (the value is the next unused one). With
    /// `Config::durable_prefix` the new entry is not yet durable.
    ClientRequest(ServerId, Value),
    /// The server's pending log write completes (Raft thesis §10.2.1): its whole log is
    /// now on stable storage (`durable_index := last_log_index`). Enabled only while
    /// `durable_index < last_log_index`. A follower needs no `Sync` to acknowledge: it
    /// syncs within the `Receive` that it answers (rule D2).
    Sync(ServerId),
    /// Leader advances its commit index (§5.3, §5.4.2).
    AdvanceCommitIndex(ServerId),
    /// Leader sends AppendEntries (or InstallSnapshot) to one follower.
    AppendEntries(ServerId, ServerId),
    /// The service at a server snapshots its state at an index it has applied (§7).
    Snapshot(ServerId, Index),
    /// Server crashes and restarts.
    Restart(ServerId),
    /// The network delivers one copy of a message.
    Receive(Packet),
    /// The network loses one copy of a message.
    Drop(Packet),
    /// The network duplicates a message.
    Duplicate(Packet),
}

/// The model of a cluster under a [`Config`].
#[derive(Clone, Debug)]
pub struct RaftModel {
    /// The bounds, options and bug variant the model is checked under.
    pub config: Config,
}

impl RaftModel {
    /// The model of a cluster under `config`.
    pub fn new(config: Config) -> Self {
        RaftModel { config }
    }

    fn n(&self) -> usize {
        usize::from(self.config.servers)
    }

    fn ids(&self) -> impl Iterator<Item = ServerId> {
        (0..self.config.servers).map(ServerId)
    }

    /// The actions `next_state` would accept from `state` (those that change it): the
    /// same list as `Model::actions`, computed the slow way (by trying every candidate).
    pub fn enabled_actions(&self, state: &ClusterState) -> Vec<Action> {
        self.candidate_actions(state)
            .into_iter()
            .filter(|a| self.next_state(state, a.clone()).is_some())
            .collect()
    }

    /// Every action that might be enabled in `state`, guarded only by role and the bounds
    /// on history: a superset of `Model::actions`, in the same order. `Model::actions`
    /// offers exactly the ones `next_state` accepts (a test compares the two on random
    /// paths).
    pub fn candidate_actions(&self, state: &ClusterState) -> Vec<Action> {
        let mut actions = Vec::new();
        for i in self.ids() {
            self.candidate_server_actions(state, i, &mut actions);
        }
        for packet in state.network.packets() {
            actions.push(Action::Receive(packet.clone()));
            if self.config.drops {
                actions.push(Action::Drop(packet.clone()));
            }
            if self.config.duplicates {
                actions.push(Action::Duplicate(packet.clone()));
            }
        }
        actions
    }

    fn candidate_server_actions(
        &self,
        state: &ClusterState,
        i: ServerId,
        actions: &mut Vec<Action>,
    ) {
        let s = &state.servers[i.index()];
        let h = &state.history;
        if s.role != Role::Leader && s.current_term < self.config.max_term {
            actions.push(Action::Timeout(i));
        }
        if s.role == Role::Candidate {
            // A resend only recovers a lost request; without loss it is a duplicate.
            let resend = self.config.drops;
            for j in self
                .ids()
                .filter(|&j| resend && j != i && !s.votes_granted.contains(j))
            {
                actions.push(Action::RequestVote(i, j));
            }
            if election::has_majority(s, self.n(), self.config.bug) {
                actions.push(Action::BecomeLeader(i));
            }
        }
        if s.role == Role::Leader {
            if h.proposals < self.config.max_requests {
                actions.push(Action::ClientRequest(i, h.proposals + 1));
            }
            actions.push(Action::AdvanceCommitIndex(i));
            for j in self.ids().filter(|&j| j != i) {
                actions.push(Action::AppendEntries(i, j));
            }
        }
        actions.push(Action::Sync(i));
        if self.snapshot_allowed(state) {
            let index = self.snapshot_index(s);
            if index > s.snapshot.last_included_index {
                actions.push(Action::Snapshot(i, index));
            }
        }
        if h.crashes < self.config.max_crashes {
            actions.push(Action::Restart(i));
        }
    }

    /// The enabled actions of server `i`, in the order of `candidate_server_actions`. Each
    /// guard states when `step` would refuse the action, without building the next state:
    /// the checker asks for the actions of every state it visits, so trying each candidate
    /// would double its work. `in_flight` is the number of message copies in flight.
    fn server_actions(
        &self,
        state: &ClusterState,
        i: ServerId,
        in_flight: usize,
        actions: &mut Vec<Action>,
    ) {
        let s = &state.servers[i.index()];
        let h = &state.history;
        // A timeout sends a RequestVote of a new term to every other server. Count the copies
        // it really adds (the network absorbs a send of a copy already in flight): under a
        // bug variant that forgets the term, the same request may be in flight already.
        if s.role != Role::Leader && s.current_term < self.config.max_term {
            let mut candidate = s.clone();
            let msg = election::timeout(&mut candidate, i, self.config.bug);
            let new = self.new_copies(state, i, |_| msg.clone());
            if self.room(in_flight, new) {
                actions.push(Action::Timeout(i));
            }
        }
        if s.role == Role::Candidate {
            // A resend only recovers a lost request; without loss it is a duplicate. A resend
            // of a copy still in flight changes nothing.
            if self.config.drops && self.room(in_flight, 1) {
                let msg = election::request_vote(s, i);
                for j in self
                    .ids()
                    .filter(|&j| j != i && !s.votes_granted.contains(j))
                {
                    let packet = Packet {
                        src: i,
                        dst: j,
                        msg: msg.clone(),
                    };
                    if state.network.copies_of(&packet) == 0 {
                        actions.push(Action::RequestVote(i, j));
                    }
                }
            }
            // The new leader's first heartbeats, counted as they would be sent (a bug variant
            // can make a server lead the same term twice, with its heartbeats in flight).
            if election::has_majority(s, self.n(), self.config.bug) {
                let mut leader = s.clone();
                election::become_leader(&mut leader, i, self.n());
                let cap = self.config.max_entries_per_message;
                let new = self.new_copies(state, i, |j| {
                    replication::append_entries_for(&leader, i, j, cap)
                });
                if self.room(in_flight, new) {
                    actions.push(Action::BecomeLeader(i));
                }
            }
        }
        if s.role == Role::Leader {
            if h.proposals < self.config.max_requests {
                actions.push(Action::ClientRequest(i, h.proposals + 1));
            }
            if commit::commit_target(s, i, self.n(), self.config.bug).is_some() {
                actions.push(Action::AdvanceCommitIndex(i));
            }
            if self.room(in_flight, 1) {
                for j in self.ids().filter(|&j| j != i) {
                    if !replication_in_flight(state, s, i, j, self.config.max_entries_per_message)
                        || self.pipelined_send_moves(s, i, j)
                    {
                        actions.push(Action::AppendEntries(i, j));
                    }
                }
            }
        }
        if s.durable_index < s.last_log_index() {
            actions.push(Action::Sync(i));
        }
        if self.snapshot_allowed(state) {
            let index = self.snapshot_index(s);
            if index > s.snapshot.last_included_index {
                actions.push(Action::Snapshot(i, index));
            }
        }
        if h.crashes < self.config.max_crashes && self.restart_loses_something(s) {
            actions.push(Action::Restart(i));
        }
    }

    /// How many copies server `i` adds to the network by sending `message(j)` to every other
    /// server `j` (`send` absorbs a copy of a packet already in flight).
    fn new_copies(
        &self,
        state: &ClusterState,
        i: ServerId,
        message: impl Fn(ServerId) -> Message,
    ) -> usize {
        self.ids()
            .filter(|&j| j != i)
            .filter(|&j| {
                let packet = Packet {
                    src: i,
                    dst: j,
                    msg: message(j),
                };
                state.network.copies_of(&packet) == 0
            })
            .count()
    }

    /// Whether `k` more message copies fit under `--max-inflight`.
    fn room(&self, in_flight: usize, k: usize) -> bool {
        self.config
            .max_inflight
            .is_none_or(|max| in_flight + k <= usize::from(max))
    }

    /// Whether `restart::restart` would change server `s` (it loses volatile state, or
    /// under a bug something persistent): the real restart on a copy of the one server, so
    /// the guard can never disagree with the step, bug variants included.
    fn restart_loses_something(&self, s: &ServerState) -> bool {
        let mut after = s.clone();
        restart::restart(&mut after, self.config.bug);
        after != *s
    }

    fn snapshot_allowed(&self, state: &ClusterState) -> bool {
        self.config.snapshots
            && match self.config.max_snapshots {
                None => true,
                Some(max) => state.history.snapshots < max,
            }
    }

    /// The index the model's service snapshots at: everything it has applied.
    fn snapshot_index(&self, s: &ServerState) -> Index {
        if self.config.has_bug(crate::bugs::Bug::SnapshotUncommitted) {
            s.last_log_index()
        } else {
            s.last_applied
        }
    }

    fn within_inflight(&self, state: &ClusterState) -> bool {
        match self.config.max_inflight {
            None => true,
            Some(max) => state.network.len() <= usize::from(max),
        }
    }

    /// Applies a protocol action to server `i` in a copy of `state`; `None` if nothing
    /// changed or the action is not enabled.
    fn step(&self, state: &ClusterState, action: &Action) -> Option<ClusterState> {
        if self.is_no_op(state, action) {
            return None;
        }
        let mut next = state.clone();
        let bug = self.config.bug;
        let changed = match action {
            Action::Timeout(i) => self.do_timeout(&mut next, *i),
            Action::RequestVote(i, j) => {
                let s = &next.servers[i.index()];
                if !self.config.drops
                    || s.role != Role::Candidate
                    || i == j
                    || s.votes_granted.contains(*j)
                {
                    return None;
                }
                let msg = election::request_vote(s, *i);
                send(&mut next, *i, *j, msg)
            }
            Action::BecomeLeader(i) => self.do_become_leader(&mut next, *i),
            Action::ClientRequest(i, v) => {
                let s = &mut next.servers[i.index()];
                if s.role != Role::Leader
                    || next.history.proposals >= self.config.max_requests
                    || *v != next.history.proposals + 1
                {
                    return None;
                }
                replication::client_request(s, *v, self.config.durable_prefix);
                next.history.proposals += 1;
                true
            }
            Action::AdvanceCommitIndex(i) => {
                commit::advance_commit_index(&mut next.servers[i.index()], *i, self.n(), bug)
            }
            Action::AppendEntries(i, j) => {
                let s = &next.servers[i.index()];
                if s.role != Role::Leader || i == j {
                    return None;
                }
                let msg =
                    replication::append_entries_for(s, *i, *j, self.config.max_entries_per_message);
                let moved = self.config.pipelined
                    && replication::advance_next_index_on_send(
                        &mut next.servers[i.index()],
                        *j,
                        &msg,
                        bug,
                    );
                send(&mut next, *i, *j, msg) | moved
            }
            Action::Sync(i) => next.servers[i.index()].sync(),
            Action::Snapshot(i, index) => {
                if !self.snapshot_allowed(&next) {
                    return None;
                }
                let taken = snapshot::take_snapshot(&mut next.servers[i.index()], *index, bug);
                if taken && self.config.max_snapshots.is_some() {
                    next.history.snapshots += 1;
                }
                taken
            }
            Action::Restart(i) => {
                if next.history.crashes >= self.config.max_crashes {
                    return None;
                }
                let s = &mut next.servers[i.index()];
                let before = s.clone();
                restart::restart(s, bug);
                next.history.crashes += 1;
                // A restart that loses nothing is not worth a state (or a crash).
                *s != before
            }
            Action::Receive(packet) => self.do_receive(&mut next, packet),
            Action::Drop(packet) => self.config.drops && next.network.remove_one(packet),
            Action::Duplicate(packet) => self.config.duplicates && next.network.duplicate(packet),
        };
        if !changed || !self.within_inflight(&next) {
            return None;
        }
        if self.config.prune_dead_messages
            && !self.config.has_bug(crate::bugs::Bug::AcceptStaleReply)
        {
            let servers = &next.servers;
            let max_term = self.config.max_term;
            next.network.retain(|p| {
                let (receiver, sender) = (&servers[p.dst.index()], &servers[p.src.index()]);
                !crate::network::is_dead(p, receiver, sender, max_term)
            });
        }
        Some(next)
    }

    /// Cheap checks for the most common actions that change nothing, so the checker does not
    /// clone the whole cluster just to throw the copy away.
    fn is_no_op(&self, state: &ClusterState, action: &Action) -> bool {
        match action {
            Action::AppendEntries(i, j) => {
                let s = &state.servers[i.index()];
                s.role == Role::Leader && i != j && {
                    let msg = replication::append_entries_for(
                        s,
                        *i,
                        *j,
                        self.config.max_entries_per_message,
                    );
                    let packet = Packet {
                        src: *i,
                        dst: *j,
                        msg,
                    };
                    state.network.copies_of(&packet) > 0 && !self.pipelined_send_moves(s, *i, *j)
                }
            }
            Action::AdvanceCommitIndex(i) => {
                commit::commit_target(&state.servers[i.index()], *i, self.n(), self.config.bug)
                    .is_none()
            }
            _ => false,
        }
    }

    /// Whether leader `s` sending AppendEntries to `j` now moves its `next_index[j]` (rule
    /// L5, only when pipelined): then the action changes the state even when the request
    /// is a copy of one in flight (a rejection backed `next_index` up to it again).
    fn pipelined_send_moves(&self, s: &ServerState, i: ServerId, j: ServerId) -> bool {
        if !self.config.pipelined {
            return false;
        }
        let msg = replication::append_entries_for(s, i, j, self.config.max_entries_per_message);
        let mut after = s.clone();
        replication::advance_next_index_on_send(&mut after, j, &msg, self.config.bug)
    }

    fn do_timeout(&self, next: &mut ClusterState, i: ServerId) -> bool {
        let s = &mut next.servers[i.index()];
        if s.role == Role::Leader || s.current_term >= self.config.max_term {
            return false;
        }
        let msg = election::timeout(s, i, self.config.bug);
        for j in self.ids().filter(|&j| j != i) {
            send(next, i, j, msg.clone());
        }
        true
    }

    fn do_become_leader(&self, next: &mut ClusterState, i: ServerId) -> bool {
        let s = &mut next.servers[i.index()];
        if !election::has_majority(s, self.n(), self.config.bug) {
            return false;
        }
        election::become_leader(s, i, self.n());
        for j in self.ids().filter(|&j| j != i) {
            let msg = replication::append_entries_for(
                &next.servers[i.index()],
                i,
                j,
                self.config.max_entries_per_message,
            );
            send(next, i, j, msg);
        }
        true
    }

    fn do_receive(&self, next: &mut ClusterState, packet: &Packet) -> bool {
        if !next.network.remove_one(packet) {
            return false;
        }
        let s = &mut next.servers[packet.dst.index()];
        let received = receive(s, packet.src, &packet.msg, self.config.bug);
        if received.installed_snapshot {
            next.history.reached |= reached::SNAPSHOT_INSTALLED_ON_FOLLOWER;
        }
        if let Some(reply) = received.reply {
            send(next, packet.dst, packet.src, reply);
        }
        true
    }
}

/// Whether leader `s` (server `i`) has its current AppendEntries (or InstallSnapshot) for
/// `j` in flight already, so that sending it again would change nothing.
fn replication_in_flight(
    state: &ClusterState,
    s: &ServerState,
    i: ServerId,
    j: ServerId,
    max_entries: Option<u8>,
) -> bool {
    let any = state.network.packets().any(|p| {
        p.src == i
            && p.dst == j
            && matches!(
                p.msg,
                Message::AppendEntries { .. } | Message::InstallSnapshot { .. }
            )
    });
    any && {
        let packet = Packet {
            src: i,
            dst: j,
            msg: replication::append_entries_for(s, i, j, max_entries),
        };
        state.network.copies_of(&packet) > 0
    }
}

/// Puts `msg` from `src` to `dst` in flight. Always a change of state for the step that
/// sends, except a re-send of a message already in flight.
fn send(next: &mut ClusterState, src: ServerId, dst: ServerId, msg: Message) -> bool {
    let packet = Packet { src, dst, msg };
    let before = next.network.copies_of(&packet);
    next.network.send(packet);
    before == 0
}

impl Model for RaftModel {
    type State = ClusterState;
    type Action = Action;

    fn init_states(&self) -> Vec<ClusterState> {
        vec![ClusterState::initial(&self.config)]
    }

    /// The actions `next_state` accepts in `state`, and no others (the explorer lists
    /// these as the next choices). See `server_actions` for the guards.
    fn actions(&self, state: &ClusterState, actions: &mut Vec<Action>) {
        let in_flight = state.network.len();
        for i in self.ids() {
            self.server_actions(state, i, in_flight, actions);
        }
        // A delivery or a loss always changes the network (and a delivery's reply replaces
        // the request it answers); a duplicate needs room for one more copy.
        let duplicate = self.config.duplicates && self.room(in_flight, 1);
        for packet in state.network.packets() {
            actions.push(Action::Receive(packet.clone()));
            if self.config.drops {
                actions.push(Action::Drop(packet.clone()));
            }
            if duplicate {
                actions.push(Action::Duplicate(packet.clone()));
            }
        }
    }

    fn next_state(&self, state: &ClusterState, action: Action) -> Option<ClusterState> {
        let mut next = self.step(state, &action)?;
        history::observe(state, &action, &mut next);
        Some(next)
    }

    fn format_action(&self, action: &Action) -> String {
        crate::describe::action(action)
    }

    /// The explorer's default text for a state: the step, the verdict on the state it
    /// reached (the properties that fail here), then the whole state.
    fn format_step(&self, last_state: &ClusterState, action: Action) -> Option<String> {
        let next = self.next_state(last_state, action.clone())?;
        Some(crate::describe::explorer_step(
            self, last_state, &action, &next,
        ))
    }

    /// The explorer's picture: the state, the verdict, and the path as a sequence diagram.
    fn as_svg(&self, path: Path<ClusterState, Action>) -> Option<String> {
        Some(crate::svg::render(self, &path.into_vec()))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        // Each condition is `.is_ok()` of the check function `properties::violations`
        // explains failures with, so the checker and the explanation cannot disagree.
        let mut props = vec![
            Property::always(p::ELECTION_SAFETY, |_, s| {
                p::check_election_safety(s).is_ok()
            }),
            Property::always(p::LOG_MATCHING, |_, s| p::check_log_matching(s).is_ok()),
            Property::always(p::LEADER_COMPLETENESS, |_, s| {
                p::check_leader_completeness(s).is_ok()
            }),
            Property::always(p::STATE_MACHINE_SAFETY, |_, s| {
                p::check_state_machine_safety(s).is_ok()
            }),
            Property::always(p::APPLIED_NEVER_REGRESSES, |_, s| {
                p::check_applied_never_regresses(s).is_ok()
            }),
            Property::always(p::APPLIED_WITHIN_COMMIT, |_, s| {
                p::check_applied_within_commit(s).is_ok()
            }),
            Property::always(p::COMMITTED_AT_ONE_INDEX, |_, s| {
                p::check_committed_at_one_index(s).is_ok()
            }),
            Property::always(p::SNAPSHOT_IS_COMMITTED_PREFIX, |_, s| {
                p::check_snapshot_is_committed_prefix(s).is_ok()
            }),
            Property::always(p::LOG_TERMS_NEVER_DECREASE, |_, s| {
                p::check_log_terms_never_decrease(s).is_ok()
            }),
            Property::always(p::ELECTABLE_HOLDS_COMMITTED, |_, s| {
                p::check_electable_holds_committed(s).is_ok()
            }),
            Property::sometimes(p::LEADER_ELECTED, |_, s| p::leader_elected(s)),
        ];
        if self.config.max_requests > 0 {
            props.push(Property::sometimes(p::ENTRY_COMMITTED, |_, s| {
                p::entry_committed(s)
            }));
        }
        let snapshots_possible = self.config.snapshots && self.config.max_snapshots != Some(0);
        if snapshots_possible && self.config.max_requests > 0 && self.config.servers > 1 {
            props.push(Property::sometimes(
                p::SNAPSHOT_INSTALLED_ON_FOLLOWER,
                |_, s| p::snapshot_installed_on_follower(s),
            ));
        }
        if self.config.max_crashes > 0 && self.config.max_requests > 0 {
            props.push(Property::sometimes(p::COMMIT_AFTER_RESTART, |_, s| {
                p::commit_after_restart(s)
            }));
        }
        props
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> RaftModel {
        RaftModel::new(Config {
            max_inflight: Some(8),
            ..Config::default()
        })
    }

    #[test]
    fn next_state_refuses_actions_that_are_not_enabled() {
        // Conformance replays actions through next_state: a step the protocol forbids must
        // be refused, not silently applied.
        let m = model();
        let init = m.init_states().remove(0);
        let s1 = ServerId(0);
        assert!(m.next_state(&init, Action::BecomeLeader(s1)).is_none());
        assert!(m.next_state(&init, Action::ClientRequest(s1, 1)).is_none());
        assert!(m
            .next_state(&init, Action::AppendEntries(s1, ServerId(1)))
            .is_none());
        assert!(m.next_state(&init, Action::Snapshot(s1, 1)).is_none());
        assert!(
            m.next_state(&init, Action::Restart(s1)).is_none(),
            "nothing to lose"
        );
        let candidate = m.next_state(&init, Action::Timeout(s1)).unwrap();
        let packet = candidate.network.packets().next().unwrap().clone();
        let delivered = m
            .next_state(&candidate, Action::Receive(packet.clone()))
            .unwrap();
        assert_eq!(delivered.network.copies_of(&packet), 0);
        assert!(m.next_state(&delivered, Action::Receive(packet)).is_none());
    }

    #[test]
    fn enabled_actions_are_exactly_those_next_state_accepts() {
        let m = model();
        let init = m.init_states().remove(0);
        let candidate = m.next_state(&init, Action::Timeout(ServerId(0))).unwrap();
        let enabled = m.enabled_actions(&candidate);
        assert!(enabled.contains(&Action::Timeout(ServerId(1))));
        assert!(!enabled.contains(&Action::BecomeLeader(ServerId(0))));
        for action in &enabled {
            assert!(m.next_state(&candidate, action.clone()).is_some());
        }
    }

    /// Breadth-first, up to `limit` states.
    fn reachable(m: &RaftModel, limit: usize) -> Vec<ClusterState> {
        let mut seen = std::collections::BTreeSet::new();
        let mut queue: std::collections::VecDeque<_> = m.init_states().into();
        let mut out = Vec::new();
        while let Some(s) = queue.pop_front() {
            if out.len() >= limit || !seen.insert(s.clone()) {
                continue;
            }
            let mut actions = Vec::new();
            m.actions(&s, &mut actions);
            for a in actions {
                queue.push_back(m.next_state(&s, a).unwrap());
            }
            out.push(s);
        }
        out
    }

    #[test]
    fn the_durable_index_stays_between_the_snapshot_and_the_last_index() {
        // §10.2.1: snapshot index <= durable index <= last log index, in every reachable
        // state, bug variants included (they may break the protocol, not the bookkeeping).
        for bug in std::iter::once(None).chain(crate::Bug::ALL.map(Some)) {
            let m = RaftModel::new(Config {
                max_requests: 2,
                max_inflight: Some(3),
                bug,
                ..Config::default()
            });
            for s in reachable(&m, 4_000) {
                for v in &s.servers {
                    assert!(
                        v.snapshot.last_included_index <= v.durable_index
                            && v.durable_index <= v.last_log_index(),
                        "{bug:?}: {v:?} durable {}",
                        v.durable_index
                    );
                }
            }
        }
    }

    #[test]
    fn without_a_durable_prefix_every_entry_is_durable_at_once() {
        let m = RaftModel::new(Config {
            durable_prefix: false,
            max_requests: 2,
            ..Config::default()
        });
        for s in reachable(&m, 5_000) {
            assert!(s
                .servers
                .iter()
                .all(|v| v.durable_index == v.last_log_index()));
            let mut actions = Vec::new();
            m.actions(&s, &mut actions);
            assert!(!actions.iter().any(|a| matches!(a, Action::Sync(_))));
        }
    }

    #[test]
    fn a_crash_loses_the_entries_past_the_durable_index_and_sync_saves_them() {
        let m = model();
        let (s1, s2) = (ServerId(0), ServerId(1));
        let init = m.init_states().remove(0);
        let cand = m.next_state(&init, Action::Timeout(s1)).unwrap();
        let vote = cand
            .network
            .packets()
            .find(|p| p.dst == s2)
            .unwrap()
            .clone();
        let voted = m.next_state(&cand, Action::Receive(vote)).unwrap();
        let reply = voted
            .network
            .packets()
            .find(|p| p.dst == s1)
            .unwrap()
            .clone();
        let elected = m.next_state(&voted, Action::Receive(reply)).unwrap();
        let leader = m.next_state(&elected, Action::BecomeLeader(s1)).unwrap();
        let appended = m.next_state(&leader, Action::ClientRequest(s1, 1)).unwrap();
        let l = &appended.servers[0];
        assert_eq!((l.last_log_index(), l.durable_index), (1, 0));
        assert!(m.enabled_actions(&appended).contains(&Action::Sync(s1)));
        let crashed = m.next_state(&appended, Action::Restart(s1)).unwrap();
        assert!(
            crashed.servers[0].log.is_empty(),
            "the unsynced entry is lost"
        );
        let synced = m.next_state(&appended, Action::Sync(s1)).unwrap();
        assert_eq!(synced.servers[0].durable_index, 1);
        assert!(m.next_state(&synced, Action::Sync(s1)).is_none());
        let restarted = m.next_state(&synced, Action::Restart(s1)).unwrap();
        assert_eq!(restarted.servers[0].log.len(), 1, "a synced entry survives");
    }

    #[test]
    fn a_full_network_disables_sends() {
        let m = RaftModel::new(Config::default()); // at most 2 messages in flight
        let init = m.init_states().remove(0);
        let candidate = m.next_state(&init, Action::Timeout(ServerId(0))).unwrap();
        assert_eq!(candidate.network.len(), 2);
        assert!(m
            .next_state(&candidate, Action::Timeout(ServerId(1)))
            .is_none());
    }
}
