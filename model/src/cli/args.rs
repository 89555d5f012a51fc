//! Command-line arguments. `check` with no bound flag runs the default portfolio; any bound
//! flag runs that single bound instead, every unset bound taking its `Config::default()`
//! value (or that of the portfolio bound named by `--bound`, or with `--quick` the bug's own
//! small bound).

use crate::bugs::Bug;
use crate::check::{CheckOptions, StopWhen, Strategy};
use crate::config::Config;
use crate::portfolio::{default_portfolio, Bound};
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

/// The exit codes, for `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  PASS: every bound exhaustive, every `always` property holds, every `sometimes` reached
  1  FAIL: a counterexample, or a `sometimes` property not reached in an exhaustive run
  2  usage error: bad flags, or a vacuous bound refused before checking
  3  INCOMPLETE: no failure found, but the run was cut short (timeout, a panicking checker
     thread, a portfolio bound not run)";

/// The `raft-model` command line.
#[derive(Parser, Debug)]
#[command(
    name = "raft-model",
    about = "Exhaustively model-checks Raft with snapshots (Figure 2 + §7) within stated bounds",
    args_conflicts_with_subcommands = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The command; `check` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The `check` flags, when no command is given.
    #[command(flatten)]
    pub check: CheckArgs,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check every property exhaustively: with no bound flag, the default portfolio of bounds;
    /// with any bound flag, that single bound (the default command).
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Serve stateright's web explorer for one bound.
    Explore(ExploreArgs),
    /// List the bug variants: the property each violates, the rule it breaks, its quick bound.
    Bugs,
}

/// Flags of `check`.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// The bounds; none given = the default portfolio.
    #[command(flatten)]
    pub bounds: BoundArgs,
    /// With --bug: check the bug's own small bound (breadth first: a shortest
    /// counterexample) instead of the default portfolio.
    #[arg(long, requires = "bug")]
    pub quick: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 2, value_parser = parse_threads, allow_negative_numbers = true)]
    pub threads: usize,
    /// Breadth-first search: shortest counterexamples, no symmetry reduction (the default
    /// with --quick).
    #[arg(long, conflicts_with = "dfs")]
    pub bfs: bool,
    /// Depth-first search with symmetry reduction (the default otherwise).
    #[arg(long)]
    pub dfs: bool,
    /// Turn off symmetry reduction over server ids.
    #[arg(long)]
    pub no_symmetry: bool,
    /// Stop after this many seconds, for the whole portfolio (the run is then INCOMPLETE,
    /// exit code 3).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub timeout: Option<u64>,
    /// Print a machine-readable JSON report on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
}

/// Flags of `explore`.
#[derive(Args, Debug, Clone)]
pub struct ExploreArgs {
    /// The bound to explore: unset flags take their `Config::default()` value; --bug with
    /// no bound flag explores the bug's quick bound.
    #[command(flatten)]
    pub bounds: BoundArgs,
    /// Address to serve the explorer on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: String,
}

/// Bounds. Any of them given makes `check` run one bound, the unset ones taking their
/// default (shown in brackets).
#[derive(Args, Debug, Clone)]
pub struct BoundArgs {
    /// Number of servers [default: 3].
    #[arg(long, value_parser = parse_count, allow_negative_numbers = true)]
    pub servers: Option<u8>,
    /// Highest term a server may time out into [default: 3].
    #[arg(long, value_parser = parse_count, allow_negative_numbers = true)]
    pub max_term: Option<u8>,
    /// Client requests proposed over the whole run [default: 1] (alias: --max-log).
    #[arg(long, alias = "max-log", value_parser = parse_count, allow_negative_numbers = true)]
    pub max_requests: Option<u8>,
    /// Crash-and-restart events over the whole run [default: 1].
    #[arg(long, value_parser = parse_count, allow_negative_numbers = true)]
    pub max_crashes: Option<u8>,
    /// Snapshot actions over the whole run: a number or `unlimited` [default: 1].
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true)]
    pub max_snapshots: Option<Limit>,
    /// Message copies in flight at once: a number or `unlimited` (needs --no-duplicates);
    /// at least servers-1 [default: 2].
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true)]
    pub max_inflight: Option<Limit>,
    /// The service never snapshots (no §7).
    #[arg(long)]
    pub no_snapshots: bool,
    /// No crash/restart.
    #[arg(long)]
    pub no_crashes: bool,
    /// The network never duplicates a message.
    #[arg(long)]
    pub no_duplicates: bool,
    /// The network never loses a message.
    #[arg(long)]
    pub no_drops: bool,
    /// Every appended entry is durable at once: no durable prefix, no `Sync` action (the
    /// model without Raft thesis §10.2.1).
    #[arg(long)]
    pub no_durable_prefix: bool,
    /// Pipelined replication (rule L5 of docs/protocol.md): sending entries advances the
    /// leader's next_index past them before any reply.
    #[arg(long)]
    pub pipelined: bool,
    /// Switch off one rule (see `raft-model bugs`): checked over the default portfolio, or
    /// the bug's small bound with --quick.
    #[arg(long, value_name = "NAME")]
    pub bug: Option<String>,
    /// Start from this bound of the default portfolio instead of the default bound (one
    /// bound; the other bound flags override it). `raft-model check` lists the names.
    #[arg(long, value_name = "NAME")]
    pub bound: Option<String>,
}

