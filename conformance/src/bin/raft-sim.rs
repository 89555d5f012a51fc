//! `raft-sim`: runs the deterministic simulator over many seeds with a progress line and
//! prints every failing seed with the command that replays it.
//!
//! ```text
//! cargo run -p raft-conformance --release --bin raft-sim -- --seeds 10000
//! cargo run -p raft-conformance --release --bin raft-sim -- --seed 1234 --servers 5
//! cargo run -p raft-conformance --release --bin raft-sim -- --seeds 1000 --validate
//! cargo run -p raft-conformance --release --bin raft-sim -- --seeds 1000 --bad-snapshots
//! ```
//!
//! `--validate` also replays every event through the model (trace validation) and prints
//! the first divergence of each failing seed with a field-by-field diff.

use std::io::Write;
use std::time::Instant;

use clap::Parser;
use raft_conformance::sim::{run_checked, SimConfig};

/// Runs the deterministic simulator over many seeds and prints every failing seed with the
/// command that replays it.
#[derive(Parser)]
#[command(name = "raft-sim")]
struct Args {
    /// Number of seeds to run.
    #[arg(long = "seeds", value_name = "M", default_value_t = 1000)]
    seeds: u64,
    /// First seed to run.
    #[arg(long = "first-seed", value_name = "S", default_value_t = 0)]
    first: u64,
    /// Run exactly one seed (the same as `--first-seed S --seeds 1`).
    #[arg(long, value_name = "S", conflicts_with_all = ["seeds", "first"])]
    seed: Option<u64>,
    /// Number of servers.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=8))]
    servers: u64,
    /// Events per run.
    #[arg(long, value_name = "E", default_value_t = 1000)]
    events: usize,
    /// The `stormy` profile: faults ten times as often.
    #[arg(long)]
    stormy: bool,
    /// The service sometimes asks for a snapshot at an index it must not (past what it
    /// applied, or at/below the last).
    #[arg(long = "bad-snapshots")]
    bad_snapshots: bool,
    /// AppendEntries outstanding per follower (the cores' `max_inflight_appends`; above 1:
    /// pipelined replication, validated against the model's `pipelined` variant).
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    window: u64,
    /// Also replay every event through the model (trace validation) and print the first
    /// divergence of each failing seed with a field-by-field diff.
    #[arg(long)]
    validate: bool,
}

fn main() {
    let mut args = Args::parse();
    if let Some(seed) = args.seed {
        args.first = seed;
        args.seeds = 1;
    }
    if args.validate {
        validate(&args);
        return;
    }
    let config = sim_config(&args);
    let start = Instant::now();
    let (mut failures, mut ticks, mut events) = (0u64, 0u64, 0u64);
    for seed in args.first..args.first + args.seeds {
        let result = run_checked(seed, &config);
        ticks += result.ticks;
        events += result.events as u64;
        if let Some(v) = &result.violation {
            failures += 1;
            println!(
                "\nFAIL seed {seed} at event {} ({:?}): {}\n  replay: cargo run -p raft-conformance \
                 --release --bin raft-sim -- --seed {seed} --servers {} --events {}{}",
                v.event_number,
                v.event,
                v.message,
                args.servers,
                args.events,
                args.profile_flags()
            );
        }
        let done = seed - args.first + 1;
        if done.checked_rem(100) == Some(0) || done == args.seeds {
            print!(
                "\r{done}/{} seeds, {failures} failing, {:.1}s",
                args.seeds,
                start.elapsed().as_secs_f64()
            );
            let _ = std::io::stdout().flush();
        }
    }
    let wall = start.elapsed().as_secs_f64();
    // A tick stands for 10 ms (the runtime's tick), so simulated seconds = ticks / 100.
    println!(
        "\n{} seeds, {events} events, {failures} failing; simulated {:.0} s (10 ms ticks) in {wall:.1} s wall",
        args.seeds,
        ticks as f64 / 100.0
    );
    if args.seeds == 1 && failures == 0 {
        let r = run_checked(args.first, &config);
        println!(
            "seed {}: trace hash {:016x}, {} committed, {} crashes ({} lost unsynced entries), max term {}",
            r.seed, r.trace_hash, r.committed, r.crashes, r.crashes_losing_entries, r.max_term
        );
    }
    std::process::exit(i32::from(failures > 0));
}

/// Trace validation of each seed: the simulator's events replayed through the model.
fn validate(args: &Args) {
    use raft_conformance::validate::{validate_seed, Failure, Stats};
    let config = SimConfig {
        validate: true,
        ..sim_config(args)
    };
    let mut stats = Stats::default();
    let start = Instant::now();
    let mut failures = 0u64;
    for seed in args.first..args.first + args.seeds {
        let result = validate_seed(seed, &config, &mut stats);
        if let Err(failure) = result {
            failures += 1;
            match failure {
                Failure::Divergence(d) => println!("\nDIVERGENCE {d}"),
                Failure::Violation(v) => println!(
                    "\nFAIL seed {seed} at event {} ({:?}): {}",
                    v.event_number, v.event, v.message
                ),
            }
            println!(
                "  replay: cargo run -p raft-conformance --release --bin raft-sim -- --validate \
                 --seed {seed} --servers {} --events {}{}",
                args.servers,
                args.events,
                args.profile_flags()
            );
        }
        let done = seed - args.first + 1;
        if done.checked_rem(100) == Some(0) || done == args.seeds {
            print!("\r{done}/{} traces, {failures} failing", args.seeds);
            let _ = std::io::stdout().flush();
        }
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "\n{} traces, {} events validated ({:.0}/s), {} truncated at the model's bounds, {failures} failing",
        stats.traces,
        stats.events,
        stats.events as f64 / wall,
        stats.truncated
    );
    println!("coverage: {:?}", stats.coverage);
    if stats.truncated > 0 {
        println!("truncated by: {:?}", stats.truncated_by);
    }
    std::process::exit(i32::from(failures > 0));
}

fn sim_config(args: &Args) -> SimConfig {
    let config = if args.stormy {
        SimConfig::stormy(args.servers(), args.events)
    } else {
        SimConfig::faulty(args.servers(), args.events)
    };
    let config = config.pipelined(args.window as usize);
    if args.bad_snapshots {
        config.with_bad_snapshots()
    } else {
        config
    }
}

impl Args {
    /// `--servers`, checked to be 1..=8 by the parser.
    fn servers(&self) -> usize {
        self.servers as usize
    }

    /// The flags that choose the run's profile, for the replay line.
    fn profile_flags(&self) -> String {
        let stormy = if self.stormy { " --stormy" } else { "" };
        let bad = if self.bad_snapshots {
            " --bad-snapshots"
        } else {
            ""
        };
        let window = if self.window > 1 {
            format!(" --window {}", self.window)
        } else {
            String::new()
        };
        format!("{stormy}{bad}{window}")
    }
}
