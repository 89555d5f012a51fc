//! The harness's storage (`raft_conformance::cluster::Disk`) has a durable prefix (Raft
//! thesis §10.2.1): writes are read back at once, a crash keeps only what a sync covered,
//! a snapshot is durable at once. The conformance checks rest on it losing exactly that.

use std::sync::Arc;

use raft_conformance::cluster::{Cluster, Disk, Event};
use raft_conformance::drive::drive_cluster_config;
use raft_impl::core::{
    Entry, HardState, LogChange, Persist, PersistentState, Role, SnapshotChange,
};

/// Ticks an election may take here: a few election timeouts of at most a few dozen ticks
/// each. A core that never wins (a broken E1 or E4) fails at this bound instead of spinning.
const MAX_TICKS: u32 = 1_000;

fn entries(terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .map(|&term| Entry {
            term,
            command: vec![term as u8].into(),
        })
        .collect()
}

fn append(after: u64, terms: &[u64]) -> Persist {
    Persist {
        log: Some(LogChange {
            after,
            entries: entries(terms),
        }),
        ..Persist::default()
    }
}

fn log_terms(state: &PersistentState) -> Vec<u64> {
    state.entries.iter().map(|e| e.term).collect()
}

#[test]
fn a_crash_keeps_only_what_was_synced() {
    let mut disk = Disk::default();
    disk.write(&append(0, &[1, 1])).unwrap();
    assert_eq!(disk.sync(), (2, 1));
    disk.write(&append(2, &[1])).unwrap();
    disk.write(&Persist {
        hard_state: Some(HardState {
            current_term: 2,
            voted_for: Some(1),
        }),
        ..Persist::default()
    })
    .unwrap();
    assert!(disk.unsynced());
    assert_eq!(log_terms(&disk.raft_state), [1, 1, 1], "written: read back");
    let kept = disk.crash().clone();
    assert_eq!(log_terms(&kept), [1, 1], "the unsynced append is lost");
    assert_eq!(kept.current_term, 0, "so is the unsynced term");
    assert!(!disk.unsynced());
}

#[test]
fn a_truncation_lost_in_a_crash_leaves_the_old_synced_entries() {
    let mut disk = Disk::default();
    disk.write(&append(0, &[1, 1, 1])).unwrap();
    disk.sync();
    disk.write(&append(1, &[2])).unwrap();
    assert_eq!(log_terms(&disk.raft_state), [1, 2]);
    assert_eq!(log_terms(disk.crash()), [1, 1, 1]);
    disk.write(&append(1, &[2])).unwrap();
    assert_eq!(disk.sync(), (2, 2));
    assert_eq!(log_terms(disk.crash()), [1, 2], "synced: kept");
}

#[test]
fn a_snapshot_is_durable_at_once_with_the_synced_entries_after_it() {
    let snapshot = |index, term| Persist {
        snapshot: Some(SnapshotChange {
            index,
            term,
            data: Arc::new(vec![index as u8]),
        }),
        // The core re-supplies the entries kept after the snapshot.
        log: Some(LogChange {
            after: index,
            entries: Vec::new(),
        }),
        ..Persist::default()
    };
    let mut disk = Disk::default();
    disk.write(&append(0, &[1, 1, 1])).unwrap();
    disk.sync();
    disk.write(&append(3, &[1, 1])).unwrap(); // Unsynced: 4 and 5.
    let mut compact = snapshot(2, 1);
    compact.log.as_mut().unwrap().entries = entries(&[1, 1, 1]);
    disk.write(&compact).unwrap();
    let kept = disk.crash().clone();
    assert_eq!((kept.snapshot_index, kept.snapshot_term), (2, 1));
    assert_eq!(
        log_terms(&kept),
        [1],
        "index 3 was synced, 4 and 5 were not"
    );
    assert_eq!(disk.snapshot.as_slice(), [2]);
    // A snapshot past everything synced keeps no entry after it.
    let mut disk = Disk::default();
    disk.write(&append(0, &[1, 1, 1])).unwrap();
    disk.write(&snapshot(2, 1)).unwrap();
    let kept = disk.crash().clone();
    assert_eq!((kept.snapshot_index, log_terms(&kept)), (2, vec![]));
}

/// In a cluster: a leader's proposal goes out before its sync, and a crash before the sync
/// loses the leader's copy; followers hold theirs (they synced before acknowledging).
#[test]
fn a_leaders_unsynced_proposal_is_lost_in_its_crash_but_not_by_its_followers() {
    let mut cluster = Cluster::new(drive_cluster_config(3), 1);
    // Bounded, so that a core that never wins fails here instead of spinning.
    for tick in 0.. {
        if cluster.cores[0].role() == Role::Leader {
            break;
        }
        assert!(tick < MAX_TICKS, "S0 not elected after {MAX_TICKS} ticks");
        cluster.execute(&Event::Tick(0)).unwrap();
        while let Some(k) = cluster.oldest() {
            cluster.execute(&Event::Deliver(k)).unwrap();
        }
    }
    cluster.execute(&Event::Propose(0)).unwrap();
    let leader = &cluster.cores[0];
    assert_eq!(leader.last_log_index(), 1);
    assert_eq!(leader.durable_index(), 0, "not synced yet");
    assert!(cluster.disks[0].unsynced());
    while let Some(k) = cluster.oldest() {
        cluster.execute(&Event::Deliver(k)).unwrap();
    }
    for follower in [1, 2] {
        assert_eq!(
            cluster.cores[follower].durable_index(),
            1,
            "synced before acking"
        );
    }
    assert_eq!(
        cluster.cores[0].commit_index(),
        1,
        "two followers commit it without the leader"
    );
    cluster.execute(&Event::Crash(0)).unwrap();
    assert_eq!(
        cluster.cores[0].last_log_index(),
        0,
        "the unsynced copy is gone"
    );
    // With a sync first, the copy survives.
    cluster.execute(&Event::Restart(0)).unwrap();
    let mut cluster = Cluster::new(drive_cluster_config(1), 1);
    for tick in 0.. {
        if cluster.cores[0].role() == Role::Leader {
            break;
        }
        assert!(
            tick < MAX_TICKS,
            "a lone S0 not elected after {MAX_TICKS} ticks"
        );
        cluster.execute(&Event::Tick(0)).unwrap();
    }
    cluster.execute(&Event::Propose(0)).unwrap();
    assert_eq!(
        cluster.cores[0].commit_index(),
        0,
        "alone, unsynced: no commit"
    );
    cluster.execute(&Event::Sync(0)).unwrap();
    assert_eq!(
        cluster.cores[0].commit_index(),
        1,
        "synced: its own copy counts"
    );
    cluster.execute(&Event::Crash(0)).unwrap();
    assert_eq!(cluster.cores[0].last_log_index(), 1);
}
