//! Mutation check (issue 4, item 6): the conformance machinery has teeth. Each test switches
//! on one of the core's test-only bugs (`raft_impl::core::mutation`, feature `mutations`, the
//! counterparts of the model's bug variants), then asserts that
//!
//! 1. the simulator's invariants catch it within `SIM_BOUND` seeds (`FIGURE_8_BOUND` for
//!    `CommitPreviousTerm`; 3 servers, `faulty` profile unless the test says why not, 1,000
//!    events a run), and by the expected invariant;
//! 2. trace validation catches it within `TRACE_BOUND` seeds, as a divergence at an event
//!    whose model actions include the one whose rule the mutation breaks;
//! 3. without the mutation, the same seeds (up to the catching ones) pass both checks, so
//!    the mutation — not the seed — is what the checks caught.
//!
//! Each prints the catching seed and the seeds needed. `MUTATION_SEED=n` starts both
//! searches at seed `n` (replay of a catch); `docs/conformance.md`, "Mutation check".
//!
//! One mutation is not checked this way: `SnapshotUncommitted` is a rule the core enforces
//! at its API boundary, which only a service that misuses `snapshot` crosses (its own test
//! below runs the simulator with such a service; trace validation does not apply, the
//! model's service being correct by construction). Some of the model's bug variants have
//! no core counterpart at all: `RestartWithoutSnapshot` (restoring the service from the
//! snapshot after a restart is the service's job, here `Cluster::crash`) and
//! `FollowerAcksUndurable` (a reply leaves only after the sync by the caller's obligation,
//! `Ready`; here the harness's, `Cluster`, which checks it on every step).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use raft_conformance::cluster::{Cluster, Delays, Event};
use raft_conformance::invariants::Checker;
use raft_conformance::mapping::action_name;
use raft_conformance::service::{encode_command, encode_snapshot};
use raft_conformance::sim::{panic_message, run_checked, SimConfig};
use raft_conformance::validate::{validate_seed, Failure, Stats};
use raft_impl::core::mutation::{with_mutation, Mutation};
use raft_impl::core::{Config, Core, Input, Message, Role};

/// Simulator seeds tried per mutation before giving up.
const SIM_BOUND: u64 = 3_000;
/// Trace-validation seeds tried per mutation (a trace costs ~10x a simulator run).
const TRACE_BOUND: u64 = 300;
const EVENTS: usize = 1_000;
/// Simulator seeds for `CommitPreviousTerm`, whose catching seeds are about one in 2,000
/// (`commit_previous_term_is_caught`).
const FIGURE_8_BOUND: u64 = 20_000;

fn faulty(servers: usize) -> SimConfig {
    SimConfig::faulty(servers, EVENTS)
}

fn stormy(servers: usize) -> SimConfig {
    SimConfig::stormy(servers, EVENTS)
}

/// `faulty` with what a stale vote needs to reach a candidate still campaigning: election
/// timeouts of 10–12 ticks (split votes are common, and a candidate that has not won times
/// out into the next term within 12 ticks), and half the messages delayed up to 15 ticks,
/// past that timeout, so a vote granted in one term often arrives in the next.
fn stale_votes(servers: usize) -> SimConfig {
    let faulty = faulty(servers);
    SimConfig {
        election_timeout: (10, 12),
        delays: Delays {
            long_per_mille: 500,
            long_max: 15,
            ..faulty.delays
        },
        ..faulty
    }
}

