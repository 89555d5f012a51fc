//! Running totals of the work a benchmark timed, so that one run can print the ratio of two
//! libraries measured side by side (criterion keeps its estimates to itself).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

static TALLY: Mutex<BTreeMap<String, (u64, Duration)>> = Mutex::new(BTreeMap::new());

/// Adds `items` done in `elapsed` to the total kept under `key`.
pub fn record(key: &str, items: u64, elapsed: Duration) {
    let mut tally = TALLY.lock().unwrap_or_else(|p| p.into_inner());
    let total = tally.entry(key.to_string()).or_default();
    total.0 += items;
    total.1 += elapsed;
}

/// Items per second recorded under `key`, if any work was recorded.
pub fn rate(key: &str) -> Option<f64> {
    let tally = TALLY.lock().unwrap_or_else(|p| p.into_inner());
    let (items, elapsed) = tally.get(key)?;
    (*items > 0 && !elapsed.is_zero()).then(|| *items as f64 / elapsed.as_secs_f64())
}
