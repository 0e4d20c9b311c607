//! PostgreSQL state end to end, with the real binary: the CI story of
//! issue 11. Runners are separate working directories sharing nothing but
//! the database URL; runner A also runs in its own pid namespace when the
//! machine allows it (root), so nothing can hinge on pids.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use waform::provider::{AccountFlow, FlowStatus};
use waform::sandbox::{SandboxConfig, SandboxHandle};
use waform::state::{PgLocation, Recorded, SendLedger, StateLocation};

use crate::common::TestContext;
use crate::pg_cluster;

struct Sandbox {
    handle: SandboxHandle,
    _rt: tokio::runtime::Runtime,
}

fn sandbox() -> Sandbox {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = SandboxConfig {
        approve_after: Duration::from_millis(200),
        flows: vec![AccountFlow {
            id: "1234567890123456".into(),
            name: "Sign-up".into(),
            status: FlowStatus::Published,
        }],
        ..SandboxConfig::default()
    };
    let handle = rt
        .block_on(waform::sandbox::start(
            config,
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("sandbox");
    Sandbox { handle, _rt: rt }
}

impl Sandbox {
    fn phones_sent(&self) -> HashMap<String, usize> {
        let mut count = HashMap::new();
        for s in self.handle.sends() {
            *count.entry(s.phone.clone()).or_insert(0) += 1;
        }
        count
    }
}

const CONFIG: &str = r#"version: 1
provider: { rate_limit: RATE }
flows:
  signup: { id: "1234567890123456" }
templates:
  course_signup:
    category: MARKETING
    languages:
      en_US:
        body: "Hi {{1}}, sign up now."
        body_examples: ["Anna"]
        buttons:
          - { type: flow, text: "Sign up", flow: signup, screen: WELCOME }
sends:
  spring:
    template: course_signup
    language: en_US
    body_params: ["${recipient.fname}"]
    recipients:
      - csv: people.csv
"#;

/// A runner: its own checkout of the config, nothing else shared.
fn runner(n: usize, rate: u32) -> TestContext {
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &CONFIG.replace("RATE", &rate.to_string()));
    let mut csv = String::from("phone,fname\n");
    for i in 0..n {
        csv.push_str(&format!("+1555{i:07},Name{i}\n"));
    }
    ctx.write("people.csv", &csv);
    ctx
}

fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn apply_cmd(sb: &Sandbox, ctx: &TestContext, url: &str, namespace: bool) -> Command {
    let bin = assert_cmd::cargo::cargo_bin("waform");
    let mut cmd = if namespace {
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.current_dir(ctx.path())
        .env("WAFORM_BASE_URL", sb.handle.base_url())
        .env("WAFORM_INSTANCE", sb.handle.instance())
        .env("WAFORM_TOKEN", sb.handle.token().expose())
        .env("WAFORM_STATE", url)
        .env("NO_COLOR", "1")
        .args([
            "apply",
            "--auto-approve",
            "--approval-timeout",
            "20s",
            "--lock-timeout",
            "60s",
        ]);
    cmd
}

fn ledger(url: &str) -> Box<dyn SendLedger> {
    waform::state::open(&StateLocation::Postgres(PgLocation {
        url: url.to_string(),
        schema: None,
    }))
    .expect("open")
}

fn recorded(url: &str) -> HashMap<String, Recorded> {
    let mut rows = HashMap::new();
    ledger(url)
        .visit_rows("spring", &mut |phone, r| {
            rows.insert(phone.to_string(), r);
        })
        .expect("rows");
    rows
}

fn wait_for_sends(sb: &Sandbox, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while sb.handle.sends().len() < n {
        assert!(Instant::now() < deadline, "no sends within 60s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runner A (its own folder and, as root, its own pid namespace) is
/// SIGKILLed mid-send; runner B, another folder sharing nothing but the
/// database URL, resumes: nobody is messaged twice, and everybody is sent,
/// except the few whose request A had in flight, which stay recorded as
/// unknown (never resent automatically; `--resend-unknown` decides).
#[test]
fn apply_killed_on_runner_a_is_resumed_on_runner_b() {
    let Some(url) = pg_cluster::database() else {
        return;
    };
    let sb = sandbox();
    let n = 600;
    let a = runner(n, 300);
    let b = runner(n, 0);
    let mut child = apply_cmd(&sb, &a, &url, can_unshare())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runner A");
    wait_for_sends(&sb, 50);
    child.kill().expect("SIGKILL runner A"); // SIGKILL on unix
    let _ = child.wait();
    let sent_by_a = sb.handle.sends().len();
    assert!(sent_by_a < n, "runner A finished before the kill");

    let out = apply_cmd(&sb, &b, &url, false).output().expect("runner B");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = sb.phones_sent();
    assert!(sent.values().all(|c| *c == 1), "someone got two messages");
    let rows = recorded(&url);
    assert_eq!(rows.len(), n, "everyone is recorded");
    let mut in_doubt = 0;
    for (phone, r) in &rows {
        match r {
            Recorded::Accepted => assert!(sent.contains_key(phone), "{phone} not sent"),
            Recorded::Unknown | Recorded::IntentOnly => in_doubt += 1,
            Recorded::Rejected => panic!("{phone} rejected"),
        }
    }
    for phone in sent.keys() {
        assert!(rows.contains_key(phone), "{phone} sent but not recorded");
    }
    // Only what A had in flight is in doubt (one batch at most).
    assert!(in_doubt <= 300, "{in_doubt} in doubt");
    for phone in rows.keys() {
        assert!(
            sent.contains_key(phone) || rows[phone].is_unknown(),
            "{phone} neither sent nor in doubt"
        );
    }
}

/// Two applies started at once from two folders: one waits for the lock,
/// then finds everything sent and sends nothing twice.
#[test]
fn two_applies_at_once_send_nothing_twice() {
    let Some(url) = pg_cluster::database() else {
        return;
    };
    let sb = sandbox();
    let n = 300;
    let a = runner(n, 600);
    let b = runner(n, 600);
    let first = apply_cmd(&sb, &a, &url, false)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply A");
    let second = apply_cmd(&sb, &b, &url, false)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply B");
    let outs = [
        first.wait_with_output().expect("A"),
        second.wait_with_output().expect("B"),
    ];
    for out in &outs {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let waited = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("waiting up to"))
        .count();
    assert!(waited >= 1, "neither apply waited for the lock");
    let sent = sb.phones_sent();
    assert_eq!(sent.len(), n);
    assert!(sent.values().all(|c| *c == 1), "someone got two messages");
    let rows = recorded(&url);
    assert!(rows.values().all(|r| *r == Recorded::Accepted));
}

/// A killed apply's lock dies with its database session: the next apply
/// gets it at once, and the lock's holder row names the holder meanwhile.
#[test]
fn a_killed_holders_lock_is_free_at_once_and_the_holder_is_named_meanwhile() {
    let Some(url) = pg_cluster::database() else {
        return;
    };
    let sb = sandbox();
    let a = runner(400, 100);
    let mut child = apply_cmd(&sb, &a, &url, false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("apply");
    wait_for_sends(&sb, 5);
    let l = ledger(&url);
    let holder = l.lock_holder().expect("holder").expect("held");
    assert!(holder.command.as_deref().unwrap_or("").contains("apply"));
    assert!(!holder
        .command
        .as_deref()
        .unwrap_or("")
        .contains("postgres://"));
    let err = l
        .acquire_lock(Duration::from_millis(200))
        .expect_err("held by the running apply");
    assert!(err.to_string().contains("locked by another apply"), "{err}");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let started = Instant::now();
    let guard = l
        .acquire_lock(Duration::from_secs(10))
        .expect("free after the kill");
    assert!(started.elapsed() < Duration::from_secs(5));
    guard.release().expect("release");
}

/// The lock's session terminated by the server (a failover, an admin):
/// the holder sees the lock as lost, and apply stops before its next request.
#[test]
fn a_lost_lock_session_stops_apply() {
    let Some(cluster) = pg_cluster::cluster() else {
        return;
    };
    let url = cluster.database();
    let sb = sandbox();
    let n = 2000;
    let a = runner(n, 100);
    let child = apply_cmd(&sb, &a, &url, false)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply");
    wait_for_sends(&sb, 20);
    let db = url
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("db name")
        .to_string();
    cluster.admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = '{db}')"
    ));
    let at_kill = sb.handle.sends().len();
    let out = child.wait_with_output().expect("apply ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "apply went on without its lock");
    assert!(stderr.contains("lock"), "{stderr}");
    let sent = sb.handle.sends().len();
    // At most the requests in flight when the loss was seen (100/s, 0.1s watch).
    assert!(
        sent < n && sent <= at_kill + 60,
        "sent {sent}, {at_kill} at the kill"
    );
    let sent = sb.phones_sent();
    assert!(sent.values().all(|c| *c == 1));
}

const SECRET: &str = "pg-e2e-secret";

struct Receiver {
    child: Child,
    base: String,
}

impl Receiver {
    fn start(ctx: &TestContext, url: &str) -> Receiver {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("waform"))
            .current_dir(ctx.path())
            .env("WAFORM_WEBHOOK_SECRET", SECRET)
            .env("WAFORM_STATE", url)
            .args(["webhook", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn waform webhook");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("announcement");
        let base = line
            .trim()
            .strip_prefix("webhook listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Receiver { child, base }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ack_body(k: usize, i: usize) -> Value {
    json!({"instanceId": "VID1", "ack": [
        {"id": format!("load-{k}-{i}"), "status": "delivered", "phone": "15551230001"}]})
}

/// Three receivers on one database under concurrent load, one SIGKILLed:
/// every event answered 200 is stored exactly once, whichever receiver
/// stored it, and re-delivering it anywhere is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_receivers_one_killed_store_every_acknowledged_event_once() {
    let Some(url) = pg_cluster::database() else {
        return;
    };
    let dirs: Vec<TestContext> = (0..3).map(|_| TestContext::new()).collect();
    let mut receivers: Vec<Receiver> = dirs.iter().map(|d| Receiver::start(d, &url)).collect();
    let bases: Vec<String> = receivers.iter().map(|r| r.base.clone()).collect();
    let acked: Arc<Mutex<HashSet<(usize, usize)>>> = Arc::default();
    let mut clients = Vec::new();
    for k in 0..6 {
        let acked = acked.clone();
        let bases = bases.clone();
        clients.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            let deadline = Instant::now() + Duration::from_secs(20);
            for i in 0..500 {
                if Instant::now() > deadline {
                    break;
                }
                // Each event goes to one receiver, and every 5th is
                // re-delivered to another one (1msg retrying elsewhere).
                let targets = if i % 5 == 0 {
                    vec![i % 3, (i + 1) % 3]
                } else {
                    vec![i % 3]
                };
                for t in targets {
                    let r = c
                        .post(format!("{}/?secret={SECRET}", bases[t]))
                        .json(&ack_body(k, i))
                        .send()
                        .await;
                    if let Ok(r) = r {
                        if r.status().as_u16() == 200 {
                            if let Ok(mut a) = acked.lock() {
                                a.insert((k, i));
                            }
                        }
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().map(|a| a.len()).unwrap_or(0) < 500 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut killed = receivers.remove(1);
    let _ = killed.child.kill();
    let _ = killed.child.wait();
    for c in clients {
        c.await.expect("client");
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(acked.len() >= 500, "only {} acked", acked.len());
    let l = ledger(&url);
    let events = l.events(Some("ack")).expect("events");
    let mut keys = HashSet::new();
    for e in &events {
        assert!(
            keys.insert(e.dedupe_key.clone()),
            "{} stored twice",
            e.dedupe_key
        );
    }
    for (k, i) in &acked {
        let key = format!("ack:load-{k}-{i}:delivered");
        assert!(
            keys.contains(&key),
            "event {k}/{i} answered 200 but not stored"
        );
    }
    // Re-delivered to a surviving receiver: a duplicate, not stored again.
    let c = reqwest::Client::new();
    let (k, i) = acked.iter().next().copied().expect("one");
    let answer: Value = c
        .post(format!("{}/?secret={SECRET}", receivers[0].base))
        .json(&ack_body(k, i))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(answer, json!({"stored": 0, "duplicates": 1}));
    drop(killed);
}
