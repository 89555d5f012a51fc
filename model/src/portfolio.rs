//! The default check: a documented portfolio of exhaustive bounds that together exercise
//! every rule of Figure 2 and §7 (see `docs/model.md`, "The default portfolio").
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
    let base = Config {
        bug,
        prune_dead_messages: false,
        ..Config::default()
    };
    vec![
        Bound {
            name: "elections",
            why: "elections only",
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
            name: "one-entry",
            why: "one request, crash, snapshot, loss, duplication",
            config: Config {
                max_term: 2,
                ..base.clone()
            },
        },
        Bound {
            name: "figure-8",
            why: "two requests",
            config: Config {
                max_term: 4,
                max_requests: 2,
                max_crashes: 0,
                snapshots: false,
                duplicates: false,
                drops: false,
                ..base.clone()
            },
        },
        Bound {
            name: "three-entries",
            why: "three requests",
            config: Config {
                max_term: 3,
                max_requests: 3,
                max_crashes: 0,
                snapshots: false,
                duplicates: false,
                drops: false,
                ..base.clone()
            },
        },
        Bound {
            name: "stale-leader",
            why: "two requests, loss",
            config: Config {
                max_term: 3,
                max_requests: 2,
                max_crashes: 0,
                snapshots: false,
                duplicates: false,
                ..base.clone()
            },
        },
        Bound {
            name: "snapshots",
            why: "two requests and snapshots",
            config: Config {
                max_term: 2,
                max_requests: 2,
                max_crashes: 0,
                max_snapshots: Some(1),
                max_inflight: Some(2),
                duplicates: false,
                drops: false,
                ..base
            },
        },
    ]
}
