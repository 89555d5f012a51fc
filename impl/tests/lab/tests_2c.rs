//! Lab 2C: persistence (test_test.go, TestPersist12C … TestUnreliableChurn2C).

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::Duration;

use crate::cmd::Cmd;
use crate::config::Config;
use crate::RAFT_ELECTION_TIMEOUT;

/// Basic persistence: agreement survives crashing and restarting all, the leader, a
/// follower.
pub fn persist1_2c() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2C): basic persistence");

    cfg.one(Cmd::Int(11), servers, true);

    // Crash and re-start all.
    for i in 0..servers {
        cfg.start1(i, cfg.applier());
    }
    for i in 0..servers {
        cfg.disconnect(i);
        cfg.connect(i);
    }

    cfg.one(Cmd::Int(12), servers, true);

    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);
    cfg.start1(leader1, cfg.applier());
    cfg.connect(leader1);

    cfg.one(Cmd::Int(13), servers, true);

    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);
    cfg.one(Cmd::Int(14), servers - 1, true);
    cfg.start1(leader2, cfg.applier());
    cfg.connect(leader2);

    cfg.wait(4, servers, -1); // Wait for leader2 to join before killing i3.

    let i3 = (cfg.check_one_leader() + 1) % servers;
    cfg.disconnect(i3);
    cfg.one(Cmd::Int(15), servers - 1, true);
    cfg.start1(i3, cfg.applier());
    cfg.connect(i3);

    cfg.one(Cmd::Int(16), servers, true);
    cfg.end();
}

/// More persistence: five rounds of partial crashes and restarts among five peers.
pub fn persist2_2c() {
    let servers = 5;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2C): more persistence");

    let mut index = 1;
    for _ in 0..5 {
        cfg.one(Cmd::Int(10 + index), servers, true);
        index += 1;

        let leader1 = cfg.check_one_leader();

        cfg.disconnect((leader1 + 1) % servers);
        cfg.disconnect((leader1 + 2) % servers);

        cfg.one(Cmd::Int(10 + index), servers - 2, true);
        index += 1;

        cfg.disconnect(leader1 % servers);
        cfg.disconnect((leader1 + 3) % servers);
        cfg.disconnect((leader1 + 4) % servers);

        cfg.start1((leader1 + 1) % servers, cfg.applier());
        cfg.start1((leader1 + 2) % servers, cfg.applier());
        cfg.connect((leader1 + 1) % servers);
        cfg.connect((leader1 + 2) % servers);

        sleep(RAFT_ELECTION_TIMEOUT);

        cfg.start1((leader1 + 3) % servers, cfg.applier());
        cfg.connect((leader1 + 3) % servers);

        cfg.one(Cmd::Int(10 + index), servers - 2, true);
        index += 1;

        cfg.connect((leader1 + 4) % servers);
        cfg.connect(leader1 % servers);
    }

    cfg.one(Cmd::Int(1000), servers, true);
    cfg.end();
}

/// A partitioned leader and one follower crash; the leader restarts.
pub fn persist3_2c() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2C): partitioned leader and one follower crash, leader restarts");

    cfg.one(Cmd::Int(101), 3, true);

    let leader = cfg.check_one_leader();
    cfg.disconnect((leader + 2) % servers);

    cfg.one(Cmd::Int(102), 2, true);

    cfg.crash1(leader % servers);
    cfg.crash1((leader + 1) % servers);
    cfg.connect((leader + 2) % servers);
    cfg.start1(leader % servers, cfg.applier());
    cfg.connect(leader % servers);

    cfg.one(Cmd::Int(103), 2, true);

    cfg.start1((leader + 1) % servers, cfg.applier());
    cfg.connect((leader + 1) % servers);

    cfg.one(Cmd::Int(104), servers, true);
    cfg.end();
}

