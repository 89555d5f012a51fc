//! One RPC through the simulated network: labrpc's `processReq`, decision for decision.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::{EndId, Inner, Route, Server, ServerId};

/// How often a caller waiting for a handler checks whether the server died meanwhile
/// (labrpc polls every 100 ms).
const DEAD_SERVER_POLL: Duration = Duration::from_millis(100);

/// Sends `request` on `end` and returns the reply, or `None` when the network lost the
/// request or the reply, the end is disabled, or the server is dead.
pub(super) fn call(inner: &Arc<Inner>, end: EndId, request: Vec<u8>) -> Option<Vec<u8>> {
    if inner.sleeper.is_shut_down() {
        return None;
    }
    inner.total_count.fetch_add(1, Ordering::SeqCst);
    inner
        .total_bytes
        .fetch_add(request.len() as u64, Ordering::SeqCst);
    let route = inner.route(end);
    match (route.enabled, route.server_id, route.server.clone()) {
        (true, Some(server_id), Some(server)) => {
            deliver(inner, end, server_id, &server, &route, request)
        }
        _ => {
            // Simulate no reply and an eventual timeout. Long delays let the Raft tests
            // check that a leader does not send its RPCs one after another.
            let bound = if route.long_delays { 7000 } else { 100 };
            let delay_ms = inner.random_below(bound);
            inner.sleeper.sleep(Duration::from_millis(delay_ms));
            None
        }
    }
}

fn deliver(
    inner: &Arc<Inner>,
    end: EndId,
    server_id: ServerId,
    server: &Arc<Server>,
    route: &Route,
    request: Vec<u8>,
) -> Option<Vec<u8>> {
    if !route.reliable {
        let delay_ms = inner.random_below(27);
        if !inner.sleeper.sleep(Duration::from_millis(delay_ms)) {
            return None;
        }
        if inner.random_below(1000) < 100 {
            return None; // The request is lost.
        }
    }
    let reply = dispatch(inner, end, server_id, server, request)?;
    // A reply from a server that was deleted meanwhile is never delivered: it may report
    // state persisted into a persister that the restarted peer no longer reads.
    if inner.is_server_dead(end, server_id, server) {
        return None;
    }
    if !route.reliable && inner.random_below(1000) < 100 {
        return None; // The reply is lost.
    }
    if route.long_reordering && inner.random_below(900) < 600 {
        let inner_bound = 1 + inner.random_below(2000);
        let delay_ms = 200 + inner.random_below(inner_bound);
        if !inner.sleeper.sleep(Duration::from_millis(delay_ms)) {
            return None;
        }
    }
    let reply_len = reply.len() as u64;
    inner.total_bytes.fetch_add(reply_len, Ordering::SeqCst);
    server.bytes.fetch_add(reply_len, Ordering::SeqCst);
    Some(reply)
}

/// Runs the handler on its own thread and waits for it, giving up as soon as the server is
/// found dead (the handler may be blocked; its late reply is discarded).
fn dispatch(
    inner: &Arc<Inner>,
    end: EndId,
    server_id: ServerId,
    server: &Arc<Server>,
    request: Vec<u8>,
) -> Option<Vec<u8>> {
    server.count.fetch_add(1, Ordering::SeqCst);
    server
        .bytes
        .fetch_add(request.len() as u64, Ordering::SeqCst);
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    let handler = Arc::clone(&server.handler);
    let spawned = std::thread::Builder::new()
        .name(format!("simnet-handler-{server_id}"))
        .spawn(move || {
            // The caller may have given up; then nobody wants the reply.
            let _ = reply_tx.send(handler.handle(&request));
        });
    if spawned.is_err() {
        return None; // Out of threads: behave like a lost request.
    }
    loop {
        match reply_rx.recv_timeout(DEAD_SERVER_POLL) {
            Ok(reply) => return reply,
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if inner.sleeper.is_shut_down() || inner.is_server_dead(end, server_id, server) {
                    return None;
                }
            }
        }
    }
}
