//! Crashes at every write and fsync step (issue 10, "Done when").
//!
//! A run writes a sequence of realistic deltas (appends, truncations by a conflicting
//! leader, term and vote changes, local and installed snapshots) with syncs in between, on
//! the simulated file system, and stops the world after its k-th mutating operation, for
//! every k. Each crash image is reopened in every variant of what may survive (the
//! directory as of its last fsync or as the process saw it; nothing, half, all but one byte
//! or all of the unsynced data of every file), and the recovered state must be exactly the
//! state after some delta j, where j is at least the last delta a successful `sync`
//! covered: every acknowledged entry survives, and nothing but a prefix of what was written
//! appears. Then the run goes on from there, and a clean reopen must give the final state;
//! and a second crash at every step of that recovering open must recover the same state.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::super::sim_fs::{Disk, Kept, SimFs};
use super::*;
use crate::core::{HardState, LogChange, SnapshotChange};

/// A server's persistent-state history, made of deltas a Raft core could produce.
pub(super) struct History {
    rng: ChaCha8Rng,
    state: PersistentState,
    snapshot: Arc<Vec<u8>>,
    /// The state after each delta (index 0: the initial state).
    pub states: Vec<Recovered>,
    pub deltas: Vec<Persist>,
}

impl History {
    pub(super) fn new(seed: u64) -> History {
        History {
            rng: ChaCha8Rng::seed_from_u64(seed),
            state: PersistentState::default(),
            snapshot: Arc::new(Vec::new()),
            states: vec![Recovered::default()],
            deltas: Vec::new(),
        }
    }

    fn last_index(&self) -> u64 {
        self.state.snapshot_index + self.state.entries.len() as u64
    }

    fn term_at(&self, index: u64) -> u64 {
        match index.checked_sub(self.state.snapshot_index + 1) {
            None => self.state.snapshot_term,
            Some(offset) => self.state.entries[offset as usize].term,
        }
    }

    fn entries(&mut self, count: usize) -> Vec<Entry> {
        (0..count)
            .map(|_| {
                let len = match self.rng.gen_range(0..10) {
                    0 => self.rng.gen_range(100..400),
                    _ => self.rng.gen_range(0..40),
                };
                let byte = self.rng.gen();
                Entry {
                    term: self.state.current_term,
                    command: vec![byte; len].into(),
                }
            })
            .collect()
    }

    fn new_term(&mut self) -> HardState {
        let vote = self.rng.gen_bool(0.5).then(|| self.rng.gen_range(0..3));
        HardState {
            current_term: self.state.current_term + 1,
            voted_for: vote,
        }
    }

    /// The next delta, applied to the history.
    pub(super) fn step(&mut self) -> &Persist {
        let last = self.last_index();
        let first = self.state.snapshot_index;
        let mut delta = Persist::default();
        if self.state.current_term == 0 {
            delta.hard_state = Some(self.new_term());
            self.state.current_term += 1;
        }
        match self.rng.gen_range(0..12) {
            // A leader's proposals, or a follower's appended entries.
            0..=5 => {
                let count = self.rng.gen_range(1..4);
                delta.log = Some(LogChange {
                    after: last,
                    entries: self.entries(count),
                });
            }
            // A new term, with or without a vote.
            6 => delta.hard_state = Some(self.new_term()),
            // A follower meets a newer leader whose log conflicts (Figure 2 AppendEntries
            // rules 3-4): new term, truncation, new entries.
            7 | 8 => {
                let hard = self.new_term();
                self.state.current_term = hard.current_term;
                delta.hard_state = Some(hard);
                let after = self.rng.gen_range(first..=last);
                let count = self.rng.gen_range(0..3);
                delta.log = Some(LogChange {
                    after,
                    entries: self.entries(count),
                });
            }
            // The service snapshots a prefix of the log (§7): the core re-supplies the
            // entries it keeps.
            9 | 10 if last > first => {
                let index = self.rng.gen_range(first + 1..=last);
                let kept = self.state.entries[(index - first) as usize..].to_vec();
                let data = vec![self.rng.gen(); self.rng.gen_range(0..64)];
                delta.snapshot = Some(SnapshotChange {
                    index,
                    term: self.term_at(index),
                    data: Arc::new(data),
                });
                delta.log = Some(LogChange {
                    after: index,
                    entries: kept,
                });
            }
            // InstallSnapshot from a leader (Figure 13): past the log's end, or inside it
            // with a matching entry (the rest is kept) or a conflicting one (discarded).
            _ => {
                let hard = self.new_term();
                self.state.current_term = hard.current_term;
                delta.hard_state = Some(hard);
                let index = last + self.rng.gen_range(0..3).max(u64::from(last == first));
                let matching = index <= last && self.rng.gen_bool(0.5);
                let (term, kept) = match matching {
                    true => (
                        self.term_at(index),
                        self.state.entries[(index - first) as usize..].to_vec(),
                    ),
                    false => (self.state.current_term, Vec::new()),
                };
                delta.snapshot = Some(SnapshotChange {
                    index,
                    term,
                    data: Arc::new(vec![7; self.rng.gen_range(1..32)]),
                });
                delta.log = Some(LogChange {
                    after: index,
                    entries: kept,
                });
            }
        }
        delta
            .apply_to(&mut self.state, &mut self.snapshot)
            .expect("the generator makes deltas that fit");
        self.state
            .check()
            .expect("the generator makes valid states");
        self.states.push(Recovered {
            state: self.state.clone(),
            snapshot: Arc::clone(&self.snapshot),
        });
        self.deltas.push(delta);
        self.deltas.last().expect("just pushed")
    }
}

