//! The measurement behind the serializer choice (docs/impl.md, "One binary format"):
//! postcard against rmp-serde (MessagePack, the other maintained compact serde format;
//! bincode 2 is unmaintained like bincode 1, RUSTSEC-2025-0141) on this crate's own
//! persistent state and messages: encoded size, encode time, decode time.
//!
//! Ignored by default (it measures, it does not check): run it in release with
//! `cargo test --release -p raft-impl --test format_choice -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use raft_impl::core::{Entry, Message, PersistentState};

/// Fastest of `runs` timings of `f`: the least disturbed by other load on the machine.
fn fastest<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn entries(count: u64, command_bytes: usize) -> Vec<Entry> {
    (0..count)
        .map(|i| Entry {
            term: 1 + i / 1000,
            command: vec![(i % 251) as u8; command_bytes].into(),
        })
        .collect()
}

fn report<T>(name: &str, value: &T, runs: usize)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let postcard = postcard::to_stdvec(value).unwrap();
    let msgpack = rmp_serde::to_vec(value).unwrap();
    assert_eq!(postcard::from_bytes::<T>(&postcard).unwrap(), *value);
    assert_eq!(rmp_serde::from_slice::<T>(&msgpack).unwrap(), *value);
    let p_enc = fastest(runs, || postcard::to_stdvec(value).unwrap());
    let m_enc = fastest(runs, || rmp_serde::to_vec(value).unwrap());
    let p_dec = fastest(runs, || postcard::from_bytes::<T>(&postcard).unwrap());
    let m_dec = fastest(runs, || rmp_serde::from_slice::<T>(&msgpack).unwrap());
    println!(
        "| {name} | {} | {} | {} | {} | {} | {} |",
        postcard.len(),
        msgpack.len(),
        p_enc.as_nanos(),
        m_enc.as_nanos(),
        p_dec.as_nanos(),
        m_dec.as_nanos(),
    );
}

#[test]
#[ignore = "a measurement; run with --ignored --nocapture in release"]
fn postcard_against_messagepack() {
    println!(
        "| value | postcard bytes | msgpack bytes | postcard encode ns | msgpack encode ns | postcard decode ns | msgpack decode ns |"
    );
    println!("|---|---|---|---|---|---|---|");
    for count in [1_000u64, 10_000] {
        let state = PersistentState {
            current_term: 12,
            voted_for: Some(1),
            snapshot_index: 0,
            snapshot_term: 0,
            entries: entries(count, 16),
        };
        report(&format!("state, {count} entries of 16 B"), &state, 50);
    }
    let heartbeat = Message::AppendEntries {
        term: 12,
        leader: 0,
        prev_log_index: 10_000,
        prev_log_term: 11,
        entries: Vec::new(),
        leader_commit: 9_990,
    };
    report("heartbeat (empty AppendEntries)", &heartbeat, 2000);
    let batch = Message::AppendEntries {
        term: 12,
        leader: 0,
        prev_log_index: 10_000,
        prev_log_term: 11,
        entries: entries(64, 128),
        leader_commit: 9_990,
    };
    report("AppendEntries, 64 entries of 128 B", &batch, 500);
    let reply = Message::AppendEntriesReply {
        term: 12,
        success: true,
        match_index: 10_064,
        conflict_index: 0,
        conflict_term: None,
    };
    report("AppendEntriesReply", &reply, 2000);
    let snapshot = Message::InstallSnapshot {
        term: 12,
        leader: 0,
        last_included_index: 10_000,
        last_included_term: 11,
        data: vec![7; 1 << 20],
        offset: 0,
        done: true,
    };
    report("InstallSnapshot, 1 MiB", &snapshot, 50);
}
