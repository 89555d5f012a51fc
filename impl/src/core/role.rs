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

/// The requests outstanding to one follower: how many, and when the last was sent.
///
/// Replies carry no request id, so the count is approximate by design: any reply (to an
/// AppendEntries with entries, to a heartbeat, or to an InstallSnapshot chunk) releases one
/// request, a rejection releases them all (it resets the pipeline: `next_index` backs up
/// and the requests sent after it are presumed useless), and once
/// `Config::in_flight_timeout_ticks` have passed since the last send all are presumed lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// Requests sent and not yet answered (at most the window they were sent under).
    pub count: usize,
    /// The tick count at which the last of them was sent.
    pub last_sent: u64,
}

impl InFlight {
    /// Whether the requests outstanding have timed out: `timeout` ticks since the last send.
    pub fn timed_out(&self, now: u64, timeout: u64) -> bool {
        now - self.last_sent >= timeout
    }

    /// Whether a window of `window` requests is full (and has not timed out).
    pub fn is_full(&self, window: usize, now: u64, timeout: u64) -> bool {
        self.count >= window && !self.timed_out(now, timeout)
    }

    /// A request goes out at `now` under a window of `window`. Requests that have timed
    /// out are presumed lost first; the count never passes the window (a forced heartbeat
    /// with the window full leaves it full).
    ///
    /// Known flaw (not fixed yet): the uncounted heartbeat's reply still releases one
    /// request, so the window opens while the request it overtook is out, and a window of
    /// 1 re-sends the outstanding entries (the latency bench: about 11 messages per
    /// 1-client write instead of 8). Counting it changes the conformance suite's seeded
    /// schedules, whose expectations must be re-derived with it.
    pub fn sent(&mut self, window: usize, now: u64, timeout: u64) {
        if self.timed_out(now, timeout) {
            self.count = 0;
        }
        self.count = (self.count + 1).min(window);
        self.last_sent = now;
    }

    /// A reply arrived: one request fewer is outstanding.
    pub fn replied(&mut self) {
        self.count = self.count.saturating_sub(1);
    }
}
