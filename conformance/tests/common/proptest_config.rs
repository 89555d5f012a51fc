//! The proptest configuration every `prop_*` test binary shares: an explicit case count
//! (`PROPTEST_CASES` overrides it), a seed printed before the run and replayable with
//! `PROPTEST_RNG_SEED`, and failures saved under `conformance/proptest-regressions/`.

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// The case count: `PROPTEST_CASES` if set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The run's seed: `PROPTEST_RNG_SEED` if set, else a fresh one.
pub fn seed() -> u64 {
    std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            use std::hash::{BuildHasher, Hasher};
            // RandomState is seeded from the OS: a fresh seed per run without a dependency.
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(std::process::id().into());
            hasher.finish()
        })
}

/// A config running `cases` cases from `seed`, printing how to replay them, and saving
/// failures to the file `regressions` (an absolute path).
pub fn config_with(test: &str, cases: u32, seed: u64, regressions: &'static str) -> Config {
    eprintln!("{test}: {cases} cases, replay with PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases}");
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    }
}

/// [`config_with`] with the environment's case count and seed.
pub fn config(test: &str, default_cases: u32, regressions: &'static str) -> Config {
    config_with(test, cases(default_cases), seed(), regressions)
}
