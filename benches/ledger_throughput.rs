//! Ledger throughput: intents then outcomes for N recipients, written in
//! batches the way apply writes them, on a real file with the durable
//! settings (WAL, synchronous=FULL). Not a timed test: it prints numbers.
//!
//! `cargo bench --bench ledger_throughput -- [ROWS] [BATCH]` (defaults
//! 100000 and 500).
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed test or bench

#[path = "support/measure.rs"]
mod measure;

use std::time::Instant;

use chrono::Utc;
use waform::state::{Intent, IntentStatus, Ledger, Outcome, OutcomeRecord, SendKind};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rows: usize = args
        .first()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let batch: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let dir = tempfile::tempdir()?;
    let ledger = Ledger::open(&dir.path().join("state.db"))?;
    let phone = |i: usize| format!("1555{:07}", i);

    let started = Instant::now();
    let mut intent_secs = 0.0;
    let mut outcome_secs = 0.0;
    for chunk_start in (0..rows).step_by(batch) {
        let end = (chunk_start + batch).min(rows);
        let now = Utc::now();
        let intents: Vec<Intent> = (chunk_start..end)
            .map(|i| Intent {
                send: "bench".into(),
                phone: phone(i),
                flow_token: format!("bench-{}", phone(i)),
                kind: SendKind::Template,
                template: Some("course_signup_1a2b3c4d".into()),
                at: now,
            })
            .collect();
        let t = Instant::now();
        let statuses = ledger.record_intents(&intents)?;
        intent_secs += t.elapsed().as_secs_f64();
        anyhow::ensure!(statuses.iter().all(|s| *s == IntentStatus::Recorded));
        let outcomes: Vec<OutcomeRecord> = (chunk_start..end)
            .map(|i| {
                OutcomeRecord::new(
                    "bench",
                    &phone(i),
                    Outcome::Accepted {
                        message_id: Some(format!("wamid.{i}")),
                        job_id: None,
                    },
                    now,
                )
            })
            .collect();
        let t = Instant::now();
        let n = ledger.record_outcomes(&outcomes)?;
        outcome_secs += t.elapsed().as_secs_f64();
        anyhow::ensure!(n == end - chunk_start);
    }
    let total = started.elapsed().as_secs_f64();
    let hwm_before = measure::peak_rss_mb();
    let t = Instant::now();
    let map = ledger.rows_for_send("bench")?;
    let read_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(map.len() == rows);
    let counts = ledger.counts(Some("bench"))?;
    anyhow::ensure!(counts["bench"].accepted == rows as u64);

    println!("ledger_throughput: {rows} rows, batches of {batch}, WAL + synchronous=FULL");
    println!(
        "  intents:  {:>10.0} rows/s ({intent_secs:.2} s)",
        rows as f64 / intent_secs
    );
    println!(
        "  outcomes: {:>10.0} rows/s ({outcome_secs:.2} s)",
        rows as f64 / outcome_secs
    );
    println!(
        "  intent+outcome pairs: {:>10.0} recipients/s (wall {total:.2} s incl. building batches)",
        rows as f64 / total
    );
    println!(
        "  rows_for_send: {rows} rows in {read_secs:.2} s; peak RSS {hwm_before:.0} MiB before, {:.0} MiB after",
        measure::peak_rss_mb()
    );
    drop(map);
    let t = Instant::now();
    let mut n = 0usize;
    ledger.for_each_row("bench", |_, _| n += 1)?;
    println!(
        "  for_each_row:  {n} rows in {:.2} s (no map)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
