//! `waform apply` of a send with a ten-million-recipient audience almost all
//! of whom the ledger already has: what apply holds in memory while it
//! plans the send and feeds its due recipients (both classified by the
//! state database in batches, docs/exactly-once.md "How the due set is
//! computed"). The template is on the account already, so apply plans,
//! sends the due remainder to the sandbox with the rate limit off, and
//! ends. Prints wall time and peak RSS (wait4's ru_maxrss) of the release
//! binary run as a child, and checks that exactly the due remainder was
//! sent and the ledger then holds everyone once.
//!
//! `BENCH_N=10000000 cargo bench --bench apply_scale`; `BENCH_N` sets the
//! audience (default 1,000,000), `BENCH_DUE` the remainder not yet in the
//! ledger (default 10,000, spread evenly over the file);
//! `BENCH_STATE=postgres` keeps the ledger in a throwaway PostgreSQL cluster.
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed test or bench

#[path = "support/measure.rs"]
mod measure;

#[path = "support/scale.rs"]
mod scale;

#[path = "support/seed.rs"]
mod seed;

#[allow(unsafe_code)] // the cluster helper stops its server at exit
#[path = "../tests/it/pg_cluster.rs"]
mod pg_cluster;

use std::process::{Command, Stdio};
use std::time::Instant;

use waform::state::{PgLocation, StateLocation};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let n = measure::env_or("BENCH_N", 1_000_000);
    let due = measure::env_or("BENCH_DUE", 10_000).clamp(1, n);
    let every = n / due;
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = scale::config(1).replace(
        "version: 1\n",
        "version: 1\nprovider: { rate_limit: 0, concurrency: 16 }\n",
    );
    std::fs::write(dir.path().join("waform.yaml"), &yaml).expect("config");
    scale::write_people(&dir.path().join("people.csv"), n);

    let sandbox = scale::sandbox_with_templates(&rt, &dir.path().join("waform.yaml"));

    let postgres = std::env::var("BENCH_STATE").as_deref() == Ok("postgres");
    let location = if postgres {
        let url = pg_cluster::database().expect("BENCH_STATE=postgres needs the server binaries");
        StateLocation::Postgres(PgLocation { url, schema: None })
    } else {
        StateLocation::Sqlite(dir.path().join(".waform/state.db"))
    };
    let seeding = Instant::now();
    let seeded = seed::accepted(
        &rt,
        &location,
        "big",
        (0..n)
            .filter(|i| i % every != 0 || i / every >= due)
            .map(|i| scale::phone(i).trim_start_matches('+').to_string()),
    );
    eprintln!(
        "seeded {seeded} ledger rows in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let state_url = match &location {
        StateLocation::Postgres(pg) => pg.url.clone(),
        StateLocation::Sqlite(path) => format!("sqlite://{}", path.display()),
    };

    let start = Instant::now();
    let (out, rss) = measure::run_child(
        Command::new(env!("CARGO_BIN_EXE_waform"))
            .current_dir(dir.path())
            .env("WAFORM_BASE_URL", sandbox.base_url())
            .env("WAFORM_INSTANCE", sandbox.instance())
            .env("WAFORM_TOKEN", sandbox.token().expose())
            .env("WAFORM_STATE", &state_url)
            .args(["apply", "--auto-approve", "--no-color"])
            .stderr(Stdio::inherit()),
    );
    let wall = start.elapsed().as_secs_f64();
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("big:") && l.contains("accepted"))
        .unwrap_or_else(|| panic!("no send line in:\n{out}"));
    let accepted: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert_eq!(accepted, n - seeded, "apply sent exactly the due remainder");
    let ledger = waform::state::open(&location).expect("ledger");
    let counts = ledger.counts(Some("big")).expect("counts")["big"];
    assert_eq!(counts.recipients, n, "everyone in the ledger once");
    println!(
        "apply of a {n}-recipient send ({seeded} already in the ledger, {} state): {accepted} sent; {wall:.1} s wall, peak RSS {rss:.1} MB",
        if postgres { "PostgreSQL" } else { "SQLite" }
    );
}