/// A bound that may be `unlimited`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(pub Option<u8>);

fn parse_number<T: std::str::FromStr>(text: &str, range: &str) -> Result<T, String> {
    if text.starts_with('-') {
        return Err(format!(
            "must not be negative: expected {range}, got `{text}`"
        ));
    }
    text.parse::<T>()
        .map_err(|_| format!("expected {range}, got `{text}`"))
}

fn parse_count(text: &str) -> Result<u8, String> {
    parse_number(text, "a whole number 0..=255")
}

fn parse_limit(text: &str) -> Result<Limit, String> {
    if text == "unlimited" {
        return Ok(Limit(None));
    }
    parse_number(text, "a whole number 0..=255 or `unlimited`").map(|n| Limit(Some(n)))
}

fn parse_threads(text: &str) -> Result<usize, String> {
    match parse_number(text, "a whole number of threads, at least 1")? {
        0 => Err("expected at least 1 thread, got `0`".to_string()),
        n => Ok(n),
    }
}

fn parse_seconds(text: &str) -> Result<u64, String> {
    parse_number(text, "a whole number of seconds")
}

/// What `check` runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The default portfolio (no bound flag), each bound carrying the bug if any.
    Portfolio(Vec<Bound>),
    /// One bound.
    Single(Config),
}

impl BoundArgs {
    /// The bug named by `--bug`, if any.
    pub fn bug(&self) -> Result<Option<Bug>, String> {
        match &self.bug {
            None => Ok(None),
            Some(name) => Bug::from_name(name).map(Some).ok_or_else(|| {
                let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
                format!("unknown bug `{name}`; known bugs: {}", names.join(", "))
            }),
        }
    }

    /// The portfolio bound named by `--bound`, carrying `bug`, if any.
    pub fn portfolio_bound(&self, bug: Option<Bug>) -> Result<Option<Bound>, String> {
        let Some(name) = &self.bound else {
            return Ok(None);
        };
        let portfolio = default_portfolio(bug);
        let names: Vec<&str> = portfolio.iter().map(|b| b.name).collect();
        portfolio
            .iter()
            .find(|b| b.name == name)
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "unknown portfolio bound `{name}`; the bounds are: {}",
                    names.join(", ")
                )
            })
    }

    /// Whether any bound flag was given (`--bug` is not a bound; `--bound` is).
    pub fn any_bound_flag(&self) -> bool {
        self.bound.is_some()
            || self.servers.is_some()
            || self.max_term.is_some()
            || self.max_requests.is_some()
            || self.max_crashes.is_some()
            || self.max_snapshots.is_some()
            || self.max_inflight.is_some()
            || self.no_snapshots
            || self.no_crashes
            || self.no_duplicates
            || self.no_drops
            || self.no_durable_prefix
            || self.pipelined
    }

    /// The configuration: `base` with every given flag applied, validated.
    pub fn config_over(&self, base: Config) -> Result<Config, String> {
        let mut config = Config {
            servers: self.servers.unwrap_or(base.servers),
            max_term: self.max_term.unwrap_or(base.max_term),
            max_requests: self.max_requests.unwrap_or(base.max_requests),
            max_crashes: self.max_crashes.unwrap_or(base.max_crashes),
            max_snapshots: self.max_snapshots.map_or(base.max_snapshots, |l| l.0),
            max_inflight: self.max_inflight.map_or(base.max_inflight, |l| l.0),
            ..base
        };
        if self.no_crashes {
            config.max_crashes = 0;
        }
        config.snapshots &= !self.no_snapshots;
        config.duplicates &= !self.no_duplicates;
        config.drops &= !self.no_drops;
        config.durable_prefix &= !self.no_durable_prefix;
        config.pipelined |= self.pipelined;
        config.validate()?;
        Ok(config)
    }

    /// The one bound `explore` serves: with `--bug` and no bound flag, the bug's quick
    /// bound; otherwise the flags over `--bound NAME` or `Config::default()` (as for
    /// `check`).
    pub fn explore_config(&self) -> Result<Config, String> {
        let bug = self.bug()?;
        let base = match (bug, self.portfolio_bound(bug)?) {
            (_, Some(bound)) => bound.config,
            (Some(bug), None) if !self.any_bound_flag() => bug.bound(),
            _ => Config {
                bug,
                ..Config::default()
            },
        };
        self.config_over(base)
    }
}