/// A random sleep as in the Figure 8 tests: 10% of the time up to half an election
/// timeout, otherwise up to 12 ms.
fn figure8_pause(cfg: &Config) {
    let ms = if cfg.rand_int() % 1000 < 100 {
        cfg.rand_int() % (RAFT_ELECTION_TIMEOUT.as_millis() as i64 / 2)
    } else {
        cfg.rand_int() % 13
    };
    sleep(Duration::from_millis(ms as u64));
}

/// The scenarios of Figure 8 of the extended Raft paper. Each iteration asks a leader, if
/// there is one, to insert a command; that leader crashes quickly with high probability
/// (perhaps without committing) or after a while with low probability (most likely
/// committing). If too few servers are alive for a majority, one may restart. A leader in
/// a new term may try to finish replicating entries that haven't been committed yet.
pub fn figure8_2c() {
    let servers = 5;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2C): Figure 8");

    cfg.one(Cmd::Int(cfg.rand_int()), 1, true);

    let mut nup = servers;
    for _ in 0..1000 {
        let mut leader = None;
        for i in 0..servers {
            if let Some(raft) = cfg.raft_opt(i) {
                let (_, _, ok) = raft.start(Cmd::Int(cfg.rand_int()));
                if ok {
                    leader = Some(i);
                }
            }
        }

        figure8_pause(&cfg);

        if let Some(leader) = leader {
            cfg.crash1(leader);
            nup -= 1;
        }

        if nup < 3 {
            let s = cfg.rand_int() as usize % servers;
            if cfg.raft_opt(s).is_none() {
                cfg.start1(s, cfg.applier());
                cfg.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if cfg.raft_opt(i).is_none() {
            cfg.start1(i, cfg.applier());
            cfg.connect(i);
        }
    }

    cfg.one(Cmd::Int(cfg.rand_int()), servers, true);
    cfg.end();
}

/// Agreement on an unreliable network, with many concurrent agreements in flight.
pub fn unreliable_agree_2c() {
    let servers = 5;
    let cfg = Config::new(servers, true, false);
    cfg.begin("Test (2C): unreliable agreement");

    std::thread::scope(|scope| {
        for iters in 1..50 {
            for j in 0..4 {
                let cfg = &cfg;
                scope.spawn(move || {
                    cfg.one(Cmd::Int(100 * iters + j), 1, true);
                });
            }
            cfg.one(Cmd::Int(iters), 1, true);
        }
        cfg.set_unreliable(false);
        // The scope waits for every agreement (Go's wg.Wait()).
    });

    cfg.one(Cmd::Int(100), servers, true);
    cfg.end();
}

/// Figure 8 on an unreliable network, with long reordering from iteration 200 on, and
/// disconnection in place of crashes.
pub fn figure8_unreliable_2c() {
    let servers = 5;
    let cfg = Config::new(servers, true, false);
    cfg.begin("Test (2C): Figure 8 (unreliable)");

    cfg.one(Cmd::Int(cfg.rand_int() % 10000), 1, true);

    let mut nup = servers;
    for iters in 0..1000 {
        if iters == 200 {
            cfg.set_long_reordering(true);
        }
        let mut leader = None;
        for i in 0..servers {
            let (_, _, ok) = cfg.raft(i).start(Cmd::Int(cfg.rand_int() % 10000));
            if ok && cfg.is_connected(i) {
                leader = Some(i);
            }
        }

        figure8_pause(&cfg);

        if let Some(leader) = leader {
            if cfg.rand_int() % 1000 < RAFT_ELECTION_TIMEOUT.as_millis() as i64 / 2 {
                cfg.disconnect(leader);
                nup -= 1;
            }
        }

        if nup < 3 {
            let s = cfg.rand_int() as usize % servers;
            if !cfg.is_connected(s) {
                cfg.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if !cfg.is_connected(i) {
            cfg.connect(i);
        }
    }

    cfg.one(Cmd::Int(cfg.rand_int() % 10000), servers, true);
    cfg.end();
}

/// One client of the churn test: submits values to whoever is leader until told to stop;
/// returns the values it saw committed.
fn churn_client(cfg: &Config, me: u64, stop: &AtomicBool) -> Vec<i64> {
    let mut values = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let x = cfg.rand_int();
        let mut index = None;
        for i in 0..cfg.n {
            // Try them all, maybe one of them is a leader.
            if let Some(rf) = cfg.raft_opt(i) {
                let (index1, _, ok1) = rf.start(Cmd::Int(x));
                if ok1 {
                    index = Some(index1);
                }
            }
        }
        let Some(index) = index else {
            sleep(Duration::from_millis(79 + me * 17));
            continue;
        };
        // Maybe leader will commit our value, maybe not. But don't wait forever.
        for to in [10, 20, 50, 100, 200] {
            let (nd, cmd) = cfg.n_committed(index);
            if nd > 0 {
                match cmd {
                    Some(Cmd::Int(xx)) => {
                        if xx == x {
                            values.push(x);
                        }
                    }
                    _ => panic!("wrong command type"),
                }
                break;
            }
            sleep(Duration::from_millis(to));
        }
    }
    values
}

/// Sets the flag when dropped, also while unwinding.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn internal_churn(unreliable: bool) {
    let servers = 5;
    let cfg = Config::new(servers, unreliable, false);
    if unreliable {
        cfg.begin("Test (2C): unreliable churn");
    } else {
        cfg.begin("Test (2C): churn");
    }

    let stop = AtomicBool::new(false);
    let ncli = 3;
    let values: Vec<i64> = std::thread::scope(|scope| {
        // If this thread fails, the clients must still stop, or the scope never ends.
        let _stop_clients = StopOnDrop(&stop);
        let clients: Vec<_> = (0..ncli)
            .map(|me| {
                let (cfg, stop) = (&cfg, &stop);
                scope.spawn(move || churn_client(cfg, me, stop))
            })
            .collect();

        for _ in 0..20 {
            if cfg.rand_int() % 1000 < 200 {
                let i = cfg.rand_int() as usize % servers;
                cfg.disconnect(i);
            }

            if cfg.rand_int() % 1000 < 500 {
                let i = cfg.rand_int() as usize % servers;
                if cfg.raft_opt(i).is_none() {
                    cfg.start1(i, cfg.applier());
                }
                cfg.connect(i);
            }

            if cfg.rand_int() % 1000 < 200 {
                let i = cfg.rand_int() as usize % servers;
                if cfg.raft_opt(i).is_some() {
                    cfg.crash1(i);
                }
            }

            // Make crash/restart infrequent enough that the peers can often keep up, but
            // not so infrequent that everything has settled down from one change to the
            // next. Pick a value smaller than the election timeout, but not hugely smaller.
            sleep(RAFT_ELECTION_TIMEOUT * 7 / 10);
        }

        sleep(RAFT_ELECTION_TIMEOUT);
        cfg.set_unreliable(false);
        for i in 0..servers {
            if cfg.raft_opt(i).is_none() {
                cfg.start1(i, cfg.applier());
            }
            cfg.connect(i);
        }

        stop.store(true, Ordering::SeqCst);

        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap_or_else(|_| panic!("client failed")))
            .collect()
    });

    sleep(RAFT_ELECTION_TIMEOUT);

    let last_index = cfg.one(Cmd::Int(cfg.rand_int()), servers, true);

    let mut really = Vec::new();
    for index in 1..=last_index {
        match cfg.wait(index, servers, -1) {
            Cmd::Int(v) => really.push(v),
            _ => panic!("not an int"),
        }
    }

    for v1 in values {
        if !really.contains(&v1) {
            panic!("didn't find a value");
        }
    }
    cfg.end();
}

/// Clients keep submitting while peers are disconnected, crashed and restarted at random.
pub fn reliable_churn_2c() {
    internal_churn(false);
}

/// The churn test on an unreliable network.
pub fn unreliable_churn_2c() {
    internal_churn(true);
}
