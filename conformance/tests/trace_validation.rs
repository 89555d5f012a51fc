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

/// A validation profile: the simulator configuration, its seeds, and the least number of
/// events it must validate (every event of every trace: none may be cut short).
struct Profile {
    name: &'static str,
    config: SimConfig,
    seeds: u64,
}

fn profiles() -> Vec<Profile> {
    let stormy = |servers, events| SimConfig {
        validate: true,
        ..SimConfig::stormy(servers, events)
    };
    vec![
        Profile {
            name: "faulty",
            config: SimConfig::for_validation(3, 1_000),
            seeds: 600,
        },
        Profile {
            name: "faulty",
            config: SimConfig::for_validation(5, 1_000),
            seeds: 600,
        },
        Profile {
            name: "stormy",
            config: stormy(3, 1_000),
            seeds: 300,
        },
        // The shipped cap (512) never binds within the model's `u8` indices; a small one
        // makes the leaders send capped prefixes, which the model must send too.
        Profile {
            name: "faulty, max 2 entries per message",
            config: SimConfig {
                max_entries_per_message: 2,
                ..SimConfig::for_validation(3, 1_000)
            },
            seeds: 200,
        },
        // Pipelined cores (rule L5): several AppendEntries outstanding per follower, each
        // advancing next_index on send, against the model's `pipelined` variant. The small
        // cap makes catching up take several batches, so requests really overlap.
        Profile {
            name: "faulty, pipelined (window 3, max 2 entries per message)",
            config: SimConfig {
                max_entries_per_message: 2,
                ..SimConfig::for_validation(3, 1_000).pipelined(3)
            },
            seeds: 300,
        },
        Profile {
            name: "stormy, pipelined (window 4)",
            config: stormy(3, 1_000).pipelined(4),
            seeds: 150,
        },
    ]
}

