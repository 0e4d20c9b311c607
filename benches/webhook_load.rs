//! How many webhook events per second `waform webhook` accepts with durable
//! storage (WAL, `synchronous=FULL`, each 200 only after the commit), from
//! concurrent keep-alive clients on loopback posting single-ack bodies.
//! Issue 6 asks for ≥ 2,000 events/s on this machine.
//!
//! `cargo bench --bench webhook_load`; env `BENCH_SECS` (default 5) and
//! `BENCH_CLIENTS` (default 32). `BENCH_STATE=postgres`: three receivers
//! (each its own server and database session, in this process) on one
//! throwaway PostgreSQL cluster (fsync and `synchronous_commit` on), the
//! clients spread over them.
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed test or bench

#[path = "support/measure.rs"]
mod measure;
#[allow(unsafe_code)] // the cluster helper stops its server at exit
#[path = "../tests/it/pg_cluster.rs"]
mod pg_cluster;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use waform::secret::Secret;
use waform::state::{PgLocation, SendLedger, StateLocation};

const SECRET: &str = "bench-secret";

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
    let dir = tempfile::tempdir().expect("temp dir");
    let location = if std::env::var("BENCH_STATE").as_deref() == Ok("postgres") {
        let url = tokio::task::spawn_blocking(pg_cluster::database)
            .await
            .expect("cluster")
            .expect("BENCH_STATE=postgres needs the PostgreSQL server binaries");
        StateLocation::Postgres(PgLocation { url, schema: None })
    } else {
        StateLocation::Sqlite(dir.path().join("state.db"))
    };
    let receivers = match location {
        StateLocation::Postgres(_) => 3,
        _ => 1,
    };
    let mut urls = Vec::new();
    let mut servers = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..receivers {
        let ledger: Arc<dyn SendLedger> =
            Arc::from(waform::state::open(&location).expect("ledger"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        servers.push(tokio::spawn(waform::webhook::serve(
            ledger,
            Secret::new(SECRET),
            listener,
            async move {
                let _ = stop_rx.await;
            },
        )));
        stops.push(stop_tx);
        urls.push(format!("http://{addr}/?secret={SECRET}"));
    }

    let accepted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (url, accepted, failed, stop) = (
            urls[k % urls.len()].clone(),
            accepted.clone(),
            failed.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"instanceId": "bench", "ack": [{
                    "id": format!("wamid.bench-{k}-{i}"), "status": "delivered",
                    "chatId": "15551230001@c.us", "phone": "15551230001"}]});
                i += 1;
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    for s in stops {
        let _ = s.send(());
    }
    for s in servers {
        let _ = s.await;
    }
    let n = accepted.load(Ordering::Relaxed);
    let stored = tokio::task::spawn_blocking(move || {
        waform::state::open(&location).and_then(|l| l.event_count())
    })
    .await
    .expect("count")
    .unwrap_or(0);
    println!(
        "webhook_load: {receivers} receiver(s), {clients} clients, {elapsed:.1}s: {n} events accepted ({:.0} events/s), \
         {} failed, {stored} events in the ledger",
        n as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
}
