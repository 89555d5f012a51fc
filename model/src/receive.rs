//! Receiving one message: term normalisation first (Figure 2, "All Servers"), then the
//! handler for the message's kind. Stale requests are answered with a rejection carrying
//! our term; stale replies are dropped.

use crate::bugs::Bug;
use crate::network::Message;
use crate::server::ServerState;
use crate::types::{Role, ServerId};
use crate::{election, replication, snapshot};

/// What receiving a message produced.
#[derive(Debug, Default)]
pub struct Received {
    /// The reply to send back, if the message was a request.
    pub reply: Option<Message>,
    /// Whether a follower installed a snapshot (for `SnapshotInstalledOnFollower`).
    pub installed_snapshot: bool,
}

/// Server `s` receives `msg` from `from`.
pub fn receive(s: &mut ServerState, from: ServerId, msg: &Message, bug: Option<Bug>) -> Received {
    // Rule D2 (Raft thesis §10.2.1): a server answers AppendEntries or InstallSnapshot only
    // once its log is on stable storage, so receipt, write, sync and reply are one step.
    // (A crash between them is a crash before receipt plus a lost message, which the model
    // has already.) The rejection of a stale request (T2) claims nothing about the log and
    // writes nothing, so it waits for no sync: delivering it stays the same as losing it
    // (`network::is_dead`). The `follower-acks-undurable` variant replies before the sync.
    let handled = match msg {
        Message::AppendEntries { term, .. } => {
            *term >= s.current_term || bug == Some(Bug::AcceptStaleAppend)
        }
        Message::InstallSnapshot { term, .. } => *term >= s.current_term,
        _ => false,
    };
    let received = receive_unsynced(s, from, msg, bug);
    if handled && bug != Some(Bug::FollowerAcksUndurable) {
        s.sync();
    }
    received
}

fn receive_unsynced(
    s: &mut ServerState,
    from: ServerId,
    msg: &Message,
    bug: Option<Bug>,
) -> Received {
    normalise_term(s, msg.term(), bug);
    if msg.is_reply() {
        let stale = msg.term() < s.current_term;
        if !stale || bug == Some(Bug::AcceptStaleReply) {
            receive_reply(s, from, msg, bug);
        }
        return Received::default();
    }
    // Rule T2 (AE1 for AppendEntries): a stale request is rejected with our term.
    let accept_stale =
        bug == Some(Bug::AcceptStaleAppend) && matches!(msg, Message::AppendEntries { .. });
    if msg.term() < s.current_term && !accept_stale {
        return Received {
            reply: Some(reject_stale_request(s, msg)),
            installed_snapshot: false,
        };
    }
    receive_request(s, msg, bug)
}

/// A higher term makes any server a follower of that term, with no vote.
fn normalise_term(s: &mut ServerState, term: u8, bug: Option<Bug>) {
    if term <= s.current_term {
        return;
    }
    if s.role == Role::Leader && bug == Some(Bug::LeaderKeepsLeading) {
        s.current_term = term;
        s.voted_for = None;
        return;
    }
    s.become_follower_in(term);
}

fn receive_request(s: &mut ServerState, msg: &Message, bug: Option<Bug>) -> Received {
    let mut installed_snapshot = false;
    let reply = match msg {
        Message::RequestVote {
            candidate,
            last_log_index,
            last_log_term,
            ..
        } => election::handle_request_vote(s, bug, *candidate, *last_log_index, *last_log_term),
        Message::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
            ..
        } => replication::handle_append_entries(
            s,
            bug,
            *prev_log_index,
            *prev_log_term,
            entries,
            *leader_commit,
        ),
        Message::InstallSnapshot {
            last_included_index,
            last_included_term,
            data,
            ..
        } => {
            let (reply, installed) = snapshot::handle_install_snapshot(
                s,
                bug,
                *last_included_index,
                *last_included_term,
                data,
            );
            installed_snapshot = installed;
            reply
        }
        _ => unreachable!("replies are handled by receive_reply"),
    };
    Received {
        reply: Some(reply),
        installed_snapshot,
    }
}

fn receive_reply(s: &mut ServerState, from: ServerId, msg: &Message, bug: Option<Bug>) {
    match msg {
        Message::RequestVoteReply { vote_granted, .. } => {
            election::handle_request_vote_reply(s, from, *vote_granted, bug)
        }
        Message::AppendEntriesReply {
            success,
            match_index,
            conflict_index,
            conflict_term,
            ..
        } => replication::handle_append_entries_reply(
            s,
            from,
            *success,
            *match_index,
            *conflict_index,
            *conflict_term,
            bug,
        ),
        Message::InstallSnapshotReply {
            last_included_index,
            ..
        } => snapshot::handle_install_snapshot_reply(s, from, *last_included_index, bug),
        _ => unreachable!("requests are handled by receive_request"),
    }
}

/// The rejection of a request from an older term: it carries our term, so the sender
/// steps down when it reads it.
fn reject_stale_request(s: &ServerState, msg: &Message) -> Message {
    let term = s.current_term;
    match msg {
        Message::RequestVote { .. } => Message::RequestVoteReply {
            term,
            vote_granted: false,
        },
        Message::AppendEntries { .. } => Message::AppendEntriesReply {
            term,
            success: false,
            match_index: 0,
            conflict_index: 0,
            conflict_term: None,
        },
        // IS1: claims nothing (index 0, which IS9 ignores). Echoing the request's index
        // would let its sender, if it leads this later term when the reply arrives, count
        // us as holding its snapshot (IS9); L2 could then never back next_index into it.
        Message::InstallSnapshot { .. } => Message::InstallSnapshotReply {
            term,
            last_included_index: 0,
        },
        _ => unreachable!("only requests are answered"),
    }
}
