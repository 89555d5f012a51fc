//! Servers that answer every put at once, without storing anything: the same client code
//! driven against them shows how many puts per second the client side alone can do on this
//! machine (the client is not the bottleneck if that is far above what the real clusters
//! reach).
//!
//! - [`InstantHttp`]: HTTP/1.1 keep-alive, answers each request with an etcd-like put reply.
//! - [`InstantKv`]: raft-kv's client protocol, answers each request with `Outcome::Done`.
//!
//! One thread per connection, like the real raft-kv server. Stopped (listener and
//! connections closed, threads joined) when dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use raft_kv::protocol::{read_frame, write_frame, ClientMessage, Reply};
use raft_kv::Outcome;

/// What etcd answers to a put (the header of the new revision), byte for byte in size.
const PUT_REPLY: &str = r#"{"header":{"cluster_id":"11399284886958582787","member_id":"12404940210331354000","revision":"2","raft_term":"2"}}"#;

/// A listener on 127.0.0.1 serving each connection on its own thread with `serve`.
struct InstantServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl InstantServer {
    fn start(serve: fn(TcpStream) -> io::Result<()>) -> io::Result<InstantServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, connections) = (Arc::clone(&stop), Arc::clone(&connections));
            std::thread::spawn(move || {
                let mut workers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let Ok(clone) = stream.try_clone() else {
                                continue;
                            };
                            connections
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(clone);
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_nodelay(true);
                            workers.push(std::thread::spawn(move || {
                                let _ = serve(stream);
                            }));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                for worker in workers {
                    let _ = worker.join();
                }
            })
        };
        Ok(InstantServer {
            address,
            stop,
            connections,
            acceptor: Some(acceptor),
        })
    }
}

impl Drop for InstantServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// An HTTP/1.1 server answering every request at once with an etcd-like put reply.
pub struct InstantHttp(InstantServer);

impl InstantHttp {
    /// Starts it on a free port.
    pub fn start() -> io::Result<InstantHttp> {
        InstantServer::start(serve_http).map(InstantHttp)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.0.address)
    }
}

fn serve_http(stream: TcpStream) -> io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    let mut line = String::new();
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{PUT_REPLY}",
        PUT_REPLY.len()
    );
    loop {
        // The request line and headers, up to the empty line; only content-length matters.
        let mut body_len = 0usize;
        let mut first = true;
        loop {
            line.clear();
            if input.read_line(&mut line)? == 0 {
                return Ok(()); // the client closed the connection
            }
            let header = line.trim_end();
            if header.is_empty() && !first {
                break;
            }
            first = false;
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    body_len = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; body_len];
        input.read_exact(&mut body)?;
        out.write_all(reply.as_bytes())?;
    }
}

/// A server of raft-kv's client protocol answering every request at once with
/// `Outcome::Done`.
pub struct InstantKv(InstantServer);

impl InstantKv {
    /// Starts it on a free port.
    pub fn start() -> io::Result<InstantKv> {
        InstantServer::start(serve_kv).map(InstantKv)
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.0.address
    }
}

fn serve_kv(mut stream: TcpStream) -> io::Result<()> {
    while let Some(_request) = read_frame::<ClientMessage>(&mut stream)? {
        write_frame(&mut stream, &Reply::Outcome(Outcome::Done))?;
    }
    Ok(())
}
