//! Transport tests on real sockets on 127.0.0.1, hostile peers included.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::auth::{Hello, Session, HELLO_BYTES, TAG_BYTES};
use crate::frame::FrameWriter;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

type Inbox = Arc<Mutex<Vec<(usize, Bytes)>>>;

struct Peer {
    transport: TcpTransport,
    inbox: Inbox,
}

fn listeners(n: usize) -> (Vec<TcpListener>, Vec<SocketAddr>) {
    let listeners: Vec<_> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    let addresses = listeners
        .iter()
        .map(|l| l.local_addr().expect("local address"))
        .collect();
    (listeners, addresses)
}

fn config(me: usize, peers: &[SocketAddr], secret: &[u8], cluster: u64) -> TcpConfig {
    let mut config = TcpConfig::new(cluster, me, peers.to_vec(), secret.to_vec());
    config.backoff_min = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(100);
    config.connect_timeout = Duration::from_millis(500);
    config
}

fn start(config: TcpConfig, listener: TcpListener) -> Peer {
    let inbox: Inbox = Arc::default();
    let sink = Arc::clone(&inbox);
    let deliver: Deliver =
        Arc::new(move |from, message| sink.lock().unwrap().push((from, message)));
    let transport = TcpTransport::start_with_listener(config, listener, deliver).expect("start");
    Peer { transport, inbox }
}

fn cluster(n: usize) -> Vec<Peer> {
    let (listeners, addresses) = listeners(n);
    listeners
        .into_iter()
        .enumerate()
        .map(|(me, listener)| start(config(me, &addresses, SECRET, 7), listener))
        .collect()
}

/// Waits up to 5 s for `done`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn received(peer: &Peer) -> Vec<(usize, Bytes)> {
    peer.inbox.lock().unwrap().clone()
}

/// Sends `message` from `from` to `to` until it arrives (the first ones may go out before
/// the connection is up and wait in the queue, or be sent on a link being replaced).
fn deliver_one(peers: &[Peer], from: usize, to: usize, message: &'static [u8]) {
    eventually(&format!("{from} -> {to}"), || {
        peers[from].transport.send(to, Bytes::from_static(message));
        std::thread::sleep(Duration::from_millis(20));
        received(&peers[to]).contains(&(from, Bytes::from_static(message)))
    });
}

