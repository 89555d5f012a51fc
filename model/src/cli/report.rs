//! The end-of-run report: for one bound, the property table, counts, the completion status
//! and each counterexample as numbered readable steps ending with the property it violates;
//! for the portfolio, one line per bound and a property × bound table; then one verdict.
//! `--json` gives the same facts as plain tokens.

use crate::check::{BoundReport, CheckReport, Completion, Outcome, PortfolioReport, Verdict};
use crate::config::Config;
use crate::describe;
use crate::model::RaftModel;
use crate::portfolio::Bound;
use crate::properties;
use serde_json::{json, Value};
use stateright::Expectation;

/// The human report of one bound, on stdout. `explorer_hint` says how to open a
/// counterexample in the explorer (`None` when the explorer cannot serve this bound).
pub fn print_text(config: &Config, report: &CheckReport, explorer_hint: Option<&str>) {
    println!("bounds: {}", config.describe());
    println!();
    println!("{:<28} {:<10} result", "property", "kind");
    for p in &report.properties {
        println!(
            "{:<28} {:<10} {}",
            p.name,
            kind(&p.expectation),
            verdict_text(p.verdict)
        );
    }
    println!();
    println!(
        "{}: {} unique states, {} total, max depth {}, {:.1}s, {:.0} unique states/s",
        completion_text(&report.completion),
        report.unique_states,
        report.total_states,
        report.max_depth,
        report.elapsed.as_secs_f64(),
        report.states_per_second()
    );
    print_counterexamples(config, report, explorer_hint);
    println!();
    println!("{}", headline(&report.outcome(), &report.failed()));
}

/// The human report of a portfolio run, on stdout: the bound lines (already printed as
/// each bound finished, see [`bound_line`]), the property table, any counterexample, and
/// the verdict.
pub fn print_portfolio_text(
    portfolio: &PortfolioReport,
    explorer_hint: impl Fn(&Config) -> Option<String>,
) {
    for bound in &portfolio.not_run {
        println!("{}", not_run_line(bound));
    }
    println!();
    print_property_matrix(portfolio);
    if let Some(caught) = portfolio.caught_by() {
        println!();
        println!(
            "caught by bound `{}`: {}",
            caught.bound.name,
            caught.bound.config.describe()
        );
        let hint = explorer_hint(&caught.bound.config);
        print_counterexamples(&caught.bound.config, &caught.report, hint.as_deref());
        if let Some(bug) = caught.bound.config.bug {
            // The portfolio is searched depth first (fast, but long paths): point to the
            // breadth-first run of the bug's small bound for one to read.
            println!(
                "  for a shortest counterexample: `raft-model check --bug {} --quick`",
                bug.name()
            );
        }
    }
    println!();
    let failed: Vec<&str> = portfolio
        .caught_by()
        .map(|c| c.report.failed())
        .unwrap_or_default();
    println!(
        "{} bound(s) run, {} unique states in all, {:.1}s",
        portfolio.runs.len(),
        portfolio.unique_states(),
        portfolio.elapsed.as_secs_f64()
    );
    println!("{}", headline(&portfolio.outcome(), &failed));
}

/// The header of the bound lines.
pub fn bound_header() -> String {
    format!(
        "{:<18} {:<10} {:>10} {:>6} {:>8} {:>9}  bounds",
        "bound", "result", "states", "depth", "time", "peak RSS"
    )
}

/// One bound's line: name, verdict, unique states, depth, time, peak RSS, bounds.
pub fn bound_line(run: &BoundReport) -> String {
    let r = &run.report;
    let result = match r.outcome() {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Incomplete(_) => "INCOMPLETE",
    };
    let rss = run
        .peak_rss_bytes
        .map_or("?".to_string(), |b| format!("{} MB", b / 1_000_000));
    let mut line = format!(
        "{:<18} {:<10} {:>10} {:>6} {:>7.1}s {:>9}  {}",
        run.bound.name,
        result,
        r.unique_states,
        r.max_depth,
        r.elapsed.as_secs_f64(),
        rss,
        run.bound.config.describe()
    );
    if let Completion::Incomplete(why) = &r.completion {
        line.push_str(&format!("\n{:<18} ({why})", ""));
    }
    line
}

