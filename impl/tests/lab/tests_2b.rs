//! Lab 2B: log replication (test_test.go, TestBasicAgree2B … TestCount2B).

use std::sync::mpsc;
use std::thread::sleep;
use std::time::Duration;

use crate::cmd::Cmd;
use crate::config::Config;
use crate::RAFT_ELECTION_TIMEOUT;

/// Three agreements, each at the expected index, none committed before its `start`.
pub fn basic_agree_2b() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): basic agreement");

    let iters = 3;
    for index in 1..=iters {
        let (nd, _) = cfg.n_committed(index);
        if nd > 0 {
            panic!("some have committed before Start()");
        }
        let xindex = cfg.one(Cmd::Int(index as i64 * 100), servers, false);
        if xindex != index {
            panic!("got index {xindex} but expected {index}");
        }
    }
    cfg.end();
}

/// Based on counting bytes of RPCs, each command is sent to each peer just once.
pub fn rpc_bytes_2b() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): RPC byte count");

    cfg.one(Cmd::Int(99), servers, false);
    let bytes0 = cfg.bytes_total();

    let iters = 10;
    let mut sent: u64 = 0;
    for index in 2..iters + 2 {
        let cmd = cfg.rand_string(5000);
        let len = cmd.len() as u64;
        let xindex = cfg.one(Cmd::Str(cmd), servers, false);
        if xindex != index {
            panic!("got index {xindex} but expected {index}");
        }
        sent += len;
    }

    let bytes1 = cfg.bytes_total();
    let got = bytes1 - bytes0;
    let expected = servers as u64 * sent;
    if got > expected + 50000 {
        panic!("too many RPC bytes; got {got}, expected {expected}");
    }
    cfg.end();
}

/// Progressive failure of followers: agreement with one down, none with both down.
pub fn follower_failure_2b() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): test progressive failure of followers");

    cfg.one(Cmd::Int(101), servers, false);

    // Disconnect one follower from the network.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect((leader1 + 1) % servers);

    // The leader and remaining follower should be able to agree despite the disconnected
    // follower.
    cfg.one(Cmd::Int(102), servers - 1, false);
    sleep(RAFT_ELECTION_TIMEOUT);
    cfg.one(Cmd::Int(103), servers - 1, false);

    // Disconnect the remaining follower.
    let leader2 = cfg.check_one_leader();
    cfg.disconnect((leader2 + 1) % servers);
    cfg.disconnect((leader2 + 2) % servers);

    // Submit a command.
    let (index, _, ok) = cfg.raft(leader2).start(Cmd::Int(104));
    if !ok {
        panic!("leader rejected Start()");
    }
    if index != 4 {
        panic!("expected index 4, got {index}");
    }

    sleep(2 * RAFT_ELECTION_TIMEOUT);

    // Check that command 104 did not commit.
    let (n, _) = cfg.n_committed(index);
    if n > 0 {
        panic!("{n} committed but no majority");
    }
    cfg.end();
}

/// Failure of leaders: the rest elect a new leader; with two leaders gone nothing commits.
pub fn leader_failure_2b() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): test failure of leaders");

    cfg.one(Cmd::Int(101), servers, false);

    // Disconnect the first leader.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);

    // The remaining followers should elect a new leader.
    cfg.one(Cmd::Int(102), servers - 1, false);
    sleep(RAFT_ELECTION_TIMEOUT);
    cfg.one(Cmd::Int(103), servers - 1, false);

    // Disconnect the new leader.
    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);

    // Submit a command to each server.
    for i in 0..servers {
        cfg.raft(i).start(Cmd::Int(104));
    }

    sleep(2 * RAFT_ELECTION_TIMEOUT);

    // Check that command 104 did not commit.
    let (n, _) = cfg.n_committed(4);
    if n > 0 {
        panic!("{n} committed but no majority");
    }
    cfg.end();
}

/// A follower participates again after disconnect and reconnect.
pub fn fail_agree_2b() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): agreement after follower reconnects");

    cfg.one(Cmd::Int(101), servers, false);

    // Disconnect one follower from the network.
    let leader = cfg.check_one_leader();
    cfg.disconnect((leader + 1) % servers);

    // The leader and remaining follower should be able to agree despite the disconnected
    // follower.
    cfg.one(Cmd::Int(102), servers - 1, false);
    cfg.one(Cmd::Int(103), servers - 1, false);
    sleep(RAFT_ELECTION_TIMEOUT);
    cfg.one(Cmd::Int(104), servers - 1, false);
    cfg.one(Cmd::Int(105), servers - 1, false);

    // Re-connect.
    cfg.connect((leader + 1) % servers);

    // The full set of servers should preserve previous agreements, and be able to agree on
    // new commands.
    cfg.one(Cmd::Int(106), servers, true);
    sleep(RAFT_ELECTION_TIMEOUT);
    cfg.one(Cmd::Int(107), servers, true);
    cfg.end();
}