fn first_seed() -> u64 {
    std::env::var("MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// What caught a mutation, where, and how long the search took.
struct Catch {
    seed: u64,
    seeds_needed: u64,
    what: String,
    wall: Duration,
}

/// The first seed whose simulator run reports a violation (or a panic inside the core).
fn simulator_catch(
    mutation: Option<Mutation>,
    config: &SimConfig,
    seeds: std::ops::Range<u64>,
) -> Option<Catch> {
    let start = Instant::now();
    let first = seeds.start;
    with_mutation(mutation, || {
        seeds.clone().find_map(|seed| {
            let violation = run_checked(seed, config).violation?;
            // A panic inside the core (`check_invariants` or an assert) is reported at its
            // event too, with the message prefixed "panic: ".
            let what = format!(
                "event {} {:?}: {}",
                violation.event_number, violation.event, violation.message
            );
            Some(Catch {
                seed,
                seeds_needed: seed - first + 1,
                what,
                wall: start.elapsed(),
            })
        })
    })
}

/// The first seed whose trace the validator rejects: a divergence (named by the model
/// actions of the diverging event), an invariant violation, or a panic inside the core.
fn validation_catch(
    mutation: Option<Mutation>,
    config: &SimConfig,
    seeds: std::ops::Range<u64>,
) -> Option<Catch> {
    let config = SimConfig {
        validate: true,
        ..config.clone()
    };
    let start = Instant::now();
    let first = seeds.start;
    let mut stats = Stats::default();
    with_mutation(mutation, || {
        seeds.clone().find_map(|seed| {
            let checked = catch_unwind(AssertUnwindSafe(|| {
                validate_seed(seed, &config, &mut stats)
            }));
            let what = match checked {
                Ok(Ok(())) => return None,
                Ok(Err(Failure::Divergence(d))) => {
                    let actions: Vec<_> = d.actions.iter().map(action_name).collect();
                    format!(
                        "divergence at event {} {:?}, actions [{}]\n{}",
                        d.event_number,
                        d.event,
                        actions.join(", "),
                        d.diff
                    )
                }
                Ok(Err(Failure::Violation(v))) => {
                    format!("violation at event {}: {}", v.event_number, v.message)
                }
                Err(panic) => format!("panic inside the core: {}", panic_message(&*panic)),
            };
            Some(Catch {
                seed,
                seeds_needed: seed - first + 1,
                what,
                wall: start.elapsed(),
            })
        })
    })
}

/// How one mutation is to be caught: by the simulator with `sim` (the report must contain
/// one of `sim_expect`: an invariant's name, or the core's own bound check), and by trace
/// validation of `trace` runs (a divergence at an event whose model actions include one of
/// `trace_expect`: the action whose rule the mutation breaks).
struct Spec {
    mutation: Mutation,
    sim: SimConfig,
    sim_expect: &'static [&'static str],
    trace: SimConfig,
    trace_expect: &'static [&'static str],
}

/// Runs the three checks of the module comment.
fn check(spec: Spec) {
    check_within(spec, SIM_BOUND);
}

/// [`check`] with `sim_bound` simulator seeds instead of `SIM_BOUND`.
fn check_within(spec: Spec, sim_bound: u64) {
    let name = spec.mutation.name();
    let first = first_seed();
    let sim = simulator_catch(Some(spec.mutation), &spec.sim, first..first + sim_bound);
    let trace = validation_catch(Some(spec.mutation), &spec.trace, first..first + TRACE_BOUND);
    let profile = |c: &SimConfig| {
        let kind = if c.crash > faulty(c.servers).crash {
            "stormy"
        } else if *c == stale_votes(c.servers) {
            "stale votes"
        } else {
            "faulty"
        };
        format!("{kind}, {} servers", c.servers)
    };
    let mut report = Vec::new();
    for (technique, catch, bound, config) in [
        ("simulator", &sim, sim_bound, &spec.sim),
        ("trace validation", &trace, TRACE_BOUND, &spec.trace),
    ] {
        let profile = profile(config);
        match catch {
            Some(c) => report.push(format!(
                "{name}: {technique} ({profile}) caught it at seed {} ({} seeds, {:.2} s): {}\n  replay: \
                 MUTATION_SEED={} cargo test -p raft-conformance --test mutations",
                c.seed,
                c.seeds_needed,
                c.wall.as_secs_f64(),
                c.what.lines().next().unwrap_or_default(),
                c.seed
            )),
            None => report.push(format!(
                "{name}: {technique} ({profile}) did NOT catch it in {bound} seeds"
            )),
        }
    }
    println!("{}", report.join("\n"));
    let sim = sim.unwrap_or_else(|| panic!("{name}: the simulator missed it in {sim_bound} seeds"));
    let trace = trace
        .unwrap_or_else(|| panic!("{name}: trace validation missed it in {TRACE_BOUND} seeds"));
    assert!(
        spec.sim_expect.iter().any(|e| sim.what.contains(e)),
        "{name}: simulator caught it by an unexpected check (want one of {:?}): {}",
        spec.sim_expect,
        sim.what
    );
    assert!(
        trace.what.starts_with("divergence")
            && spec.trace_expect.iter().any(|e| trace.what.contains(e)),
        "{name}: validator caught it by an unexpected check (want a divergence at one of {:?}): {}",
        spec.trace_expect,
        trace.what
    );
    // Without the mutation the same seeds pass: the checks caught the bug, not the seed.
    if let Some(c) = simulator_catch(None, &spec.sim, first..sim.seed + 1) {
        panic!(
            "{name}: the correct core fails simulator seed {}: {}",
            c.seed, c.what
        );
    }
    if let Some(c) = validation_catch(None, &spec.trace, first..trace.seed + 1) {
        panic!(
            "{name}: the correct core fails validation seed {}: {}",
            c.seed, c.what
        );
    }
}

