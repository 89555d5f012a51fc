//! A simulated network in the style of the Lab's `labrpc`, for testing Raft peers in one
//! process.
//!
//! Every client end ([`ClientEnd`], a [`Transport`]) is a one-way link from one peer to the
//! server it is [`connect`](Network::connect)ed to. Ends are enabled or disabled one by one,
//! which is how a test partitions the cluster. Requests and replies cross the network as
//! bytes, so every message is really encoded and decoded, and byte counts are honest.
//!
//! Faults follow `labrpc` exactly (see `simnet/call.rs` for the decision order):
//! - *unreliable*: each request is delayed 0–26 ms, and 10% of requests and 10% of replies
//!   are dropped (the caller sees a failed call);
//! - *long reordering*: two thirds of the replies are held back 200–2200 ms, so replies
//!   arrive long after later ones;
//! - *long delays*: a call to a disabled end or a dead server fails only after 0–7 s (0–100 ms
//!   otherwise), which catches a leader that sends its RPCs synchronously.
//!
//! Every random choice is drawn from one generator seeded by the test, so a failing run can
//! print its seed. (Threads interleave differently from run to run, so a seed fixes the
//! stream of choices, not the whole schedule.)
//!
//! Everything is threads and `std::sync`; [`Network::cleanup`] wakes every sleeping call,
//! which then fails at once, so no simulated delay outlives a test.

mod call;
mod sleeper;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{RpcHandler, Transport};
use sleeper::Sleeper;

/// Names one client end (labrpc's `endname`; a number in place of a random string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndId(pub u64);

/// Names one server (labrpc's `servername`): the peer's index.
pub type ServerId = usize;

/// The network: ends, servers, fault settings and counters. Cheap to clone (one shared
/// network); every clone and every end keeps it alive.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

/// The client side of one link: a [`Transport`] that sends through the network.
pub struct ClientEnd {
    end: EndId,
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    rng: Mutex<ChaCha8Rng>,
    sleeper: Sleeper,
    /// Every request sent on any end, whatever became of it (labrpc's `count`).
    total_count: AtomicU64,
    /// Bytes of every request sent and of every reply delivered (labrpc's `bytes`).
    total_bytes: AtomicU64,
}

#[derive(Default)]
struct State {
    reliable: bool,
    long_delays: bool,
    long_reordering: bool,
    next_end: u64,
    ends: HashMap<EndId, EndInfo>,
    servers: HashMap<ServerId, Arc<Server>>,
}

#[derive(Default, Clone, Copy)]
struct EndInfo {
    enabled: bool,
    server: Option<ServerId>,
}

/// One incarnation of a server. A restarted peer is a new `Server`, so calls that were
/// addressed to the old one are recognised as calls to a dead server.
struct Server {
    handler: Arc<dyn RpcHandler>,
    /// RPCs dispatched to this incarnation (labrpc's per-server `count`).
    count: AtomicU64,
    /// Bytes of the requests dispatched to it and of the replies it delivered.
    bytes: AtomicU64,
}

/// What a call saw of the network when it entered, read under one lock (labrpc's
/// `readEndnameInfo`).
struct Route {
    enabled: bool,
    server_id: Option<ServerId>,
    server: Option<Arc<Server>>,
    reliable: bool,
    long_reordering: bool,
    long_delays: bool,
}

