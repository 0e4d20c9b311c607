//! `waform status --format html` on a large ledger: seeds ROWS recipients
//! (10% completed, 80% delivered, 1% rejected under 5 reasons, 0.2%
//! unknown), then runs the real binary for the JSON table and the HTML
//! report and prints wall time and peak RSS of each. Not a timed test.
//!
//! `cargo bench --bench status_report -- [ROWS]` (default 100000).
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed bench

#[path = "support/measure.rs"]
mod measure;

use std::process::Command;
use std::time::Instant;

use chrono::{Duration, Utc};
use serde_json::json;
use waform::state::{
    Delivery, EventKind, InboundEvent, Intent, Ledger, Outcome, OutcomeRecord, SendKind,
};

const SEND: &str = "bench";

fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("state.db");
    let ledger = Ledger::open(&db)?;
    let phone = |i: usize| format!("1555{i:07}");
    let start = Utc::now() - Duration::days(3);
    let seeded = Instant::now();
    for chunk in (0..rows).step_by(5_000) {
        let end = (chunk + 5_000).min(rows);
        let intents: Vec<Intent> = (chunk..end)
            .map(|i| Intent {
                send: SEND.into(),
                phone: phone(i),
                flow_token: format!("tok-{i}"),
                kind: SendKind::Template,
                template: Some("course_signup_1a2b3c4d".into()),
                at: start,
            })
            .collect();
        ledger.record_intents(&intents)?;
        let outcomes: Vec<OutcomeRecord> = (chunk..end)
            .map(|i| {
                let outcome = match i % 1000 {
                    0..=9 => Outcome::Rejected {
                        reason: format!("13102{}: undeliverable", i % 5),
                    },
                    10 | 11 => Outcome::Unknown {
                        reason: "timeout".into(),
                    },
                    _ => Outcome::Accepted {
                        message_id: Some(format!("wamid.{i}")),
                        job_id: None,
                    },
                };
                OutcomeRecord::new(SEND, &phone(i), outcome, start)
            })
            .collect();
        ledger.record_outcomes(&outcomes)?;
        let mut events = Vec::new();
        for i in (chunk..end).filter(|i| i % 1000 >= 12 && i % 10 < 8) {
            events.push(InboundEvent {
                kind: EventKind::Ack {
                    message_id: format!("wamid.{i}"),
                    status: Delivery::Delivered,
                    error: None,
                    phone: Some(phone(i)),
                    at: Some(start),
                },
                raw: json!({"id": format!("wamid.{i}")}),
            });
            if i % 10 == 0 {
                events.push(InboundEvent {
                    kind: EventKind::Completion {
                        message_id: Some(format!("wamid.form{i}")),
                        phone: Some(phone(i)),
                        flow_token: Some(format!("tok-{i}")),
                        fields: json!({"course": "Pottery"})
                            .as_object()
                            .cloned()
                            .unwrap_or_default(),
                        at: Some(start + Duration::minutes((i % 4000) as i64)),
                    },
                    raw: json!({"id": format!("wamid.form{i}")}),
                });
            }
        }
        ledger.store_events(&events)?;
    }
    println!(
        "seeded {rows} rows in {:.1}s",
        seeded.elapsed().as_secs_f64()
    );
    drop(ledger);
    let state = format!("sqlite://{}", db.display());
    for format in ["json", "html"] {
        let t = Instant::now();
        let (out, rss) = measure::run_child(
            Command::new(env!("CARGO_BIN_EXE_waform"))
                .current_dir(dir.path())
                .args(["status", "--format", format, "--state", &state]),
        );
        anyhow::ensure!(!out.is_empty(), "status --format {format} printed nothing");
        println!(
            "status --format {format}: {:.2}s, peak RSS {rss:.0} MiB, {} bytes",
            t.elapsed().as_secs_f64(),
            out.len()
        );
    }
    Ok(())
}
