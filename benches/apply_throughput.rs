//! `waform apply` against the sandbox on loopback, ledger writes included:
//! sends per second with the rate limit off, the achieved rate under a
//! limit, and the peak RSS of a large campaign (the release binary is run as
//! a child process and measured with wait4's ru_maxrss).
//!
//! `cargo bench --bench apply_throughput` runs all three; `BENCH_ONLY=unlimited|limited|million`
//! picks one; `BENCH_N` overrides the recipient count of the picked one.
//! `BENCH_STATE=postgres` keeps the ledger in a throwaway PostgreSQL cluster
//! (fsync and `synchronous_commit` on, as shipped) instead of SQLite.
//! `BENCH_CONCURRENCY` sets `provider.concurrency` (default 16): with a
//! durable commit before every request, sends/s is bounded by
//! concurrency ÷ (commit + request latency), so a slow-fsync disk needs
//! more requests in flight (see docs/exactly-once.md on the in-doubt bound).
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed test or bench

#[path = "support/measure.rs"]
mod measure;
#[allow(unsafe_code)] // the cluster helper stops its server at exit
#[path = "../tests/it/pg_cluster.rs"]
mod pg_cluster;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use waform::provider::{AccountFlow, FlowStatus};
use waform::sandbox::{SandboxConfig, SandboxHandle};

fn config(rate: u32) -> String {
    let concurrency = measure::env_or("BENCH_CONCURRENCY", 16);
    format!(
        r#"version: 1
provider: {{ rate_limit: {rate}, concurrency: {concurrency} }}
flows:
  signup: {{ id: "1" }}
templates:
  course_signup:
    category: MARKETING
    languages:
      en_US:
        body: "Hi {{{{1}}}}, our courses are open."
        body_examples: ["Anna"]
        buttons:
          - {{ type: flow, text: "Sign up", flow: signup, screen: WELCOME }}
sends:
  campaign:
    template: course_signup
    language: en_US
    body_params: ["${{recipient.fname}}"]
    recipients:
      - csv: people.csv
"#
    )
}

fn write_people(dir: &Path, n: u64) {
    let file = std::fs::File::create(dir.join("people.csv")).expect("csv");
    let mut w = std::io::BufWriter::new(file);
    let _ = writeln!(w, "phone,fname");
    for i in 0..n {
        let _ = writeln!(w, "+1{:010},Name{i}", 2_000_000_000u64 + i);
    }
}

/// Runs apply; returns (accepted, seconds of the send phase, peak RSS MB).
fn apply(sandbox: &SandboxHandle, dir: &Path, state: Option<&str>) -> (u64, f64, f64) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_waform"));
    if let Some(url) = state {
        cmd.env("WAFORM_STATE", url);
    }
    let (output, rss) = measure::run_child(
        cmd.current_dir(dir)
            .env("WAFORM_BASE_URL", sandbox.base_url())
            .env("WAFORM_INSTANCE", sandbox.instance())
            .env("WAFORM_TOKEN", sandbox.token().expose())
            .args(["apply", "--auto-approve", "--no-color"])
            .stderr(Stdio::inherit()),
    );
    let line = output
        .lines()
        .find(|l| l.trim_start().starts_with("campaign:") && l.contains("accepted"))
        .unwrap_or_else(|| panic!("no send line in:\n{output}"));
    let accepted: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let secs: f64 = line
        .rsplit(" in ")
        .next()
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .unwrap_or(f64::NAN);
    (accepted, secs, rss)
}

fn scenario(rt: &tokio::runtime::Runtime, name: &str, n: u64, rate: u32) -> String {
    let sandbox = rt
        .block_on(waform::sandbox::start(
            SandboxConfig {
                approve_after: Duration::ZERO,
                flows: vec![AccountFlow {
                    id: "1".into(),
                    name: "signup".into(),
                    status: FlowStatus::Published,
                }],
                ..SandboxConfig::default()
            },
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("waform.yaml"), config(rate)).expect("config");
    write_people(dir.path(), n);
    let start = Instant::now();
    let state = postgres().then(|| {
        pg_cluster::database().expect("BENCH_STATE=postgres needs the PostgreSQL server binaries")
    });
    let (accepted, secs, rss) = apply(&sandbox, dir.path(), state.as_deref());
    let wall = start.elapsed().as_secs_f64();
    let mut out = String::new();
    let _ = write!(
        out,
        "{name} ({}): {accepted}/{n} accepted; send phase {secs:.2} s = {:.0} sends/s (limit {}); whole apply {wall:.2} s; peak RSS {rss:.1} MB",
        if postgres() { "PostgreSQL state" } else { "SQLite state" },
        accepted as f64 / secs,
        if rate == 0 { "off".to_string() } else { format!("{rate}/s") },
    );
    if rate > 0 {
        let achieved = accepted as f64 / secs;
        let _ = write!(out, "; achieved/limit = {:.3}", achieved / rate as f64);
    }
    out
}

fn postgres() -> bool {
    std::env::var("BENCH_STATE").as_deref() == Ok("postgres")
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let only = std::env::var("BENCH_ONLY").ok();
    let n = |default: u64| {
        std::env::var("BENCH_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    for (name, default_n, rate) in [
        ("unlimited", 50_000u64, 0u32),
        ("limited", 4_000, 200),
        ("million", 1_000_000, 0),
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        println!("{}", scenario(&rt, name, n(default_n), rate));
    }
}