#[test]
fn no_election_restriction_is_caught() {
    check(Spec {
        mutation: Mutation::NoElectionRestriction,
        sim: faulty(3),
        sim_expect: &["leader completeness", "state machine safety"],
        trace: faulty(3),
        trace_expect: &["Receive(RequestVote)"],
    });
}

#[test]
fn commit_previous_term_is_caught() {
    // Figure 8 needs a leader to crash right after committing an old entry: faults ten
    // times as often make that likely enough (`faulty` missed it in 2,000 seeds of 3 servers and 8,000 of 5).
    // It also needs the term-3 leader's entry to survive that leader's crash: with
    // unsynced proposals (§10.2.1) leaders must sync sooner than the profiles' 30 per
    // mille (at 30 `stormy` and `faulty`, 3 and 5 servers, missed it in 3,000 seeds each).
    // Even so it is rare: 10 of the first 20,000 seeds catch it (docs/conformance.md; no
    // variant of the rates, delays or timeouts tried did much better), the widest gap
    // between two of them 7,575 seeds. The search therefore gets `FIGURE_8_BOUND` seeds,
    // at about a millisecond each, so that a schedule shift elsewhere cannot push the
    // first catch past the bound; `commit_previous_term_is_caught_in_figure_8` plays the
    // scenario itself, seed-free.
    check_within(
        Spec {
            mutation: Mutation::CommitPreviousTerm,
            sim: SimConfig {
                sync: 100,
                ..stormy(3)
            },
            sim_expect: &["leader completeness", "state machine safety"],
            trace: faulty(3),
            trace_expect: &["AdvanceCommitIndex"],
        },
        FIGURE_8_BOUND,
    );
}

/// Figure 8 played step by step on three real cores, with the simulator's checker after
/// every event: no seed decides whether it happens. S0 leads term 1 and appends `e` cut
/// off from the others; S1 leads term 2 (S2's vote) and appends `f` at the same index, cut
/// off too; S0 leads term 3 (S2's vote: S0's log is as up to date) and replicates `e` to
/// S2. `e` is now on a majority, but of term 1: the correct leader does not commit it
/// (§5.4.2), the mutated one does. S0 is then cut off, and S1 wins term 4 with S2's vote
/// (its last term 2 beats `e`'s 1): with the mutation it leads without the committed `e`,
/// which Leader Completeness reports; without it nothing is broken and `e` is simply
/// overwritten by `f`. Crashes (after a sync) only make a cut-off leader a follower again.
// Reference: §5.4.2 and Figure 8
#[test]
fn commit_previous_term_is_caught_in_figure_8() {
    let plain = figure_8(None);
    assert_eq!(plain, Ok(0), "the correct core commits nothing of term 1");
    let mutated = figure_8(Some(Mutation::CommitPreviousTerm));
    println!("commit-previous-term: Figure 8 scenario: {mutated:?}");
    let message = mutated.expect_err("the mutated core commits e and S1 is elected without it");
    assert!(
        message.contains("leader completeness: leader S1 of term 4 lacks index 1"),
        "{message}"
    );
}

