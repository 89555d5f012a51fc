//! The representative is canonical, and the model is equivariant under renaming servers:
//! for every permutation π, `next_state(π s, π a) == π next_state(s, a)` and every property
//! gives the same verdict on `s` and `π s`. Together these make the symmetry reduction
//! sound (no behaviour is lost) and deterministic (one state count).

use super::*;
use crate::config::Config;
use crate::model::{Action, RaftModel};
use crate::network::Packet;
use stateright::Model;
use std::collections::{BTreeSet, VecDeque};

fn permute_action(action: &Action, perm: &Permutation) -> Action {
    let p = |id: &ServerId| ServerId(perm[id.index()]);
    let packet = |pk: &Packet| pk.rewrite(&plan(perm));
    match action {
        Action::Timeout(i) => Action::Timeout(p(i)),
        Action::RequestVote(i, j) => Action::RequestVote(p(i), p(j)),
        Action::BecomeLeader(i) => Action::BecomeLeader(p(i)),
        Action::ClientRequest(i, v) => Action::ClientRequest(p(i), *v),
        Action::AdvanceCommitIndex(i) => Action::AdvanceCommitIndex(p(i)),
        Action::Sync(i) => Action::Sync(p(i)),
        Action::AppendEntries(i, j) => Action::AppendEntries(p(i), p(j)),
        Action::Snapshot(i, index) => Action::Snapshot(p(i), *index),
        Action::Restart(i) => Action::Restart(p(i)),
        Action::Receive(pk) => Action::Receive(packet(pk)),
        Action::Drop(pk) => Action::Drop(packet(pk)),
        Action::Duplicate(pk) => Action::Duplicate(packet(pk)),
    }
}

/// Breadth-first, up to `limit` states, without symmetry.
fn reachable(model: &RaftModel, limit: usize) -> Vec<ClusterState> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<ClusterState> = model.init_states().into();
    let mut out = Vec::new();
    while let Some(s) = queue.pop_front() {
        if out.len() >= limit || !seen.insert(s.clone()) {
            continue;
        }
        for a in model.enabled_actions(&s) {
            queue.push_back(model.next_state(&s, a).unwrap());
        }
        out.push(s);
    }
    out
}

fn small_model(bug: Option<crate::Bug>) -> RaftModel {
    RaftModel::new(Config {
        max_term: 2,
        max_requests: 2,
        max_inflight: Some(3),
        prune_dead_messages: false,
        bug,
        ..Config::default()
    })
}

/// Checks equivariance on every `stride`-th of the first `limit` reachable states; returns
/// the number of (state, action, permutation) triples checked.
fn assert_equivariant(model: &RaftModel, limit: usize, stride: usize) -> usize {
    let perms = all_permutations(3);
    let states = reachable(model, limit);
    assert!(
        states.len() >= limit,
        "the sample reaches past the first elections"
    );
    let mut checked = 0;
    for s in states.iter().step_by(stride) {
        let mut actions = Vec::new();
        model.actions(s, &mut actions);
        for perm in &perms {
            let ps = permute(s, perm);
            for (name, check) in crate::properties::ALWAYS {
                assert_eq!(check(s).is_ok(), check(&ps).is_ok(), "{name} on {s:?}");
            }
            for a in &actions {
                let next = model.next_state(s, a.clone());
                let pnext = model.next_state(&ps, permute_action(a, perm));
                assert_eq!(
                    next.map(|n| permute(&n, perm)),
                    pnext,
                    "action {a:?} under {perm:?}"
                );
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn next_state_commutes_with_every_permutation_and_properties_agree() {
    let model = small_model(None);
    assert!(model.config.durable_prefix);
    let checked = assert_equivariant(&model, 3_000, 7);
    assert!(checked > 10_000, "{checked} transitions checked");
    // The sample includes servers with entries not yet durable, and their `Sync`.
    let undurable = reachable(&model, 3_000)
        .into_iter()
        .filter(|s| {
            s.servers
                .iter()
                .any(|v| v.durable_index < v.last_log_index())
        })
        .count();
    assert!(
        undurable > 0,
        "no state with a non-durable entry in the sample"
    );
}

#[test]
fn the_durable_index_is_part_of_the_representative() {
    // Two states that differ only in how much of one log is durable behave differently
    // under a crash: the reduction must not merge them.
    let model = small_model(None);
    let s = reachable(&model, 3_000)
        .into_iter()
        .find(|s| {
            s.servers
                .iter()
                .any(|v| v.durable_index < v.last_log_index())
        })
        .expect("a state with a non-durable entry");
    let i = s
        .servers
        .iter()
        .position(|v| v.durable_index < v.last_log_index())
        .unwrap();
    let synced = model
        .next_state(&s, Action::Sync(ServerId(i as u8)))
        .unwrap();
    assert_ne!(s.representative(), synced.representative());
}

#[test]
fn every_bug_variant_is_equivariant_too() {
    // The portfolio checks bug variants under symmetry as well: a variant that named a
    // server by id would make the reduction unsound for it.
    for bug in crate::Bug::ALL {
        let model = RaftModel::new(Config {
            snapshots: true,
            max_crashes: 1,
            ..small_model(Some(bug)).config
        });
        assert!(assert_equivariant(&model, 600, 11) > 500, "{}", bug.name());
    }
}

#[test]
fn the_representative_is_the_same_for_every_permutation_of_a_state() {
    let model = small_model(None);
    let perms = all_permutations(3);
    for s in reachable(&model, 3_000).iter().step_by(3) {
        let r = s.representative();
        for perm in &perms {
            assert_eq!(permute(s, perm).representative(), r, "{s:?} under {perm:?}");
        }
    }
}

#[test]
fn states_that_differ_by_a_permutation_of_ids_share_a_representative() {
    let model = RaftModel::new(Config {
        max_inflight: Some(8),
        ..Config::default()
    });
    let init = &model.init_states()[0];
    let a = model
        .next_state(init, Action::Timeout(ServerId(0)))
        .unwrap();
    let b = model
        .next_state(init, Action::Timeout(ServerId(2)))
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(a.representative(), b.representative());
    let c = model.next_state(&a, Action::Timeout(ServerId(1))).unwrap();
    assert_ne!(c.representative(), a.representative());
}
