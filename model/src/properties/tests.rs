//! Each property on hand-built states: one state where it holds and one where it fails,
//! so none of these tests can pass with a property that always answers the same.

use super::*;
use crate::config::Config;
use crate::server::Snapshot;
use crate::types::{Entry, ServerId};

fn cluster() -> ClusterState {
    ClusterState::initial(&Config::default())
}

fn e(term: u8, value: u8) -> Entry {
    Entry { term, value }
}

fn committed(entries: &[(u8, u8, u8)]) -> Vec<Committed> {
    entries
        .iter()
        .map(|&(term, value, commit_term)| Committed {
            term,
            value,
            commit_term,
        })
        .collect()
}

fn make_leader(s: &mut ServerState, term: u8) {
    s.current_term = term;
    s.role = Role::Leader;
    s.next_index = vec![1; 3];
    s.match_index = vec![0; 3];
}

#[test]
fn election_safety_rejects_two_leaders_of_one_term() {
    let mut state = cluster();
    make_leader(&mut state.servers[0], 2);
    make_leader(&mut state.servers[1], 3);
    assert!(election_safety(&state));
    state.servers[1].current_term = 2;
    assert!(!election_safety(&state));
}

#[test]
fn election_safety_remembers_a_second_election_in_a_term() {
    // A leader that crashed is no longer visible; the history still is.
    let mut state = cluster();
    assert!(election_safety(&state));
    state.history.violations |= violation::ELECTION_SAFETY;
    assert!(!election_safety(&state));
}

#[test]
fn log_matching_rejects_logs_that_agree_at_an_index_but_differ_before_it() {
    let mut state = cluster();
    state.servers[0].log = vec![e(1, 1), e(3, 3)];
    state.servers[1].log = vec![e(1, 1), e(3, 3)];
    assert!(log_matching(&state));
    state.servers[1].log = vec![e(2, 2), e(3, 3)];
    assert!(!log_matching(&state));
}

#[test]
fn log_matching_counts_the_snapshot_last_entry_as_an_entry() {
    let mut state = cluster();
    state.servers[0].snapshot = Snapshot {
        last_included_index: 2,
        last_included_term: 1,
        data: vec![1, 2],
    };
    state.servers[1].log = vec![e(1, 1), e(1, 2)];
    assert!(log_matching(&state));
    state.servers[1].log = vec![e(1, 5), e(1, 2)];
    assert!(
        !log_matching(&state),
        "index 2 agrees (term 1) but index 1's value differs"
    );
}

#[test]
fn leader_completeness_requires_entries_committed_in_earlier_terms() {
    let mut state = cluster();
    state.history.committed = committed(&[(1, 1, 1)]);
    make_leader(&mut state.servers[2], 2);
    assert!(!leader_completeness(&state));
    state.servers[2].log = vec![e(1, 1)];
    assert!(leader_completeness(&state));
}

#[test]
fn leader_completeness_accepts_a_snapshot_holding_the_entry() {
    let mut state = cluster();
    state.history.committed = committed(&[(1, 1, 1), (1, 2, 1)]);
    make_leader(&mut state.servers[0], 2);
    state.servers[0].snapshot = Snapshot {
        last_included_index: 2,
        last_included_term: 1,
        data: vec![1, 2],
    };
    assert!(leader_completeness(&state));
    state.servers[0].snapshot.last_included_term = 2;
    assert!(!leader_completeness(&state));
}

#[test]
fn leader_completeness_does_not_bind_a_stale_leader_of_the_commit_term() {
    let mut state = cluster();
    state.history.committed = committed(&[(2, 1, 2)]);
    make_leader(&mut state.servers[0], 2);
    assert!(leader_completeness(&state));
}

#[test]
fn state_machine_safety_rejects_a_different_value_at_a_committed_index() {
    let mut state = cluster();
    state.history.committed = committed(&[(1, 1, 1)]);
    state.servers[0].applied = vec![1];
    assert!(state_machine_safety(&state));
    state.servers[1].applied = vec![2];
    assert!(!state_machine_safety(&state));
}