#[test]
fn simulator_traces_are_model_traces() {
    let mut stats = Stats::default();
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut short = Vec::new();
    let full_run = std::env::var("TRACE_SEED").is_err() && std::env::var("TRACE_SEEDS").is_err();
    // The profiles run on threads of their own (the machine's cores), each with its own
    // totals; they are merged, in profile order, once all are done.
    let results: Vec<(Stats, Vec<String>, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = profiles()
            .into_iter()
            .map(|profile| scope.spawn(move || validate_profile(profile, full_run)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a validation thread panicked"))
            .collect()
    });
    for (profile, failed, too_short) in results {
        failures.extend(failed);
        short.extend(too_short);
        add(&mut stats, profile);
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "trace validation: {} traces, {} events validated ({} model actions, {} states checked against the model's always properties) in {wall:.2} s = {:.0} events/s; {} re-sends; {} truncated at the model's bounds",
        stats.traces,
        stats.events,
        stats.actions,
        stats.states_checked,
        stats.events as f64 / wall,
        stats.resends,
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
    assert_eq!(
        stats.truncated, 0,
        "traces cut short at the model's bounds (the rest of them went unchecked): {:?}",
        stats.truncated_by
    );
    assert!(
        short.is_empty(),
        "profiles validated too few events: {short:#?}"
    );
    if full_run {
        assert!(stats.traces >= 1_000);
        assert!(
            stats.resends > 0,
            "no re-send was validated: dedup is not off"
        );
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

/// Validates every seed of one profile: its totals, its failing traces, and a complaint if
/// it validated fewer events than its traces hold.
fn validate_profile(profile: Profile, full_run: bool) -> (Stats, Vec<String>, Vec<String>) {
    let Profile {
        name,
        config,
        seeds: count,
    } = profile;
    // The shipped configuration, as `raft_impl::core::Config::new` builds it.
    assert!(
        !config.dedup,
        "validation runs the cores' network without dedup"
    );
    let (servers, events) = (config.servers, config.events);
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    let mut short = Vec::new();
    let seeds = seeds(count);
    let traces = seeds.end - seeds.start;
    for seed in seeds {
        if let Err(f) = validate_seed(seed, &config, &mut stats) {
            failures.push(format!(
                "{name}, {servers} servers, {events} events: {}",
                report(&f, seed)
            ));
        }
    }
    let cap = config.max_entries_per_message;
    let window = config.max_inflight_appends;
    println!(
        "{name}, {servers} servers, cap {cap}, window {window}: {} traces, {} events, {} model states checked against the model's properties, {} re-sends, {} capped requests, {} next_index advances on send ({} while an earlier request was in flight), {} truncated",
        stats.traces, stats.events, stats.states_checked, stats.resends, stats.capped, stats.optimistic, stats.overlapping, stats.truncated
    );
    // Every event of every trace validated: none left the model's bounds, none stopped
    // early. (A failing trace stops early; it is reported as a failure.)
    let least = traces * events as u64;
    if failures.is_empty() && stats.events < least {
        short.push(format!(
            "{name}, {servers} servers: {} of {least} events validated; truncated by {:?}",
            stats.events, stats.truncated_by
        ));
    }
    if full_run && window > 1 {
        assert!(
            stats.overlapping > 0,
            "{name}: no request was sent while another was in flight: the profile is vacuous"
        );
    }
    if full_run && window == 1 {
        assert_eq!(
            stats.optimistic, 0,
            "{name}: a window of 1 is Figure 2's next_index"
        );
    }
    if full_run && cap < 255 {
        assert!(
            stats.capped > 0,
            "{name}: no request was cut by the cap of {cap}: the profile is vacuous"
        );
    }
    (stats, failures, short)
}

/// Adds one profile's totals to the run's.
fn add(total: &mut Stats, p: Stats) {
    total.traces += p.traces;
    total.events += p.events;
    total.actions += p.actions;
    total.states_checked += p.states_checked;
    total.resends += p.resends;
    total.capped += p.capped;
    total.optimistic += p.optimistic;
    total.overlapping += p.overlapping;
    total.truncated += p.truncated;
    for (k, v) in p.truncated_by {
        *total.truncated_by.entry(k).or_default() += v;
    }
    for (k, v) in p.coverage {
        *total.coverage.entry(k).or_default() += v;
    }
    for (k, v) in p.compositions {
        *total.compositions.entry(k).or_default() += v;
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
    let model = unbounded_model(&config.cluster_config());
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

/// Validation is a safety check of its own, not only a comparison: with the simulator's
/// invariant checker switched off, cores with the `NoElectionRestriction` mutation are
/// validated against the model with the same bug. The model then follows the cores step by
/// step, and only its own `always` properties, evaluated on every validated state, can
/// report the unsafe trace — they must.
#[test]
fn the_models_properties_catch_an_unsafe_trace_the_model_follows() {
    use raft_conformance::validate::{unbounded_model, validate_seed_against};
    use raft_impl::core::mutation::{with_mutation, Mutation};
    use raft_model::{Bug, RaftModel};

    let config = SimConfig {
        check_invariants: false,
        ..SimConfig::for_validation(3, 1_000)
    };
    let model = unbounded_model(&config.cluster_config());
    let buggy = RaftModel::new(raft_model::Config {
        bug: Some(Bug::NoElectionRestriction),
        ..model.config.clone()
    });
    let mut stats = Stats::default();
    let mut other = Vec::new();
    let caught = with_mutation(Some(Mutation::NoElectionRestriction), || {
        (0..200).find_map(
            |seed| match validate_seed_against(seed, &config, &buggy, &mut stats) {
                Ok(()) => None,
                Err(Failure::Divergence(d)) if d.property.is_some() => Some(d),
                Err(f) => {
                    other.push(report(&f, seed));
                    None
                }
            },
        )
    });
    let d = caught.unwrap_or_else(|| {
        panic!("no unsafe trace reported in 200 seeds; other failures: {other:#?}")
    });
    println!("caught after {} validated events:\n{d}", stats.events);
    assert!(
        matches!(
            d.property,
            Some("LeaderCompleteness" | "StateMachineSafety" | "LogMatching")
        ),
        "{d}"
    );
}
