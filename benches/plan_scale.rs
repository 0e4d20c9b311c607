//! `waform plan` at scale: 1,000 templates × 3 languages on the account
//! (sandbox), a send of 100,000 recipients half of whom are already in the
//! ledger. Runs the release binary as a child; prints wall time and peak RSS
//! (wait4's ru_maxrss) of the best of three runs.
//!
//! `cargo bench --bench plan_scale`
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed test or bench

#[path = "support/measure.rs"]
mod measure;

#[path = "support/scale.rs"]
mod scale;

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use waform::provider::onemsg::OneMsgClient;
use waform::provider::{AccountFlow, FlowStatus, NewTemplate, Provider};
use waform::sandbox::SandboxConfig;
use waform::state::{Intent, Ledger, Outcome, OutcomeRecord, SendKind};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = scale::config(1000);
    std::fs::write(dir.path().join("waform.yaml"), &yaml).expect("config");
    let csv = scale::people(100_000);
    std::fs::write(dir.path().join("people.csv"), csv).expect("csv");

    let sandbox = rt
        .block_on(waform::sandbox::start(
            SandboxConfig {
                approve_after: Duration::ZERO,
                flows: vec![AccountFlow {
                    id: "1".into(),
                    name: "f".into(),
                    status: FlowStatus::Published,
                }],
                ..SandboxConfig::default()
            },
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("sandbox");
    let loaded = waform::config::load(
        &dir.path().join("waform.yaml"),
        waform::config::Depth::NoRecipients,
    );
    let cfg = loaded.config.expect("config");
    let client = OneMsgClient::new(sandbox.client_config()).expect("client");
    rt.block_on(async {
        for d in waform::plan::desired::desired_templates(&cfg.raw) {
            let t = NewTemplate {
                name: d.name,
                category: d.category,
                language: d.language,
                components: d.components,
            };
            client.add_template(&t).await.expect("add");
        }
    });
    let ledger = Ledger::open(&dir.path().join(".waform/state.db")).expect("ledger");
    let now = Utc::now();
    let intents: Vec<Intent> = (0..50_000u64)
        .map(|i| Intent {
            send: "big".into(),
            phone: scale::phone(i * 2).trim_start_matches('+').to_string(),
            flow_token: format!("t{i}"),
            kind: SendKind::Template,
            template: None,
            at: now,
        })
        .collect();
    ledger.record_intents(&intents).expect("intents");
    let outcomes: Vec<OutcomeRecord> = intents
        .iter()
        .map(|i| {
            OutcomeRecord::new(
                &i.send,
                &i.phone,
                Outcome::Accepted {
                    message_id: Some(i.flow_token.clone()),
                    job_id: None,
                },
                now,
            )
        })
        .collect();
    ledger.record_outcomes(&outcomes).expect("outcomes");
    drop(ledger);

    let mut best: Option<(f64, f64, String)> = None;
    for _ in 0..3 {
        let start = Instant::now();
        let (out, rss) = measure::run_child(
            Command::new(env!("CARGO_BIN_EXE_waform"))
                .current_dir(dir.path())
                .env("WAFORM_BASE_URL", sandbox.base_url())
                .env("WAFORM_INSTANCE", sandbox.instance())
                .env("WAFORM_TOKEN", sandbox.token().expose())
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
        println!("plan 1000 templates x 3 languages on the account, 100000 recipients (50000 in the ledger): {wall:.3} s wall, peak RSS {rss:.1} MB ({summary})");
    }
}
