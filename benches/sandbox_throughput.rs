//! How many `sendTemplate` requests per second the sandbox answers on
//! loopback, so it is known never to be the bottleneck when apply is measured
//! (issue 3 asks for ≥ 10,000/s on the 2-core machine).
//!
//! `cargo bench --bench sandbox_throughput`; env `BENCH_SECS` (default 5) and
//! `BENCH_CLIENTS` (default 32 concurrent keep-alive clients).
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed test or bench

#[path = "support/measure.rs"]
mod measure;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use waform::provider::{AccountFlow, FlowStatus};
use waform::sandbox::{self, SandboxConfig};

fn main() {
    let secs = measure::env_or("BENCH_SECS", 5);
    let clients = measure::env_or("BENCH_CLIENTS", 32) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(Duration::from_secs(secs), clients));
}

async fn run(duration: Duration, clients: usize) {
    let config = SandboxConfig {
        approve_after: Duration::ZERO,
        flows: vec![AccountFlow {
            id: "1".into(),
            name: "signup".into(),
            status: FlowStatus::Published,
        }],
        ..SandboxConfig::default()
    };
    let sb = sandbox::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("sandbox");
    let base = format!("{}/{}", sb.base_url(), sb.instance());
    let setup = reqwest::Client::new();
    let added = setup
        .post(format!("{base}/addTemplate?token=sandbox-token"))
        .json(&json!({"name": "bench", "category": "MARKETING", "language": "en_US", "components": [
            {"type": "BODY", "text": "Hi {{1}}, our courses are open.", "example": {"body_text": [["Anna"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Sign up", "flow_id": "1"}]}]}))
        .send()
        .await
        .expect("addTemplate");
    assert!(added.status().is_success(), "addTemplate failed");

    let body = Arc::new(
        serde_json::to_vec(&json!({
            "template": "bench", "language": {"policy": "deterministic", "code": "en_US"},
            "phone": "15551234567",
            "params": [{"type": "body", "parameters": [{"type": "text", "text": "Anna"}]},
                       {"type": "button", "sub_type": "flow", "index": "0",
                        "parameters": [{"type": "action", "action": {"flow_token": "t", "flow_action_data": {"a": "b"}}}]}]
        }))
        .expect("body"),
    );
    let url = Arc::new(format!("{base}/sendTemplate?token=sandbox-token"));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    // Warm-up: open every connection before the clock starts.
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let (body, url, ok, failed, stop) = (
            body.clone(),
            url.clone(),
            ok.clone(),
            failed.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = client
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .body(body.as_ref().clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start_ok = ok.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    let done = ok.load(Ordering::Relaxed) - start_ok;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let rate = done as f64 / elapsed.as_secs_f64();
    println!(
        "sandbox sendTemplate: {rate:.0} requests/s ({done} in {:.2}s, {clients} keep-alive clients, {} failed, {} logged sends)",
        elapsed.as_secs_f64(),
        failed.load(Ordering::Relaxed),
        sb.sends().len()
    );
    sb.shutdown().await;
}
