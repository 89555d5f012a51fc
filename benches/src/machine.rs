//! What machine a figure was measured on, printed beside every summary.

/// `"<cpu model>, <n> logical CPUs"`, read from `/proc/cpuinfo` (or `"unknown"`).
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU", |(_, name)| name.trim());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cpus} logical CPUs")
}

/// True when the binary runs under `cargo test --benches` (criterion's test mode), where
/// every benchmark runs once and summaries must stay quick.
pub fn test_mode() -> bool {
    !std::env::args().any(|arg| arg == "--bench")
}

/// Minor page faults this process has taken so far (`/proc/self/stat`), or `None` where
/// that file is not available.
pub fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces:
    // state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt.
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    after_name.split(' ').nth(7)?.parse().ok()
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), or `"unknown"`: other work on the
/// machine skews every figure, so each summary prints it.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// The machine's CPU time so far from `/proc/stat`, in clock ticks: `(busy, total)`, busy
/// being everything but idle and I/O wait. The difference of two readings gives the share
/// of all CPUs that was busy in between (this process or any other).
pub fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total - idle, total))
}
