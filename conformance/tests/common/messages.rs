//! One proptest strategy for every RPC message, shared by the test binaries that feed
//! messages to decoders (`prop_persist`) and to a core (`prop_untrusted`). Each binary picks
//! its own distributions for the fields: numbers, claimed senders, entries, snapshot data.

use proptest::prelude::*;
use raft_impl::core::{Entry, Message};

/// Any of the six messages, in equal proportion, its fields drawn from the given strategies.
pub fn message(
    number: BoxedStrategy<u64>,
    sender: BoxedStrategy<usize>,
    entries: BoxedStrategy<Vec<Entry>>,
    data: BoxedStrategy<Vec<u8>>,
) -> BoxedStrategy<Message> {
    let n = || number.clone();
    prop_oneof![
        (n(), sender.clone(), n(), n()).prop_map(|(term, candidate, i, t)| {
            Message::RequestVote {
                term,
                candidate,
                last_log_index: i,
                last_log_term: t,
            }
        }),
        (n(), any::<bool>())
            .prop_map(|(term, vote_granted)| Message::RequestVoteReply { term, vote_granted }),
        (n(), sender.clone(), n(), n(), entries, n()).prop_map(
            |(term, leader, prev_log_index, prev_log_term, entries, leader_commit)| {
                Message::AppendEntries {
                    term,
                    leader,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                }
            }
        ),
        (n(), any::<bool>(), n(), n(), prop::option::of(n())).prop_map(
            |(term, success, match_index, conflict_index, conflict_term)| {
                Message::AppendEntriesReply {
                    term,
                    success,
                    match_index,
                    conflict_index,
                    conflict_term,
                }
            }
        ),
        (n(), sender, n(), n(), (n(), data, any::<bool>())).prop_map(
            |(term, leader, index, snapshot_term, (offset, data, done))| {
                Message::InstallSnapshot {
                    term,
                    leader,
                    last_included_index: index,
                    last_included_term: snapshot_term,
                    offset,
                    data,
                    done,
                }
            }
        ),
        (n(), n(), n(), any::<bool>()).prop_map(|(term, index, offset, done)| {
            Message::InstallSnapshotReply {
                term,
                last_included_index: index,
                offset,
                done,
            }
        }),
    ]
    .boxed()
}