impl CheckArgs {
    /// What to check: the default portfolio unless a bound flag or `--quick` is given.
    pub fn plan(&self) -> Result<Plan, String> {
        let bug = self.bounds.bug()?;
        if self.quick {
            let bug = bug.ok_or("--quick needs --bug NAME")?;
            if self.bounds.bound.is_some() {
                return Err("--quick and --bound choose different bounds: give one".into());
            }
            return self.bounds.config_over(bug.bound()).map(Plan::Single);
        }
        if self.bounds.any_bound_flag() {
            let base = match self.bounds.portfolio_bound(bug)? {
                Some(bound) => bound.config,
                None => Config {
                    bug,
                    ..Config::default()
                },
            };
            return self.bounds.config_over(base).map(Plan::Single);
        }
        let bounds = default_portfolio(bug);
        for bound in &bounds {
            bound
                .config
                .validate()
                .map_err(|e| format!("portfolio bound `{}`: {e}", bound.name))?;
        }
        Ok(Plan::Portfolio(bounds))
    }

    /// The search options.
    pub fn options(&self) -> Result<CheckOptions, String> {
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        // A bug's quick bound is run to be read: breadth first finds a shortest
        // counterexample, and the bound is small. Everything else is run to be exhausted or
        // to catch a bug at a large bound: depth first with symmetry visits fewer states and
        // keeps far less in memory (docs/model.md, "Which search order for --bug").
        let bfs = self.bfs || (self.quick && !self.dfs);
        Ok(CheckOptions {
            threads: self.threads,
            strategy: if bfs { Strategy::Bfs } else { Strategy::Dfs },
            symmetry: !self.no_symmetry && !bfs,
            timeout: self.timeout.map(Duration::from_secs),
            // With a bug, look for the property named for it (another may break first:
            // a misplaced entry can show as CommittedAtOneIndex before it is applied).
            stop_when: match self.bounds.bug()? {
                Some(bug) => StopWhen::Found(bug.expected_violation()),
                None => StopWhen::AnyViolation,
            },
            progress_every: Some(Duration::from_secs(3)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("raft-model").chain(args.iter().copied()))
    }

    fn check_args(args: &[&str]) -> CheckArgs {
        match parse(args).expect("parses").command {
            Some(Command::Check(c)) => c,
            other => panic!("not a check: {other:?}"),
        }
    }

    #[test]
    fn no_bound_flag_is_the_portfolio_and_any_bound_flag_one_bound() {
        assert!(matches!(
            check_args(&["check"]).plan().unwrap(),
            Plan::Portfolio(_)
        ));
        assert!(matches!(
            check_args(&["check", "--bug", "vote-twice", "--threads", "1"])
                .plan()
                .unwrap(),
            Plan::Portfolio(b) if b.iter().all(|b| b.config.bug == Some(Bug::VoteTwice))
        ));
        let single = check_args(&["check", "--max-term", "2"]).plan().unwrap();
        assert_eq!(
            single,
            Plan::Single(Config {
                max_term: 2,
                ..Config::default()
            })
        );
        assert!(Config::default().durable_prefix);
        let without = check_args(&["check", "--no-durable-prefix"])
            .plan()
            .unwrap();
        assert_eq!(
            without,
            Plan::Single(Config {
                durable_prefix: false,
                ..Config::default()
            })
        );
        for bound in default_portfolio(Some(Bug::VoteTwice)) {
            let plan = check_args(&["check", "--bug", "vote-twice", "--bound", bound.name])
                .plan()
                .unwrap();
            assert_eq!(plan, Plan::Single(bound.config));
        }
        assert!(check_args(&["check", "--bound", "no-such-bound"])
            .plan()
            .is_err());
        let quick = check_args(&["check", "--bug", "vote-twice", "--quick"])
            .plan()
            .unwrap();
        assert_eq!(quick, Plan::Single(Bug::VoteTwice.bound()));
    }

    #[test]
    fn negative_numbers_get_a_clear_error() {
        for flag in [
            "--max-snapshots",
            "--max-inflight",
            "--servers",
            "--max-term",
            "--max-requests",
            "--max-log",
            "--max-crashes",
            "--threads",
            "--timeout",
        ] {
            let err = parse(&["check", flag, "-1"]).unwrap_err().to_string();
            assert!(err.contains("must not be negative"), "{flag}: {err}");
            assert!(!err.contains("unexpected argument"), "{flag}: {err}");
        }
    }

    #[test]
    fn quick_needs_a_bug() {
        assert!(parse(&["check", "--quick"]).is_err());
    }
}
