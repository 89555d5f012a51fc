//! Server processes that cannot outlive the bench, free ports, and CPU time from `/proc`.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How a [`Process`] is stopped if the bench itself dies without running its destructors
/// (killed by a signal).
pub enum Leash {
    /// The program exits when its standard input closes (`raft-kv server
    /// --exit-with-parent`): the bench holds the write end of a pipe.
    Stdin,
    /// The program has no such option (etcd): a small `sh` watchdog waits on a pipe from the
    /// bench and kills the program with SIGKILL when the pipe closes.
    Watchdog,
}

/// A child process killed (SIGKILL) and reaped when dropped: on a normal end, on a panic
/// (unwinding runs the destructor), and, through its [`Leash`], when the bench is killed.
pub struct Process {
    name: String,
    child: Child,
    /// Closing it ends the program ([`Leash::Stdin`]) or fires the watchdog.
    leash: Option<ChildStdin>,
    watchdog: Option<Child>,
}

impl Process {
    /// Starts `command` with its stdout and stderr appended to `log`.
    pub fn spawn(
        name: &str,
        mut command: Command,
        log: &Path,
        leash: Leash,
    ) -> io::Result<Process> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        command.stdout(out.try_clone()?).stderr(out);
        command.stdin(match leash {
            Leash::Stdin => Stdio::piped(),
            Leash::Watchdog => Stdio::null(),
        });
        let mut child = command.spawn()?;
        let mut process = Process {
            name: name.to_string(),
            leash: child.stdin.take(),
            child,
            watchdog: None,
        };
        if let Leash::Watchdog = leash {
            // `read` returns when the bench's end of the pipe closes, however the bench ended.
            let mut watchdog = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "read _ignored; kill -9 {} 2>/dev/null",
                    process.pid()
                ))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            process.leash = watchdog.stdin.take();
            process.watchdog = Some(watchdog);
        }
        Ok(process)
    }

    /// Its name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// User + system CPU time it has used so far, all threads.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&format!("/proc/{}/stat", self.pid()))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The watchdog goes first, so that it never fires on a process id already reused.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        self.leash = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system, all threads) this bench process has used so far.
pub fn own_cpu_time() -> Option<Duration> {
    cpu_time_of("/proc/self/stat")
}

/// Fields 14 and 15 (utime, stime) of a `/proc/<pid>/stat` file, in clock ticks of 10 ms
/// (`USER_HZ` is 100 on every Linux architecture the bench runs on).
fn cpu_time_of(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // After the command name, in parentheses and possibly with spaces: field 3 (state) on.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// `n` distinct free TCP ports on 127.0.0.1 (bound, then released: another process could
/// take one in between, in which case a server fails to start and the bench says so).
pub fn free_addresses(n: usize) -> io::Result<Vec<SocketAddr>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    listeners.iter().map(TcpListener::local_addr).collect()
}

/// Polls `ready` every 50 ms until it returns `Ok`, or fails with its last error after
/// `timeout`.
/// `Ok` while every process of a cluster still runs; else which one exited, and where its
/// log is.
pub fn all_running(processes: &mut [Process], root: &Path) -> Result<(), String> {
    for process in processes {
        if !process.running() {
            return Err(format!(
                "{} exited (see its log in {})",
                process.name(),
                root.display()
            ));
        }
    }
    Ok(())
}

pub fn wait_until<T>(
    timeout: Duration,
    mut ready: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        match ready() {
            Ok(value) => return Ok(value),
            Err(error) if start.elapsed() >= timeout => {
                return Err(format!("not ready after {timeout:?}: {error}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The type of the file system holding `path` (the longest mount point of
/// `/proc/self/mounts` that contains it), e.g. `"ext4"`, `"tmpfs"`, `"overlay"`.
pub fn file_system_of(path: &Path) -> String {
    let Ok(path) = path.canonicalize() else {
        return "unknown".into();
    };
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let (_device, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(point)
                .then_some((point.len(), kind.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".into(), |(_, kind)| kind)
}
