//! Bad input never panics: damaged and forged messages stepped into cores in every role,
//! and damaged persisted state restored. The invariants are checked after every step and
//! every successful restore (explicitly, so `--release`, where `step` does not check them
//! itself, checks them too): a forged message that broke one fails here.
//!
//! Seeds: `RAFT_CORE_FUZZ_SEED=S` runs one seed; otherwise a fixed range.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

const SERVERS: usize = 3;
const MESSAGES_PER_SEED: usize = 3_000;

/// A number that is usually small and sometimes extreme.
fn number(rng: &mut ChaCha8Rng) -> u64 {
    match rng.gen_range(0..10) {
        0 => u64::MAX - rng.gen_range(0..3),
        1 => rng.gen(),
        _ => rng.gen_range(0..8),
    }
}

fn random_message(rng: &mut ChaCha8Rng) -> Message {
    let entries = (0..rng.gen_range(0..4))
        .map(|_| Entry {
            term: number(rng),
            command: vec![rng.gen(); rng.gen_range(0..3)].into(),
        })
        .collect();
    match rng.gen_range(0..6) {
        0 => Message::RequestVote {
            term: number(rng),
            candidate: rng.gen_range(0..5),
            last_log_index: number(rng),
            last_log_term: number(rng),
        },
        1 => Message::RequestVoteReply {
            term: number(rng),
            vote_granted: rng.gen(),
        },
        2 => Message::AppendEntries {
            term: number(rng),
            leader: rng.gen_range(0..5),
            prev_log_index: number(rng),
            prev_log_term: number(rng),
            entries,
            leader_commit: number(rng),
        },
        3 => Message::AppendEntriesReply {
            term: number(rng),
            success: rng.gen(),
            match_index: number(rng),
            conflict_index: number(rng),
            conflict_term: rng.gen::<bool>().then(|| number(rng)),
        },
        4 => Message::InstallSnapshot {
            term: number(rng),
            leader: rng.gen_range(0..5),
            last_included_index: number(rng),
            last_included_term: number(rng),
            offset: number(rng),
            data: vec![7; rng.gen_range(0..4)],
            done: rng.gen(),
        },
        _ => Message::InstallSnapshotReply {
            term: number(rng),
            last_included_index: number(rng),
            offset: number(rng),
            done: rng.gen(),
        },
    }
}

fn damage(rng: &mut ChaCha8Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    match rng.gen_range(0..4) {
        0 if !bytes.is_empty() => {
            let len = rng.gen_range(0..bytes.len());
            bytes.truncate(len);
        }
        1 if !bytes.is_empty() => {
            for _ in 0..rng.gen_range(1..4) {
                let position = rng.gen_range(0..bytes.len());
                bytes[position] = rng.gen();
            }
        }
        2 => bytes = (0..rng.gen_range(0..24)).map(|_| rng.gen()).collect(),
        _ => {}
    }
    bytes
}

/// Cores in each role, with logs and a snapshot, to receive the bad input.
fn targets(seed: u64) -> Vec<Core> {
    let state = PersistentState {
        current_term: 3,
        voted_for: None,
        snapshot_index: 2,
        snapshot_term: 1,
        entries: vec![
            Entry {
                term: 2,
                command: vec![1].into(),
            },
            Entry {
                term: 3,
                command: vec![2].into(),
            },
        ],
    };
    let config = Config::new(0, SERVERS, seed);
    let follower = Core::restore(config, &state.encode().unwrap(), vec![1, 2]).unwrap();
    let mut candidate = follower.clone();
    super::tests::tick_until_candidate(&mut candidate);
    let mut leader = candidate.clone();
    let term = leader.current_term();
    leader.step(Input::Message {
        from: 1,
        message: Message::RequestVoteReply {
            term,
            vote_granted: true,
        },
    });
    assert_eq!(leader.role(), Role::Leader);
    vec![follower, candidate, leader]
}

fn run(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cores = targets(seed);
    for _ in 0..MESSAGES_PER_SEED {
        let encoded = random_message(&mut rng).encode().unwrap();
        let bytes = damage(&mut rng, encoded);
        let Ok(message) = Message::decode(&bytes) else {
            continue;
        };
        let target = rng.gen_range(0..cores.len());
        let from = rng.gen_range(0..SERVERS + 1);
        cores[target].step(Input::Message { from, message });
        cores[target].check_invariants();
        if rng.gen_range(0..50) == 0 {
            cores = targets(seed); // Start over so roles stay mixed.
        }
    }
    let good = targets(seed)[0].persistent_state().encode().unwrap();
    for _ in 0..MESSAGES_PER_SEED / 10 {
        let bytes = damage(&mut rng, good.clone());
        if let Ok(core) = Core::restore(Config::new(1, SERVERS, seed), &bytes, vec![]) {
            core.check_invariants();
        }
    }
}

/// No sequence of damaged or forged messages or persisted bytes makes the core panic.
#[test]
fn bad_bytes_never_panic_the_core() {
    let seeds: Vec<u64> = match std::env::var("RAFT_CORE_FUZZ_SEED") {
        Ok(seed) => vec![seed.parse().expect("RAFT_CORE_FUZZ_SEED is a u64")],
        Err(_) => (1..=20).collect(),
    };
    for seed in seeds {
        if let Err(panic) = std::panic::catch_unwind(|| run(seed)) {
            eprintln!("core fuzzing failed with RAFT_CORE_FUZZ_SEED={seed}");
            std::panic::resume_unwind(panic);
        }
    }
}