#[test]
fn applied_never_regresses_requires_the_service_to_match_raft() {
    let mut state = cluster();
    state.history.committed = committed(&[(1, 1, 1)]);
    let s = &mut state.servers[0];
    s.log = vec![e(1, 1)];
    s.commit_index = 1;
    s.last_applied = 1;
    s.applied = vec![1];
    assert!(applied_never_regresses(&state));
    state.servers[0].applied.clear();
    assert!(!applied_never_regresses(&state));
}

#[test]
fn applied_never_regresses_remembers_a_backwards_step() {
    let mut state = cluster();
    state.history.violations |= violation::APPLIED_NEVER_REGRESSES;
    assert!(!applied_never_regresses(&state));
}

#[test]
fn snapshot_must_be_a_committed_prefix() {
    let mut state = cluster();
    state.history.committed = committed(&[(1, 1, 1)]);
    let s = &mut state.servers[0];
    s.snapshot = Snapshot {
        last_included_index: 1,
        last_included_term: 1,
        data: vec![1],
    };
    s.commit_index = 1;
    s.last_applied = 1;
    s.applied = vec![1];
    assert!(snapshot_is_committed_prefix(&state));
    state.servers[0].snapshot = Snapshot {
        last_included_index: 2,
        last_included_term: 1,
        data: vec![1, 2],
    };
    assert!(!snapshot_is_committed_prefix(&state));
}

#[test]
fn sometimes_properties_see_their_events() {
    let mut state = cluster();
    assert!(!leader_elected(&state) && !entry_committed(&state));
    assert!(!snapshot_installed_on_follower(&state) && !commit_after_restart(&state));
    make_leader(&mut state.servers[0], 1);
    state.history.committed = committed(&[(1, 1, 1)]);
    state.history.reached = reached::SNAPSHOT_INSTALLED_ON_FOLLOWER | reached::COMMIT_AFTER_RESTART;
    assert!(leader_elected(&state) && entry_committed(&state));
    assert!(snapshot_installed_on_follower(&state) && commit_after_restart(&state));
}

#[test]
fn a_second_become_leader_in_a_term_is_recorded_as_a_violation() {
    use crate::model::{Action, RaftModel};
    use stateright::Model;
    let model = RaftModel::new(Config {
        max_inflight: Some(8),
        ..Config::default()
    });
    let mut state = cluster();
    for (i, s) in state.servers.iter_mut().enumerate().take(2) {
        s.current_term = 1;
        s.role = Role::Candidate;
        s.voted_for = Some(ServerId(i as u8));
        s.votes_granted.insert(ServerId(0));
        s.votes_granted.insert(ServerId(1));
    }
    let one = model
        .next_state(&state, Action::BecomeLeader(ServerId(0)))
        .unwrap();
    assert!(election_safety(&one));
    let two = model
        .next_state(&one, Action::BecomeLeader(ServerId(1)))
        .unwrap();
    assert!(!election_safety(&two));
}

#[test]
fn applied_within_commit_rejects_applying_past_the_commit_index() {
    let mut state = cluster();
    state.servers[0].log = vec![e(1, 1)];
    state.servers[0].commit_index = 1;
    state.servers[0].last_applied = 1;
    state.servers[0].applied = vec![1];
    assert!(applied_within_commit(&state));
    state.servers[0].commit_index = 0;
    assert!(!applied_within_commit(&state));
    assert_eq!(
        check_applied_within_commit(&state),
        Err("S1 applied up to index 1 but its commit index is 0".to_string())
    );
}

#[test]
fn committed_at_one_index_rejects_a_committed_value_held_elsewhere() {
    let mut state = cluster();
    state.history.committed = committed(&[(1, 1, 1)]);
    state.servers[0].log = vec![e(1, 1), e(1, 2)];
    state.servers[1].log = vec![e(1, 1)];
    assert!(committed_at_one_index(&state));
    // An offset error: v1 copied to index 2.
    state.servers[1].log = vec![e(1, 2), e(1, 1)];
    assert_eq!(
        check_committed_at_one_index(&state),
        Err("v1, committed at index 1, sits at index 2 in S2's log or snapshot".to_string())
    );
    state.servers[1].log = vec![e(1, 1)];
    state.history.committed = committed(&[(1, 1, 1), (1, 1, 1)]);
    assert!(!committed_at_one_index(&state));
}

