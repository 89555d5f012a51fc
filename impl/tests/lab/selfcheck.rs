//! Checks of the tester itself: each apply-time check really fires on the violation it is
//! there for, so a passing lab test is not a vacuous one.

use std::sync::mpsc;
use std::sync::Arc;

use raft_impl::ApplyMsg;

use crate::applier::{self, encode_snapshot, Applied};
use crate::cmd::Cmd;

fn command(index: u64, value: i64) -> ApplyMsg<Cmd> {
    ApplyMsg::Command {
        command: Cmd::Int(value),
        command_index: index,
    }
}

/// Feeds `messages` to server `server`'s plain applier and returns the error it recorded.
fn plain_applier_error(
    applied: &Arc<Applied>,
    server: usize,
    messages: Vec<ApplyMsg<Cmd>>,
) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    for message in messages {
        tx.send(message).expect("the receiver is alive");
    }
    drop(tx);
    applier::applier(server, Arc::clone(applied), rx);
    applied.error_of(server)
}

/// Two servers applying different values at one index is reported, naming both.
pub fn harness_rejects_conflicting_commits() {
    let applied = Arc::new(Applied::new(2));
    assert_eq!(plain_applier_error(&applied, 0, vec![command(1, 7)]), None);
    let error = plain_applier_error(&applied, 1, vec![command(1, 8)]);
    assert_eq!(
        error.as_deref(),
        Some("commit index=1 server=1 8 != server=0 7")
    );
}

/// Applying index 3 without index 2 is reported as out of order.
pub fn harness_rejects_out_of_order_apply() {
    let applied = Arc::new(Applied::new(1));
    let error = plain_applier_error(&applied, 0, vec![command(1, 1), command(3, 3)]);
    assert_eq!(error.as_deref(), Some("server 0 apply out of order 3"));
}

/// A snapshot whose contents name another index than its message is rejected; a matching
/// one replaces the server's record; garbage is a decode error, not a panic.
pub fn harness_checks_snapshots() {
    let applied = Arc::new(Applied::new(1));
    let snapshot = encode_snapshot(2, &[None, Some(Cmd::Int(10)), Some(Cmd::Int(20))]);
    let mut logs = applied.logs();
    assert_eq!(
        logs.ingest_snapshot(0, &snapshot, Some(3)).as_deref(),
        Some("server 0 snapshot doesn't match m.SnapshotIndex")
    );
    assert_eq!(logs.ingest_snapshot(0, &snapshot, Some(2)), None);
    assert_eq!(logs.last_applied[0], 2);
    assert_eq!(logs.logs[0].get(&2), Some(&Cmd::Int(20)));
    assert_eq!(
        logs.ingest_snapshot(0, &[0xff; 3], Some(2)).as_deref(),
        Some("snapshot Decode() error")
    );
}
