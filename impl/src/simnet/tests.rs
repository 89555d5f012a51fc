//! Checks of the simulated network on its own, with an echo server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

struct Echo;

impl RpcHandler for Echo {
    fn handle(&self, request: &[u8]) -> Option<Vec<u8>> {
        let mut reply = request.to_vec();
        reply.push(b'!');
        Some(reply)
    }
}

/// Blocks far longer than any test waits, like a handler stuck on a lock.
struct Stuck;

impl RpcHandler for Stuck {
    fn handle(&self, _request: &[u8]) -> Option<Vec<u8>> {
        std::thread::sleep(Duration::from_secs(5));
        Some(Vec::new())
    }
}

fn connected_end(net: &Network, server: ServerId) -> ClientEnd {
    let end = net.make_end();
    net.connect(end.id(), server);
    net.enable(end.id(), true);
    end
}

/// A reliable call reaches the handler, returns its reply, and is counted: one RPC at the
/// server and in total, and request plus reply bytes.
#[test]
fn reliable_call_round_trips_and_counts() {
    let net = Network::new(1);
    net.add_server(0, Arc::new(Echo));
    let end = connected_end(&net, 0);
    assert_eq!(end.call(b"abc".to_vec()), Some(b"abc!".to_vec()));
    assert_eq!(net.rpc_count(0), 1);
    assert_eq!(net.total_count(), 1);
    assert_eq!(net.total_bytes(), 3 + 4);
    assert_eq!(net.server_bytes(0), 3 + 4);
}

/// A disabled end, an end connected to nothing and an end to a deleted server all fail; the
/// server sees none of those calls.
#[test]
fn disabled_or_dead_fails_without_dispatch() {
    let net = Network::new(2);
    net.add_server(0, Arc::new(Echo));
    let end = connected_end(&net, 0);
    net.enable(end.id(), false);
    assert_eq!(end.call(b"x".to_vec()), None);
    let nowhere = net.make_end();
    net.enable(nowhere.id(), true);
    assert_eq!(nowhere.call(b"x".to_vec()), None);
    net.enable(end.id(), true);
    net.delete_server(0);
    assert_eq!(end.call(b"x".to_vec()), None);
    assert_eq!(net.rpc_count(0), 0);
    assert_eq!(net.total_count(), 3);
}

/// An unreliable network loses about 19% of calls (10% of requests, then 10% of the
/// replies) and delays each by under 27 ms.
#[test]
fn unreliable_loses_about_a_fifth() {
    let net = Network::new(3);
    net.set_reliable(false);
    net.add_server(0, Arc::new(Echo));
    let end = Arc::new(connected_end(&net, 0));
    let calls = 400;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let end = Arc::clone(&end);
            std::thread::spawn(move || {
                (0..calls / 8)
                    .filter(|_| end.call(vec![1]).is_none())
                    .count()
            })
        })
        .collect();
    let lost: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!((40..=120).contains(&lost), "lost {lost} of {calls}");
    // Lost requests never reach the server.
    assert!(net.rpc_count(0) < calls as u64);
}

/// Replacing a server while a call waits on its handler fails that call promptly (within
/// the 100 ms poll), not when the stuck handler returns.
#[test]
fn replaced_server_fails_waiting_call() {
    let net = Network::new(4);
    net.add_server(0, Arc::new(Stuck));
    let end = connected_end(&net, 0);
    let net2 = net.clone();
    let replacer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        net2.add_server(0, Arc::new(Echo));
    });
    let started = Instant::now();
    assert_eq!(end.call(vec![1]), None);
    assert!(started.elapsed() < Duration::from_secs(1));
    replacer.join().unwrap();
}

/// Cleanup ends a long simulated delay at once, and later calls fail immediately.
#[test]
fn cleanup_wakes_long_delays() {
    let net = Network::new(5);
    net.set_long_delays(true);
    let end = net.make_end();
    let net2 = net.clone();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        net2.cleanup();
    });
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(end.call(vec![1]), None);
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    stopper.join().unwrap();
}

/// Long reordering holds most replies back at least 200 ms.
#[test]
fn long_reordering_delays_most_replies() {
    let net = Network::new(6);
    net.set_long_reordering(true);
    net.add_server(0, Arc::new(Echo));
    let end = Arc::new(connected_end(&net, 0));
    let threads: Vec<_> = (0..30)
        .map(|_| {
            let end = Arc::clone(&end);
            std::thread::spawn(move || {
                let started = Instant::now();
                assert!(end.call(vec![1]).is_some());
                started.elapsed() >= Duration::from_millis(200)
            })
        })
        .collect();
    let delayed = threads
        .into_iter()
        .filter(|_| true)
        .map(|t| t.join().unwrap())
        .filter(|&d| d)
        .count();
    assert!((10..=29).contains(&delayed), "{delayed} of 30 delayed");
    net.cleanup();
}
