//! The `raft-model` command line: `check` (default), `explore`, `bugs`. Exit codes: 0 when
//! every property holds exhaustively and every `sometimes` is reached, 1 on a violation (or
//! an incomplete run), 2 on bad arguments.

pub mod args;
pub mod report;

use crate::bugs::Bug;
use crate::check;
use crate::model::RaftModel;
use args::{CheckArgs, Cli, Command, ExploreArgs};
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
    let config = args.bounds.config()?;
    let options = args.options()?;
    eprintln!("checking: {}", config.describe());
    eprintln!(
        "search: {:?}, {} thread(s), symmetry {}{}",
        options.strategy,
        options.threads,
        if options.symmetry { "on" } else { "off" },
        options
            .timeout
            .map_or(String::new(), |t| format!(", timeout {}s", t.as_secs()))
    );
    let report = check::run(RaftModel::new(config.clone()), &options);
    if args.json {
        report::print_json(&config, &report);
    } else {
        let hint = format!(
            "`raft-model explore {}` then http://127.0.0.1:3000/",
            explore_flags(&config)
        );
        report::print_text(&config, &report, &hint);
    }
    let code = if report.all_hold() { 0 } else { 1 };
    // Worker threads of a timed-out run may still be busy: exit without waiting for them.
    std::process::exit(code)
}

/// The flags that reproduce this model for `explore` (the explorer paths depend on them).
fn explore_flags(config: &crate::config::Config) -> String {
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
    let config = args.bounds.config()?;
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
    println!("{:<26} {:<28} description", "bug", "violates");
    for bug in Bug::ALL {
        println!(
            "{:<26} {:<28} {}",
            bug.name(),
            bug.expected_violation(),
            bug.description()
        );
    }
}
