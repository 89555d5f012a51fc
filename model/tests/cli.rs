//! The command line: exit codes (0 PASS, 1 FAIL, 2 usage error, 3 INCOMPLETE), the
//! EXHAUSTIVE/INCOMPLETE status, the portfolio run, counterexample steps ending with the
//! violated property and an explorer path, JSON with plain tokens, refused vacuous bounds.

use std::net::TcpListener;
use std::process::{Command, Output};

fn raft_model(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raft-model"))
        .args(args)
        .output()
        .expect("run raft-model")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const SMALL: &[&str] = &[
    "--max-term",
    "1",
    "--max-requests",
    "1",
    "--no-crashes",
    "--no-snapshots",
];

#[test]
fn a_small_check_is_exhaustive_and_exits_zero() {
    let out = raft_model(&[&["check"], SMALL].concat());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("EXHAUSTIVE"), "{text}");
    assert!(
        text.contains("ElectionSafety") && text.contains("PASS"),
        "{text}"
    );
}

/// `check --bug NAME` with no bound flag runs the default portfolio with the bug, stops at
/// the first violation and says which bound caught it.
#[test]
fn a_bug_over_the_portfolio_names_the_bound_and_the_violation_and_exits_one() {
    let out = raft_model(&["check", "--bug", "vote-twice"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("caught by bound `"), "{text}");
    assert!(text.contains("Counterexample to ElectionSafety"), "{text}");
    assert!(text.contains("   1. "), "{text}");
    assert!(text.contains("VIOLATES ElectionSafety: "), "{text}");
    assert!(text.contains("RESULT: FAIL (ElectionSafety"), "{text}");
    assert!(
        text.contains("`raft-model check --bug vote-twice --quick`"),
        "{text}"
    );
    // The explorer link names the portfolio bound, which reproduces it exactly.
    let at = text
        .find("open in the explorer: `raft-model explore --bound ")
        .expect("an explorer link");
    let command = &text[at + "open in the explorer: `raft-model explore ".len()..];
    let flags: Vec<&str> = command[..command.find('`').unwrap()].split(' ').collect();
    assert_eq!(flags[2..], ["--bug", "vote-twice"], "{command}");
    // `check --bound NAME` runs that one bound: the same counterexample's bound.
    let out = raft_model(&["check", "--bound", flags[1], "--bug", "vote-twice"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("Counterexample to ElectionSafety"));
}

#[test]
fn a_quick_bug_prints_numbered_steps_and_an_explorer_path_and_exits_one() {
    let out = raft_model(&["check", "--bug", "vote-twice", "--quick"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Counterexample to ElectionSafety"), "{text}");
    assert!(text.contains("   1. "), "{text}");
    assert!(text.contains("#/steps/0/"), "{text}");
    assert!(text.contains("VIOLATES ElectionSafety: "), "{text}");
    assert!(text.contains("RESULT: FAIL"), "{text}");
}

/// With `--quick` the search is breadth-first unless `--dfs` is given, so the counterexample
/// a learner reads is a shortest one: 12 steps for `vote-twice` (DFS's first one is longer).
#[test]
fn a_quick_bug_gets_the_shortest_counterexample_by_default() {
    let steps = |args: &[&str]| {
        let text = stdout(&raft_model(args));
        let at = text
            .find("Counterexample to ElectionSafety (")
            .expect("a counterexample");
        let rest = &text[at + "Counterexample to ElectionSafety (".len()..];
        rest[..rest.find(' ').expect("a step count")]
            .parse::<usize>()
            .expect("a number")
    };
    let quick = ["check", "--bug", "vote-twice", "--quick"];
    assert_eq!(steps(&quick), 12);
    assert_eq!(steps(&[&quick[..], &["--bfs"]].concat()), 12);
    assert!(steps(&[&quick[..], &["--dfs"]].concat()) >= 12);
}

#[test]
fn a_timed_out_run_is_incomplete_with_exit_code_three() {
    let out = raft_model(&[
        "check",
        "--max-term",
        "4",
        "--max-requests",
        "3",
        "--timeout",
        "1",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("INCOMPLETE (timeout"), "{text}");
    assert!(text.contains("RESULT: INCOMPLETE"), "{text}");
    assert!(!text.contains(" PASS"), "{text}");
}

/// The plain `check` cut short: each bound that ran has its line, the rest are NOT RUN, and
/// the verdict is INCOMPLETE (exit 3) in text and JSON.
#[test]
fn a_timed_out_portfolio_is_incomplete_with_exit_code_three() {
    let out = raft_model(&["check", "--timeout", "1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("INCOMPLETE"), "{text}");
    assert!(text.contains("RESULT: INCOMPLETE"), "{text}");
    assert!(!text.contains("RESULT: PASS"), "{text}");
    let out = raft_model(&["check", "--timeout", "1", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(value["mode"], "portfolio");
    assert_eq!(value["result"], "incomplete");
    assert_eq!(value["exit_code"], 3);
    assert!(
        value["reason"].as_str().unwrap().contains("timeout"),
        "{value}"
    );
    let runs = value["portfolio"].as_array().unwrap();
    let last = runs.last().expect("at least one bound started");
    assert_eq!(last["exhaustive"], false);
    assert_eq!(last["result"], "incomplete");
    assert!(last["bounds"]["servers"].as_u64().is_some());
    assert!(last["peak_rss_bytes"].as_u64().is_some() || !cfg!(target_os = "linux"));
}

#[test]
fn json_report_uses_plain_tokens_and_a_bounds_object() {
    let out = raft_model(&[&["check", "--json"], SMALL].concat());
    assert_eq!(out.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(value["mode"], "single");
    assert_eq!(value["result"], "pass");
    assert_eq!(value["reason"], serde_json::Value::Null);
    assert_eq!(value["exit_code"], 0);
    assert_eq!(value["exhaustive"], true);
    assert!(value["unique_states"].as_u64().unwrap() > 0);
    let bounds = &value["bounds"];
    assert_eq!(bounds["servers"], 3);
    assert_eq!(bounds["max_term"], 1);
    assert_eq!(bounds["max_requests"], 1);
    assert_eq!(bounds["max_crashes"], 0);
    assert_eq!(bounds["snapshots"], false);
    assert_eq!(bounds["bug"], serde_json::Value::Null);
    for p in value["properties"].as_array().unwrap() {
        let token = p["result"].as_str().unwrap();
        assert!(["pass", "reached"].contains(&token), "{p}");
    }

    let out = raft_model(&["check", "--json", "--bug", "vote-twice", "--quick"]);
    assert_eq!(out.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(value["result"], "fail");
    assert_eq!(value["bounds"]["bug"], "vote-twice");
    let safety = value["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ElectionSafety")
        .unwrap();
    assert_eq!(safety["result"], "fail");
    assert!(safety["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(safety["steps"].as_array().unwrap().len() >= 12);
    let others: Vec<&str> = value["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] != "ElectionSafety")
        .map(|p| p["result"].as_str().unwrap())
        .collect();
    assert!(
        others.iter().all(|t| ["unknown", "reached"].contains(t)),
        "{others:?}"
    );
}

/// `check --servers 4` used to print EXHAUSTIVE, 1 unique state, and PASS: no timeout can
/// send three RequestVotes with room for two messages.
#[test]
fn vacuous_bounds_are_refused_naming_the_flag() {
    for args in [
        &["check", "--servers", "4"][..],
        &["check", "--servers", "5", "--max-inflight", "3"],
        &["explore", "--servers", "4"],
        &[
            "check",
            "--servers",
            "1",
            "--max-term",
            "1",
            "--max-requests",
            "0",
            "--no-crashes",
            "--no-snapshots",
        ],
    ] {
        let out = raft_model(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}");
        assert!(
            err.contains("--max-inflight must be at least servers-1")
                || err.contains("vacuous bound"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn negative_numbers_get_a_clear_error() {
    for flag in [
        "--max-snapshots",
        "--servers",
        "--max-inflight",
        "--timeout",
    ] {
        let out = raft_model(&["check", flag, "-1"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains("must not be negative"), "{flag}: {err}");
        assert!(!err.contains("unexpected argument"), "{flag}: {err}");
    }
}

#[test]
fn help_documents_the_exit_codes() {
    for args in [&["--help"][..], &["check", "--help"]] {
        let text = stdout(&raft_model(args));
        for line in ["0  PASS", "1  FAIL", "2  usage error", "3  INCOMPLETE"] {
            assert!(text.contains(line), "{args:?}: {text}");
        }
    }
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_two() {
    for args in [
        &["check", "--servers", "0"][..],
        &["check", "--max-term", "0"],
        &["check", "--bug", "no-such-bug"],
        &["check", "--max-inflight", "unlimited"],
        &["check", "--max-inflight", "lots"],
        &["frobnicate"],
    ] {
        let out = raft_model(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn explore_on_a_busy_port_fails_cleanly() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = raft_model(&["explore", "--addr", &addr]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot serve the explorer"), "{err}");
}

#[test]
fn bugs_lists_each_variant_with_its_property_rule_and_quick_bound() {
    let out = raft_model(&["bugs"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("runs the default portfolio"), "{text}");
    assert!(text.contains("--quick"), "{text}");
    for bug in raft_model::Bug::ALL {
        let at = text
            .find(&format!("\n{}\n", bug.name()))
            .unwrap_or_else(|| panic!("{} not listed", bug.name()));
        let block = &text[at..];
        let block = &block[..block[1..].find("\n\n").map_or(block.len(), |e| e + 1)];
        assert!(
            block.contains(&format!("violates     {}", bug.expected_violation())),
            "{block}"
        );
        assert!(block.contains(bug.description()), "{block}");
        let quick = bug.bound().describe();
        let quick = &quick[..quick.rfind(" bug=").unwrap()];
        assert!(block.contains(&format!("quick bound  {quick}")), "{block}");
    }
}
