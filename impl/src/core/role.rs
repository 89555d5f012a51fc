//! The three roles of §5.1 and the volatile state each one carries (Figure 2).

/// Which role a server is in (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Answers requests; starts an election when its timeout passes.
    Follower,
    /// Asks for votes in its own term.
    Candidate,
    /// Replicates the log and decides what is committed.
    Leader,
}

/// A role with its role-specific volatile state. Changed only by `Core::become_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoleState {
    Follower,
    /// `votes_granted[j]`: server `j` granted this candidate its vote in the current term.
    Candidate {
        votes_granted: Vec<bool>,
    },
    Leader(Progress),
}

/// A leader's view of each follower (Figure 2 "Volatile state on leaders"), plus the
/// requests outstanding to it (flow control).
///
/// Flow control never decides safety: `in_flight` only decides *when* a request goes out
/// (batching, and pipelining up to `Config::max_inflight_appends`); *what* goes out is
/// decided by `next_index` alone, and every reply is handled the same whatever it says.
/// Losing or corrupting `in_flight` can delay replication, never make it unsafe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Progress {
    pub next_index: Vec<u64>,
    pub match_index: Vec<u64>,
    /// The requests outstanding to each follower.
    pub in_flight: Vec<InFlight>,
    /// The `leader_commit` last sent to each follower, so a newer one is passed on.
    pub sent_commit: Vec<u64>,
    /// The InstallSnapshot transfer to each follower, while one is under way.
    pub transfers: Vec<Option<super::chunk::Transfer>>,
}

impl RoleState {
    pub fn role(&self) -> Role {
        match self {
            RoleState::Follower => Role::Follower,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }
}

/// The requests outstanding to one follower: how many, and when the window last admitted
/// one.
///
/// Replies carry no request id, so the count is approximate by design: any reply (to an
/// AppendEntries with entries, to a heartbeat, or to an InstallSnapshot chunk) releases one
/// request, a rejection releases them all (it resets the pipeline: `next_index` backs up
/// and the requests sent after it are presumed useless), and once
/// `Config::in_flight_timeout_ticks` have passed since the window last admitted a request
/// all are presumed lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// Requests sent and not yet answered: at most the window they were sent under, plus
    /// one heartbeat forced out with the window full ([`InFlight::sent`]).
    pub count: usize,
    /// The tick at which the window last admitted a request (one sent while the count was
    /// below the window); a heartbeat forced past a full window leaves it alone.
    pub last_admitted: u64,
}

impl InFlight {
    /// Whether the requests outstanding have timed out: `timeout` ticks since the window
    /// last admitted a request.
    pub fn timed_out(&self, now: u64, timeout: u64) -> bool {
        now - self.last_admitted >= timeout
    }

    /// Whether a window of `window` requests is full (and has not timed out).
    pub fn is_full(&self, window: usize, now: u64, timeout: u64) -> bool {
        self.count >= window && !self.timed_out(now, timeout)
    }

    /// A request goes out at `now` under a window of `window`. Requests that have timed
    /// out are presumed lost first.
    ///
    /// Every request is counted, a heartbeat forced out with the window full too, so the
    /// count may pass the window by one. Replies carry no request id and any reply releases
    /// one request, so the count stays equal to the requests really outstanding only if
    /// every request that can be answered is counted. An uncounted heartbeat's reply would
    /// open the window while the request it overtook is still out; the reply-driven send
    /// then keeps that extra request in flight on every later reply, and with a window of 1
    /// (no optimistic `next_index`, rule L5 off) each one re-sends the entries outstanding:
    /// the pipelining rationale is to keep exactly `window` batches in flight, which a
    /// count short by one breaks for as long as the follower stays busy. (For the same
    /// reason the reply-driven send asks the window too: the reply to one of `window + 1`
    /// requests leaves the window full.)
    ///
    /// The count stops at `window + 1`, one heartbeat past the window: heartbeats go out
    /// a heartbeat interval apart, in the runtime far longer than a round trip, so one
    /// still unanswered when the next is forced is presumed lost and the new one stands in
    /// for it (where a round trip is longer, the count falls short by one until the
    /// follower is idle and the surplus reply finds it at zero). This
    /// bounds what heartbeats into a partition pile up when they come more often than
    /// `timeout` (the simulator's timings; with the runtime's, a heartbeat every 10 ticks
    /// against 5, each heartbeat to a silent follower finds the rest timed out anyway).
    ///
    /// Only a request the window admits restarts the timeout clock; a heartbeat forced past
    /// a full window does not. A request or reply lost for good leaves the count one high,
    /// and if that fills the window, only forced heartbeats go out: were they to restart
    /// the clock, heartbeats more frequent than `timeout` (the simulator's 3 ticks against
    /// 5) would keep the stale count alive for good, each heartbeat's reply taking the
    /// count back to the window, and the follower would get new entries only with the
    /// heartbeats. As it is, `timeout` ticks after the last admitted request the count is
    /// presumed stale and the window opens whatever the heartbeats did (a rejection clears
    /// it sooner). A stale count that leaves room in a window of more than one only narrows
    /// the pipeline, until a rejection, or `timeout` ticks in which the window admits
    /// nothing, clears it (with the runtime's timings, any pause of 5 ticks: the next
    /// heartbeat finds it timed out). None
    /// of this touches safety: the count only delays or hastens a send, never decides what
    /// it carries ([`Progress`]).
    pub fn sent(&mut self, window: usize, now: u64, timeout: u64) {
        if self.timed_out(now, timeout) {
            self.count = 0;
        }
        if self.count < window {
            self.last_admitted = now;
        }
        self.count = (self.count + 1).min(window + 1);
    }

    /// A reply arrived: one request fewer is outstanding.
    pub fn replied(&mut self) {
        self.count = self.count.saturating_sub(1);
    }
}