#[test]
fn leader_completeness_counts_a_snapshot_entry_as_held_and_checks_its_value() {
    let mut state = cluster();
    state.history.committed = committed(&[(1, 1, 1), (1, 2, 1)]);
    make_leader(&mut state.servers[0], 2);
    state.servers[0].snapshot = Snapshot {
        last_included_index: 2,
        last_included_term: 1,
        data: vec![1, 2],
    };
    assert!(leader_completeness(&state));
    state.servers[0].snapshot.data = vec![1, 9];
    assert!(
        !leader_completeness(&state),
        "wrong value inside the snapshot"
    );
    state.servers[0].snapshot.data = vec![1, 2];
    state.servers[0].snapshot.last_included_term = 2;
    assert!(
        !leader_completeness(&state),
        "wrong term at the snapshot's last index"
    );
    state.servers[0].snapshot = Snapshot::default();
    assert_eq!(
        check_leader_completeness(&state),
        Err(
            "S1 leads term 2 without (t1, v1) committed at index 1 in term 1; \
             it has nothing there"
                .to_string()
        )
    );
}

#[test]
fn violations_name_each_failing_property_with_its_reason() {
    let model = crate::RaftModel::new(Config::default());
    let mut state = cluster();
    assert!(violations(&model, &state).is_empty());
    make_leader(&mut state.servers[0], 2);
    make_leader(&mut state.servers[2], 2);
    let found = violations(&model, &state);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].property, ELECTION_SAFETY);
    assert_eq!(found[0].reason, "S1 and S3 both lead term 2");
}

/// The state the mutant `26-commit-checks-last-entry-term` (L3b read at the leader's last
/// entry, `model/mutants/`) reaches in three terms: S1, leader of term 3 with
/// `[t1:v1, t3:v3]`, committed v1 (an entry of term 1) because S2 acknowledged index 1 and
/// S1's *last* entry is of term 3. S3's `[t2:v2]` is more up-to-date than S2's `[t1:v1]`,
/// so S3 can still be elected with S2's vote and overwrite v1: Figure 8. No leader lacks
/// v1 yet, so every other property holds; only a fourth term would show the loss.
fn figure_8_commit_by_last_entry() -> ClusterState {
    let mut state = cluster();
    state.history.committed = committed(&[(1, 1, 3)]);
    let s1 = &mut state.servers[0];
    make_leader(s1, 3);
    s1.log = vec![e(1, 1), e(3, 3)];
    (s1.durable_index, s1.commit_index, s1.last_applied) = (2, 1, 1);
    s1.applied = vec![1];
    let s2 = &mut state.servers[1];
    (s2.current_term, s2.log, s2.durable_index) = (3, vec![e(1, 1)], 1);
    let s3 = &mut state.servers[2];
    (s3.current_term, s3.log, s3.durable_index) = (2, vec![e(2, 2)], 1);
    state
}

#[test]
fn electable_holds_committed_rejects_a_server_that_could_still_win_without_the_entry() {
    let mut state = figure_8_commit_by_last_entry();
    let others = ALWAYS
        .iter()
        .filter(|(n, _)| *n != ELECTABLE_HOLDS_COMMITTED);
    for (name, check) in others {
        assert!(
            check(&state).is_ok(),
            "{name} already fails: {:?}",
            check(&state)
        );
    }
    assert_eq!(
        check_electable_holds_committed(&state),
        Err(
            "S3 lacks (t1, v1) committed at index 1 but could be elected with the votes \
             of S2, S3 (its last entry: index 1, term 2); it has (t2, v2) there"
                .to_string()
        )
    );
    // Correct Raft commits v1 only with v3: then S2's last term 3 refuses S3 its vote.
    let s2 = &mut state.servers[1];
    (s2.log, s2.durable_index) = (vec![e(1, 1), e(3, 3)], 2);
    assert!(electable_holds_committed(&state));
    // A voter is compared by its durable prefix: a crash leaves it only that much.
    state.servers[1].durable_index = 1;
    assert!(!electable_holds_committed(&state));
}
