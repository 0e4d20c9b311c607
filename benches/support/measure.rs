//! Measuring helpers the bench binaries share: peak RSS of this process or
//! of a child, and numeric settings from the environment.

#![allow(dead_code)]

use std::process::{Command, Stdio};

/// This process's peak RSS (VmHWM from /proc, Linux) in MiB; 0 elsewhere.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A numeric setting from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `cmd` to completion; returns its stdout and its peak RSS in MiB
/// (wait4's ru_maxrss, which only the parent can read).
#[allow(unsafe_code)]
pub fn run_child(cmd: &mut Command) -> (String, f64) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn child");
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        let _ = stdout.read_to_string(&mut out);
    }
    let mut status = 0;
    // SAFETY: wait4 on our own child's pid with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    // Reaped by wait4 above; this only settles the Child bookkeeping.
    let _ = child.try_wait();
    (out, usage.ru_maxrss as f64 / 1024.0)
}