/// Runs the scenario of `commit_previous_term_is_caught_in_figure_8` with `mutation`;
/// returns S0's commit index after it replicated `e` to S2 in term 3, or the checker's
/// first complaint.
fn figure_8(mutation: Option<Mutation>) -> Result<u64, String> {
    struct Run {
        cluster: Cluster,
        checker: Checker,
    }
    impl Run {
        fn event(&mut self, event: Event) -> Result<(), String> {
            let outcome = self.cluster.execute(&event)?;
            self.checker.check(&self.cluster, &outcome)
        }
        /// Delivers every message in flight (those between cut-off servers are lost) until
        /// none is left. A correct exchange settles within a few dozen deliveries; a leader
        /// that resends the same rejected request for ever (a broken back-up hint, AE7/L2)
        /// is reported as an error instead of spinning.
        fn settle(&mut self) -> Result<(), String> {
            for _ in 0..10_000 {
                if self.cluster.network.is_empty() {
                    return Ok(());
                }
                self.event(Event::Deliver(0))?;
            }
            Err("the network did not settle within 10 000 deliveries".into())
        }
        /// Ticks server `i` alone until it campaigns, lets the votes through, and again
        /// until it leads in `term`.
        fn elect(&mut self, i: usize, term: u64) -> Result<(), String> {
            for _ in 0..1_000 {
                self.event(Event::Tick(i))?;
                self.settle()?;
                let core = &self.cluster.cores[i];
                if core.role() == Role::Leader {
                    assert_eq!(core.current_term(), term, "S{i} leads another term");
                    return Ok(());
                }
            }
            panic!("S{i} was not elected");
        }
        /// Server `i` syncs, crashes (keeping what it synced) and restarts a follower.
        fn sync_and_restart(&mut self, i: usize) -> Result<(), String> {
            self.event(Event::Sync(i))?;
            self.event(Event::Crash(i))?;
            self.event(Event::Restart(i))
        }
    }
    with_mutation(mutation, || {
        let config = SimConfig::faulty(3, 0).cluster_config();
        let mut run = Run {
            cluster: Cluster::new(config, 1),
            checker: Checker::new(3),
        };
        run.elect(0, 1)?;
        // Term 1: S0 appends e, cut off.
        run.cluster.group = vec![0, 1, 1];
        run.event(Event::Propose(0))?;
        run.settle()?;
        run.sync_and_restart(0)?;
        // Term 2: S1 is elected by S2 and appends f at index 1, cut off.
        run.elect(1, 2)?;
        run.cluster.group = vec![0, 1, 2];
        run.event(Event::Propose(1))?;
        run.settle()?;
        run.sync_and_restart(1)?;
        // Term 3: S0 is elected by S2 (S2 voted in term 2 already: S0 campaigns twice) and
        // brings S2's log up to its own: e on S0 and S2, a majority.
        run.cluster.group = vec![0, 1, 0];
        run.elect(0, 3)?;
        let terms = |c: &Core| c.log().term_at(1);
        assert_eq!(
            (terms(&run.cluster.cores[0]), terms(&run.cluster.cores[2])),
            (Some(1), Some(1)),
            "e of term 1 on S0 and S2"
        );
        assert_eq!(terms(&run.cluster.cores[1]), Some(2), "f of term 2 on S1");
        let commit = run.cluster.cores[0].commit_index();
        // Term 4: S0 cut off; S1 is elected by S2 (S2 voted in term 3 already: S1 campaigns
        // twice).
        run.cluster.group = vec![0, 1, 1];
        run.elect(1, 4)?;
        run.settle()?;
        Ok(commit)
    })
}

#[test]
fn forget_vote_on_restart_is_caught() {
    check(Spec {
        mutation: Mutation::ForgetVoteOnRestart,
        sim: faulty(3),
        // The harness compares the restored core with its disk after the next step (the
        // vote is on disk, not in the core); without that check, election safety.
        sim_expect: &[
            "election safety",
            "differs from the core's persistent state",
        ],
        trace: faulty(3),
        trace_expect: &["Restart"],
    });
}

