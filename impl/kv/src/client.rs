//! The client library: finds the leader, sends each operation with the client's id and a
//! sequence number, and retries it (same number, so it applies once) until it is answered
//! or the deadline passes.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::command::{Op, Outcome, Request};
use crate::protocol::{read_frame, write_frame, Admin, ClientMessage, Reply};

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No server answered it before the deadline; it may or may not have been applied.
    #[error("no answer within {0:?}; the operation may or may not have been applied")]
    Timeout(Duration),
    /// A server refused it for good.
    #[error("refused: {0}")]
    Refused(String),
}

/// A client of one cluster. One operation at a time (a `&mut self` method).
#[derive(Debug)]
pub struct Client {
    servers: Vec<SocketAddr>,
    id: u64,
    seq: u64,
    leader: usize,
    connection: Option<TcpStream>,
    /// Time allowed for one attempt at one server.
    pub attempt_timeout: Duration,
    /// Time allowed for a whole operation, retries included.
    pub deadline: Duration,
}

impl Client {
    /// A client of the servers at `servers` (their client addresses, by server id), with a
    /// random id.
    pub fn new(servers: Vec<SocketAddr>) -> Client {
        let mut rng = rand::thread_rng();
        Client {
            leader: rng.gen_range(0..servers.len().max(1)),
            servers,
            id: rng.gen(),
            seq: 0,
            connection: None,
            attempt_timeout: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
        }
    }

    /// This client's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        self.call(Op::Put {
            key: key.into(),
            value: value.into(),
        })
        .map(drop)
    }

    /// Appends `value` to `key`.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        self.call(Op::Append {
            key: key.into(),
            value: value.into(),
        })
        .map(drop)
    }

    /// Reads `key` (linearizably: through the log).
    pub fn get(&mut self, key: &str) -> Result<Option<String>, ClientError> {
        match self.call(Op::Get { key: key.into() })? {
            Outcome::Value(value) => Ok(value),
            other => Err(ClientError::Refused(format!(
                "unexpected reply to a get: {other:?}"
            ))),
        }
    }

    /// Runs `op`, retrying across servers until it is answered or [`Client::deadline`]
    /// passes.
    pub fn call(&mut self, op: Op) -> Result<Outcome, ClientError> {
        self.seq += 1;
        let request = ClientMessage::Request(Request {
            client: self.id,
            seq: self.seq,
            op,
        });
        let start = Instant::now();
        let mut pause = Duration::from_millis(10);
        while start.elapsed() < self.deadline {
            match self.attempt(&request) {
                Some(Reply::Outcome(outcome)) => return Ok(outcome),
                Some(Reply::Refused(reason)) => return Err(ClientError::Refused(reason)),
                Some(Reply::NotLeader {
                    leader: Some(leader),
                }) if leader < self.servers.len() => {
                    self.switch_to(leader);
                    continue;
                }
                Some(Reply::Busy | Reply::Retry) => {}
                _ => self.switch_to((self.leader + 1) % self.servers.len()),
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
        Err(ClientError::Timeout(self.deadline))
    }

    /// Sends an admin command to server `server` (a server started with `--fault-admin`).
    pub fn admin(&mut self, server: usize, admin: Admin) -> Option<Reply> {
        self.switch_to(server);
        let reply = self.attempt(&ClientMessage::Admin(admin));
        self.connection = None;
        reply
    }

    /// Sends the next operation to `server` first (it redirects to the leader if it is not
    /// the leader). Tests use it to reach followers.
    pub fn prefer(&mut self, server: usize) {
        if server < self.servers.len() {
            self.switch_to(server);
        }
    }

    fn switch_to(&mut self, server: usize) {
        if server != self.leader {
            self.connection = None;
        }
        self.leader = server;
    }

    /// One attempt at the current server: `None` if it could not be reached or did not
    /// answer in time (the connection is dropped: a late reply must not answer the next
    /// request).
    fn attempt(&mut self, message: &ClientMessage) -> Option<Reply> {
        if self.connection.is_none() {
            let address = self.servers[self.leader];
            let stream = TcpStream::connect_timeout(&address, self.attempt_timeout).ok()?;
            stream.set_nodelay(true).ok()?;
            stream.set_read_timeout(Some(self.attempt_timeout)).ok()?;
            stream.set_write_timeout(Some(self.attempt_timeout)).ok()?;
            self.connection = Some(stream);
        }
        let stream = self.connection.as_mut()?;
        let reply = write_frame(stream, message).and_then(|()| read_frame::<Reply>(stream));
        match reply {
            Ok(Some(reply)) => Some(reply),
            _ => {
                self.connection = None;
                None
            }
        }
    }
}
