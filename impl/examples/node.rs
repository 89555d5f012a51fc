//! Three Raft nodes in one process: each on its own durable `DiskStorage` (fsync on every
//! group commit) in a fresh directory, an in-process channel network, and a few clients
//! proposing through `Node::propose`.
//!
//! ```text
//! cargo run --release -p raft-impl --example node            # on disk, in a temp dir
//! cargo run --release -p raft-impl --example node -- memory  # in memory
//! ```

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_impl::core::Bytes;
use raft_impl::node::{Applied, Network, Node, NodeConfig, ProposeError};
use raft_impl::storage::{DiskOptions, DiskStorage, MemoryStorage, Storage};

const SERVERS: usize = 3;
const CLIENTS: usize = 8;
const COMMANDS_PER_CLIENT: usize = 500;

/// The storage of server `id`: a new `DiskStorage` in `dir/server-<id>` (`create` refuses
/// a directory that already holds one; a restarted server would use `DiskStorage::open`),
/// or memory when the example runs with the argument `memory`.
fn storage_for(
    id: usize,
    dir: &std::path::Path,
) -> Result<Box<dyn Storage>, Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("memory") {
        return Ok(Box::new(MemoryStorage::new()));
    }
    let path = dir.join(format!("server-{id}"));
    Ok(Box::new(DiskStorage::create(path, DiskOptions::default())?))
}

/// An in-process network: one bounded channel per server. `send` never blocks (a full
/// channel drops the message: Raft retries); one delivery thread per server feeds what
/// arrives to its node.
struct ChannelNetwork {
    me: usize,
    peers: Vec<SyncSender<(usize, Bytes)>>,
}

impl Network for ChannelNetwork {
    fn send(&self, to: usize, message: Bytes) {
        let _ = self.peers[to].try_send((self.me, message));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Removed (with the servers' data) when the example ends.
    let data = tempfile::tempdir()?;
    println!("data directory: {}", data.path().display());
    let (senders, receivers): (Vec<_>, Vec<Receiver<(usize, Bytes)>>) =
        (0..SERVERS).map(|_| sync_channel(4096)).unzip();
    let mut nodes = Vec::new();
    let mut threads = Vec::new();
    for (id, inbox) in receivers.into_iter().enumerate() {
        let config = NodeConfig {
            id,
            servers: SERVERS,
            ..NodeConfig::default()
        };
        let network = Arc::new(ChannelNetwork {
            me: id,
            peers: senders.clone(),
        });
        let (node, applies) = Node::start(config, storage_for(id, data.path())?, network)?;
        // Delivery: ends when every sender is gone (the nodes drop their networks when
        // they shut down).
        let delivering = node.clone();
        threads.push(std::thread::spawn(move || {
            for (from, message) in inbox {
                delivering.receive_bytes(from, message);
            }
        }));
        // The service: counts what it applies, at its own pace (the stream is bounded).
        threads.push(std::thread::spawn(move || {
            let mut applied = 0usize;
            for item in applies {
                match item {
                    Applied::Entry { .. } => applied += 1,
                    Applied::Snapshot { .. } => {}
                    Applied::Stopped(reason) => eprintln!("node {id} stopped: {reason}"),
                }
            }
            println!("node {id}: applied {applied} entries");
        }));
        nodes.push(node);
    }
    drop(senders);

    // Wait for a leader through a watch on node 0.
    let mut watch = nodes[0].watch();
    let leader = loop {
        if let Some(leader) = watch.current().leader {
            break leader;
        }
        watch.changed_timeout(Duration::from_secs(5))?;
    };
    println!("leader: node {leader}");

    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let nodes = nodes.clone();
            std::thread::spawn(move || {
                let mut target = leader;
                let mut done = 0;
                while done < COMMANDS_PER_CLIENT {
                    let command = Bytes::from(format!("client {client} command {done}"));
                    match nodes[target].propose(command) {
                        Ok(proposal) => match proposal.wait() {
                            Ok(()) => done += 1,
                            Err(error) => eprintln!("retrying after: {error}"),
                        },
                        Err(ProposeError::NotLeader {
                            leader: Some(l), ..
                        }) => target = l,
                        Err(ProposeError::Busy | ProposeError::NotLeader { .. }) => {
                            std::thread::sleep(Duration::from_millis(1))
                        }
                        Err(error) => panic!("client {client}: {error}"),
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client panicked");
    }
    let elapsed = started.elapsed();
    let total = CLIENTS * COMMANDS_PER_CLIENT;
    println!(
        "{total} commands committed and applied in {elapsed:.2?} ({:.0}/s, {CLIENTS} clients)",
        total as f64 / elapsed.as_secs_f64()
    );
    let status = nodes[leader].status();
    println!(
        "leader status: term {}, commit {}, durable {}, syncs {}",
        status.state.term, status.commit_index, status.durable_index, status.syncs
    );

    for node in &nodes {
        node.shutdown();
    }
    drop(nodes);
    for thread in threads {
        thread.join().expect("thread panicked");
    }
    Ok(())
}
