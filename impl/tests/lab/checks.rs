//! The tester's checks (config.go): one leader, agreed terms, no leader, how many servers
//! committed an index, waiting for commitment, and a complete agreement (`one`).

use std::collections::BTreeMap;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::cmd::{show, Cmd};
use crate::config::Config;

impl Config {
    /// The running peers among the connected ones, read under the tester's lock and used
    /// outside it.
    fn connected_rafts(&self) -> Vec<(usize, raft_impl::Raft<Cmd>)> {
        (0..self.n)
            .filter(|&i| self.is_connected(i))
            .filter_map(|i| self.raft_opt(i).map(|r| (i, r)))
            .collect()
    }

    /// config.go's `checkOneLeader`: within about five seconds, exactly one connected
    /// server of the newest term with a leader believes it is the leader.
    pub fn check_one_leader(&self) -> usize {
        for _ in 0..10 {
            let ms = 450 + self.rand_int() % 100;
            sleep(Duration::from_millis(ms as u64));
            let mut leaders: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for (i, raft) in self.connected_rafts() {
                let (term, is_leader) = raft.get_state();
                if is_leader {
                    leaders.entry(term).or_default().push(i);
                }
            }
            for (term, in_term) in &leaders {
                if in_term.len() > 1 {
                    panic!("term {term} has {} (>1) leaders", in_term.len());
                }
            }
            if let Some((_, in_term)) = leaders.last_key_value() {
                return in_term[0];
            }
        }
        panic!("expected one leader, got none");
    }

    /// config.go's `checkTerms`: every connected server is in the same term.
    pub fn check_terms(&self) -> u64 {
        let mut term = None;
        for (_, raft) in self.connected_rafts() {
            let (xterm, _) = raft.get_state();
            match term {
                None => term = Some(xterm),
                Some(t) if t != xterm => panic!("servers disagree on term"),
                Some(_) => {}
            }
        }
        term.unwrap_or(0)
    }

    /// config.go's `checkNoLeader`: no connected server thinks it is the leader.
    pub fn check_no_leader(&self) {
        for (i, raft) in self.connected_rafts() {
            let (_, is_leader) = raft.get_state();
            if is_leader {
                panic!("expected no leader among connected servers, but {i} claims to be leader");
            }
        }
    }

    /// config.go's `nCommitted`: how many servers applied `index`, and the value, failing
    /// if two servers applied different values or an applier saw an error.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Cmd>) {
        let mut count = 0;
        let mut cmd: Option<Cmd> = None;
        for i in 0..self.n {
            if let Some(error) = self.applied.error_of(i) {
                panic!("{error}");
            }
            let cmd1 = self.applied.logs().logs[i].get(&index).cloned();
            if let Some(cmd1) = cmd1 {
                if count > 0 && cmd.as_ref() != Some(&cmd1) {
                    panic!(
                        "committed values do not match: index {index}, {}, {cmd1}",
                        show(&cmd)
                    );
                }
                count += 1;
                cmd = Some(cmd1);
            }
        }
        (count, cmd)
    }

    /// config.go's `wait`: waits (about 25 s at most) for at least `n` servers to commit
    /// `index`. Returns `Int(-1)` if some server moved past `start_term` (-1: don't care).
    pub fn wait(&self, index: u64, n: usize, start_term: i64) -> Cmd {
        let mut to = Duration::from_millis(10);
        for _ in 0..30 {
            let (nd, _) = self.n_committed(index);
            if nd >= n {
                break;
            }
            sleep(to);
            if to < Duration::from_secs(1) {
                to *= 2;
            }
            if start_term > -1 {
                let rafts = (0..self.n).filter_map(|i| self.raft_opt(i));
                for raft in rafts {
                    let (term, _) = raft.get_state();
                    if term as i64 > start_term {
                        // Someone has moved on; we can no longer guarantee that we'll "win".
                        return Cmd::Int(-1);
                    }
                }
            }
        }
        let (nd, cmd) = self.n_committed(index);
        if nd < n {
            panic!("only {nd} decided for index {index}; wanted {n}");
        }
        cmd.unwrap_or_else(|| panic!("index {index} decided without a value"))
    }

    /// config.go's `one`: a complete agreement on `cmd` by at least `expected_servers`,
    /// trying each server as leader; gives up after about 10 seconds. With `retry`, the
    /// command may be submitted more than once (a leader may fail just after `start`).
    /// Returns the index.
    pub fn one(&self, cmd: Cmd, expected_servers: usize, retry: bool) -> u64 {
        let t0 = Instant::now();
        let mut starts = 0;
        while t0.elapsed() < Duration::from_secs(10) && !self.finished() {
            let index = self.start_on_some_leader(&cmd, &mut starts);
            if let Some(index) = index {
                // Somebody claimed to be the leader and to have submitted our command;
                // wait a while for agreement.
                let t1 = Instant::now();
                while t1.elapsed() < Duration::from_secs(2) {
                    let (nd, cmd1) = self.n_committed(index);
                    if nd > 0 && nd >= expected_servers && cmd1.as_ref() == Some(&cmd) {
                        return index; // Committed, and it was the command we submitted.
                    }
                    sleep(Duration::from_millis(20));
                }
                if !retry {
                    panic!("one({cmd}) failed to reach agreement, no retry");
                }
            } else {
                sleep(Duration::from_millis(50));
            }
        }
        if !self.finished() {
            panic!("one({cmd}) failed to reach agreement, not finished");
        }
        0
    }

    /// Tries every connected server in turn, starting after the last one tried.
    fn start_on_some_leader(&self, cmd: &Cmd, starts: &mut usize) -> Option<u64> {
        for _ in 0..self.n {
            *starts = (*starts + 1) % self.n;
            if !self.is_connected(*starts) {
                continue;
            }
            if let Some(raft) = self.raft_opt(*starts) {
                let (index, _, ok) = raft.start(cmd.clone());
                if ok {
                    return Some(index);
                }
            }
        }
        None
    }
}
