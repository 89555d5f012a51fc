//! The README's three commands, as a newcomer runs them: `raft-kv cluster` in a fresh
//! directory, then `raft-kv put greeting hello` and `raft-kv get greeting` from another
//! process. The cluster uses the fixed local ports 7001–7003 (what the README promises).
//! The test also checks that stopping the `cluster` process stops its servers, and that a
//! second `raft-kv cluster` in the same directory finds the key again, even when nobody reads
//! its banner (its standard output closed: a broken pipe must not stop the cluster).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_raft-kv");

/// Kills the `cluster` process if the test fails halfway. It also holds the reading end of
/// the cluster's standard output, when the test keeps one, for as long as the cluster runs.
struct Cluster(Child, #[allow(dead_code)] Option<BufReader<ChildStdout>>);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `raft-kv cluster` in `dir`. With `read_banner`, returns the banner's first line and
/// keeps the pipe open, as a terminal would; without, closes the pipe at once, so every
/// write the cluster makes to its standard output fails with a broken pipe.
fn start_cluster(dir: &Path, read_banner: bool) -> (Cluster, String) {
    let mut child = Command::new(BIN)
        .arg("cluster")
        .current_dir(dir)
        // As from a terminal that stays open: stdin is not at its end.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start raft-kv cluster");
    let stdout = child.stdout.take().expect("stdout");
    if !read_banner {
        drop(stdout);
        return (Cluster(child, None), String::new());
    }
    let mut stdout = BufReader::new(stdout);
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("read the banner");
    (Cluster(child, Some(stdout)), banner)
}

fn client(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the raft-kv client")
}

/// Runs a client command until it succeeds. A leader is elected within a few election
/// timeouts; the client itself retries for 10 s. Allow a slow machine a few rounds of that.
fn until_success(dir: &Path, args: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let output = client(dir, args);
        if output.status.success() {
            return output;
        }
        assert!(
            Instant::now() < deadline,
            "{args:?} never succeeded: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The pids of `raft-kv server` processes whose working directory is `dir` (Linux /proc).
fn servers_in(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
            cmdline.split(|&b| b == 0).any(|arg| arg == b"server") && cwd.as_deref() == Some(dir)
        })
        .collect()
}

/// Stopping the cluster process stops its servers (they exit when its pipe closes).
fn stop(cluster: Cluster, dir: &Path) {
    assert_eq!(
        servers_in(dir).len(),
        3,
        "three servers while the cluster runs"
    );
    drop(cluster);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !servers_in(dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "servers outlived the cluster process"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn get_greeting(dir: &Path) -> String {
    let get = until_success(dir, &["get", "greeting"]);
    String::from_utf8_lossy(&get.stdout).trim().to_string()
}

#[test]
fn the_readme_commands_start_a_cluster_and_put_and_get_a_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = dir.path().canonicalize().expect("canonical path");

    let (cluster, banner) = start_cluster(&dir, true);
    assert!(banner.contains("3 servers running"), "banner: {banner:?}");
    until_success(&dir, &["put", "greeting", "hello"]);
    assert_eq!(get_greeting(&dir), "hello");
    stop(cluster, &dir);

    // Again in the same directory: the servers reopen their data (no `--create`), and the
    // cluster does not depend on anyone reading what it prints.
    let (cluster, _) = start_cluster(&dir, false);
    assert_eq!(get_greeting(&dir), "hello");
    stop(cluster, &dir);
}