fn not_run_line(bound: &Bound) -> String {
    format!(
        "{:<18} {:<10} {:>10} {:>6} {:>8} {:>9}  {}",
        bound.name,
        "NOT RUN",
        "-",
        "-",
        "-",
        "-",
        bound.config.describe()
    )
}

/// Properties down, bounds across; `-` where a bound does not check the property.
fn print_property_matrix(portfolio: &PortfolioReport) {
    let mut names: Vec<(&'static str, Expectation)> = Vec::new();
    for run in &portfolio.runs {
        for p in &run.report.properties {
            if !names.iter().any(|(n, _)| *n == p.name) {
                names.push((p.name, p.expectation.clone()));
            }
        }
    }
    let width = portfolio
        .runs
        .iter()
        .map(|r| r.bound.name.len())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut header = format!("{:<28} {:<10}", "property", "kind");
    for run in &portfolio.runs {
        header.push_str(&format!(" {:<width$}", run.bound.name));
    }
    println!("{}", header.trim_end());
    for (name, expectation) in names {
        let mut line = format!("{:<28} {:<10}", name, kind(&expectation));
        for run in &portfolio.runs {
            let cell = run
                .report
                .property(name)
                .map_or("-", |p| verdict_short(p.verdict));
            line.push_str(&format!(" {cell:<width$}"));
        }
        println!("{}", line.trim_end());
    }
}

fn print_counterexamples(config: &Config, report: &CheckReport, explorer_hint: Option<&str>) {
    let model = RaftModel::new(config.clone());
    for p in &report.properties {
        if p.verdict != Verdict::Fail {
            continue;
        }
        let Some(path) = &p.path else { continue };
        println!();
        println!("Counterexample to {} ({} steps):", p.name, path.len() - 1);
        for (k, window) in path.windows(2).enumerate() {
            let (before, action) = &window[0];
            let (after, _) = &window[1];
            if let Some(action) = action {
                println!("  {:>2}. {}", k + 1, describe::step(before, action, after));
            }
        }
        if let Some((last, _)) = path.last() {
            println!("  final state:");
            // The state's text without its verdict lines: those follow, evaluated with this
            // run's own model.
            for line in describe::state_text(last).lines() {
                println!("    {line}");
            }
            for v in properties::violations(&model, last) {
                println!("  VIOLATES {}: {}", v.property, v.reason);
            }
        }
        match (&p.explorer_path, explorer_hint) {
            (Some(encoded), Some(hint)) => {
                println!("  open in the explorer: {hint}#/steps/{encoded}")
            }
            (Some(_), None) => println!(
                "  (this bound has settings the explore flags cannot express, so there is no \
                 explorer link)"
            ),
            _ => {}
        }
    }
}

/// The one-line verdict.
pub fn headline(outcome: &Outcome, failed: &[&str]) -> String {
    match outcome {
        Outcome::Pass => "RESULT: PASS — all properties hold and every `sometimes` was reached \
                          (exhaustive within the bounds)"
            .to_string(),
        Outcome::Fail => format!("RESULT: FAIL ({})", failed.join(", ")),
        Outcome::Incomplete(why) => format!(
            "RESULT: INCOMPLETE ({why}) — no violation found, but the space was not exhausted"
        ),
    }
}

fn completion_text(c: &Completion) -> String {
    match c {
        Completion::Exhaustive => "EXHAUSTIVE".to_string(),
        Completion::Incomplete(why) => format!("INCOMPLETE ({why})"),
    }
}

fn kind(e: &Expectation) -> &'static str {
    match e {
        Expectation::Always => "always",
        Expectation::Sometimes => "sometimes",
        Expectation::Eventually => "eventually",
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Reached => "REACHED",
        Verdict::NotReached => "NOT REACHED (fail)",
        Verdict::Unknown => "UNKNOWN (incomplete run)",
    }
}

fn verdict_short(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Reached => "REACHED",
        Verdict::NotReached => "NOT-REACHED",
        Verdict::Unknown => "UNKNOWN",
    }
}

/// The bounds as a JSON object (`null` = unlimited).
pub fn config_json(config: &Config) -> Value {
    json!({
        "servers": config.servers,
        "max_term": config.max_term,
        "max_requests": config.max_requests,
        "max_crashes": config.max_crashes,
        "snapshots": config.snapshots,
        "max_snapshots": config.max_snapshots,
        "max_inflight": config.max_inflight,
        "duplicates": config.duplicates,
        "drops": config.drops,
        "prune_dead_messages": config.prune_dead_messages,
        "bug": config.bug.map(|b| b.name()),
    })
}

