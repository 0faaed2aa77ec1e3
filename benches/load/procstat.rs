//! CPU time and memory of a process, from `/proc` (Linux only).

use anyhow::Context;

/// Linux reports `utime`/`stime` in USER_HZ ticks, which is 100 per second
/// on every architecture it exposes to user space (`getconf CLK_TCK`).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time (user + system, all threads) a process has used, in µs; 10 ms
/// resolution, so a window should be at least a few seconds long.
pub fn cpu_us(pid: &str) -> anyhow::Result<u64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let after_name = stat.rsplit_once(')').context("unexpected /proc/PID/stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields.get(index).context("short /proc/PID/stat")?.parse::<u64>().context("parsing /proc/PID/stat")
    };
    Ok((ticks(11)? + ticks(12)?) * 1_000_000 / TICKS_PER_SECOND)
}

/// Resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM`).
pub fn memory_kib(pid: &str) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line =
            status.lines().find(|line| line.starts_with(name)).with_context(|| format!("no {name} for {pid}"))?;
        line[name.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().context("parsing /proc/PID/status")
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}
