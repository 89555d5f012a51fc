//! Trace validation, impl -> model: simulator traces of real cores replayed through the
//! model's `next_state`, step by step, with coverage of every model action.
//! `TRACE_SEED=n` validates only seed `n`; `TRACE_SEEDS=m` changes the count.
//! Any divergence fails with its seed, event, actions and field-by-field diff.

use std::time::Instant;

use raft_conformance::mapping::ACTION_NAMES;
use raft_conformance::sim::SimConfig;
use raft_conformance::validate::{validate_seed, Failure, Stats};

fn seeds(default: u64) -> std::ops::Range<u64> {
    if let Some(seed) = std::env::var("TRACE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed..seed + 1;
    }
    let n = std::env::var("TRACE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    0..n
}

fn report(failure: &Failure, seed: u64) -> String {
    let what = match failure {
        Failure::Divergence(d) => d.to_string(),
        Failure::Violation(v) => format!(
            "seed {seed}: invariant violated at event {}: {}",
            v.event_number, v.message
        ),
    };
    format!("{what}\n  replay: TRACE_SEED={seed} cargo test -p raft-conformance --test trace_validation (or raft-sim --validate --seed {seed}, with --stormy for the stormy profile)")
}

#[test]
fn simulator_traces_are_model_traces() {
    let mut stats = Stats::default();
    let start = Instant::now();
    let mut failures = Vec::new();
    let stormy = |servers, events| SimConfig {
        validate: true,
        ..SimConfig::stormy(servers, events)
    };
    let profiles = [
        ("faulty", SimConfig::for_validation(3, 1_000), 600),
        ("faulty", SimConfig::for_validation(5, 1_000), 600),
        ("stormy", stormy(3, 1_000), 300),
    ];
    for (name, config, count) in profiles {
        let (servers, events) = (config.servers, config.events);
        for seed in seeds(count) {
            if let Err(f) = validate_seed(seed, &config, &mut stats) {
                failures.push(format!(
                    "{name}, {servers} servers, {events} events: {}",
                    report(&f, seed)
                ));
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "trace validation: {} traces, {} events validated ({} model actions) in {wall:.2} s = {:.0} events/s; {} truncated at the model's bounds",
        stats.traces,
        stats.events,
        stats.actions,
        stats.events as f64 / wall,
        stats.truncated
    );
    println!("coverage: {:#?}", stats.coverage);
    let mut compositions: Vec<_> = stats.compositions.iter().collect();
    compositions.sort_by(|a, b| b.1.cmp(a.1));
    println!(
        "compositions (top 15): {:#?}",
        &compositions[..compositions.len().min(15)]
    );
    assert!(
        failures.is_empty(),
        "{} failing traces; first:\n{}",
        failures.len(),
        failures[0]
    );
    if std::env::var("TRACE_SEED").is_err() && std::env::var("TRACE_SEEDS").is_err() {
        assert!(stats.traces >= 1_000);
        let missing: Vec<_> = ACTION_NAMES
            .iter()
            .filter(|n| !stats.coverage.contains_key(*n))
            .collect();
        assert!(
            missing.is_empty(),
            "model actions never seen in traces: {missing:?}"
        );
    }
}

/// The validator has teeth: an event whose recorded model actions are withheld (the core
/// timed out, the model is told nothing happened) is reported, with a diff naming the
/// fields that differ.
#[test]
fn a_step_the_model_was_not_told_about_is_a_divergence() {
    use raft_conformance::cluster::{Cluster, Event};
    use raft_conformance::validate::{check_event, unbounded_model, StepError};
    use stateright::Model;

    let config = SimConfig::for_validation(3, 0);
    let mut cluster = Cluster::new(config.cluster_config(), 7);
    let model = unbounded_model(3);
    let init = model.init_states().remove(0);
    // Tick S1 until it times out; every tick before that is a stutter the model accepts.
    loop {
        let mut outcome = cluster.execute(&Event::Tick(0)).unwrap();
        if outcome.steps.is_empty() {
            let mut stats = Stats::default();
            assert!(check_event(&model, &init, &cluster, &outcome, &mut stats).is_ok());
            continue;
        }
        let mut stats = Stats::default();
        let told = check_event(&model, &init, &cluster, &outcome, &mut stats);
        assert!(told.is_ok(), "the true step validates");
        outcome.steps.clear();
        match check_event(&model, &init, &cluster, &outcome, &mut stats) {
            Err(StepError::Diverged(_, diff)) => {
                println!("{diff}");
                assert!(diff.contains("S1 current_term: model 0, cores 1"), "{diff}");
                assert!(
                    diff.contains("S1 role: model Follower, cores Candidate"),
                    "{diff}"
                );
            }
            other => panic!("expected a divergence, got {other:?}"),
        }
        break;
    }
}
