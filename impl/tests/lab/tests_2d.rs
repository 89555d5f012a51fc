//! Lab 2D: log compaction (test_test.go, TestSnapshotBasic2D … TestSnapshotInit2D).

use crate::applier::SNAPSHOT_INTERVAL;
use crate::cmd::Cmd;
use crate::config::{ApplierKind, Config};

/// The lab's `MAXLOGSIZE`: the persisted raft state must stay below this many bytes, which
/// it can only do if snapshots really trim the log.
const MAX_LOG_SIZE: usize = 2000;

/// The lab's `snapcommon`: 30 rounds of 5–14 `start`s (enough for a snapshot), with a
/// follower or the leader disconnected or crashed meanwhile, so that it must catch up by
/// InstallSnapshot.
fn snapcommon(name: &str, disconnect: bool, reliable: bool, crash: bool) {
    let iters = 30;
    let servers = 3;
    let cfg = Config::new(servers, !reliable, true);
    cfg.begin(name);

    cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
    let mut leader1 = cfg.check_one_leader();

    for i in 0..iters {
        let mut victim = (leader1 + 1) % servers;
        let mut sender = leader1;
        if i % 3 == 1 {
            sender = (leader1 + 1) % servers;
            victim = leader1;
        }

        if disconnect {
            cfg.disconnect(victim);
            cfg.one(Cmd::Int(cfg.rand_int()), servers - 1, true);
        }
        if crash {
            cfg.crash1(victim);
            cfg.one(Cmd::Int(cfg.rand_int()), servers - 1, true);
        }

        // Perhaps send enough to get a snapshot.
        let nn = (SNAPSHOT_INTERVAL / 2) + (cfg.rand_int() as u64 % SNAPSHOT_INTERVAL);
        for _ in 0..nn {
            cfg.raft(sender).start(Cmd::Int(cfg.rand_int()));
        }

        // Let applier threads catch up with the Start()'s.
        if !disconnect && !crash {
            // Make sure all followers have caught up, so that an InstallSnapshot RPC isn't
            // required for TestSnapshotBasic2D().
            cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
        } else {
            cfg.one(Cmd::Int(cfg.rand_int()), servers - 1, true);
        }

        if cfg.log_size() >= MAX_LOG_SIZE {
            panic!("Log size too large");
        }
        if disconnect {
            // Reconnect a follower, who maybe behind and needs to receive a snapshot to
            // catch up.
            cfg.connect(victim);
            cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
            leader1 = cfg.check_one_leader();
        }
        if crash {
            cfg.start1(victim, ApplierKind::Snapshot);
            cfg.connect(victim);
            cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
            leader1 = cfg.check_one_leader();
        }
    }
    cfg.end();
}

/// Snapshots with every follower caught up (no InstallSnapshot needed).
pub fn snapshot_basic_2d() {
    snapcommon("Test (2D): snapshots basic", false, true, false);
}

/// A disconnected peer catches up by InstallSnapshot.
pub fn snapshot_install_2d() {
    snapcommon(
        "Test (2D): install snapshots (disconnect)",
        true,
        true,
        false,
    );
}

/// As above on an unreliable network.
pub fn snapshot_install_unreliable_2d() {
    snapcommon(
        "Test (2D): install snapshots (disconnect+unreliable)",
        true,
        false,
        false,
    );
}

/// A crashed peer restarts from its snapshot and catches up.
pub fn snapshot_install_crash_2d() {
    snapcommon("Test (2D): install snapshots (crash)", false, true, true);
}

/// As above on an unreliable network.
pub fn snapshot_install_uncrash_2d() {
    snapcommon(
        "Test (2D): install snapshots (unreliable+crash)",
        false,
        false,
        true,
    );
}

/// Servers persist their snapshots and restart from the snapshot plus the log's tail.
pub fn snapshot_all_crash_2d() {
    let servers = 3;
    let iters = 5;
    let cfg = Config::new(servers, false, true);
    cfg.begin("Test (2D): crash and restart all servers");

    cfg.one(Cmd::Int(cfg.rand_int()), servers, true);

    for _ in 0..iters {
        // Perhaps enough to get a snapshot.
        let nn = (SNAPSHOT_INTERVAL / 2) + (cfg.rand_int() as u64 % SNAPSHOT_INTERVAL);
        for _ in 0..nn {
            cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
        }

        let index1 = cfg.one(Cmd::Int(cfg.rand_int()), servers, true);

        // Crash all.
        for i in 0..servers {
            cfg.crash1(i);
        }

        // Revive all.
        for i in 0..servers {
            cfg.start1(i, ApplierKind::Snapshot);
            cfg.connect(i);
        }

        let index2 = cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
        if index2 < index1 + 1 {
            panic!("index decreased from {index1} to {index2}");
        }
    }
    cfg.end();
}

/// Servers initialise their in-memory copy of the snapshot after a crash, so that later
/// writes of persistent state don't lose it.
pub fn snapshot_init_2d() {
    let servers = 3;
    let cfg = Config::new(servers, false, true);
    cfg.begin("Test (2D): snapshot initialization after crash");
    cfg.one(Cmd::Int(cfg.rand_int()), servers, true);

    // Enough ops to make a snapshot.
    let nn = SNAPSHOT_INTERVAL + 1;
    for _ in 0..nn {
        cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
    }

    // Crash all.
    for i in 0..servers {
        cfg.crash1(i);
    }

    // Revive all.
    for i in 0..servers {
        cfg.start1(i, ApplierKind::Snapshot);
        cfg.connect(i);
    }

    // A single op, to get something to be written back to persistent storage.
    cfg.one(Cmd::Int(cfg.rand_int()), servers, true);

    // Crash all.
    for i in 0..servers {
        cfg.crash1(i);
    }

    // Revive all.
    for i in 0..servers {
        cfg.start1(i, ApplierKind::Snapshot);
        cfg.connect(i);
    }

    // Do another op to trigger potential bug.
    cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
    cfg.end();
}
