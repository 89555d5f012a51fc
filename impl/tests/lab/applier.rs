//! What the tester does with each apply-channel message (config.go's `applier`,
//! `applierSnap`, `checkLogs` and `ingestSnap`): it records every committed value per server
//! and fails on any disagreement, gap, reordering or bad snapshot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use raft_impl::{ApplyMsg, Raft};

use crate::cmd::Cmd;

/// The lab's `SnapShotInterval`: the snapshot applier snapshots after every 10th entry.
pub const SNAPSHOT_INTERVAL: u64 = 10;

/// How often an applier waiting for messages checks whether the test has finished.
const FINISHED_POLL: Duration = Duration::from_millis(50);

/// What the appliers record, shared with the test (config.go's fields under `cfg.mu`).
pub struct Applied {
    pub finished: AtomicBool,
    logs: Mutex<Logs>,
    apply_err: Mutex<Vec<Option<String>>>,
}

pub struct Logs {
    /// Per server: every value it applied, by index (config.go's `logs`).
    pub logs: Vec<HashMap<u64, Cmd>>,
    /// Per server: the last index applied by the snapshot applier.
    pub last_applied: Vec<u64>,
    /// The highest index any server applied.
    pub max_index: u64,
}

impl Applied {
    pub fn new(n: usize) -> Self {
        Applied {
            finished: AtomicBool::new(false),
            logs: Mutex::new(Logs {
                logs: vec![HashMap::new(); n],
                last_applied: vec![0; n],
                max_index: 0,
            }),
            apply_err: Mutex::new(vec![None; n]),
        }
    }

    pub fn logs(&self) -> MutexGuard<'_, Logs> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first apply error any server hit (config.go's `applyErr`).
    pub fn first_error(&self) -> Option<String> {
        let errors = self.apply_err.lock().unwrap_or_else(|p| p.into_inner());
        errors.iter().flatten().next().cloned()
    }

    pub fn error_of(&self, server: usize) -> Option<String> {
        let errors = self.apply_err.lock().unwrap_or_else(|p| p.into_inner());
        errors[server].clone()
    }

    /// Go's applier calls `log.Fatalf` here, ending the whole test run; we print at once
    /// and keep the message so that the test fails at its next check or at cleanup.
    fn record_error(&self, server: usize, message: String) {
        eprintln!("apply error: {message}");
        let mut errors = self.apply_err.lock().unwrap_or_else(|p| p.into_inner());
        errors[server].get_or_insert(message);
    }
}

impl Logs {
    /// config.go's `checkLogs`: records `command` at `index` for server `i`; returns an
    /// error if another server applied a different value there, and whether `i` had
    /// applied `index - 1` before.
    fn check(&mut self, i: usize, index: u64, command: &Cmd) -> (Option<String>, bool) {
        let mut error = None;
        for (j, log) in self.logs.iter().enumerate() {
            if let Some(old) = log.get(&index) {
                if old != command {
                    // Some server has already committed a different value for this entry!
                    error = Some(format!(
                        "commit index={index} server={i} {command} != server={j} {old}"
                    ));
                }
            }
        }
        let prev_ok = index > 0 && self.logs[i].contains_key(&(index - 1));
        self.logs[i].insert(index, command.clone());
        self.max_index = self.max_index.max(index);
        (error, prev_ok)
    }

    /// config.go's `ingestSnap`: replaces server `i`'s applied values with the snapshot's.
    /// `index` is the index the message claimed (`None` when restarting from disk).
    pub fn ingest_snapshot(
        &mut self,
        i: usize,
        snapshot: &[u8],
        index: Option<u64>,
    ) -> Option<String> {
        let Ok((last_included_index, xlog)) = decode_snapshot(snapshot) else {
            return Some("snapshot Decode() error".to_string());
        };
        if index.is_some_and(|index| index != last_included_index) {
            return Some(format!("server {i} snapshot doesn't match m.SnapshotIndex"));
        }
        self.logs[i] = xlog
            .into_iter()
            .enumerate()
            .filter_map(|(j, value)| value.map(|v| (j as u64, v)))
            .collect();
        self.last_applied[i] = last_included_index;
        None
    }
}