/// A run: `deltas` with a sync after those in `sync_after`.
struct Run {
    history: History,
    sync_after: Vec<bool>,
}

impl Run {
    fn new(seed: u64, deltas: usize) -> Run {
        let mut history = History::new(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let mut sync_after = Vec::new();
        for i in 0..deltas {
            history.step();
            sync_after.push(i + 1 == deltas || rng.gen_bool(0.4));
        }
        Run {
            history,
            sync_after,
        }
    }
}

/// What the writer saw before the crash.
struct Outcome {
    created: bool,
    /// Deltas covered by the last successful sync.
    acknowledged: usize,
    /// Deltas whose `write` returned.
    written: usize,
}

const DIR: &str = "/sim/peer";

fn options(preallocate: bool) -> DiskOptions {
    // Small, so that runs roll over and delete segments often (and, preallocated, fill the
    // next segment in the middle of a run).
    DiskOptions {
        segment_bytes: 300,
        preallocate,
    }
}

/// Writes `run` from delta `from` on, until the first error (a crash).
fn drive(storage: &mut DiskStorage, run: &Run, from: usize, outcome: &mut Outcome) {
    for (i, delta) in run.history.deltas.iter().enumerate().skip(from) {
        if storage.write(delta).is_err() {
            return;
        }
        outcome.written = i + 1;
        if run.sync_after[i] {
            if storage.sync().is_err() {
                return;
            }
            outcome.acknowledged = i + 1;
        }
    }
}

fn write_all(fs: &SimFs, run: &Run, options: &DiskOptions) -> Outcome {
    let mut outcome = Outcome {
        created: false,
        acknowledged: 0,
        written: 0,
    };
    if let Ok(mut storage) =
        DiskStorage::create_in(Arc::new(fs.clone()), Path::new(DIR), options.clone())
    {
        outcome.created = true;
        drive(&mut storage, run, 0, &mut outcome);
    }
    outcome
}

const VARIANTS: [(bool, Kept); 8] = [
    (true, Kept::Synced),
    (true, Kept::Half),
    (true, Kept::AllButOne),
    (true, Kept::All),
    (false, Kept::Synced),
    (false, Kept::Half),
    (false, Kept::AllButOne),
    (false, Kept::All),
];

/// Reopens `disk`; checks what it recovered against the history and returns the delta
/// count it equals (None if the crash came before `create` finished and nothing is there).
fn check_recovery(
    disk: Disk,
    run: &Run,
    outcome: &Outcome,
    options: &DiskOptions,
    case: &str,
) -> Option<usize> {
    let fs = SimFs::with_disk(disk);
    let storage = match DiskStorage::open_in(Arc::new(fs), Path::new(DIR), options.clone()) {
        Ok(storage) => storage,
        Err(StorageError::NotAStorage { .. } | StorageError::Missing { .. })
            if !outcome.created =>
        {
            return None
        }
        Err(error) => panic!("{case}: open failed: {error}"),
    };
    let recovered = storage.recovered();
    let states = &run.history.states;
    let found = (outcome.acknowledged..=outcome.written).find(|&j| states[j] == recovered);
    let Some(j) = found else {
        let matches_any = states.iter().position(|s| *s == recovered);
        panic!(
            "{case}: recovered a state that is not the state after any delta in {}..={} \
             (equal to the state after {matches_any:?} deltas): {recovered:?}",
            outcome.acknowledged, outcome.written
        );
    };
    Some(j)
}

/// After recovering the state of `j` deltas, the run goes on from there and a clean reopen
/// gives the final state.
fn check_continues(disk: Disk, run: &Run, j: usize, options: &DiskOptions, case: &str) {
    let fs = SimFs::with_disk(disk);
    let mut storage = DiskStorage::open_in(Arc::new(fs.clone()), Path::new(DIR), options.clone())
        .unwrap_or_else(|error| panic!("{case}: {error}"));
    let mut outcome = Outcome {
        created: true,
        acknowledged: j,
        written: j,
    };
    drive(&mut storage, run, j, &mut outcome);
    storage.sync().unwrap();
    drop(storage);
    let reopened = DiskStorage::open_in(Arc::new(fs), Path::new(DIR), options.clone()).unwrap();
    assert_eq!(
        reopened.recovered(),
        *run.history.states.last().unwrap(),
        "{case}: continued after recovery"
    );
}

/// A crash at every step of the open that recovers `disk` (cutting a torn tail, removing
/// leftovers) leaves files that recover to the same state.
fn check_crash_in_recovery(disk: &Disk, expected: &Recovered, options: &DiskOptions, case: &str) {
    let probe = SimFs::with_disk(disk.clone());
    drop(DiskStorage::open_in(Arc::new(probe.clone()), Path::new(DIR), options.clone()).unwrap());
    for k in 1..=probe.operations() {
        let fs = SimFs::with_disk(disk.clone());
        fs.crash_after(k);
        let _ = DiskStorage::open_in(Arc::new(fs.clone()), Path::new(DIR), options.clone());
        let image = fs.crash_image().expect("the open reached the crash point");
        for (durable_names, kept) in VARIANTS {
            let again = SimFs::with_disk(image.after_crash(durable_names, kept));
            let storage = DiskStorage::open_in(Arc::new(again), Path::new(DIR), options.clone())
                .unwrap_or_else(|error| panic!("{case}, recovery crash {k}: {error}"));
            assert_eq!(
                &storage.recovered(),
                expected,
                "{case}, crash at recovery step {k}, {durable_names} {kept:?}"
            );
        }
    }
}

fn crash_everywhere(seed: u64, deltas: usize, options: &DiskOptions) -> usize {
    let run = Run::new(seed, deltas);
    let probe = SimFs::default();
    let outcome = write_all(&probe, &run, options);
    assert_eq!(
        outcome.acknowledged, deltas,
        "seed {seed}: the run completes"
    );
    let steps = probe.operations();
    let mut checked = 0;
    for k in 1..=steps {
        let fs = SimFs::default();
        fs.crash_after(k);
        let outcome = write_all(&fs, &run, options);
        let image = fs.crash_image().expect("the run reached the crash point");
        for (durable_names, kept) in VARIANTS {
            let case = format!("seed {seed}, crash after step {k}, {durable_names} {kept:?}");
            let disk = image.after_crash(durable_names, kept);
            if let Some(j) = check_recovery(disk.clone(), &run, &outcome, options, &case) {
                check_continues(disk.clone(), &run, j, options, &case);
                if kept == Kept::Half {
                    check_crash_in_recovery(&disk, &run.history.states[j], options, &case);
                }
                checked += 1;
            }
        }
    }
    checked
}

/// Every crash point of many random runs recovers a prefix of what was written that
/// contains everything acknowledged.
#[test]
fn crash_at_every_step_recovers_an_acknowledged_prefix() {
    let mut checked = 0;
    for seed in 0..24 {
        println!("seed {seed}");
        checked += crash_everywhere(seed, 40, &options(true));
    }
    // Not vacuous: thousands of crash images were reopened and compared.
    println!("{checked} crash images recovered and checked");
    assert!(checked > 1000, "{checked} images checked");
}

/// The same without preallocation (segments that grow by appends, as in format 1), on
/// fewer runs: the rules are the same, only the layout differs.
#[test]
fn crash_at_every_step_without_preallocation() {
    let mut checked = 0;
    for seed in 100..108 {
        println!("seed {seed}");
        checked += crash_everywhere(seed, 40, &options(false));
    }
    println!("{checked} crash images recovered and checked");
    assert!(checked > 300, "{checked} images checked");
}

/// The generator makes every kind of delta, and the runs roll over, delete segments and
/// write snapshots: the crash test covers them.
#[test]
fn runs_cover_every_kind_of_step() {
    let run = Run::new(3, 200);
    let deltas = &run.history.deltas;
    let truncations = deltas
        .iter()
        .zip(&run.history.states)
        .filter(|(d, before)| {
            d.snapshot.is_none()
                && d.log.as_ref().is_some_and(|change| {
                    change.after < before.state.snapshot_index + before.state.entries.len() as u64
                })
        })
        .count();
    let snapshots = deltas.iter().filter(|d| d.snapshot.is_some()).count();
    let terms = deltas.iter().filter(|d| d.hard_state.is_some()).count();
    assert!(truncations > 5 && snapshots > 10 && terms > 20);
    let fs = SimFs::default();
    write_all(&fs, &run, &options(true));
    let names = fs.disk().names();
    let segments: Vec<u64> = names
        .iter()
        .filter_map(|n| format::parse_segment_name(n))
        .collect();
    assert!(segments[0] > 0, "early segments were deleted: {names:?}");
    assert!(segments.len() < 10, "{names:?}");
    // Preallocated: every live segment came from a filled file at least 300 bytes long.
    let disk = fs.disk();
    for &id in &segments {
        let len = disk.file(&format::segment_name(id)).unwrap().len();
        assert!(len >= 300, "segment {id}: {len} bytes");
    }
}

/// A store of format 1 (written without preallocation, then given the old marker) is
/// opened with preallocation: a crash at every step of that open (the marker's upgrade
/// included), in every variant, recovers the same state, and the run goes on.
#[test]
fn crash_while_upgrading_a_format_1_store() {
    let run = Run::new(7, 30);
    let fs = SimFs::default();
    let outcome = write_all(&fs, &run, &options(false));
    assert_eq!(outcome.acknowledged, 30);
    let dir = Path::new(DIR);
    let marker = dir.join(MARKER_FILE);
    let mut file = fs.create(&marker).unwrap();
    file.write_at(0, MARKER_V1).unwrap();
    file.sync().unwrap();
    fs.sync_dir(dir).unwrap();
    let disk = fs.disk();
    let expected = run.history.states.last().unwrap();
    check_crash_in_recovery(&disk, expected, &options(true), "format 1");
    let upgraded = SimFs::with_disk(disk);
    drop(DiskStorage::open_in(Arc::new(upgraded.clone()), dir, options(true)).unwrap());
    assert_eq!(upgraded.disk().file(MARKER_FILE), Some(MARKER));
}

/// The deltas of a real cluster: three cores exchange messages (some lost, delivered in
/// random order), propose, snapshot and restart; every step's `Persist` goes through a
/// `DiskStorage` (synced before the step's messages leave, Figure 2), and a restarted core
/// recovers from what the storage recovered, which must equal the core's own persistent
/// state before the restart. Covers what the core really emits: elections, conflicting
/// suffixes truncated, InstallSnapshot to a lagging follower, compaction.
#[test]
fn real_cluster_deltas_round_trip_through_restarts() {
    use crate::core::{Config, Core, Input, Outgoing};
    struct Peer {
        core: Core,
        storage: DiskStorage,
        fs: SimFs,
    }
    let seed = 11;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let options = DiskOptions {
        segment_bytes: 512,
        preallocate: true,
    };
    let mut peers: Vec<Peer> = (0..3)
        .map(|id| {
            let fs = SimFs::default();
            let storage =
                DiskStorage::create_in(Arc::new(fs.clone()), Path::new(DIR), options.clone())
                    .unwrap();
            let core = Core::new(Config::new(id, 3, seed + id as u64)).unwrap();
            Peer { core, storage, fs }
        })
        .collect();
    let mut queue: Vec<(usize, Outgoing)> = Vec::new();
    let (mut restarts, mut snapshots, mut installs, mut truncations) = (0, 0, 0, 0);
    for step in 0..20_000 {
        let id = rng.gen_range(0..3);
        let input = match rng.gen_range(0..1000) {
            400..=799 if !queue.is_empty() => {
                let (from, outgoing) = queue.swap_remove(rng.gen_range(0..queue.len()));
                if rng.gen_bool(0.1) {
                    continue; // Lost.
                }
                let to = outgoing.to;
                let input = Input::Message {
                    from,
                    message: outgoing.message,
                };
                let peer = &mut peers[to];
                handle(peer, to, input, &mut queue, &mut installs, &mut truncations);
                continue;
            }
            800..=949 => Input::Propose(vec![step as u8; rng.gen_range(1..80)].into()),
            950..=989 => {
                let applied = peers[id].core.last_applied();
                let first = peers[id].core.persistent_state().snapshot_index;
                if applied <= first {
                    continue;
                }
                snapshots += 1;
                Input::Snapshot {
                    index: rng.gen_range(first + 1..=applied),
                    data: format!("state at step {step}").into_bytes(),
                }
            }
            990..=992 => {
                // Restart: the storage is dropped (lock released) and reopened.
                restarts += 1;
                let peer = &mut peers[id];
                let before = peer.core.persistent_state();
                let snapshot = Arc::clone(peer.core.snapshot_data());
                let fs = peer.fs.clone();
                let reopened = {
                    let disk = fs.disk().after_crash(false, Kept::Synced);
                    let fs = SimFs::with_disk(disk);
                    let storage =
                        DiskStorage::open_in(Arc::new(fs.clone()), Path::new(DIR), options.clone())
                            .unwrap_or_else(|error| panic!("step {step}: {error}"));
                    (storage, fs)
                };
                let recovered = reopened.0.recovered();
                assert_eq!(recovered.state, before, "step {step}: peer {id} state");
                assert_eq!(
                    recovered.snapshot, snapshot,
                    "step {step}: peer {id} snapshot"
                );
                let config = Config::new(id, 3, seed + step);
                peer.core = Core::recover(config, recovered.state, recovered.snapshot).unwrap();
                peer.storage = reopened.0;
                peer.fs = reopened.1;
                continue;
            }
            _ => Input::Tick,
        };
        handle(
            &mut peers[id],
            id,
            input,
            &mut queue,
            &mut installs,
            &mut truncations,
        );
    }
    println!(
        "{restarts} restarts, {snapshots} snapshots, {installs} installs, {truncations} truncations, commit {:?}",
        peers.iter().map(|p| p.core.commit_index()).collect::<Vec<_>>()
    );
    assert!(restarts > 20 && snapshots > 100 && installs > 0 && truncations > 0);
    assert!(
        peers.iter().all(|p| p.core.commit_index() > 100),
        "the cluster made progress"
    );

    fn handle(
        peer: &mut Peer,
        id: usize,
        input: Input,
        queue: &mut Vec<(usize, Outgoing)>,
        installs: &mut usize,
        truncations: &mut usize,
    ) {
        let before = peer.core.persistent_state();
        let ready = peer.core.step(input);
        if let Some(persist) = &ready.persist {
            let last = before.snapshot_index + before.entries.len() as u64;
            if persist.snapshot.as_ref().is_some_and(|s| s.index > last) {
                *installs += 1;
            }
            if persist.snapshot.is_none() && persist.log.as_ref().is_some_and(|l| l.after < last) {
                *truncations += 1;
            }
            peer.storage.write(persist).unwrap();
            peer.storage.sync().unwrap();
            // Synced: tell the core (Raft thesis §10.2.1; a leader counts only durable
            // entries of its own).
            let (index, term) = (peer.core.last_log_index(), peer.core.log().last_term());
            let synced = peer.core.step(Input::Persisted { index, term });
            assert!(synced.persist.is_none());
            queue.extend(synced.messages.into_iter().map(|outgoing| (id, outgoing)));
        }
        queue.extend(ready.messages.into_iter().map(|outgoing| (id, outgoing)));
    }
}

use super::super::format;
