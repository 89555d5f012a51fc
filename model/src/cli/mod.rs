//! The `raft-model` command line: `check` (default), `explore`, `bugs`.
//!
//! `check` with no bound flag runs the default portfolio of bounds
//! ([`crate::portfolio::default_portfolio`]), with `--bug NAME` too; any bound flag, or
//! `--quick` with `--bug`, runs one bound. Exit codes: 0 PASS, 1 FAIL, 2 usage error (bad
//! flags or a vacuous bound), 3 INCOMPLETE (timeout, a panicking checker thread, a bound
//! not run).

pub mod args;
pub mod report;

use crate::bugs::Bug;
use crate::check::{self, CheckOptions, PortfolioEvent};
use crate::config::Config;
use crate::model::RaftModel;
use crate::portfolio::default_portfolio;
use args::{CheckArgs, Cli, Command, ExploreArgs, Plan};
use clap::Parser;
use stateright::{Checker, Model};
use std::net::TcpListener;
use std::process::ExitCode;

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_check(&cli.check),
        Some(Command::Check(args)) => run_check(&args),
        Some(Command::Explore(args)) => run_explore(&args),
        Some(Command::Bugs) => {
            list_bugs();
            Ok(ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    })
}

fn run_check(args: &CheckArgs) -> Result<ExitCode, String> {
    let plan = args.plan()?;
    let options = args.options()?;
    let code = match plan {
        Plan::Single(config) => check_one(args, config, &options)?,
        Plan::Portfolio(bounds) => {
            eprintln!(
                "checking the default portfolio: {} bound(s), one after the other (any bound \
                 flag checks a single bound instead)",
                bounds.len()
            );
            eprintln!("{}", search_line(&options));
            let json = args.json;
            if !json {
                println!("{}", report::bound_header());
            }
            let portfolio = check::run_portfolio(&bounds, &options, |event| match event {
                PortfolioEvent::Starting {
                    index,
                    total,
                    bound,
                } => eprintln!(
                    "[{}/{total}] {}: {} — {}",
                    index + 1,
                    bound.name,
                    bound.why,
                    bound.config.describe()
                ),
                PortfolioEvent::Finished(run) => {
                    if !json {
                        println!("{}", report::bound_line(run));
                    }
                }
            })
            .map_err(|refused| refused.to_string())?;
            if json {
                report::print_portfolio_json(&portfolio);
            } else {
                report::print_portfolio_text(&portfolio, explorer_hint);
            }
            portfolio.outcome().exit_code()
        }
    };
    // Worker threads of a timed-out or panicked run may still be busy (or blocked for
    // good): exit without waiting for them.
    std::process::exit(i32::from(code))
}

fn check_one(args: &CheckArgs, config: Config, options: &CheckOptions) -> Result<u8, String> {
    let model = RaftModel::new(config.clone());
    check::refuse_vacuous(&model)?;
    eprintln!("checking: {}", config.describe());
    eprintln!("{}", search_line(options));
    let report = check::run(model, options);
    if args.json {
        report::print_json(&config, &report);
    } else {
        report::print_text(&config, &report, explorer_hint(&config).as_deref());
    }
    Ok(report.outcome().exit_code())
}

fn search_line(options: &CheckOptions) -> String {
    format!(
        "search: {:?}, {} thread(s), symmetry {}{}",
        options.strategy,
        options.threads,
        if options.symmetry { "on" } else { "off" },
        options
            .timeout
            .map_or(String::new(), |t| format!(", timeout {}s", t.as_secs()))
    )
}

/// How to open a counterexample of `config` in the explorer, or `None` if the explore flags
/// cannot reproduce `config` exactly (the explorer's paths are action indices of one model).
/// A bound of the default portfolio is named (`--bound NAME`) and a bug's quick bound is
/// `--bug NAME` alone, so that settings without a flag of their own (dead-message pruning,
/// …) are reproduced too.
fn explorer_hint(config: &Config) -> Option<String> {
    let portfolio_bound = default_portfolio(config.bug)
        .into_iter()
        .find(|b| b.config == *config);
    let flags = match portfolio_bound {
        Some(bound) => match config.bug {
            Some(bug) => format!("--bound {} --bug {}", bound.name, bug.name()),
            None => format!("--bound {}", bound.name),
        },
        // A bug's quick bound is what `explore --bug NAME` serves with no bound flag.
        None => match config.bug {
            Some(bug) if bug.bound() == *config => format!("--bug {}", bug.name()),
            _ => explore_flags(config),
        },
    };
    let argv = ["raft-model", "explore"]
        .into_iter()
        .map(String::from)
        .chain(flags.split(' ').map(String::from));
    let reproduced = match Cli::try_parse_from(argv).ok()?.command? {
        Command::Explore(explore) => explore.bounds.explore_config().ok()?,
        _ => return None,
    };
    (reproduced == *config)
        .then(|| format!("`raft-model explore {flags}` then http://127.0.0.1:3000/"))
}

/// The flags that reproduce this model for `explore` (the explorer paths depend on them).
fn explore_flags(config: &Config) -> String {
    let limit = |l: Option<u8>| l.map_or("unlimited".to_string(), |n| n.to_string());
    let mut flags = format!(
        "--servers {} --max-term {} --max-requests {} --max-crashes {} --max-snapshots {} --max-inflight {}",
        config.servers,
        config.max_term,
        config.max_requests,
        config.max_crashes,
        limit(config.max_snapshots),
        limit(config.max_inflight)
    );
    for (off, flag) in [
        (!config.snapshots, " --no-snapshots"),
        (!config.duplicates, " --no-duplicates"),
        (!config.drops, " --no-drops"),
        (!config.durable_prefix, " --no-durable-prefix"),
        (config.pipelined, " --pipelined"),
    ] {
        if off {
            flags.push_str(flag);
        }
    }
    if let Some(bug) = config.bug {
        flags.push_str(&format!(" --bug {}", bug.name()));
    }
    flags
}

fn run_explore(args: &ExploreArgs) -> Result<ExitCode, String> {
    let config = args.bounds.explore_config()?;
    check::refuse_vacuous(&RaftModel::new(config.clone()))?;
    // stateright panics on a busy port; find out first and say so plainly.
    TcpListener::bind(&args.addr)
        .map_err(|e| format!("cannot serve the explorer on {}: {e}", args.addr))?;
    eprintln!("explorer for: {}", config.describe());
    eprintln!("serving http://{}/ (Ctrl-C to stop)", args.addr);
    let checker = RaftModel::new(config).checker().serve(args.addr.as_str());
    let _ = checker.model();
    loop {
        std::thread::park();
    }
}

fn list_bugs() {
    let portfolio = default_portfolio(None);
    let names: Vec<&str> = portfolio.iter().map(|b| b.name).collect();
    println!(
        "`raft-model check --bug NAME` runs the default portfolio ({} bound{}: {}) with the \
         bug and stops at the first violation;",
        portfolio.len(),
        if portfolio.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    println!(
        "add --quick to check only the bug's small quick bound below (breadth first: a \
         shortest counterexample)."
    );
    for bug in Bug::ALL {
        println!();
        println!("{}", bug.name());
        println!("  violates     {}", bug.expected_violation());
        println!("  rule broken  {}", bug.description());
        println!("  quick bound  {}", bounds_only(&bug.bound()));
    }
}

/// `Config::describe` without its `bug=…` (the bug is the heading); what follows it
/// (`pipelined=on`, a batch cap) is part of the bound and stays.
fn bounds_only(config: &Config) -> String {
    let bug = format!(" bug={}", config.bug.map_or("none", Bug::name));
    config.describe().replacen(&bug, "", 1)
}