impl Network {
    /// A network with every fault switched off (reliable, no long delays or reordering) and
    /// all random choices drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        let state = State {
            reliable: true,
            ..State::default()
        };
        Network {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
                sleeper: Sleeper::default(),
                total_count: AtomicU64::new(0),
                total_bytes: AtomicU64::new(0),
            }),
        }
    }

    /// Reliable: no delay, no loss. Unreliable: short delays and 10% loss each way.
    pub fn set_reliable(&self, reliable: bool) {
        self.inner.state().reliable = reliable;
    }

    /// Calls to disabled ends or dead servers fail after up to 7 s instead of 100 ms.
    pub fn set_long_delays(&self, long_delays: bool) {
        self.inner.state().long_delays = long_delays;
    }

    /// Most replies are held back 200–2200 ms.
    pub fn set_long_reordering(&self, long_reordering: bool) {
        self.inner.state().long_reordering = long_reordering;
    }

    /// A new end, disabled and connected to nothing.
    pub fn make_end(&self) -> ClientEnd {
        let mut state = self.inner.state();
        let end = EndId(state.next_end);
        state.next_end += 1;
        state.ends.insert(end, EndInfo::default());
        ClientEnd {
            end,
            inner: Arc::clone(&self.inner),
        }
    }

    /// Routes `end`'s calls to `server` (whether or not that server exists yet).
    pub fn connect(&self, end: EndId, server: ServerId) {
        let mut state = self.inner.state();
        state.ends.entry(end).or_default().server = Some(server);
    }

    /// Enables or disables one end; a disabled end's calls fail after a (long) delay.
    pub fn enable(&self, end: EndId, enabled: bool) {
        let mut state = self.inner.state();
        state.ends.entry(end).or_default().enabled = enabled;
    }

    /// Installs a new incarnation of `server`, replacing any earlier one.
    pub fn add_server(&self, server: ServerId, handler: Arc<dyn RpcHandler>) {
        let entry = Server {
            handler,
            count: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        };
        self.inner.state().servers.insert(server, Arc::new(entry));
    }

    /// Removes `server`: calls in progress to it fail, and their replies are never
    /// delivered (so a client never sees a reply that the dead peer persisted into a
    /// persister its successor no longer reads).
    pub fn delete_server(&self, server: ServerId) {
        self.inner.state().servers.remove(&server);
    }

    /// RPCs dispatched to the current incarnation of `server` (0 if none): labrpc's
    /// `GetCount`.
    pub fn rpc_count(&self, server: ServerId) -> u64 {
        self.server_counter(server, |s| s.count.load(Ordering::SeqCst))
    }

    /// Request and reply bytes handled by the current incarnation of `server`.
    pub fn server_bytes(&self, server: ServerId) -> u64 {
        self.server_counter(server, |s| s.bytes.load(Ordering::SeqCst))
    }

    /// Every request sent on any end: labrpc's `GetTotalCount`.
    pub fn total_count(&self) -> u64 {
        self.inner.total_count.load(Ordering::SeqCst)
    }

    /// Bytes of every request sent and every reply delivered: labrpc's `GetTotalBytes`.
    pub fn total_bytes(&self) -> u64 {
        self.inner.total_bytes.load(Ordering::SeqCst)
    }

    /// Shuts the network down: every call in progress or made later fails at once, and every
    /// simulated delay ends now.
    pub fn cleanup(&self) {
        self.inner.sleeper.shut_down();
    }

    fn server_counter(&self, server: ServerId, read: impl Fn(&Server) -> u64) -> u64 {
        self.inner
            .state()
            .servers
            .get(&server)
            .map_or(0, |s| read(s))
    }
}

impl ClientEnd {
    /// This end's name, for [`Network::connect`] and [`Network::enable`].
    pub fn id(&self) -> EndId {
        self.end
    }
}

impl Transport for ClientEnd {
    fn call(&self, request: Vec<u8>) -> Option<Vec<u8>> {
        call::call(&self.inner, self.end, request)
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every update of `State` is a single assignment or insert, so a panic elsewhere
        // cannot leave it half-written; a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A number in `0..bound`, from the seeded generator.
    fn random_below(&self, bound: u64) -> u64 {
        use rand::Rng;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.gen_range(0..bound)
    }

    fn route(&self, end: EndId) -> Route {
        let state = self.state();
        let info = state.ends.get(&end).copied().unwrap_or_default();
        let server = info.server.and_then(|s| state.servers.get(&s).cloned());
        Route {
            enabled: info.enabled,
            server_id: info.server,
            server,
            reliable: state.reliable,
            long_reordering: state.long_reordering,
            long_delays: state.long_delays,
        }
    }

    /// labrpc's `isServerDead`: the end was disabled, or the server was deleted or
    /// replaced, since the call was routed.
    fn is_server_dead(&self, end: EndId, server_id: ServerId, server: &Arc<Server>) -> bool {
        let state = self.state();
        let enabled = state.ends.get(&end).is_some_and(|e| e.enabled);
        let current = state.servers.get(&server_id);
        !enabled || !current.is_some_and(|c| Arc::ptr_eq(c, server))
    }
}

#[cfg(test)]
mod tests;
