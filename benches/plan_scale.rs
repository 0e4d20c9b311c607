//! `waform plan` at scale: 1,000 templates × 3 languages on the account
//! (sandbox), a send of 100,000 recipients half of whom are already in the
//! ledger. Runs the release binary as a child; prints wall time and peak RSS
//! (wait4's ru_maxrss) of the best of three runs (`BENCH_RUNS` sets how
//! many). The ledger is seeded in bulk (benches/support/seed.rs).
//!
//! `cargo bench --bench plan_scale`; `BENCH_N` sets the recipient count
//! (default 100,000; half of them are seeded in the ledger);
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

use std::process::Command;
use std::time::Instant;

use waform::state::{PgLocation, StateLocation};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = scale::config(1000);
    std::fs::write(dir.path().join("waform.yaml"), &yaml).expect("config");
    let n = measure::env_or("BENCH_N", 100_000);
    scale::write_people(&dir.path().join("people.csv"), n);

    let sandbox = scale::sandbox_with_templates(&rt, &dir.path().join("waform.yaml"));
    let postgres = std::env::var("BENCH_STATE").as_deref() == Ok("postgres");
    let location = if postgres {
        let url = pg_cluster::database().expect("BENCH_STATE=postgres needs the server binaries");
        StateLocation::Postgres(PgLocation { url, schema: None })
    } else {
        StateLocation::Sqlite(dir.path().join(".waform/state.db"))
    };
    let seeded = n / 2;
    let seeding = Instant::now();
    let rows = seed::accepted(
        &rt,
        &location,
        "big",
        (0..seeded).map(|i| scale::phone(i * 2).trim_start_matches('+').to_string()),
    );
    assert_eq!(rows, seeded);
    eprintln!(
        "seeded {seeded} ledger rows in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let state_url = match &location {
        StateLocation::Postgres(pg) => pg.url.clone(),
        StateLocation::Sqlite(path) => format!("sqlite://{}", path.display()),
    };

    let mut best: Option<(f64, f64, String)> = None;
    for _ in 0..measure::env_or("BENCH_RUNS", 3) {
        let start = Instant::now();
        let (out, rss) = measure::run_child(
            Command::new(env!("CARGO_BIN_EXE_waform"))
                .current_dir(dir.path())
                .env("WAFORM_BASE_URL", sandbox.base_url())
                .env("WAFORM_INSTANCE", sandbox.instance())
                .env("WAFORM_TOKEN", sandbox.token().expose())
                .env("WAFORM_STATE", &state_url)
                .args(["plan", "--format", "json"]),
        );
        let wall = start.elapsed().as_secs_f64();
        let v: serde_json::Value = serde_json::from_str(&out).expect("plan json");
        let summary = format!(
            "unchanged={} already_sent={} due={}",
            v["summary"]["templates"]["unchanged"],
            v["summary"]["sends"]["already_sent"],
            v["summary"]["sends"]["due"]
        );
        if best.as_ref().is_none_or(|b| wall < b.0) {
            best = Some((wall, rss, summary));
        }
    }
    if let Some((wall, rss, summary)) = best {
        println!("plan 1000 templates x 3 languages on the account, {n} recipients ({seeded} in the ledger, {} state): {wall:.3} s wall, peak RSS {rss:.1} MB ({summary})", if postgres { "PostgreSQL" } else { "SQLite" });
    }
}
