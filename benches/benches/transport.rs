//! Threads or async for the TCP transport (docs/transport.md, "Threads or async"; issue 11
//! part 1): raft-tcp (a writer thread per peer, a reader thread per connection) against the
//! same frames moved by tokio tasks (`raft_benches::tokio_link`), on one connection between
//! two endpoints on 127.0.0.1. The second endpoint echoes every message back; the first
//! keeps `window` messages outstanding:
//! - `rtt`: window 1, a message's round trip (what a heartbeat or a lone commit costs);
//! - `stream`: window 64, messages per second when the pipe is kept full (replication
//!   under load).
//!
//! Messages are 128 B (a small AppendEntries or its reply) and 16 KiB (a batch). The tokio
//! runtime has 2 worker threads (the machine's cores). After criterion's groups, a summary
//! alternates the two contenders over the same rounds and prints the ratio.

use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use raft_benches::machine;
use raft_benches::tokio_link::{self, TokioLink};
use raft_tcp::{Deliver, TcpConfig, TcpTransport};

const SECRET: &[u8] = b"transport-bench-shared-secret-32";
const SIZES: [usize; 2] = [128, 16 * 1024];
const STREAM_WINDOW: usize = 64;
/// A message not echoed within this long was lost: the bench fails rather than hang.
const LOST: Duration = Duration::from_secs(10);

/// Two connected endpoints: `send` goes from the first to the second, which echoes it; each
/// echo arrives on `echoed`.
struct Rig {
    send: Box<dyn Fn(Bytes)>,
    echoed: Receiver<()>,
    stop: Box<dyn FnMut()>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        (self.stop)();
    }
}

fn threads() -> Rig {
    let listeners: Vec<_> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    let addresses: Vec<_> = listeners
        .iter()
        .map(|l| l.local_addr().expect("address"))
        .collect();
    let (tx, echoed) = channel();
    let tx = std::sync::Mutex::new(tx);
    let back: Arc<OnceLock<TcpTransport>> = Arc::default();
    let echo = Arc::clone(&back);
    let deliver: [Deliver; 2] = [
        Arc::new(move |_, _| {
            let _ = tx.lock().expect("echo channel").send(());
        }),
        Arc::new(move |from, message| {
            if let Some(transport) = echo.get() {
                transport.send(from, message);
            }
        }),
    ];
    let mut transports =
        listeners
            .into_iter()
            .zip(deliver)
            .enumerate()
            .map(|(me, (listener, deliver))| {
                let config = TcpConfig::new(1, me, addresses.clone(), SECRET.to_vec());
                TcpTransport::start_with_listener(config, listener, deliver).expect("start")
            });
    let first = Arc::new(transports.next().expect("two transports"));
    assert!(back.set(transports.next().expect("two")).is_ok());
    let sender = Arc::clone(&first);
    let rig = Rig {
        send: Box::new(move |message| sender.send(1, message)),
        echoed,
        stop: Box::new(move || {
            first.shutdown();
            if let Some(second) = back.get() {
                second.shutdown();
            }
        }),
    };
    warm_up(&rig);
    rig
}

fn tokio() -> Rig {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (tx, echoed) = channel();
    let tx = std::sync::Mutex::new(tx);
    let back: Arc<OnceLock<TokioLink>> = Arc::default();
    let echo = Arc::clone(&back);
    let key = *b"transport-bench-session-key-32by";
    let (first, second) = tokio_link::pair(
        &runtime,
        key,
        1024,
        Arc::new(move |_| {
            let _ = tx.lock().expect("echo channel").send(());
        }),
        Arc::new(move |message| {
            if let Some(link) = echo.get() {
                link.send(message);
            }
        }),
    )
    .expect("connected pair");
    assert!(back.set(second).is_ok());
    let mut runtime = Some(runtime);
    let rig = Rig {
        send: Box::new(move |message| first.send(message)),
        echoed,
        stop: Box::new(move || {
            if let Some(runtime) = runtime.take() {
                runtime.shutdown_timeout(Duration::from_secs(1));
            }
        }),
    };
    warm_up(&rig);
    rig
}

/// Waits until a message makes the round trip (raft-tcp connects in the background).
fn warm_up(rig: &Rig) {
    let deadline = Instant::now() + LOST;
    loop {
        (rig.send)(Bytes::from_static(b"warm-up"));
        if rig.echoed.recv_timeout(Duration::from_millis(50)).is_ok() {
            // Whatever else was echoed meanwhile does not count.
            std::thread::sleep(Duration::from_millis(50));
            while rig.echoed.try_recv().is_ok() {}
            return;
        }
        assert!(Instant::now() < deadline, "no round trip within {LOST:?}");
    }
}

/// Sends `n` messages of `size` bytes, `window` outstanding at most, and returns the time
/// until the last echo arrived.
fn run(rig: &Rig, n: u64, window: usize, size: usize) -> Duration {
    let message = Bytes::from(vec![0x5a; size]);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < n.min(window as u64) {
        (rig.send)(message.clone());
        sent += 1;
    }
    for _ in 0..n {
        rig.echoed
            .recv_timeout(LOST)
            .expect("a message was not echoed (dropped on a full queue?)");
        if sent < n {
            (rig.send)(message.clone());
            sent += 1;
        }
    }
    start.elapsed()
}

type Contender = (&'static str, fn() -> Rig);
const CONTENDERS: [Contender; 2] = [("threads", threads), ("tokio", tokio)];

fn bench(criterion: &mut Criterion) {
    for (workload, window) in [("rtt", 1), ("stream", STREAM_WINDOW)] {
        let mut group = criterion.benchmark_group(format!("transport/{workload}"));
        group.throughput(Throughput::Elements(1));
        for size in SIZES {
            for (name, make) in CONTENDERS {
                let rig = make();
                group.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                    b.iter_custom(|iters| run(&rig, iters, window, size));
                });
            }
        }
        group.finish();
    }
}

/// Both contenders over the same rounds, alternating, so load drift hits both alike: the
/// median time per message of each and their ratio.
fn summary() {
    const ROUNDS: usize = 7;
    println!(
        "\n== transport: threads (raft-tcp) vs tokio, same frames, 127.0.0.1 ({}; {}) ==",
        machine::describe(),
        machine::load()
    );
    println!("workload  size     threads µs/msg  tokio µs/msg  threads/tokio time");
    for (workload, window, n) in [("rtt", 1, 2_000u64), ("stream", STREAM_WINDOW, 50_000)] {
        for size in SIZES {
            let rigs: Vec<Rig> = CONTENDERS.iter().map(|(_, make)| make()).collect();
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); rigs.len()];
            for _ in 0..ROUNDS {
                for (rig, times) in rigs.iter().zip(&mut times) {
                    let elapsed = run(rig, n, window, size);
                    times.push(elapsed.as_secs_f64() * 1e6 / n as f64);
                }
            }
            let medians: Vec<f64> = times
                .iter_mut()
                .map(|t| {
                    t.sort_by(f64::total_cmp);
                    t[t.len() / 2]
                })
                .collect();
            println!(
                "{workload:<8}  {size:>6} B  {:>14.2}  {:>12.2}  {:>18.2}",
                medians[0],
                medians[1],
                medians[0] / medians[1]
            );
        }
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    if !machine::test_mode() {
        summary();
    }
}
