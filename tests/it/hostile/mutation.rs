//! A bounded, seeded mutation test: the examples, mutated (bytes flipped,
//! lines dropped, doubled and reindented, YAML anchors, aliases and
//! brackets sprinkled in), never make `validate` panic, abort, exceed
//! 200 MB or 2 s: it exits 0 or 1.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{repo_root, TestContext};

const PER_EXAMPLE: usize = 40;

fn mutate(text: &str, rng: &mut fastrand::Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..rng.usize(1..6) {
        if lines.is_empty() {
            break;
        }
        let i = rng.usize(0..lines.len());
        match rng.u8(0..8) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let copy = lines[i].clone();
                lines.insert(i, copy);
            }
            2 => lines[i] = format!("  {}", lines[i]),
            3 => lines[i] = lines[i].trim_start().to_string(),
            4 => {
                let piece = [
                    "&a ",
                    "*a",
                    "[",
                    "]",
                    "{",
                    "- ",
                    ": ",
                    "\"",
                    "\t",
                    "\u{feff}",
                    "${",
                    "!!binary ",
                ];
                let at = rng.usize(0..=lines[i].len());
                if lines[i].is_char_boundary(at) {
                    lines[i].insert_str(at, piece[rng.usize(0..piece.len())]);
                }
            }
            5 => {
                let mut bytes = lines[i].clone().into_bytes();
                if !bytes.is_empty() {
                    let j = rng.usize(0..bytes.len());
                    bytes[j] = rng.u8(0x20..0x7f);
                }
                lines[i] = String::from_utf8_lossy(&bytes).into_owned();
            }
            6 => {
                let j = rng.usize(0..lines.len());
                lines.swap(i, j);
            }
            _ => lines[i] = format!("{}{}", lines[i], "[".repeat(rng.usize(1..300))),
        }
    }
    lines.join("\n") + "\n"
}

/// The child's peak RSS so far in MB: `VmHWM` of its own address space.
/// wait4's `ru_maxrss` cannot be used here: the child is spawned with
/// `CLONE_VM` from this test process, and Linux carries the parent's
/// high-water mark into the child's `maxrss` at exec, so a busy test binary
/// (hundreds of MB while other tests run) would be blamed on `validate`.
fn vm_hwm_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs validate on `dir/waform.yaml`; returns exit code, wall time, peak
/// RSS (MB, sampled every millisecond until exit) and whether a signal
/// ended it.
#[allow(unsafe_code)]
fn run(dir: &std::path::Path) -> (Option<i32>, Duration, f64, bool) {
    let started = Instant::now();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("waform"))
        .current_dir(dir)
        .arg("validate")
        .env("NO_COLOR", "1")
        .env_remove("WAFORM_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let mut peak: f64 = 0.0;
    let mut status = 0;
    loop {
        if let Some(mb) = vm_hwm_mb(pid) {
            peak = peak.max(mb);
        }
        // SAFETY: non-blocking wait on our own child with a valid pointer.
        let reaped = unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
        if reaped != 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = started.elapsed();
    // Reaped by waitpid above; this only settles the Child bookkeeping.
    let _ = child.try_wait();
    let signaled = libc::WIFSIGNALED(status);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, elapsed, peak, signaled)
}

#[test]
fn mutated_examples_exit_0_or_1_within_bounds() {
    let seed = std::env::var("WAFORM_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let mut rng = fastrand::Rng::with_seed(seed);
    for example in ["course-signup", "service-followup", "multi-language"] {
        let src = repo_root().join("examples").join(example);
        let text = std::fs::read_to_string(src.join("waform.yaml")).expect("example");
        let ctx = TestContext::new();
        for entry in std::fs::read_dir(&src).expect("dir").flatten() {
            if entry.path().extension().is_some_and(|e| e == "csv") {
                std::fs::copy(entry.path(), ctx.path().join(entry.file_name())).expect("copy");
            }
        }
        for n in 0..PER_EXAMPLE {
            let mutant = mutate(&text, &mut rng);
            ctx.write("waform.yaml", &mutant);
            let (code, elapsed, rss, signaled) = run(ctx.path());
            let what = format!("{example} mutant {n} (seed {seed}):\n{mutant}");
            assert!(!signaled, "killed by a signal: {what}");
            assert!(matches!(code, Some(0 | 1)), "exit {code:?}: {what}");
            assert!(elapsed < Duration::from_secs(2), "{elapsed:?}: {what}");
            assert!(rss < 200.0, "{rss} MB: {what}");
        }
    }
}
