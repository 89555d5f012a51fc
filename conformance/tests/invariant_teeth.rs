//! The simulator's invariant checker has teeth: cluster states that break Log Matching or
//! State Machine Safety, built from persisted bytes, are reported.

use raft_conformance::cluster::{Cluster, Outcome};
use raft_conformance::invariants::Checker;
use raft_conformance::service::{encode_command, Service};
use raft_conformance::sim::SimConfig;
use raft_impl::core::{Core, Entry, PersistentState};

fn restored(cluster: &Cluster, i: usize, entries: &[(u64, u32)]) -> Core {
    let state = PersistentState {
        current_term: 3,
        voted_for: None,
        snapshot_index: 0,
        snapshot_term: 0,
        entries: entries
            .iter()
            .map(|&(term, value)| Entry {
                term,
                command: encode_command(value).into(),
            })
            .collect(),
    };
    Core::restore(
        cluster.cores[i].config().clone(),
        &state.encode().unwrap(),
        Vec::new(),
    )
    .unwrap()
}

fn stepped(i: usize) -> Outcome {
    Outcome {
        server: Some(i),
        ..Outcome::default()
    }
}

#[test]
fn logs_that_agree_on_a_later_entry_but_differ_earlier_break_log_matching() {
    let mut cluster = Cluster::new(SimConfig::faulty(3, 0).cluster_config(), 0);
    cluster.cores[0] = restored(&cluster, 0, &[(1, 1), (2, 3)]);
    cluster.cores[1] = restored(&cluster, 1, &[(1, 2), (2, 3)]);
    let error = Checker::new(3).check(&cluster, &stepped(0)).unwrap_err();
    assert!(error.starts_with("log matching"), "{error}");
    // Agreeing logs pass.
    cluster.cores[1] = restored(&cluster, 1, &[(1, 1), (2, 3)]);
    assert_eq!(Checker::new(3).check(&cluster, &stepped(0)), Ok(()));
}

#[test]
fn two_services_applying_different_commands_at_one_index_break_state_machine_safety() {
    use raft_conformance::service::encode_snapshot;
    let mut cluster = Cluster::new(SimConfig::faulty(3, 0).cluster_config(), 0);
    let mut checker = Checker::new(3);
    // Each server restarts from a snapshot ending at index 1 (so commit = applied = 1),
    // holding a different command there.
    for (i, value) in [(0, 1), (1, 2)] {
        let state = PersistentState {
            current_term: 1,
            voted_for: None,
            snapshot_index: 1,
            snapshot_term: 1,
            entries: Vec::new(),
        };
        let snapshot = encode_snapshot(&[value]);
        let config = cluster.cores[i].config().clone();
        cluster.cores[i] =
            Core::restore(config, &state.encode().unwrap(), snapshot.clone()).unwrap();
        cluster.services[i] = Service::restore(&snapshot).unwrap();
        let mut outcome = stepped(i);
        outcome.crashed = true;
        let result = checker.check(&cluster, &outcome);
        if i == 0 {
            assert_eq!(result, Ok(()));
        } else {
            let error = result.unwrap_err();
            assert!(error.starts_with("state machine safety"), "{error}");
        }
    }
}