#[test]
fn truncate_on_every_append_is_caught() {
    // The lost entries include committed ones. A follower that knew them committed has
    // its commit index past its log's end (the core's own `check_invariants`, the bound
    // the simulator checks too); one that had not learned the commit yet drops them with
    // no bound broken, and the loss shows when such a server is elected and lacks a
    // committed entry: leader completeness, the property by which the model checker
    // catches the model's own `truncate-on-every-append` (model/src/bugs.rs). Which comes
    // first is the schedule's choice: seed 1 showed the bound until forced heartbeats were
    // counted in the window, seed 0 leader completeness until reply-driven sends asked the
    // window, seed 4 the bound since (docs/conformance.md).
    check(Spec {
        mutation: Mutation::TruncateOnEveryAppend,
        sim: faulty(3),
        sim_expect: &["<= last", "leader completeness"],
        trace: faulty(3),
        trace_expect: &["Receive(AppendEntries)"],
    });
}

#[test]
fn accept_stale_reply_is_caught() {
    // A stale vote must reach a candidate that has not yet won: with 3 servers one vote
    // wins, so it takes 5 (with 3 the simulator missed it in 2,000 `faulty` and 5,000 `stormy` seeds).
    // `faulty` (5 servers) caught it at seed 2117, then 2048, then missed it in 3,000 seeds
    // once reply-driven sends asked the window: too rare to rest on. `stale_votes` makes
    // the two things it needs common (docs/conformance.md): candidates that time out
    // again before winning, and votes that arrive after that.
    check(Spec {
        mutation: Mutation::AcceptStaleReply,
        sim: stale_votes(5),
        sim_expect: &["election safety"],
        // `stormy` (5 servers) missed it in 300 seeds once leaders' proposals became
        // unsynced until a `Sync` (the schedules changed).
        trace: faulty(5),
        trace_expect: &[
            "Receive(RequestVoteReply)",
            "Receive(AppendEntriesReply)",
            "Receive(InstallSnapshotReply)",
        ],
    });
}

#[test]
fn install_older_snapshot_is_caught() {
    check(Spec {
        mutation: Mutation::InstallOlderSnapshot,
        sim: faulty(3),
        sim_expect: &["moved backwards", "moves the service back"],
        trace: faulty(3),
        trace_expect: &["Receive(InstallSnapshot)"],
    });
}

#[test]
fn vote_twice_is_caught() {
    check(Spec {
        mutation: Mutation::VoteTwice,
        sim: faulty(3),
        sim_expect: &["election safety"],
        trace: faulty(3),
        trace_expect: &["Receive(RequestVote)"],
    });
}

#[test]
fn leader_keeps_leading_is_caught() {
    check(Spec {
        mutation: Mutation::LeaderKeepsLeading,
        sim: faulty(3),
        // Two leaders of one term, or the one that kept leading lacking what the new one
        // committed in its term.
        sim_expect: &["election safety", "leader completeness"],
        // Trace validation alone (`validation_only`): the leader that adopts a higher term
        // and keeps leading makes two leaders of that term in the same step, which the
        // checker, run before the model comparison, would report first (seed 0 since
        // reply-driven sends asked the window).
        trace: validation_only(faulty(3)),
        // Term normalisation happens on receipt of any message of a higher term: any
        // `Receive(…)` action (the check is a substring match on the action names).
        trace_expect: &["Receive("],
    });
}

#[test]
fn no_prev_log_check_is_caught() {
    // Trace validation runs `faulty` with 5 servers: with 3 servers (`faulty` seed 8,
    // `stormy` seed 2, since leaders' proposals stay unsynced until a `Sync`) its first
    // failing seed is the invariant check, which `sim::run` makes before the model
    // comparison: there the mismatched request is accepted and applied in one step (the
    // trace up to that event conforms), so the checker reports state machine safety first.
    // With 5 servers the same happened at seed 129 once reply-driven sends asked the
    // window; trace validation now runs alone (`validation_only`), as for the pipelined
    // tests below.
    check(Spec {
        mutation: Mutation::NoPrevLogCheck,
        sim: faulty(3),
        sim_expect: &["log matching", "state machine safety"],
        trace: validation_only(faulty(5)),
        trace_expect: &["Receive(AppendEntries)"],
    });
}