/// One bound's run as JSON: completion, counts and one entry per property.
fn run_json(config: &Config, report: &CheckReport) -> Value {
    let model = RaftModel::new(config.clone());
    let incomplete_reason = match &report.completion {
        Completion::Exhaustive => None,
        Completion::Incomplete(why) => Some(why.clone()),
    };
    let props: Vec<Value> = report
        .properties
        .iter()
        .map(|p| {
            let violation = p.path.as_ref().and_then(|path| {
                let (last, _) = path.last()?;
                properties::violations(&model, last)
                    .into_iter()
                    .find(|v| v.property == p.name)
            });
            let reason = match p.verdict {
                Verdict::Pass | Verdict::Reached => None,
                Verdict::Fail => Some(violation.as_ref().map_or_else(
                    || "a counterexample was found".to_string(),
                    |v| v.reason.clone(),
                )),
                Verdict::NotReached => {
                    Some("not reached although every state within the bounds was visited".into())
                }
                Verdict::Unknown => Some(format!(
                    "run incomplete ({})",
                    incomplete_reason.as_deref().unwrap_or("")
                )),
            };
            json!({
                "name": p.name,
                "kind": kind(&p.expectation),
                "result": p.verdict.token(),
                "reason": reason,
                "explorer_path": p.explorer_path,
                "steps": p.path.as_ref().map(|path| path
                    .windows(2)
                    .filter_map(|w| w[0].1.as_ref().map(|a| describe::step(&w[0].0, a, &w[1].0)))
                    .collect::<Vec<_>>()),
            })
        })
        .collect();
    let outcome = report.outcome();
    json!({
        "result": outcome.token(),
        "reason": reason_of(&outcome, &report.failed()),
        "bounds": config_json(config),
        "exhaustive": report.completion == Completion::Exhaustive,
        "incomplete_reason": incomplete_reason,
        "unique_states": report.unique_states,
        "total_states": report.total_states,
        "max_depth": report.max_depth,
        "seconds": report.elapsed.as_secs_f64(),
        "unique_states_per_second": report.states_per_second(),
        "properties": props,
    })
}

fn reason_of(outcome: &Outcome, failed: &[&str]) -> Option<String> {
    match outcome {
        Outcome::Pass => None,
        Outcome::Fail => Some(format!("failed: {}", failed.join(", "))),
        Outcome::Incomplete(why) => Some(why.clone()),
    }
}

/// The machine-readable report of one bound, on stdout.
pub fn print_json(config: &Config, report: &CheckReport) {
    let mut value = run_json(config, report);
    value["mode"] = json!("single");
    value["exit_code"] = json!(report.outcome().exit_code());
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
}

/// The machine-readable report of a portfolio run, on stdout.
pub fn print_portfolio_json(portfolio: &PortfolioReport) {
    let runs: Vec<Value> = portfolio
        .runs
        .iter()
        .map(|run| {
            let mut value = run_json(&run.bound.config, &run.report);
            value["name"] = json!(run.bound.name);
            value["why"] = json!(run.bound.why);
            value["peak_rss_bytes"] = json!(run.peak_rss_bytes);
            value["peak_rss_is_per_bound"] = json!(run.peak_rss_is_per_bound);
            value
        })
        .collect();
    let not_run: Vec<Value> = portfolio
        .not_run
        .iter()
        .map(|b| json!({"name": b.name, "why": b.why, "bounds": config_json(&b.config)}))
        .collect();
    let outcome = portfolio.outcome();
    let failed = portfolio
        .caught_by()
        .map(|c| c.report.failed())
        .unwrap_or_default();
    let value = json!({
        "mode": "portfolio",
        "result": outcome.token(),
        "reason": reason_of(&outcome, &failed),
        "exit_code": outcome.exit_code(),
        "caught_by": portfolio.caught_by().map(|c| c.bound.name),
        "unique_states": portfolio.unique_states(),
        "seconds": portfolio.elapsed.as_secs_f64(),
        "portfolio": runs,
        "not_run": not_run,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
}
