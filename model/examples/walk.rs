//! A random walk through the model, printing the state every few steps: a quick way to see
//! what a deep state looks like under some bound. `cargo run --example walk -- SEED STEPS`.
use raft_model::{Config, RaftModel};
use stateright::Model;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let model = RaftModel::new(Config {
        max_term: 2,
        max_requests: 1,
        max_crashes: 0,
        snapshots: false,
        duplicates: false,
        drops: false,
        max_inflight: None,
        ..Config::default()
    });
    let mut state = model.init_states().remove(0);
    for _ in 0..steps {
        let actions = model.enabled_actions(&state);
        if actions.is_empty() {
            break;
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let action = actions[(seed >> 33) as usize % actions.len()].clone();
        state = model.next_state(&state, action).expect("enabled");
    }
    println!("{state:?}");
}