/// No agreement if too many followers disconnect; recovery afterwards.
pub fn fail_no_agree_2b() {
    let servers = 5;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): no agreement if too many followers disconnect");

    cfg.one(Cmd::Int(10), servers, false);

    // 3 of 5 followers disconnect.
    let leader = cfg.check_one_leader();
    cfg.disconnect((leader + 1) % servers);
    cfg.disconnect((leader + 2) % servers);
    cfg.disconnect((leader + 3) % servers);

    let (index, _, ok) = cfg.raft(leader).start(Cmd::Int(20));
    if !ok {
        panic!("leader rejected Start()");
    }
    if index != 2 {
        panic!("expected index 2, got {index}");
    }

    sleep(2 * RAFT_ELECTION_TIMEOUT);

    let (n, _) = cfg.n_committed(index);
    if n > 0 {
        panic!("{n} committed but no majority");
    }

    // Repair.
    cfg.connect((leader + 1) % servers);
    cfg.connect((leader + 2) % servers);
    cfg.connect((leader + 3) % servers);

    // The disconnected majority may have chosen a leader from among their own ranks,
    // forgetting index 2.
    let leader2 = cfg.check_one_leader();
    let (index2, _, ok2) = cfg.raft(leader2).start(Cmd::Int(30));
    if !ok2 {
        panic!("leader2 rejected Start()");
    }
    if !(2..=3).contains(&index2) {
        panic!("unexpected index {index2}");
    }

    cfg.one(Cmd::Int(1000), servers, true);
    cfg.end();
}

/// Five concurrent `start`s in one term all commit.
pub fn concurrent_starts_2b() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): concurrent Start()s");

    let mut success = false;
    'tries: for attempt in 0..5 {
        if attempt > 0 {
            // Give the solution some time to settle.
            sleep(Duration::from_secs(3));
        }

        let leader = cfg.check_one_leader();
        let (_, term, ok) = cfg.raft(leader).start(Cmd::Int(1));
        if !ok {
            continue; // Leader moved on really quickly.
        }

        let iters = 5;
        let (is_tx, is_rx) = mpsc::channel();
        std::thread::scope(|scope| {
            for ii in 0..iters {
                let is_tx = is_tx.clone();
                let rf = cfg.raft(leader);
                scope.spawn(move || {
                    let (i, term1, ok) = rf.start(Cmd::Int(100 + ii));
                    if term1 != term || !ok {
                        return;
                    }
                    let _ = is_tx.send(i);
                });
            }
        });
        drop(is_tx);

        for j in 0..servers {
            if cfg.raft(j).get_state().0 != term {
                continue 'tries; // Term changed -- can't expect low RPC counts.
            }
        }

        let mut cmds = Vec::new();
        for index in is_rx {
            match cfg.wait(index, servers, term as i64) {
                // Peers have moved on to later terms so we can't expect all Start()s to
                // have succeeded.
                Cmd::Int(-1) => continue 'tries,
                Cmd::Int(ix) => cmds.push(ix),
                other => panic!("value {other} is not an int"),
            }
        }

        for ii in 0..iters {
            let x = 100 + ii;
            if !cmds.contains(&x) {
                panic!("cmd {x} missing in {cmds:?}");
            }
        }
        success = true;
        break;
    }

    if !success {
        panic!("term changed too often");
    }
    cfg.end();
}

/// A partitioned leader rejoins, and its uncommitted entries are overwritten.
pub fn rejoin_2b() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): rejoin of partitioned leader");

    cfg.one(Cmd::Int(101), servers, true);

    // Leader network failure.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);

    // Make old leader try to agree on some entries.
    cfg.raft(leader1).start(Cmd::Int(102));
    cfg.raft(leader1).start(Cmd::Int(103));
    cfg.raft(leader1).start(Cmd::Int(104));

    // New leader commits, also for index=2.
    cfg.one(Cmd::Int(103), 2, true);

    // New leader network failure.
    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);

    // Old leader connected again.
    cfg.connect(leader1);

    cfg.one(Cmd::Int(104), 2, true);

    // All together now.
    cfg.connect(leader2);

    cfg.one(Cmd::Int(105), servers, true);
    cfg.end();
}

