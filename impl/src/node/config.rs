//! [`NodeConfig`]: timing, queue bounds and limits of one node, checked after rounding to
//! ticks.

use std::time::Duration;

use crate::core;

/// Configuration of one [`Node`](super::Node).
///
/// Durations are rounded up to whole `tick`s (at least one) and then checked
/// ([`TimingError`]): `heartbeat_interval < election_timeout_min <= election_timeout_max`,
/// in ticks. Every bound must be at least 1 ([`NodeConfigError`]).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This server's id, `0..servers`.
    pub id: usize,
    /// Number of servers in the cluster, this one included.
    pub servers: usize,
    /// Length of one core tick: the granularity of heartbeats and election timeouts.
    pub tick: Duration,
    /// A leader sends AppendEntries to every follower at least this often.
    pub heartbeat_interval: Duration,
    /// Election timeouts are drawn uniformly from `election_timeout_min..=
    /// election_timeout_max` (§5.2).
    pub election_timeout_min: Duration,
    /// The largest election timeout.
    pub election_timeout_max: Duration,
    /// Seed of the election-timeout RNG; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// Proposals accepted and not yet resolved (applied, or failed) at most; beyond it
    /// [`Node::propose`](super::Node::propose) returns [`ProposeError::Busy`](super::ProposeError::Busy) at once.
    pub max_pending_proposals: usize,
    /// Largest command [`Node::propose`](super::Node::propose) accepts, in bytes
    /// ([`ProposeError::TooLarge`](super::ProposeError::TooLarge) beyond it). At most
    /// `max_batch_bytes - core::MESSAGE_OVERHEAD_BYTES`, so one entry always fits one
    /// message ([`NodeConfigError::CommandOverBatch`]).
    pub max_command_bytes: usize,
    /// Cap on the encoded size of one AppendEntries (the core's
    /// `max_bytes_per_message`): a batch stops at this many bytes, with at least one
    /// entry. Also the size of one InstallSnapshot chunk (Figure 13).
    pub max_batch_bytes: usize,
    /// AppendEntries outstanding per follower (the core's `max_inflight_appends`): with
    /// more than 1 the leader pipelines, sending the next batch before the previous one is
    /// acknowledged (rule L5 of docs/protocol.md, checked by the model's `pipelined` bound).
    /// The default is 4: with 1, the AppendEntries that tells followers a new commit index
    /// fills the window, and the next proposal waits a whole round trip for its reply
    /// (docs/performance.md §7, where 1 client commits 1.5–2× faster with 2 or 4). 1 is
    /// Figure 2 as written (the Lab runtime uses it).
    pub max_inflight_appends: usize,
    /// Capacity of the apply stream ([`Applies`](super::Applies)): committed entries the
    /// service has not taken yet. When it is full the node stops releasing applies (it
    /// never drops one and never blocks its event loop on it).
    pub apply_queue: usize,
    /// Received messages waiting for the event loop at most; more are dropped (Raft
    /// retries).
    pub inbox: usize,
    /// Whether the event loop writes and syncs the storage itself instead of handing each
    /// write to a storage worker thread. On, a commit crosses one thread less on every peer
    /// (no hand-off to the worker, no sync report back), but the loop waits for every sync:
    /// use it only with a storage whose `sync` does not block (in memory). Off (the
    /// default), syncs run on the worker with group commit, and heartbeats, votes and
    /// proposals keep flowing while a sync is in progress. Durability is the same either
    /// way: replies, votes and applies leave only once their write is synced, and the core
    /// counts the leader's own log only up to the synced index (§10.2.1).
    pub sync_on_loop: bool,
    /// How long the event loop keeps looking for input (yielding the CPU between looks)
    /// before it sleeps. A reply often arrives microseconds after the loop ran out of
    /// work; waking a sleeping thread costs far more on a loaded or virtual machine, and a
    /// commit crosses several loops (docs/performance.md §7: 2–3× the commits of one
    /// client). Costs at most this much CPU per loop iteration when idle (an idle node
    /// iterates once per tick). `Duration::ZERO` sleeps at once.
    pub spin_before_sleep: Duration,
    /// Whether the event loop advances time itself, one tick per `tick`. Off, time moves
    /// only through [`Node::tick`](super::Node::tick) (deterministic tests, loom models).
    pub auto_tick: bool,
    /// Where the event loop runs: `None` (the default), on a thread of its own; `Some`, as
    /// a task the [`LoopSpawner`](super::LoopSpawner) hands to an async executor, which
    /// then runs the loops and their clients without a thread switch per hand-off
    /// (docs/performance.md §7). `spin_before_sleep` does not apply to a task: it never
    /// spins, it returns to its executor.
    pub spawn_loop: Option<super::LoopSpawner>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            id: 0,
            servers: 1,
            tick: Duration::from_millis(10),
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(600),
            seed: None,
            max_pending_proposals: 4096,
            max_command_bytes: 1024 * 1024,
            max_batch_bytes: 4 * 1024 * 1024,
            max_inflight_appends: 4,
            apply_queue: 1024,
            inbox: 4096,
            sync_on_loop: false,
            spin_before_sleep: Duration::from_micros(50),
            auto_tick: true,
            spawn_loop: None,
        }
    }
}

