//! The default check: a documented portfolio of exhaustive bounds that together exercise
//! every rule of Figure 2 and §7 (see `docs/model.md`, "The default portfolio").
//!
//! CONTRACT (shared by the checker, the CLI and the tests): `default_portfolio(bug)` lists
//! the bounds `raft-model check` runs when no bound flag is given, in the order they run.
//! With `bug = Some(b)` every bound carries that bug. The list is being built; today it is
//! the single historical default bound.

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
    vec![Bound {
        name: "baseline",
        why: "one request, a crash, a snapshot, loss and duplication",
        config: Config {
            bug,
            ..Config::default()
        },
    }]
}
