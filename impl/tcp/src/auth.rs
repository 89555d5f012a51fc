//! Peers authenticate each other with the cluster's shared secret, because Raft tolerates
//! crashes, not forgery: one forged InstallSnapshot carrying the current term and the
//! leader's id replaces a follower's committed state.
//!
//! The handshake, on a fresh connection (the dialer is the peer with the lower id):
//! 1. dialer → acceptor: `Hello` (magic, version, cluster id, from, to, 32-byte nonce);
//! 2. acceptor → dialer: its own `Hello` (from and to swapped, a fresh nonce), after
//!    checking the dialer's (magic, version, cluster, that `to` is itself and `from` a
//!    lower-id peer);
//! 3. both derive the session key `K = HMAC-SHA256(secret, LABEL || hello_d || hello_a)`;
//! 4. dialer → acceptor: `HMAC(K, "dialer")`; the acceptor checks it (a stranger without
//!    the secret fails here and is refused and counted), then acceptor → dialer:
//!    `HMAC(K, "acceptor")`, which the dialer checks (so it is talking to the real peer).
//!
//! Fresh nonces on both sides make every session key new, so a recorded handshake or frame
//! replayed on another connection fails; frames carry a tag over a per-direction sequence
//! number (`frame.rs`), so a frame replayed, reordered or dropped within a connection fails
//! too. Tags are compared in constant time (`Mac::verify_slice`).

use std::io::{Read, Write};
use std::net::TcpStream;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::config::TcpConfig;

type HmacSha256 = Hmac<Sha256>;

/// The first bytes of every connection.
pub(crate) const MAGIC: [u8; 8] = *b"RAFT-TCP";
/// The handshake and frame format version.
pub(crate) const VERSION: u16 = 1;
const LABEL: &[u8] = b"raft-tcp/1 session key";
/// Encoded size of a [`Hello`].
pub(crate) const HELLO_BYTES: usize = 8 + 2 + 8 + 4 + 4 + 32;
/// Size of a key, a proof and a frame tag (HMAC-SHA256 output).
pub(crate) const TAG_BYTES: usize = 32;

/// Why a connection was refused during the handshake. Logged and counted; never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The first bytes are not this protocol.
    #[error("not a raft-tcp connection (bad magic)")]
    BadMagic,
    /// Another protocol version.
    #[error("protocol version {found}, expected {VERSION}")]
    Version {
        /// The version offered.
        found: u16,
    },
    /// A peer of another cluster.
    #[error("cluster id {found:#x}, expected {expected:#x}")]
    WrongCluster {
        /// The id offered.
        found: u64,
        /// Ours.
        expected: u64,
    },
    /// The hello names peers that do not fit this link (a wrong `to`, an unknown or
    /// self `from`, or a dial in the wrong direction).
    #[error("handshake from peer {from} to peer {to} does not fit this link")]
    WrongPeer {
        /// The sender's claimed id.
        from: u64,
        /// The id it thinks it reached.
        to: u64,
    },
    /// The peer does not know the shared secret (or the key it derived differs).
    #[error("authentication failed: the peer's proof does not match the shared secret")]
    BadProof,
    /// The connection failed or timed out during the handshake.
    #[error("I/O error during the handshake: {0}")]
    Io(String),
}

impl From<std::io::Error> for Refusal {
    fn from(error: std::io::Error) -> Self {
        Refusal::Io(error.to_string())
    }
}

/// One side's opening message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hello {
    pub cluster_id: u64,
    pub from: u32,
    pub to: u32,
    pub nonce: [u8; 32],
}

impl Hello {
    pub(crate) fn new(cluster_id: u64, from: usize, to: usize) -> Hello {
        let mut nonce = [0; 32];
        rand::thread_rng().fill_bytes(&mut nonce);
        Hello {
            cluster_id,
            // The config's validation keeps ids within u32.
            from: u32::try_from(from).unwrap_or(u32::MAX),
            to: u32::try_from(to).unwrap_or(u32::MAX),
            nonce,
        }
    }

    pub(crate) fn encode(&self) -> [u8; HELLO_BYTES] {
        let mut out = [0; HELLO_BYTES];
        out[..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&VERSION.to_le_bytes());
        out[10..18].copy_from_slice(&self.cluster_id.to_le_bytes());
        out[18..22].copy_from_slice(&self.from.to_le_bytes());
        out[22..26].copy_from_slice(&self.to.to_le_bytes());
        out[26..].copy_from_slice(&self.nonce);
        out
    }

