//! Command-line arguments: every bound is a flag with a default (the main job's bound).

use crate::bugs::Bug;
use crate::check::{CheckOptions, StopWhen, Strategy};
use crate::config::Config;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "raft-model",
    about = "Exhaustively model-checks Raft with snapshots (Figure 2 + §7) within stated bounds",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check every property exhaustively within the bounds (the default command).
    Check(CheckArgs),
    /// Serve stateright's web explorer for the same bounds.
    Explore(ExploreArgs),
    /// List the bug variants and the property each one violates.
    Bugs,
}

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub bounds: BoundArgs,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Breadth-first search: shortest counterexamples, no symmetry reduction (the default
    /// with --bug).
    #[arg(long, conflicts_with = "dfs")]
    pub bfs: bool,
    /// Depth-first search with symmetry reduction (the default without --bug).
    #[arg(long)]
    pub dfs: bool,
    /// Turn off symmetry reduction over server ids.
    #[arg(long)]
    pub no_symmetry: bool,
    /// Stop after this many seconds (the run is then reported INCOMPLETE).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub bounds: BoundArgs,
    /// Address to serve the explorer on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: String,
}

/// Bounds. Unset flags take the main job's bound, or with `--bug NAME` that bug's bound.
#[derive(Args, Debug, Clone)]
pub struct BoundArgs {
    /// Number of servers [default: 3].
    #[arg(long)]
    pub servers: Option<u8>,
    /// Highest term a server may time out into [default: 3].
    #[arg(long)]
    pub max_term: Option<u8>,
    /// Client requests proposed over the whole run [default: 1] (alias: --max-log).
    #[arg(long, alias = "max-log")]
    pub max_requests: Option<u8>,
    /// Crash-and-restart events over the whole run [default: 1].
    #[arg(long)]
    pub max_crashes: Option<u8>,
    /// Snapshot actions over the whole run: a number or `unlimited` [default: 1].
    #[arg(long, value_parser = parse_limit)]
    pub max_snapshots: Option<Limit>,
    /// Message copies in flight at once: a number or `unlimited` (needs --no-duplicates)
    /// [default: 2].
    #[arg(long, value_parser = parse_limit)]
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
    /// Switch off one rule (see `raft-model bugs`); unset bounds default to the bug's bound.
    #[arg(long, value_name = "NAME")]
    pub bug: Option<String>,
}

/// A bound that may be `unlimited`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(pub Option<u8>);

fn parse_limit(text: &str) -> Result<Limit, String> {
    if text == "unlimited" {
        return Ok(Limit(None));
    }
    text.parse::<u8>()
        .map(|n| Limit(Some(n)))
        .map_err(|_| format!("expected a number 0..=255 or `unlimited`, got `{text}`"))
}

impl BoundArgs {
    /// The model configuration, or a one-line reason the flags make no sense.
    pub fn config(&self) -> Result<Config, String> {
        let bug = match &self.bug {
            None => None,
            Some(name) => Some(Bug::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
                format!("unknown bug `{name}`; known bugs: {}", names.join(", "))
            })?),
        };
        let base = bug.map_or_else(Config::default, Bug::bound);
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
        config.validate()?;
        Ok(config)
    }
}

impl CheckArgs {
    pub fn options(&self) -> Result<CheckOptions, String> {
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        // A bug variant is run to be read: BFS finds the shortest counterexample (2-5x
        // shorter than DFS's, at most a few seconds at the bugs' bounds; docs/model.md). A
        // correct model is run to be exhausted: DFS with symmetry visits fewer states.
        let bfs = self.bfs || (self.bounds.bug.is_some() && !self.dfs);
        Ok(CheckOptions {
            threads: self.threads,
            strategy: if bfs { Strategy::Bfs } else { Strategy::Dfs },
            symmetry: !self.no_symmetry && !bfs,
            timeout: self.timeout.map(Duration::from_secs),
            stop_when: StopWhen::AnyViolation,
            progress_every: Some(Duration::from_secs(3)),
        })
    }
}