#[test]
fn every_pair_exchanges_messages_in_order() {
    let peers = cluster(3);
    for from in 0..3 {
        for to in 0..3 {
            if from != to {
                deliver_one(&peers, from, to, b"hello");
            }
        }
    }
    // In order, per link: 100 numbered messages from 2 to 0.
    for k in 0..100u32 {
        peers[2]
            .transport
            .send(0, Bytes::from(k.to_le_bytes().to_vec()));
    }
    eventually("100 messages", || {
        received(&peers[0])
            .iter()
            .filter(|(from, m)| *from == 2 && m.len() == 4)
            .count()
            == 100
    });
    let numbers: Vec<u32> = received(&peers[0])
        .iter()
        .filter(|(from, m)| *from == 2 && m.len() == 4)
        .map(|(_, m)| u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
        .collect();
    assert_eq!(numbers, (0..100).collect::<Vec<_>>());
    for peer in &peers {
        assert_eq!(peer.transport.stats().handshakes_refused, 0);
    }
}

#[test]
fn a_peer_with_another_secret_is_refused_and_delivers_nothing() {
    let (mut listeners, addresses) = listeners(2);
    let b = start(config(1, &addresses, SECRET, 7), listeners.pop().unwrap());
    let a = start(
        config(0, &addresses, b"another secret, 32 bytes long!!", 7),
        listeners.pop().unwrap(),
    );
    eventually("refusals on both sides", || {
        b.transport.stats().auth_failures >= 2 && a.transport.stats().handshakes_refused >= 2
    });
    for _ in 0..20 {
        a.transport.send(1, Bytes::from_static(b"forged"));
        b.transport.send(0, Bytes::from_static(b"forged"));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(received(&a).is_empty() && received(&b).is_empty());
    assert_eq!(b.transport.stats().connections, 0);
}

#[test]
fn a_peer_of_another_cluster_is_refused() {
    let (mut listeners, addresses) = listeners(2);
    let b = start(config(1, &addresses, SECRET, 7), listeners.pop().unwrap());
    let a = start(config(0, &addresses, SECRET, 8), listeners.pop().unwrap());
    eventually("refusal", || b.transport.stats().handshakes_refused >= 2);
    a.transport.send(1, Bytes::from_static(b"x"));
    std::thread::sleep(Duration::from_millis(100));
    assert!(received(&b).is_empty());
    assert_eq!(
        b.transport.stats().auth_failures,
        0,
        "refused on the cluster id, before the proof"
    );
}

/// A stranger that does not know the secret: garbage, a well-formed hello with a made-up
/// proof, and a hello claiming to be a peer followed by a "message". None is delivered,
/// each is refused and counted, and the real peers keep talking.
#[test]
fn strangers_cannot_connect_or_inject() {
    let peers = cluster(3);
    deliver_one(&peers, 0, 2, b"before");
    let target = peers[2].transport.local_address();

    let mut garbage = TcpStream::connect(target).unwrap();
    garbage.write_all(&[0xAB; 200]).unwrap();

    let mut forger = TcpStream::connect(target).unwrap();
    forger.write_all(&Hello::new(7, 0, 2).encode()).unwrap();
    let mut their_hello = [0; HELLO_BYTES];
    forger.read_exact(&mut their_hello).unwrap();
    forger.write_all(&[0x55; TAG_BYTES]).unwrap(); // a guessed proof
    let _ = forger.write_all(b"\x05\x00\x00\x00forge"); // a "frame" after it

    eventually("both refused", || {
        peers[2].transport.stats().handshakes_refused >= 2
    });
    assert!(peers[2].transport.stats().auth_failures >= 1);
    // The forger's connection is closed: reading gives end of file or an error.
    forger
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0; 64];
    assert!(matches!(forger.read(&mut buf), Ok(0) | Err(_)));
    assert!(
        received(&peers[2])
            .iter()
            .all(|(_, m)| m.as_ref() != b"forge"),
        "a stranger's bytes were delivered"
    );
    deliver_one(&peers, 0, 2, b"after");
    deliver_one(&peers, 1, 2, b"after");
}

/// A hostile peer that knows the secret but sends bad frames: over the limit, a wrong tag,
/// a replayed frame, a frame cut short. Each closes that connection with a counted reason;
/// none is delivered; the transport does not panic and accepts the next connection.
#[test]
fn bad_frames_close_the_connection() {
    let (mut listeners, addresses) = listeners(2);
    let mut cfg = config(1, &addresses, SECRET, 7);
    cfg.max_frame_bytes = 1024;
    let b = start(cfg, listeners.pop().unwrap());
    drop(listeners); // peer 0 is the hostile test itself
    let handshake = || -> (TcpStream, Session) {
        let mut stream = TcpStream::connect(addresses[1]).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let config = config(0, &addresses, SECRET, 7);
        let session = auth::dial(&mut stream, &config, 1).expect("handshake with the secret");
        (stream, session)
    };
    let mut closed = 0;
    let mut expect_closed = |mut stream: TcpStream, what: &str| {
        closed += 1;
        eventually(what, || {
            b.transport.stats().connections_closed_bad_frame >= closed
        });
        let mut buf = [0; 8];
        assert!(
            matches!(stream.read(&mut buf), Ok(0) | Err(_)),
            "{what}: still open"
        );
    };

    // Good frame first, to show the session works.
    let (mut stream, session) = handshake();
    let mut writer = FrameWriter::new(&session);
    writer.write(&mut stream, b"good").unwrap();
    eventually("the good frame", || {
        received(&b).contains(&(0, Bytes::from_static(b"good")))
    });
    // Over the limit: only the length is sent; nothing is allocated for it.
    stream.write_all(&u32::MAX.to_le_bytes()).unwrap();
    expect_closed(stream, "oversized frame");

    let (mut stream, _) = handshake();
    stream.write_all(&4u32.to_le_bytes()).unwrap();
    stream.write_all(b"evil").unwrap();
    stream.write_all(&[0; TAG_BYTES]).unwrap();
    expect_closed(stream, "bad tag");

    // Replay: the same frame twice (the second has the wrong sequence number).
    let (mut stream, session) = handshake();
    let mut frame = Vec::new();
    FrameWriter::new(&session)
        .write(&mut frame, b"once")
        .unwrap();
    stream.write_all(&frame).unwrap();
    stream.write_all(&frame).unwrap();
    expect_closed(stream, "replayed frame");
    let onces = received(&b)
        .iter()
        .filter(|(_, m)| m.as_ref() == b"once")
        .count();
    assert_eq!(onces, 1, "the replayed frame was delivered");

    // Truncated: a length, half the payload, then the connection ends.
    let (mut stream, _) = handshake();
    stream.write_all(&100u32.to_le_bytes()).unwrap();
    stream.write_all(&[1; 50]).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    expect_closed(stream, "truncated frame");

    assert!(received(&b)
        .iter()
        .all(|(_, m)| m.as_ref() == b"good" || m.as_ref() == b"once"));
    // Still serving.
    let (mut stream, session) = handshake();
    FrameWriter::new(&session)
        .write(&mut stream, b"again")
        .unwrap();
    eventually("a frame after the bad ones", || {
        received(&b).contains(&(0, Bytes::from_static(b"again")))
    });
}

#[test]
fn a_full_queue_drops_and_counts() {
    let (mut listeners, mut addresses) = listeners(2);
    // Peer 1 never runs: its address refuses connections.
    drop(listeners.pop());
    addresses[1] = "127.0.0.1:9".parse().unwrap();
    let mut cfg = config(0, &addresses, SECRET, 7);
    cfg.send_queue = 8;
    let a = start(cfg, listeners.pop().unwrap());
    for _ in 0..100 {
        a.transport.send(1, Bytes::from_static(b"x"));
    }
    assert_eq!(a.transport.stats().dropped_queue_full, 92);
    // Over the frame limit: dropped before queueing.
    a.transport.send(1, Bytes::from(vec![0; (16 << 20) + 1]));
    assert_eq!(a.transport.stats().dropped_too_large, 1);
}

#[test]
fn cut_drops_both_ways_until_healed() {
    let peers = cluster(2);
    deliver_one(&peers, 0, 1, b"up");
    peers[0].transport.faults().cut(1);
    peers[0].transport.send(1, Bytes::from_static(b"cut-out"));
    peers[1].transport.send(0, Bytes::from_static(b"cut-in"));
    eventually("two fault drops", || {
        peers[0].transport.stats().dropped_by_fault >= 2
    });
    assert!(!received(&peers[1])
        .iter()
        .any(|(_, m)| m.as_ref() == b"cut-out"));
    assert!(!received(&peers[0])
        .iter()
        .any(|(_, m)| m.as_ref() == b"cut-in"));
    peers[0].transport.faults().heal(1);
    deliver_one(&peers, 0, 1, b"healed");
    deliver_one(&peers, 1, 0, b"healed");
}

#[test]
fn a_restarted_peer_is_reconnected() {
    let (mut listeners, addresses) = listeners(2);
    let b_listener = listeners.pop().unwrap();
    let a = start(config(0, &addresses, SECRET, 7), listeners.pop().unwrap());
    let b = start(config(1, &addresses, SECRET, 7), b_listener);
    let peers = [a, b];
    deliver_one(&peers, 0, 1, b"first");
    let [a, b] = peers;
    b.transport.shutdown();
    drop(b);
    let b = start(
        config(1, &addresses, SECRET, 7),
        TcpListener::bind(addresses[1]).expect("rebind the same port"),
    );
    let peers = [a, b];
    deliver_one(&peers, 0, 1, b"second");
    deliver_one(&peers, 1, 0, b"second");
    assert!(peers[0].transport.stats().connections >= 2);
}

#[test]
fn configuration_is_checked() {
    let addresses: Vec<SocketAddr> = vec!["127.0.0.1:1".parse().unwrap(); 3];
    let short = TcpConfig::new(1, 0, addresses.clone(), b"short".to_vec());
    assert_eq!(
        short.validate(),
        Err(ConfigError::SecretTooShort {
            len: 5,
            min: MIN_SECRET_BYTES
        })
    );
    let outside = TcpConfig::new(1, 3, addresses, SECRET.to_vec());
    assert_eq!(
        outside.validate(),
        Err(ConfigError::NoSuchPeer { me: 3, peers: 3 })
    );
    assert!(
        !format!("{short:?}").contains("short"),
        "Debug must not print the secret"
    );
}