    pub(crate) fn decode(bytes: &[u8; HELLO_BYTES]) -> Result<Hello, Refusal> {
        if bytes[..8] != MAGIC {
            return Err(Refusal::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != VERSION {
            return Err(Refusal::Version { found: version });
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let mut cluster = [0; 8];
        cluster.copy_from_slice(&bytes[10..18]);
        let mut nonce = [0; 32];
        nonce.copy_from_slice(&bytes[26..]);
        Ok(Hello {
            cluster_id: u64::from_le_bytes(cluster),
            from: u32_at(18),
            to: u32_at(22),
            nonce,
        })
    }
}

/// An authenticated connection's key and which end of it this side is.
#[derive(Clone)]
pub(crate) struct Session {
    pub key: [u8; TAG_BYTES],
    pub dialer: bool,
}

pub(crate) fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn session_key(
    secret: &[u8],
    dialer: &[u8; HELLO_BYTES],
    acceptor: &[u8; HELLO_BYTES],
) -> [u8; TAG_BYTES] {
    let mut mac = mac(secret);
    mac.update(LABEL);
    mac.update(dialer);
    mac.update(acceptor);
    mac.finalize().into_bytes().into()
}

fn proof(key: &[u8; TAG_BYTES], role: &[u8]) -> HmacSha256 {
    let mut mac = mac(key);
    mac.update(role);
    mac
}

fn check_hello(
    config: &TcpConfig,
    hello: &Hello,
    from_ok: impl Fn(usize) -> bool,
) -> Result<(), Refusal> {
    if hello.cluster_id != config.cluster_id {
        return Err(Refusal::WrongCluster {
            found: hello.cluster_id,
            expected: config.cluster_id,
        });
    }
    let from = hello.from as usize;
    if hello.to as usize != config.me
        || from >= config.peers.len()
        || from == config.me
        || !from_ok(from)
    {
        return Err(Refusal::WrongPeer {
            from: u64::from(hello.from),
            to: u64::from(hello.to),
        });
    }
    Ok(())
}

/// The dialer's side of the handshake with peer `to` (a higher id than ours).
pub(crate) fn dial(
    stream: &mut TcpStream,
    config: &TcpConfig,
    to: usize,
) -> Result<Session, Refusal> {
    let ours = Hello::new(config.cluster_id, config.me, to).encode();
    stream.write_all(&ours)?;
    let mut theirs = [0; HELLO_BYTES];
    stream.read_exact(&mut theirs)?;
    let hello = Hello::decode(&theirs)?;
    check_hello(config, &hello, |from| from == to)?;
    let key = session_key(&config.secret, &ours, &theirs);
    stream.write_all(&proof(&key, b"dialer").finalize().into_bytes())?;
    let mut their_proof = [0; TAG_BYTES];
    stream.read_exact(&mut their_proof)?;
    proof(&key, b"acceptor")
        .verify_slice(&their_proof)
        .map_err(|_| Refusal::BadProof)?;
    Ok(Session { key, dialer: true })
}

/// The acceptor's side: returns the authenticated peer's id.
pub(crate) fn accept(
    stream: &mut TcpStream,
    config: &TcpConfig,
) -> Result<(usize, Session), Refusal> {
    let mut theirs = [0; HELLO_BYTES];
    stream.read_exact(&mut theirs)?;
    let hello = Hello::decode(&theirs)?;
    // The lower id dials (one connection per pair), so only lower ids are accepted.
    check_hello(config, &hello, |from| from < config.me)?;
    let from = hello.from as usize;
    let ours = Hello::new(config.cluster_id, config.me, from).encode();
    stream.write_all(&ours)?;
    let key = session_key(&config.secret, &theirs, &ours);
    let mut their_proof = [0; TAG_BYTES];
    stream.read_exact(&mut their_proof)?;
    proof(&key, b"dialer")
        .verify_slice(&their_proof)
        .map_err(|_| Refusal::BadProof)?;
    stream.write_all(&proof(&key, b"acceptor").finalize().into_bytes())?;
    Ok((from, Session { key, dialer: false }))
}