/// `config` without the simulator's own invariant checker: trace validation alone (the
/// model's state and its `always` properties) must catch the mutation. With pipelining the
/// bad request is accepted and its effect breaks an invariant in the same step, which the
/// checker (run before the model comparison) would report first.
fn validation_only(config: SimConfig) -> SimConfig {
    SimConfig {
        check_invariants: false,
        ..config
    }
}

/// The two replication mutations with pipelined cores (window 3, rule L5; the model's
/// `pipelined` variant): several requests outstanding per follower, each starting where
/// the previous one ended, must not hide a follower that truncates or skips the check.
#[test]
fn truncate_on_every_append_is_caught_pipelined() {
    check(Spec {
        mutation: Mutation::TruncateOnEveryAppend,
        sim: faulty(3).pipelined(3),
        sim_expect: &["<= last"],
        trace: validation_only(faulty(5).pipelined(3)),
        trace_expect: &["Receive(AppendEntries)"],
    });
}

/// See `truncate_on_every_append_is_caught_pipelined`.
#[test]
fn no_prev_log_check_is_caught_pipelined() {
    check(Spec {
        mutation: Mutation::NoPrevLogCheck,
        sim: faulty(3).pipelined(3),
        sim_expect: &["log matching", "state machine safety"],
        trace: validation_only(faulty(5).pipelined(3)),
        trace_expect: &["Receive(AppendEntries)"],
    });
}

/// `MatchOnSend` (rule L1 under L5) acts only in a pipelined core: the leader counts a
/// request as acknowledged the moment it sends it. The simulator sees the consequence (an
/// entry committed on a follower that never got it, lost when a server without it is
/// elected); trace validation sees the send itself, after which the core's `match_index`
/// is past the model's, whose AppendEntries (L5) moves only `next_index`.
#[test]
fn match_on_send_is_caught_pipelined() {
    check(Spec {
        mutation: Mutation::MatchOnSend,
        sim: faulty(3).pipelined(3),
        sim_expect: &[
            "leader completeness",
            "state machine safety",
            "log matching",
        ],
        trace: validation_only(faulty(3).pipelined(3)),
        // The send action itself, not `Receive(AppendEntries)` (the list is "[a, b, …]").
        trace_expect: &["[AppendEntries", ", AppendEntries"],
    });
}

#[test]
fn leader_counts_undurable_is_caught() {
    // The leader commits with its own unsynced copy counted; that shows as a safety
    // violation only if it then crashes before its sync (the cluster's storage really loses
    // unsynced writes) and a server without the entry is elected: crashes must be frequent.
    // Trace validation sees the commit itself, which the model's AdvanceCommitIndex (rule
    // D1) does not allow.
    check(Spec {
        mutation: Mutation::LeaderCountsUndurable,
        sim: stormy(3),
        sim_expect: &["leader completeness", "state machine safety"],
        trace: faulty(3),
        trace_expect: &["AdvanceCommitIndex"],
    });
}

