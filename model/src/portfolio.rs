//! The default check: a documented portfolio of exhaustive bounds that together exercise
//! every rule of Figure 2 and §7 (see `docs/model.md`, "The default portfolio"). Together
//! they cover: two and three client requests with conflicting entries from different terms
//! (the Figure 8 shape), crash and restart with persisted state, snapshots on leader and
//! follower with InstallSnapshot racing AppendEntries, and message loss, duplication and
//! reordering. Every bug variant is caught by one of them with its expected property
//! (`tests/bugs.rs`).
//!
//! No bound prunes dead messages: `network::is_dead` reasons about what the *correct*
//! handlers do with a message, so pruning could hide a handler bug. Bounds are ordered
//! cheapest first, so a bug is usually found in seconds.
//!
//! The durable prefix (Raft thesis §10.2.1, `Config::durable_prefix`) is on in the bounds
//! with a crash (`elections`, `one-entry`): only a crash can lose a non-durable entry, so
//! only there do rules D1 and D2 decide safety. In a crash-free bound it would only delay
//! the leader's own count and add `Sync` interleavings (turning it on everywhere measured
//! 1.8x the states; `docs/model.md`, "The default portfolio").
//!
//! Pipelined replication (rule L5, `Config::pipelined`) is on in one bound, `pipelined`,
//! the `snapshots` bound with it (1.3x its states, about 1 s): the network reorders, so
//! a later request overtakes an earlier one and is rejected, which is the path a request
//! lost in the middle takes too. Loss itself multiplies the states by about ten (a
//! two-term, two-request bound with drops is 0.9 M states), for no rule that reordering
//! does not already reach; `match-on-send` (L1 under L5) needs only a request still in
//! flight when its sender is deposed. It runs third, right after `snapshots`: only it
//! catches `match-on-send`, and run last it would make that bug's check explore the
//! whole rest of the portfolio first (about 5 M states), while run third it adds its
//! 0.1 M states to the eleven variants caught after it. The other bounds keep Figure 2's
//! `next_index`, which is what the core does with its default window of one.
//!
//! CONTRACT (shared by the checker, the CLI and the tests): `default_portfolio(bug)` lists
//! the bounds `raft-model check` runs when no bound flag is given, in the order they run.
//! With `bug = Some(b)` every bound carries that bug.

use crate::bugs::Bug;
use crate::config::Config;

/// One bound of the default portfolio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// A short name shown in reports (`figure-8`, `snapshots`, …).
    pub name: &'static str,
    /// What this bound exercises that the others do not.
    pub why: &'static str,
    /// The model's configuration for this bound.
    pub config: Config,
}

/// The bounds of the default check, in the order they run; every bound carries `bug`.
pub fn default_portfolio(bug: Option<Bug>) -> Vec<Bound> {
    // Three servers everywhere: the smallest cluster with a non-trivial majority.
    let base = Config {
        bug,
        prune_dead_messages: false,
        ..Config::default()
    };
    // Also the base of `snapshot-conflict` (one request more) and `pipelined` (rule L5).
    let snapshots = Config {
        max_term: 2,
        max_requests: 2,
        max_crashes: 0,
        max_snapshots: Some(1),
        max_inflight: Some(2),
        duplicates: false,
        drops: false,
        durable_prefix: false,
        ..base.clone()
    };
    vec![
        Bound {
            name: "elections",
            why: "elections alone: votes, stale vote replies (3 in flight), a restart \
                  between two elections of one term, loss and duplication",
            config: Config {
                max_term: 2,
                max_requests: 0,
                max_crashes: 1,
                snapshots: false,
                max_inflight: Some(3),
                ..base.clone()
            },
        },
        Bound {
            name: "snapshots",
            why: "two requests and a snapshot: InstallSnapshot racing AppendEntries, a \
                  follower's log behind, at and ahead of a snapshot",
            config: snapshots.clone(),
        },
        Bound {
            name: "pipelined",
            why: "the `snapshots` bound with pipelined replication (rule L5): next_index \
                  advanced on send, a later request overtaking an earlier one and rejected, \
                  stale rejections backing next_index up under InstallSnapshot, and a \
                  request still in flight when its sender is deposed",
            config: Config {
                pipelined: true,
                ..snapshots.clone()
            },
        },
        Bound {
            name: "one-entry",
            why: "one request under every fault at once: a crash and restart that keeps \
                  only the durable prefix of the log, a snapshot on leader or follower, \
                  loss, duplication",
            config: Config {
                max_term: 2,
                max_requests: 1,
                max_crashes: 1,
                max_snapshots: Some(1),
                max_inflight: Some(2),
                ..base.clone()
            },
        },
        Bound {
            name: "figure-8",
            why: "two requests over four terms: an old-term entry re-replicated by a later \
                  leader and overwritten (Figure 8)",
            config: Config {
                max_term: 4,
                max_requests: 2,
                max_crashes: 0,
                snapshots: false,
                duplicates: false,
                drops: false,
                durable_prefix: false,
                ..base.clone()
            },
        },
        Bound {
            name: "three-entries",
            why: "three requests from three leaders: conflicting suffixes, logs that agree \
                  at one index and differ before it",
            config: Config {
                max_term: 3,
                max_requests: 3,
                max_crashes: 0,
                snapshots: false,
                duplicates: false,
                drops: false,
                durable_prefix: false,
                ..base.clone()
            },
        },
        Bound {
            name: "snapshot-conflict",
            why: "three requests and a snapshot: a snapshot reaching a follower whose log \
                  disagrees with it at the snapshot's last index and runs past it",
            config: Config {
                max_requests: 3,
                ..snapshots
            },
        },
        Bound {
            name: "stale-leader",
            why: "two requests over three terms with loss: messages of a deposed leader \
                  arriving after a newer leader's",
            config: Config {
                max_term: 3,
                max_requests: 2,
                max_crashes: 0,
                snapshots: false,
                duplicates: false,
                durable_prefix: false,
                ..base.clone()
            },
        },
    ]
}
