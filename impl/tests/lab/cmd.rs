//! The commands the tests replicate, and the seeded randomness the tests draw from.
//!
//! Go's tests replicate `interface{}` values (ints, and strings in the byte-count test) and
//! compare them with `==`; here one enum plays that part.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A replicated command: Go's `int` or `string` inside an `interface{}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    Int(i64),
    Str(String),
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cmd::Int(x) => write!(f, "{x}"),
            Cmd::Str(s) => write!(f, "{s}"),
        }
    }
}

/// Formats an optional command the way Go prints a nil `interface{}`.
pub fn show(cmd: &Option<Cmd>) -> String {
    cmd.as_ref().map_or("<nil>".to_string(), Cmd::to_string)
}

/// The environment variable that fixes a test's seed (printed when a test fails).
pub const SEED_ENV: &str = "RAFT_TEST_SEED";

/// The seed of one test run: `RAFT_TEST_SEED` if set, otherwise a fresh random one.
pub fn test_seed() -> u64 {
    match std::env::var(SEED_ENV) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_ENV}={text:?} is not a u64")),
        Err(_) => rand::random(),
    }
}

/// An independent stream for one purpose (network, test choices, one peer), so that a seed
/// fixes each stream whatever the others draw.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    // SplitMix64's finaliser: stable across Rust versions, unlike `DefaultHasher`.
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The tests' source of randomness (Go's `math/rand` globals), seeded.
pub struct TestRng(ChaCha8Rng);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Go's `rand.Int()`: a non-negative 63-bit integer.
    pub fn int(&mut self) -> i64 {
        (self.0.gen::<u64>() >> 1) as i64
    }

    /// Go's `rand.Int31()`.
    pub fn int31(&mut self) -> i64 {
        (self.0.gen::<u32>() >> 1) as i64
    }

    /// Go's `randstring(n)`: `n` characters of URL-safe base64.
    pub fn string(&mut self, n: usize) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..n)
            .map(|_| ALPHABET[self.0.gen_range(0..64)] as char)
            .collect()
    }
}