/// `SnapshotUncommitted` widens the core's §7 guard (a snapshot at most `last_applied`) to
/// the log's end. A correct service never asks past what it applied, so the standard
/// profiles never reach it (identical trace hashes with and without it); a service that
/// misuses `snapshot` (`SimConfig::with_bad_snapshots`) does. This test asserts that
///
/// 1. the standard `faulty` runs are untouched by the mutation;
/// 2. with the misusing service, the simulator catches it within `SIM_BOUND` seeds by the
///    `snapshot <= applied` bound (with debug assertions the core's own `check_invariants`
///    reports it inside the step; without them, as in `--release`, the simulator's
///    `Checker` does, in the same words);
/// 3. the same seeds pass without the mutation;
/// 4. at the API boundary the correct core ignores such a request, and the mutated core's
///    own `check_invariants` objects (inside the step with debug assertions, when called
///    after it without).
///
/// Trace validation is not run: API misuse is outside the model, whose service is correct
/// by construction (the model has no action for a snapshot past applied).
#[test]
fn snapshot_uncommitted_is_caught_with_a_misusing_service() {
    let mutation = Some(Mutation::SnapshotUncommitted);
    let first = first_seed();
    for seed in first..first + 100 {
        let plain = run_checked(seed, &faulty(3));
        let mutated = with_mutation(mutation, || run_checked(seed, &faulty(3)));
        assert_eq!(
            (plain.trace_hash, plain.violation),
            (mutated.trace_hash, mutated.violation),
            "seed {seed}: a correct service now reaches SnapshotUncommitted"
        );
    }
    let misusing = faulty(3).with_bad_snapshots();
    let catch = simulator_catch(mutation, &misusing, first..first + SIM_BOUND);
    let c = catch.unwrap_or_else(|| {
        panic!("snapshot-uncommitted: the misusing simulator missed it in {SIM_BOUND} seeds")
    });
    println!(
        "snapshot-uncommitted: simulator (faulty + bad snapshots, 3 servers) caught it at seed {} \
         ({} seeds, {:.2} s): {}\n  replay: MUTATION_SEED={} cargo test -p raft-conformance \
         --test mutations snapshot_uncommitted",
        c.seed,
        c.seeds_needed,
        c.wall.as_secs_f64(),
        c.what,
        c.seed
    );
    assert!(
        snapshot_past_applied_reported(&c.what),
        "snapshot-uncommitted: caught by an unexpected check (want snapshot > applied): {}",
        c.what
    );
    if let Some(plain) = simulator_catch(None, &misusing, first..c.seed + 1) {
        panic!(
            "snapshot-uncommitted: the correct core fails misusing seed {}: {}",
            plain.seed, plain.what
        );
    }
    let snapshot_past_applied = |mutation| {
        let mut core = leader_with_two_uncommitted_entries();
        core.set_mutation(mutation);
        let data = encode_snapshot(&[1, 2]);
        let checked = catch_unwind(AssertUnwindSafe(|| {
            core.step(Input::Snapshot { index: 2, data });
            // `step` runs `check_invariants` itself only with debug assertions.
            core.check_invariants();
        }));
        (
            checked.map_err(|p| panic_message(&*p)),
            core.snapshot_index(),
        )
    };
    assert_eq!(
        snapshot_past_applied(None),
        (Ok(()), 0),
        "the guard ignores it"
    );
    let (step, _) = snapshot_past_applied(mutation);
    let message = step.expect_err("the mutated core takes the snapshot; its check must object");
    println!("snapshot-uncommitted: at the API boundary the core's check says: {message}");
    assert!(
        message.contains("need snapshot 2 <= applied 0"),
        "{message}"
    );
}

/// Whether `what` is the `need snapshot S <= applied A <= …` bound (the core's
/// `check_invariants` and the `Checker` word it alike) broken by `S > A`.
fn snapshot_past_applied_reported(what: &str) -> bool {
    let number_after = |label: &str| -> Option<u64> {
        let rest = &what[what.find(label)? + label.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    match (number_after("need snapshot "), number_after("<= applied ")) {
        (Some(snapshot), Some(applied)) => snapshot > applied,
        _ => false,
    }
}

/// Server 0 of 3, elected by server 1's vote, with commands 1 and 2 appended but not
/// replicated (so not committed, not applied).
fn leader_with_two_uncommitted_entries() -> Core {
    let mut core = Core::new(Config::new(0, 3, 7)).expect("valid configuration");
    // Bounded: a core that never campaigns fails here instead of spinning.
    for tick in 0.. {
        if core.role() == Role::Candidate {
            break;
        }
        assert!(
            tick < 1_000,
            "no candidacy after 1000 ticks: {:?}",
            core.role()
        );
        core.step(Input::Tick);
    }
    let term = core.current_term();
    let vote = Message::RequestVoteReply {
        term,
        vote_granted: true,
    };
    core.step(Input::Message {
        from: 1,
        message: vote,
    });
    assert_eq!(core.role(), Role::Leader);
    for value in [1, 2] {
        core.step(Input::Propose(encode_command(value).into()));
    }
    assert_eq!((core.last_applied(), core.last_log_index()), (0, 2));
    core
}

#[test]
fn every_mutation_has_a_test() {
    // One test above per mutation: adding a mutation without a test fails here.
    assert_eq!(Mutation::ALL.len(), 12);
}
