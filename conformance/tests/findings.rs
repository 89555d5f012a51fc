//! Minimal reproducers of disagreements between the core and the model found by trace
//! validation (`docs/conformance.md`, "Findings"). Each builds the smallest cluster state
//! that shows the difference and validates one step.

use raft_conformance::cluster::{Cluster, Disk, Event, InFlight};
use raft_conformance::mapping::map_cluster;
use raft_conformance::service::{encode_command, encode_snapshot, Service};
use raft_conformance::sim::SimConfig;
use raft_conformance::validate::{check_event, unbounded_model, Stats};
use raft_impl::core::{Config, Core, Entry, Message, PersistentState};
use raft_model::{Committed, History};

/// Validates `event` on `cluster` from the cluster's own mapped state.
fn validate(cluster: &mut Cluster, history: &mut History, event: Event) -> Result<(), String> {
    let model = unbounded_model(&cluster.config);
    let before = map_cluster(cluster, history.clone()).map_err(|b| b.0)?;
    let outcome = cluster.execute(&event)?;
    let mut stats = Stats::default();
    match check_event(&model, &before, cluster, &outcome, &mut stats) {
        Ok(next) => {
            *history = next.history;
            Ok(())
        }
        Err(e) => Err(format!("{event:?}: {e:?}")),
    }
}

/// Finding 1 (trace validation seed 226, 3 servers, event 996). A leader whose term-1
/// entries are all compacted into its snapshot, ending at (2, 1), gets a rejection with
/// `conflict_term = Some(1)`. `docs/protocol.md` counts the snapshot's last entry as an
/// entry, and the model's `last_index_of_term(1)` is 2, so `next_index = 3` and it sends
/// AppendEntries after the snapshot; the core's `Log::last_index_of_term` looks only at
/// the kept entries, falls back to `conflict_index = 1`, and sends InstallSnapshot.
/// Both are safe (a hint only); they are different steps.
#[test]
fn conflict_term_in_the_leaders_snapshot_entry() {
    let config = SimConfig::for_validation(3, 0).cluster_config();
    let mut cluster = Cluster::new(config, 1);
    let state = PersistentState {
        current_term: 1,
        voted_for: None,
        snapshot_index: 2,
        snapshot_term: 1,
        entries: Vec::new(),
    };
    let snapshot = encode_snapshot(&[1, 2]);
    let core_config = Config {
        election_timeout_ticks_min: 1,
        election_timeout_ticks_max: 1,
        ..cluster.cores[0].config().clone()
    };
    cluster.cores[0] =
        Core::restore(core_config, &state.encode().unwrap(), snapshot.clone()).unwrap();
    // The disk the harness checks each step against: what this core was restored from.
    cluster.disks[0] = Disk::synced(state, std::sync::Arc::new(snapshot));
    cluster.services[0] = Service {
        applied: vec![1, 2],
    };
    // S2 holds the two committed entries as log entries of term 1 (durable), so they are
    // on a majority as a commit requires: without them the state would be one no run
    // reaches, and `ElectableHoldsCommitted` rightly refuses it (the empty S2 and S3 could
    // elect each other without the committed entries). Its entry at index 1 has term 1,
    // as its rejection below says.
    let s2 = PersistentState {
        current_term: 1,
        voted_for: None,
        snapshot_index: 0,
        snapshot_term: 0,
        entries: [1, 2]
            .map(|value| Entry {
                term: 1,
                command: encode_command(value).into(),
            })
            .to_vec(),
    };
    cluster.cores[1] = Core::restore(
        cluster.cores[1].config().clone(),
        &s2.encode().unwrap(),
        Vec::new(),
    )
    .unwrap();
    cluster.disks[1] = Disk::synced(s2, std::sync::Arc::new(Vec::new()));
    cluster.proposals = 2;
    // The snapshot's two entries were committed in term 1 (the model's properties, checked
    // on every validated state, need the history that made them committed).
    let committed = |value| Committed {
        term: 1,
        value,
        commit_term: 1,
    };
    let mut history = History {
        proposals: 2,
        committed: vec![committed(1), committed(2)],
        ..History::default()
    };
    // S1 times out into term 2 and S2's vote makes it leader.
    validate(&mut cluster, &mut history, Event::Tick(0)).unwrap();
    cluster.network.clear();
    cluster.network.push(InFlight {
        from: 1,
        to: 0,
        message: Message::RequestVoteReply {
            term: 2,
            vote_granted: true,
        },
        deliver_at: 0,
        sent: 0,
    });
    validate(&mut cluster, &mut history, Event::Deliver(0)).unwrap();
    cluster.network.clear();
    // S2 rejects an AppendEntries: its entry at the probed index has term 1.
    cluster.network.push(InFlight {
        from: 1,
        to: 0,
        message: Message::AppendEntriesReply {
            term: 2,
            success: false,
            match_index: 0,
            conflict_index: 1,
            conflict_term: Some(1),
        },
        deliver_at: 0,
        sent: 0,
    });
    let result = validate(&mut cluster, &mut history, Event::Deliver(0));
    assert!(result.is_ok(), "{}", result.unwrap_err());
}