/// Timings that, once rounded up to whole ticks, break a rule a live cluster needs. They
/// are checked after rounding: a 1 ms heartbeat and a 2 ms election timeout are both one
/// 10 ms tick, which no heartbeat can beat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// The election timeout range is empty (`min > max`).
    #[error("election timeout range {min:?}..={max:?} ({min_ticks}..={max_ticks} ticks) is empty")]
    ElectionTimeoutRange {
        /// `election_timeout_min`.
        min: Duration,
        /// `election_timeout_max`.
        max: Duration,
        /// `min` in ticks, rounded up.
        min_ticks: u32,
        /// `max` in ticks, rounded up.
        max_ticks: u32,
    },
    /// The heartbeat interval is not below the smallest election timeout, so followers
    /// would time out between heartbeats (§5.2: broadcast time << election timeout).
    #[error(
        "heartbeat interval {heartbeat:?} ({heartbeat_ticks} ticks) is not below the election \
         timeout minimum {election_timeout_min:?} ({election_timeout_min_ticks} ticks)"
    )]
    HeartbeatNotBelowElectionTimeout {
        /// `heartbeat_interval`.
        heartbeat: Duration,
        /// `heartbeat` in ticks, rounded up.
        heartbeat_ticks: u32,
        /// `election_timeout_min`.
        election_timeout_min: Duration,
        /// `election_timeout_min` in ticks, rounded up.
        election_timeout_min_ticks: u32,
    },
}

/// A [`NodeConfig`] bound or size that no node can run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeConfigError {
    /// The tick is zero.
    #[error("the tick is zero")]
    ZeroTick,
    /// A queue bound or limit is zero.
    #[error("`{field}` must be at least 1")]
    Zero {
        /// The field's name.
        field: &'static str,
    },
    /// The core refused the rest of the configuration (ids, cluster size).
    #[error("invalid core configuration")]
    Core(#[from] core::ConfigError),
    /// A command of `max_command_bytes` would not fit one AppendEntries of
    /// `max_batch_bytes` (with the message's own overhead).
    #[error(
        "max_command_bytes {max_command_bytes} does not fit a message of max_batch_bytes \
         {max_batch_bytes} (minus {} bytes of overhead)",
        core::MESSAGE_OVERHEAD_BYTES
    )]
    CommandOverBatch {
        /// The configured command limit.
        max_command_bytes: usize,
        /// The configured message limit.
        max_batch_bytes: usize,
    },
}

/// `(heartbeat, election_min, election_max)` in ticks of `tick`, rounded up, once they pass
/// the rules of [`TimingError`].
pub(crate) fn timing_ticks(
    tick: Duration,
    heartbeat_interval: Duration,
    election_timeout_min: Duration,
    election_timeout_max: Duration,
) -> Result<(u32, u32, u32), TimingError> {
    let tick_micros = tick.as_micros().max(1);
    let ticks = |d: Duration| -> u32 {
        let ticks = d.as_micros().div_ceil(tick_micros).max(1);
        u32::try_from(ticks).unwrap_or(u32::MAX)
    };
    let heartbeat = ticks(heartbeat_interval);
    let (min, max) = (ticks(election_timeout_min), ticks(election_timeout_max));
    // Rounding up is monotone, so `min > max` in ticks only if it was so in time; the check
    // is on the ticks the core will use.
    if min > max {
        return Err(TimingError::ElectionTimeoutRange {
            min: election_timeout_min,
            max: election_timeout_max,
            min_ticks: min,
            max_ticks: max,
        });
    }
    if heartbeat >= min {
        return Err(TimingError::HeartbeatNotBelowElectionTimeout {
            heartbeat: heartbeat_interval,
            heartbeat_ticks: heartbeat,
            election_timeout_min,
            election_timeout_min_ticks: min,
        });
    }
    Ok((heartbeat, min, max))
}

impl NodeConfig {
    /// Checks the configuration as [`Node::start`](super::Node::start) does.
    pub fn validate(&self) -> Result<(), super::NodeError> {
        self.core_config().map(drop)
    }

    /// The core's configuration, times rounded up to ticks, every bound checked.
    pub(crate) fn core_config(&self) -> Result<core::Config, super::NodeError> {
        if self.tick.is_zero() {
            return Err(NodeConfigError::ZeroTick.into());
        }
        for (field, value) in [
            ("max_pending_proposals", self.max_pending_proposals),
            ("max_command_bytes", self.max_command_bytes),
            ("max_batch_bytes", self.max_batch_bytes),
            ("max_inflight_appends", self.max_inflight_appends),
            ("apply_queue", self.apply_queue),
            ("inbox", self.inbox),
        ] {
            if value == 0 {
                return Err(NodeConfigError::Zero { field }.into());
            }
        }
        let (heartbeat, min, max) = timing_ticks(
            self.tick,
            self.heartbeat_interval,
            self.election_timeout_min,
            self.election_timeout_max,
        )?;
        let seed = self.seed.unwrap_or_else(rand::random);
        tracing::debug!(id = self.id, seed, "election timeout seed");
        let mut config = core::Config::new(self.id, self.servers, seed);
        config.max_bytes_per_message = self.max_batch_bytes;
        config.max_inflight_appends = self.max_inflight_appends;
        // A chunk's message carries the same overhead as an AppendEntries.
        config.snapshot_chunk_bytes = self
            .max_batch_bytes
            .saturating_sub(core::MESSAGE_OVERHEAD_BYTES)
            .max(1);
        config.validate().map_err(NodeConfigError::Core)?;
        if self.max_command_bytes > config.max_command_bytes() {
            return Err(NodeConfigError::CommandOverBatch {
                max_command_bytes: self.max_command_bytes,
                max_batch_bytes: self.max_batch_bytes,
            }
            .into());
        }
        config.heartbeat_interval_ticks = heartbeat;
        config.election_timeout_ticks_min = min;
        config.election_timeout_ticks_max = max;
        config.validate().map_err(NodeConfigError::Core)?;
        Ok(config)
    }
}