/// The leader backs up quickly over incorrect follower logs (50 conflicting entries).
pub fn backup_2b() {
    let servers = 5;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): leader backs up quickly over incorrect follower logs");

    cfg.one(Cmd::Int(cfg.rand_int()), servers, true);

    // Put leader and one follower in a partition.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect((leader1 + 2) % servers);
    cfg.disconnect((leader1 + 3) % servers);
    cfg.disconnect((leader1 + 4) % servers);

    // Submit lots of commands that won't commit.
    for _ in 0..50 {
        cfg.raft(leader1).start(Cmd::Int(cfg.rand_int()));
    }

    sleep(RAFT_ELECTION_TIMEOUT / 2);

    cfg.disconnect(leader1 % servers);
    cfg.disconnect((leader1 + 1) % servers);

    // Allow other partition to recover.
    cfg.connect((leader1 + 2) % servers);
    cfg.connect((leader1 + 3) % servers);
    cfg.connect((leader1 + 4) % servers);

    // Lots of successful commands to new group.
    for _ in 0..50 {
        cfg.one(Cmd::Int(cfg.rand_int()), 3, true);
    }

    // Now another partitioned leader and one follower.
    let leader2 = cfg.check_one_leader();
    let mut other = (leader1 + 2) % servers;
    if leader2 == other {
        other = (leader2 + 1) % servers;
    }
    cfg.disconnect(other);

    // Lots more commands that won't commit.
    for _ in 0..50 {
        cfg.raft(leader2).start(Cmd::Int(cfg.rand_int()));
    }

    sleep(RAFT_ELECTION_TIMEOUT / 2);

    // Bring original leader back to life.
    for i in 0..servers {
        cfg.disconnect(i);
    }
    cfg.connect(leader1 % servers);
    cfg.connect((leader1 + 1) % servers);
    cfg.connect(other);

    // Lots of successful commands to new group.
    for _ in 0..50 {
        cfg.one(Cmd::Int(cfg.rand_int()), 3, true);
    }

    // Now everyone.
    for i in 0..servers {
        cfg.connect(i);
    }
    cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
    cfg.end();
}

/// RPC counts aren't too high: an election, ten agreements, and one idle second.
pub fn count_2b() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2B): RPC counts aren't too high");

    let rpcs = || (0..servers).map(|j| cfg.rpc_count(j)).sum::<u64>();

    cfg.check_one_leader();

    let total1 = rpcs();
    if !(1..=30).contains(&total1) {
        panic!("too many or few RPCs ({total1}) to elect initial leader");
    }

    let mut total2 = 0;
    let mut success = false;
    'tries: for attempt in 0..5 {
        if attempt > 0 {
            // Give the solution some time to settle.
            sleep(Duration::from_secs(3));
        }

        let leader = cfg.check_one_leader();
        let total1 = rpcs();

        let iters = 10;
        let (starti, term, ok) = cfg.raft(leader).start(Cmd::Int(1));
        if !ok {
            continue; // Leader moved on really quickly.
        }
        let mut cmds = Vec::new();
        for i in 1..iters + 2 {
            let x = cfg.rand_int31();
            cmds.push(x);
            let (index1, term1, ok) = cfg.raft(leader).start(Cmd::Int(x));
            if term1 != term || !ok {
                continue 'tries; // Term changed while starting, or no longer the leader.
            }
            if starti + i != index1 {
                panic!("Start() failed");
            }
        }

        for i in 1..iters + 1 {
            let cmd = cfg.wait(starti + i, servers, term as i64);
            if cmd != Cmd::Int(cmds[i as usize - 1]) {
                if cmd == Cmd::Int(-1) {
                    continue 'tries; // Term changed -- try again.
                }
                panic!(
                    "wrong value {cmd} committed for index {}; expected {cmds:?}",
                    starti + i
                );
            }
        }

        let mut failed = false;
        total2 = 0;
        for j in 0..servers {
            if cfg.raft(j).get_state().0 != term {
                // Term changed -- can't expect low RPC counts; need to keep going to update
                // total2.
                failed = true;
            }
            total2 += cfg.rpc_count(j);
        }
        if failed {
            continue 'tries;
        }

        if total2 - total1 > (iters + 1 + 3) * 3 {
            panic!("too many RPCs ({}) for {iters} entries", total2 - total1);
        }
        success = true;
        break;
    }

    if !success {
        panic!("term changed too often");
    }

    sleep(RAFT_ELECTION_TIMEOUT);

    let total3: u64 = (0..servers).map(|j| cfg.rpc_count(j)).sum();
    if total3 - total2 > 3 * 20 {
        panic!(
            "too many RPCs ({}) for 1 second of idleness",
            total3 - total2
        );
    }
    cfg.end();
}
