//! What a transport needs to know: who it is, where its peers are, the cluster's shared
//! secret, and the limits that keep a slow or hostile peer from holding it up.

use std::net::SocketAddr;
use std::time::Duration;

/// The shortest shared secret accepted. HMAC-SHA256 takes any length, but a short secret
/// could be guessed offline from one recorded handshake; 16 bytes of randomness is beyond
/// that, and 32 (`openssl rand -hex 32`) is what the docs recommend.
pub const MIN_SECRET_BYTES: usize = 16;

/// The configuration of one peer's transport.
#[derive(Clone)]
pub struct TcpConfig {
    /// Identifies the cluster: a peer of another cluster (a config mix-up) is refused at the
    /// handshake even if it shares the secret.
    pub cluster_id: u64,
    /// This peer's id: an index into `peers`.
    pub me: usize,
    /// Every peer's address, by id (`peers[me]` is where this peer listens).
    pub peers: Vec<SocketAddr>,
    /// The cluster's shared secret: every connection proves knowledge of it, and every frame
    /// carries a tag made with a key derived from it (see the crate docs).
    pub secret: Vec<u8>,
    /// The largest frame payload sent or accepted; a larger incoming length closes the
    /// connection before anything is allocated.
    pub max_frame_bytes: u32,
    /// Messages queued per peer while the link is slow or down; when full, new messages to
    /// that peer are dropped and counted (Raft retries).
    pub send_queue: usize,
    /// Time allowed for connecting and for the whole handshake.
    pub connect_timeout: Duration,
    /// A write that makes no progress for this long closes the connection (a stopped peer).
    pub write_timeout: Duration,
    /// A connection that receives nothing for this long is closed and re-established. Raft
    /// leaders send heartbeats far more often; a follower's link may be quiet, which costs
    /// only a reconnect.
    pub idle_timeout: Duration,
    /// Reconnect back-off: the first retry waits this long, doubling up to `backoff_max`.
    pub backoff_min: Duration,
    /// The longest wait between reconnect attempts.
    pub backoff_max: Duration,
}

impl std::fmt::Debug for TcpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("TcpConfig")
            .field("cluster_id", &self.cluster_id)
            .field("me", &self.me)
            .field("peers", &self.peers)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("send_queue", &self.send_queue)
            .field("connect_timeout", &self.connect_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("backoff_min", &self.backoff_min)
            .field("backoff_max", &self.backoff_max)
            .finish()
    }
}

impl TcpConfig {
    /// A configuration with the default limits: 16 MiB frames, 1,024 queued messages per
    /// peer, 2 s to connect and handshake, 5 s write timeout, 10 s idle timeout, back-off
    /// from 50 ms to 2 s.
    pub fn new(cluster_id: u64, me: usize, peers: Vec<SocketAddr>, secret: Vec<u8>) -> Self {
        TcpConfig {
            cluster_id,
            me,
            peers,
            secret,
            max_frame_bytes: 16 << 20,
            send_queue: 1024,
            connect_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
        }
    }

    /// Checks the rules of [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.me >= self.peers.len() {
            return Err(ConfigError::NoSuchPeer {
                me: self.me,
                peers: self.peers.len(),
            });
        }
        if self.peers.len() > u32::MAX as usize {
            return Err(ConfigError::TooManyPeers(self.peers.len()));
        }
        if self.secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::SecretTooShort {
                len: self.secret.len(),
                min: MIN_SECRET_BYTES,
            });
        }
        if self.max_frame_bytes == 0 {
            return Err(ConfigError::ZeroFrameLimit);
        }
        if self.send_queue == 0 {
            return Err(ConfigError::ZeroSendQueue);
        }
        let timeouts = [
            self.connect_timeout,
            self.write_timeout,
            self.idle_timeout,
            self.backoff_min,
        ];
        if timeouts.iter().any(Duration::is_zero) {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.backoff_max < self.backoff_min {
            return Err(ConfigError::BackoffRange);
        }
        Ok(())
    }
}

/// A [`TcpConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `me` is not an index into `peers`.
    #[error("`me` is {me}, but there are {peers} peers")]
    NoSuchPeer {
        /// The `me` field.
        me: usize,
        /// `peers.len()`.
        peers: usize,
    },
    /// More peers than a handshake can name.
    #[error("{0} peers is more than a handshake can name")]
    TooManyPeers(usize),
    /// The shared secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("the shared secret has {len} bytes; at least {min} are required")]
    SecretTooShort {
        /// Its length.
        len: usize,
        /// [`MIN_SECRET_BYTES`].
        min: usize,
    },
    /// `max_frame_bytes` is 0.
    #[error("max_frame_bytes must be positive")]
    ZeroFrameLimit,
    /// `send_queue` is 0.
    #[error("send_queue must be positive")]
    ZeroSendQueue,
    /// A timeout or the first back-off is zero.
    #[error("timeouts and back-off must be positive")]
    ZeroTimeout,
    /// `backoff_max < backoff_min`.
    #[error("backoff_max is below backoff_min")]
    BackoffRange,
}
