//! A fault-injection hook for tests: cut, drop or delay traffic between this peer and
//! chosen others. Faults apply at this end only — to messages it sends to a peer and to
//! messages it receives from one — so a partition of a cluster is made by telling each side.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Default)]
struct PeerFaults {
    cut: bool,
    drop_probability: f64,
    delay: Duration,
}

/// Faults between this peer and others (see the module docs). All off initially.
#[derive(Debug)]
pub struct Faults {
    peers: Mutex<Vec<PeerFaults>>,
}

/// What to do with one message.
pub(crate) enum Verdict {
    Pass(Duration),
    Drop,
}

impl Faults {
    pub(crate) fn new(peers: usize) -> Self {
        Faults {
            peers: Mutex::new(vec![PeerFaults::default(); peers]),
        }
    }

    fn with<R>(&self, peer: usize, f: impl FnOnce(&mut PeerFaults) -> R) -> Option<R> {
        // Plain data: a poisoned lock still holds usable settings.
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        peers.get_mut(peer).map(f)
    }

    /// Drops every message to and from `peer` until [`heal`](Self::heal).
    pub fn cut(&self, peer: usize) {
        self.with(peer, |p| p.cut = true);
    }

    /// Ends a [`cut`](Self::cut).
    pub fn heal(&self, peer: usize) {
        self.with(peer, |p| p.cut = false);
    }

    /// Removes every fault.
    pub fn heal_all(&self) {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        peers.iter_mut().for_each(|p| *p = PeerFaults::default());
    }

    /// Drops each message to and from `peer` with this probability (clamped to 0..=1).
    pub fn set_drop_probability(&self, peer: usize, probability: f64) {
        let probability = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
        self.with(peer, |p| p.drop_probability = probability);
    }

    /// Delays each message this peer sends to `peer` by `delay` (messages stay in order).
    pub fn set_delay(&self, peer: usize, delay: Duration) {
        self.with(peer, |p| p.delay = delay);
    }

    /// Whether `peer` is cut off.
    pub fn is_cut(&self, peer: usize) -> bool {
        self.with(peer, |p| p.cut).unwrap_or(false)
    }

    pub(crate) fn verdict(&self, peer: usize, outgoing: bool) -> Verdict {
        let faults = self.with(peer, |p| p.clone()).unwrap_or_default();
        if faults.cut
            || (faults.drop_probability > 0.0
                && rand::thread_rng().gen_bool(faults.drop_probability))
        {
            return Verdict::Drop;
        }
        Verdict::Pass(if outgoing {
            faults.delay
        } else {
            Duration::ZERO
        })
    }
}
