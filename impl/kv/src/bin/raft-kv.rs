//! The `raft-kv` command: run a server, talk to a cluster, or start a local one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use raft_kv::{Client, Server, ServerConfig};

/// Client addresses of the local cluster `raft-kv cluster` starts, and the default
/// `--servers` of the client subcommands.
const LOCAL_CLIENTS: &str = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";
const LOCAL_PEERS: &str = "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103";

#[derive(Parser)]
#[command(
    name = "raft-kv",
    about = "A linearizable replicated key-value service on raft-impl"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one server.
    Server(ServerArgs),
    /// Set KEY to VALUE.
    Put {
        #[command(flatten)]
        servers: Servers,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Append VALUE to KEY's value.
    Append {
        #[command(flatten)]
        servers: Servers,
        /// The key.
        key: String,
        /// What to append.
        value: String,
    },
    /// Print KEY's value.
    Get {
        #[command(flatten)]
        servers: Servers,
        /// The key.
        key: String,
    },
    /// Start a local 3-server cluster (clients on 127.0.0.1:7001-7003) until interrupted.
    Cluster {
        /// Data directory of the cluster (one subdirectory per server); created if missing.
        #[arg(long, default_value = "raft-kv-data")]
        dir: PathBuf,
    },
}

#[derive(Args)]
struct Servers {
    /// The servers' client addresses, comma-separated, in server-id order.
    #[arg(long, default_value = LOCAL_CLIENTS, value_delimiter = ',')]
    servers: Vec<SocketAddr>,
}

#[derive(Args)]
struct ServerArgs {
    /// This server's id (index into --peers and --clients).
    #[arg(long)]
    id: usize,
    /// Every server's Raft address, comma-separated, in id order.
    #[arg(long, value_delimiter = ',')]
    peers: Vec<SocketAddr>,
    /// Every server's client address, comma-separated, in id order.
    #[arg(long, value_delimiter = ',')]
    clients: Vec<SocketAddr>,
    /// Data directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// Create a new server in --data-dir (refused if one is there). Without it the server
    /// in --data-dir is opened (refused if none is: a lost volume is not a new server).
    #[arg(long)]
    create: bool,
    /// A file holding the cluster's shared secret (at least 16 bytes).
    #[arg(long)]
    secret_file: PathBuf,
    /// The cluster's id.
    #[arg(long, default_value_t = 1)]
    cluster_id: u64,
    /// Snapshot the store after at least this many applied entries, once their commands
    /// also add up to the size of the last snapshot.
    #[arg(long, default_value_t = 10_000)]
    snapshot_every: u64,
    /// DELIBERATELY BROKEN: answer gets from the local copy, without the log.
    #[arg(long)]
    stale_reads: bool,
    /// Accept fault-injection commands from clients (tests only).
    #[arg(long)]
    fault_admin: bool,
    /// Exit when standard input closes (`cluster` passes a pipe, so its servers do not
    /// outlive it even if it is killed).
    #[arg(long)]
    exit_with_parent: bool,
}

fn main() -> ExitCode {
    tracing_init();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("raft-kv: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at the level in `RAFT_KV_LOG` (`warn` if unset).
fn tracing_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAFT_KV_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn run(command: Cmd) -> Result<(), String> {
    match command {
        Cmd::Server(args) => serve(args),
        Cmd::Put {
            servers,
            key,
            value,
        } => Client::new(servers.servers)
            .put(&key, &value)
            .map_err(|e| error_chain(&e)),
        Cmd::Append {
            servers,
            key,
            value,
        } => Client::new(servers.servers)
            .append(&key, &value)
            .map_err(|e| error_chain(&e)),
        Cmd::Get { servers, key } => {
            match Client::new(servers.servers)
                .get(&key)
                .map_err(|e| error_chain(&e))?
            {
                Some(value) => println!("{value}"),
                None => println!("(absent)"),
            }
            Ok(())
        }
        Cmd::Cluster { dir } => cluster(&dir),
    }
}

fn serve(args: ServerArgs) -> Result<(), String> {
    if args.peers.len() != args.clients.len() || args.id >= args.peers.len() {
        return Err(
            "--peers and --clients must list the same servers, and --id one of them".into(),
        );
    }
    if args.exit_with_parent {
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            eprintln!("raft-kv: parent exited; stopping");
            std::process::exit(0);
        });
    }
    let secret = std::fs::read(&args.secret_file).map_err(|e| {
        format!(
            "cannot read the secret file {}: {e}",
            args.secret_file.display()
        )
    })?;
    let config = ServerConfig {
        id: args.id,
        client_listen: args.clients[args.id],
        raft_peers: args.peers,
        data_dir: args.data_dir,
        create: args.create,
        cluster_id: args.cluster_id,
        secret,
        snapshot_every: args.snapshot_every,
        stale_reads: args.stale_reads,
        fault_admin: args.fault_admin,
        request_timeout: Duration::from_secs(2),
    };
    let server = Server::start(config).map_err(|e| error_chain(&e))?;
    eprintln!(
        "raft-kv server {} serving clients on {}",
        args.id,
        server.client_address()
    );
    server.wait().map_err(|e| error_chain(&e))
}

fn cluster(dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let secret_file = dir.join("secret");
    if !secret_file.exists() {
        let secret: [u8; 32] = rand::random();
        std::fs::write(&secret_file, secret)
            .map_err(|e| format!("cannot write the secret: {e}"))?;
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children: Vec<Child> = Vec::new();
    for id in 0..3 {
        let data_dir = dir.join(format!("server-{id}"));
        let mut command = Command::new(&exe);
        command.args([
            "server",
            "--id",
            &id.to_string(),
            "--peers",
            LOCAL_PEERS,
            "--clients",
            LOCAL_CLIENTS,
        ]);
        command
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--secret-file")
            .arg(&secret_file);
        command
            .arg("--exit-with-parent")
            .stdin(std::process::Stdio::piped());
        if !data_dir.exists() {
            command.arg("--create");
        }
        match command.spawn() {
            Ok(child) => children.push(child),
            Err(error) => {
                for mut child in children {
                    let _ = child.kill();
                }
                return Err(format!("cannot start server {id}: {error}"));
            }
        }
    }
    // The banner is advice for a person at a terminal. If whoever reads our standard output
    // has gone away (`raft-kv cluster | head -1`), the cluster keeps running: a failed
    // write must not stop it (`println!` would panic on a broken pipe).
    let banner = format!(
        "3 servers running; clients connect to {LOCAL_CLIENTS}. Try, in another terminal:\n  \
         raft-kv put greeting hello\n  raft-kv get greeting\n\
         Ctrl-C stops the cluster; its data stays in {}.\n",
        dir.display()
    );
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(banner.as_bytes())
            .and_then(|()| stdout.flush());
    }
    // The servers exit when their standard input closes (`--exit-with-parent`), so the
    // pipes stay open for as long as this process runs: `Child::wait` would close them.
    let _pipes: Vec<_> = children
        .iter_mut()
        .filter_map(|child| child.stdin.take())
        .collect();
    let mut failed = None;
    for (id, mut child) in children.into_iter().enumerate() {
        match child.wait() {
            Ok(status) if !status.success() => {
                failed = Some(format!("server {id} exited with {status}"))
            }
            Err(error) => failed = Some(format!("server {id}: {error}")),
            Ok(_) => {}
        }
    }
    failed.map_or(Ok(()), Err)
}
