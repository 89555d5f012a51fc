//! Lab 2A: leader election (test_test.go, TestInitialElection2A … TestManyElections2A).

use std::thread::sleep;

use crate::config::Config;
use crate::RAFT_ELECTION_TIMEOUT;

/// A leader is elected, all peers agree on its term, and with no failures the leader and
/// term stay put.
pub fn initial_election_2a() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2A): initial election");

    // Is a leader elected?
    cfg.check_one_leader();

    // Sleep a bit to avoid racing with followers learning of the election, then check that
    // all peers agree on the term.
    sleep(std::time::Duration::from_millis(50));
    let term1 = cfg.check_terms();
    if term1 < 1 {
        panic!("term is {term1}, but should be at least 1");
    }

    // Does the leader+term stay the same if there is no network failure?
    sleep(2 * RAFT_ELECTION_TIMEOUT);
    let term2 = cfg.check_terms();
    if term1 != term2 {
        println!("warning: term changed even though there were no failures");
    }

    // There should still be a leader.
    cfg.check_one_leader();
    cfg.end();
}

/// A new leader after the leader disconnects; the old one rejoins as follower; no leader
/// without a quorum; a leader again once a quorum returns.
pub fn re_election_2a() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2A): election after network failure");

    let leader1 = cfg.check_one_leader();

    // If the leader disconnects, a new one should be elected.
    cfg.disconnect(leader1);
    cfg.check_one_leader();

    // If the old leader rejoins, that shouldn't disturb the new leader. And the old leader
    // should switch to follower.
    cfg.connect(leader1);
    let leader2 = cfg.check_one_leader();

    // If there's no quorum, no new leader should be elected.
    cfg.disconnect(leader2);
    cfg.disconnect((leader2 + 1) % servers);
    sleep(2 * RAFT_ELECTION_TIMEOUT);

    // Check that the one connected server does not think it is the leader.
    cfg.check_no_leader();

    // If a quorum arises, it should elect a leader.
    cfg.connect((leader2 + 1) % servers);
    cfg.check_one_leader();

    // Re-join of last node shouldn't prevent leader from existing.
    cfg.connect(leader2);
    cfg.check_one_leader();
    cfg.end();
}

/// Seven peers; nine times, three random peers disconnect and the rest keep or elect a
/// leader.
pub fn many_elections_2a() {
    let servers = 7;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (2A): multiple elections");

    cfg.check_one_leader();

    let iters = 10;
    for _ in 1..iters {
        // Disconnect three nodes.
        let i1 = cfg.rand_int() as usize % servers;
        let i2 = cfg.rand_int() as usize % servers;
        let i3 = cfg.rand_int() as usize % servers;
        cfg.disconnect(i1);
        cfg.disconnect(i2);
        cfg.disconnect(i3);

        // Either the current leader should still be alive, or the remaining four should
        // elect a new one.
        cfg.check_one_leader();

        cfg.connect(i1);
        cfg.connect(i2);
        cfg.connect(i3);
    }

    cfg.check_one_leader();
    cfg.end();
}