/// The snapshot the snapshot applier makes: the last included index and every value up to
/// it (index 0 holds nothing), as in config.go.
pub fn encode_snapshot(index: u64, xlog: &[Option<Cmd>]) -> Vec<u8> {
    postcard::to_stdvec(&(index, xlog)).expect("encoding a snapshot into memory cannot fail")
}

fn decode_snapshot(bytes: &[u8]) -> Result<(u64, Vec<Option<Cmd>>), postcard::Error> {
    postcard::from_bytes(bytes)
}

/// Receives the next message, or `None` once the peer dropped its sender or the test is
/// over (a killed peer's applier in Go lingers until the process ends; ours ends here).
fn next(applied: &Applied, rx: &Receiver<ApplyMsg<Cmd>>) -> Option<ApplyMsg<Cmd>> {
    loop {
        match rx.recv_timeout(FINISHED_POLL) {
            Ok(message) => return Some(message),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {
                if applied.finished.load(Ordering::SeqCst) {
                    return None;
                }
            }
        }
    }
}

/// config.go's `applier`: checks each committed command against the other servers' and
/// that it follows the previous index; ignores snapshots.
pub fn applier(i: usize, applied: Arc<Applied>, rx: Receiver<ApplyMsg<Cmd>>) {
    while let Some(message) = next(&applied, &rx) {
        let ApplyMsg::Command {
            command,
            command_index,
        } = message
        else {
            continue; // Ignore other types of ApplyMsg.
        };
        let (mut error, prev_ok) = applied.logs().check(i, command_index, &command);
        if command_index > 1 && !prev_ok {
            error = Some(format!("server {i} apply out of order {command_index}"));
        }
        if let Some(error) = error {
            applied.record_error(i, error);
        }
    }
}

/// config.go's `applierSnap`: like [`applier`], and also requires each command to follow
/// the last applied index exactly, installs snapshots, and calls `snapshot()` after every
/// [`SNAPSHOT_INTERVAL`]th entry.
pub fn applier_snap(i: usize, applied: Arc<Applied>, rf: Raft<Cmd>, rx: Receiver<ApplyMsg<Cmd>>) {
    while let Some(message) = next(&applied, &rx) {
        let error = match message {
            ApplyMsg::Snapshot {
                snapshot,
                snapshot_index,
                ..
            } => applied
                .logs()
                .ingest_snapshot(i, &snapshot, Some(snapshot_index)),
            ApplyMsg::Command {
                command,
                command_index,
            } => apply_and_maybe_snapshot(i, &applied, &rf, command_index, &command),
        };
        if let Some(error) = error {
            applied.record_error(i, error);
        }
    }
}

fn apply_and_maybe_snapshot(
    i: usize,
    applied: &Applied,
    rf: &Raft<Cmd>,
    index: u64,
    command: &Cmd,
) -> Option<String> {
    let mut logs = applied.logs();
    let expected = logs.last_applied[i] + 1;
    let mut error = None;
    if index != expected {
        error = Some(format!(
            "server {i} apply out of order, expected index {expected}, got {index}"
        ));
    }
    if error.is_none() {
        let (check_error, prev_ok) = logs.check(i, index, command);
        error = check_error;
        if index > 1 && !prev_ok {
            error = Some(format!("server {i} apply out of order {index}"));
        }
    }
    logs.last_applied[i] = index;
    if (index + 1).is_multiple_of(SNAPSHOT_INTERVAL) {
        let xlog: Vec<Option<Cmd>> = (0..=index).map(|j| logs.logs[i].get(&j).cloned()).collect();
        drop(logs); // Never hold the tester's lock across a call into Raft.
        rf.snapshot(index, encode_snapshot(index, &xlog));
    }
    error
}
