//! The README's three commands, as a newcomer runs them: `raft-kv cluster` in a fresh
//! directory, then `raft-kv put greeting hello` and `raft-kv get greeting` from another
//! process. The cluster uses the fixed local ports 7001–7003 (what the README promises).
//! The test also checks that stopping the `cluster` process stops its servers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_raft-kv");

/// Kills the `cluster` process if the test fails halfway.
struct Cluster(Child);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the raft-kv client")
}

/// The pids of `raft-kv server` processes whose working directory is `dir` (Linux /proc).
fn servers_in(dir: &std::path::Path) -> Vec<u32> {
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

#[test]
fn the_readme_commands_start_a_cluster_and_put_and_get_a_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = dir.path().canonicalize().expect("canonical path");
    let mut child = Command::new(BIN)
        .arg("cluster")
        .current_dir(&dir)
        // As from a terminal that stays open: stdin is not at its end.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start raft-kv cluster");
    let stdout = child.stdout.take().expect("stdout");
    let cluster = Cluster(child);
    let mut banner = String::new();
    BufReader::new(stdout)
        .read_line(&mut banner)
        .expect("read the banner");
    assert!(banner.contains("3 servers running"), "banner: {banner:?}");

    // A leader is elected within a few election timeouts; the client itself retries for
    // 10 s. Allow a slow machine a few rounds of that.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let put = client(&dir, &["put", "greeting", "hello"]);
        if put.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "put never succeeded: {}",
            String::from_utf8_lossy(&put.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let get = client(&dir, &["get", "greeting"]);
    assert!(
        get.status.success(),
        "get failed: {}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "hello");

    // Stopping the cluster process stops its servers (they exit when its pipe closes).
    assert_eq!(
        servers_in(&dir).len(),
        3,
        "three servers while the cluster runs"
    );
    drop(cluster);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !servers_in(&dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "servers outlived the cluster process"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
