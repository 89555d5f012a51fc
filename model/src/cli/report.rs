//! The end-of-run report: the property table, counts, the completion status, and each
//! counterexample as numbered readable steps with the explorer path that opens it.

use crate::check::{CheckReport, Completion, PropertyResult, Verdict};
use crate::config::Config;
use crate::describe;
use stateright::Expectation;

/// The human report, on stdout.
pub fn print_text(config: &Config, report: &CheckReport, explorer_hint: &str) {
    println!("bounds: {}", config.describe());
    println!();
    println!("{:<28} {:<10} result", "property", "kind");
    for p in &report.properties {
        println!(
            "{:<28} {:<10} {}",
            p.name,
            kind(&p.expectation),
            verdict(p.verdict)
        );
    }
    println!();
    println!(
        "{}: {} unique states, {} total, max depth {}, {:.1}s, {:.0} unique states/s",
        match &report.completion {
            Completion::Exhaustive => "EXHAUSTIVE".to_string(),
            Completion::Incomplete(why) => format!("INCOMPLETE ({why})"),
        },
        report.unique_states,
        report.total_states,
        report.max_depth,
        report.elapsed.as_secs_f64(),
        report.states_per_second()
    );
    for p in &report.properties {
        if matches!(p.verdict, Verdict::Fail) {
            print_counterexample(p, explorer_hint);
        }
    }
    println!();
    println!("{}", headline(report));
}

/// The one-line verdict.
pub fn headline(report: &CheckReport) -> String {
    if report.all_hold() {
        "RESULT: all properties hold and every `sometimes` was reached (exhaustive within the bounds)"
            .to_string()
    } else if report.any_failure() {
        let failed: Vec<&str> = report
            .properties
            .iter()
            .filter(|p| matches!(p.verdict, Verdict::Fail | Verdict::NotReached))
            .map(|p| p.name)
            .collect();
        format!("RESULT: FAIL ({})", failed.join(", "))
    } else {
        "RESULT: INCOMPLETE — no violation found, but the space was not exhausted".to_string()
    }
}

fn kind(e: &Expectation) -> &'static str {
    match e {
        Expectation::Always => "always",
        Expectation::Sometimes => "sometimes",
        Expectation::Eventually => "eventually",
    }
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Reached => "REACHED",
        Verdict::NotReached => "NOT REACHED (fail)",
        Verdict::Unknown => "UNKNOWN (incomplete run)",
    }
}

fn print_counterexample(p: &PropertyResult, explorer_hint: &str) {
    let Some(path) = &p.path else { return };
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
        for line in format!("{last:?}").lines() {
            println!("    {line}");
        }
    }
    if let Some(encoded) = &p.explorer_path {
        println!("  open in the explorer: {explorer_hint}#/steps/{encoded}");
    }
}

/// The machine-readable report, on stdout.
pub fn print_json(config: &Config, report: &CheckReport) {
    let properties: Vec<serde_json::Value> = report
        .properties
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "kind": kind(&p.expectation),
                "result": verdict(p.verdict),
                "explorer_path": p.explorer_path,
                "steps": p.path.as_ref().map(|path| path
                    .windows(2)
                    .filter_map(|w| w[0].1.as_ref().map(|a| describe::step(&w[0].0, a, &w[1].0)))
                    .collect::<Vec<_>>()),
            })
        })
        .collect();
    let (complete, reason) = match &report.completion {
        Completion::Exhaustive => (true, None),
        Completion::Incomplete(why) => (false, Some(why.clone())),
    };
    let value = serde_json::json!({
        "bounds": config.describe(),
        "exhaustive": complete,
        "incomplete_reason": reason,
        "all_hold": report.all_hold(),
        "unique_states": report.unique_states,
        "total_states": report.total_states,
        "max_depth": report.max_depth,
        "seconds": report.elapsed.as_secs_f64(),
        "unique_states_per_second": report.states_per_second(),
        "properties": properties,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
}
