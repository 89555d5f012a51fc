//! The replication workload both clusters run: proposals at the leader, then messages
//! delivered until the cluster is quiet, so that every proposal is committed and applied on
//! every peer.

/// A cluster of peers in one process whose messages are handed over in memory.
pub trait Cluster {
    /// Name used in benchmark ids and in reports.
    const NAME: &'static str;

    /// A cluster of `servers` peers with a leader already elected and every peer caught up.
    fn with_leader(servers: usize, seed: u64) -> Self;

    /// Proposes one command at the leader; it is not yet delivered anywhere.
    fn propose(&mut self, command: Vec<u8>);

    /// Delivers messages and handles every output until no peer has anything left to do.
    fn settle(&mut self);

    /// The leader's last log index.
    fn last_index(&self) -> u64;

    /// The highest index applied on `server`.
    fn applied(&self, server: usize) -> u64;

    /// Number of servers.
    fn servers(&self) -> usize;
}

/// One round of the workload: `in_flight` proposals of `payload` bytes, then the cluster
/// settles. Returns the number of entries committed and applied everywhere.
///
/// # Panics
/// If a proposal was not applied on every peer: a throughput of lost entries means nothing.
pub fn round<C: Cluster>(cluster: &mut C, in_flight: usize, payload: &[u8]) -> u64 {
    let before = cluster.last_index();
    for _ in 0..in_flight {
        cluster.propose(payload.to_vec());
    }
    cluster.settle();
    let last = cluster.last_index();
    assert_eq!(
        last - before,
        in_flight as u64,
        "{}: proposals not appended",
        C::NAME
    );
    for server in 0..cluster.servers() {
        assert_eq!(
            cluster.applied(server),
            last,
            "{}: server {server} did not apply up to {last}",
            C::NAME
        );
    }
    in_flight as u64
}

/// A cluster whose leader's log already holds `entries` entries (filled in rounds of 256).
pub fn prefilled<C: Cluster>(entries: u64, payload: &[u8], seed: u64) -> C {
    let mut cluster = C::with_leader(3, seed);
    while cluster.last_index() < entries {
        let left = (entries - cluster.last_index()).min(256);
        round(&mut cluster, left as usize, payload);
    }
    cluster
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CoreCluster, RaftRsCluster};

    /// Both clusters commit and apply every proposal on every peer, with 1 and with 64 in
    /// flight, so a benchmark never times lost work (`round` asserts it).
    fn rounds_apply_everywhere<C: Cluster>() {
        let mut cluster = C::with_leader(3, 1);
        let start = cluster.last_index();
        for in_flight in [1, 64, 1, 64] {
            assert_eq!(round(&mut cluster, in_flight, &[7; 128]), in_flight as u64);
        }
        assert_eq!(cluster.last_index(), start + 130);
    }

    #[test]
    fn our_cluster_applies_every_round_everywhere() {
        rounds_apply_everywhere::<CoreCluster>();
    }

    #[test]
    fn raft_rs_cluster_applies_every_round_everywhere() {
        rounds_apply_everywhere::<RaftRsCluster>();
    }

    /// The election scenario ends with a new leader other than the one cut off, within the
    /// timeout range plus a few split votes.
    #[test]
    fn cut_off_leader_is_replaced() {
        for seed in 0..20 {
            let mut cluster = CoreCluster::new(3, seed);
            let (old, _) = cluster.tick_until_leader(1_000);
            cluster.cut_off(old);
            let (new, ticks) = cluster.tick_until_leader(1_000);
            assert_ne!(new, old, "seed {seed}");
            assert!(ticks >= 30, "seed {seed}: a new leader after {ticks} ticks");
        }
    }

    /// A pre-filled cluster holds exactly the entries asked for.
    #[test]
    fn prefilled_has_the_requested_length() {
        let cluster: CoreCluster = prefilled(300, &[1; 8], 3);
        assert_eq!(cluster.last_index(), 300);
    }
}
