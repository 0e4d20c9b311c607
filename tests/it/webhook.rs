//! The webhook loop end to end: real-shaped 1msg payloads (normalized and
//! Meta raw) posted over loopback to the in-process receiver and to the real
//! `waform webhook` binary, then checked through `waform status` and
//! `waform responses`. Includes the SIGKILL test: every event answered 200
//! survives a kill of the receiver.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use waform::secret::Secret;
use waform::state::{Intent, Ledger, Outcome, OutcomeRecord, SendKind};

use crate::common::TestContext;

const SECRET: &str = "s3cret-for-tests";
const SEND: &str = "course_signup";

/// Four recipients of `course_signup` (three accepted as m1..m3, one
/// rejected) and one of `reminder` whose outcome is unknown.
fn seed(path: &Path) {
    let ledger = Ledger::open(path).expect("ledger");
    let now = Utc::now();
    let intent = |send: &str, i: u32| Intent {
        send: send.into(),
        phone: format!("1555123000{i}"),
        flow_token: format!("{send}-tok-{i}"),
        kind: SendKind::Template,
        template: Some("course_signup_1a2b3c4d".into()),
        at: now,
    };
    let intents: Vec<Intent> = (1..=4)
        .map(|i| intent(SEND, i))
        .chain([intent("reminder", 5)])
        .collect();
    ledger.record_intents(&intents).expect("intents");
    let mut outcomes: Vec<OutcomeRecord> = (1..=3)
        .map(|i| {
            OutcomeRecord::new(
                SEND,
                &format!("1555123000{i}"),
                Outcome::Accepted {
                    message_id: Some(format!("m{i}")),
                    job_id: None,
                },
                now,
            )
        })
        .collect();
    outcomes.push(OutcomeRecord::new(
        SEND,
        "15551230004",
        Outcome::Rejected {
            reason: "invalid number".into(),
        },
        now,
    ));
    outcomes.push(OutcomeRecord::new(
        "reminder",
        "15551230005",
        Outcome::Unknown {
            reason: "timeout".into(),
        },
        now,
    ));
    ledger.record_outcomes(&outcomes).expect("outcomes");
}

fn state_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn event_count(path: &Path) -> u64 {
    Ledger::open(path)
        .expect("ledger")
        .event_count()
        .expect("count")
}

/// The receiver served in-process on 127.0.0.1:0.
struct InProcess {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn in_process(path: &Path) -> InProcess {
    let ledger = Arc::new(Ledger::open(path).expect("ledger"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(waform::webhook::serve(
        ledger,
        Secret::new(SECRET),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    InProcess {
        base: format!("http://{addr}"),
        stop: Some(stop),
        task,
    }
}

impl InProcess {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }
}

/// A real `waform webhook` process; killed when dropped.
struct Receiver {
    child: Child,
    base: String,
}

impl Receiver {
    fn start(ctx: &TestContext, db: &Path) -> Receiver {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("waform"))
            .current_dir(ctx.path())
            .env_remove("WAFORM_STATE")
            .env("WAFORM_WEBHOOK_SECRET", SECRET)
            .args(["webhook", "--listen", "127.0.0.1:0", "--state"])
            .arg(state_url(db))
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
            .expect("announcement line");
        let base = line
            .trim()
            .strip_prefix("webhook listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Receiver { child, base }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on unix
        let _ = self.child.wait();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn post(c: &reqwest::Client, base: &str, query: &str, body: &str) -> (u16, Value) {
    let r = c
        .post(format!("{base}/hooks/1msg{query}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post_ok(c: &reqwest::Client, base: &str, body: &Value) -> Value {
    let (status, answer) = post(c, base, &format!("?secret={SECRET}"), &body.to_string()).await;
    assert_eq!(status, 200, "answer {answer}");
    answer
}

fn status_json(ctx: &TestContext, db: &Path, extra: &[&str]) -> Value {
    let out = ctx
        .cmd()
        .args(["status", "--format", "json", "--state"])
        .arg(state_url(db))
        .args(extra)
        .output()
        .expect("status runs");
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

fn nfm(id: &str, phone: &str, time: i64, response: &Value) -> Value {
    json!({"id": id, "type": "interactive", "fromMe": false, "chatId": format!("{phone}@c.us"),
           "author": format!("{phone}@c.us"), "time": time, "body": "Sent", "quotedMsgId": "m1",
           "interactive": {"type": "nfm_reply", "nfm_reply": {
               "name": "flow", "body": "Sent", "response_json": response.to_string()}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_formats_duplicates_out_of_order_completions_status_and_responses() {
    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    seed(&db);
    let server = in_process(&db).await;
    let c = client();
    let base = server.base.clone();

    // Normalized: several acks and messages in one body.
    let normalized = json!({"instanceId": "VID1",
        "ack": [
            {"id": "m1", "status": "sent", "chatId": "15551230001@c.us", "phone": "15551230001"},
            {"id": "m1", "status": "delivered", "chatId": "15551230001@c.us"},
            {"id": "m2", "status": "viewed", "chatId": "15551230002@c.us"},
            {"id": "m3", "status": "failed", "error": "User's number is part of an experiment",
             "phone": "15551230003", "bsuid": "CO.1"}],
        "messages": [
            {"id": "in-1", "type": "chat", "body": "hello", "fromMe": false, "time": "1700000000",
             "chatId": "15551230009@c.us", "author": "15551230009@c.us"},
            {"id": "echo-1", "type": "chat", "body": "hi", "fromMe": "1", "self": 1,
             "chatId": "15551230001@c.us"}]});
    assert_eq!(
        post_ok(&c, &base, &normalized).await,
        json!({"stored": 6, "duplicates": 0})
    );
    // Redelivery of the whole body is idempotent.
    assert_eq!(
        post_ok(&c, &base, &normalized).await,
        json!({"stored": 0, "duplicates": 6})
    );
    // Late "delivered" for m2 after "read": read stays read; `read` and
    // `viewed` are the same status.
    let late = json!({"instanceId": "VID1", "ack": [
        {"id": "m2", "status": "delivered"}, {"id": "m2", "status": "read"}]});
    assert_eq!(
        post_ok(&c, &base, &late).await,
        json!({"stored": 1, "duplicates": 1})
    );

    // Meta raw: a delivered status after m3's failure (it did arrive), and
    // a completion for recipient 2 with nested form data.
    let form2 = json!({"flow_token": "course_signup-tok-2", "name": "Bo, Jr.",
        "address": {"city": "Lima", "zip": "15001"}, "topics": ["rust", "sql"], "age": 31});
    let raw = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
            "statuses": [{"id": "m3", "status": "delivered", "timestamp": "1700000100",
                          "recipient_id": "15551230003"}],
            "messages": [{"from": "15551230002", "id": "wamid.form2", "timestamp": "1700000200",
                "type": "interactive", "context": {"from": "1555000", "id": "m2"},
                "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                    "response_json": form2.to_string()}}}]}}]}]});
    assert_eq!(
        post_ok(&c, &base, &raw).await,
        json!({"stored": 2, "duplicates": 0})
    );

    // Normalized completion as the sandbox emits it, for recipient 1, plus
    // an item nobody can classify (kept, not dropped).
    let form1 = json!({"flow_token": "course_signup-tok-1", "name": "Ana", "consent": true});
    let completion = json!({"instanceId": "VID1", "messages": [
        nfm("wamid.form1", "15551230001", 1_700_000_300, &form1),
        {"type": "mystery"}]});
    assert_eq!(
        post_ok(&c, &base, &completion).await,
        json!({"stored": 2, "duplicates": 0})
    );

    let stored = event_count(&db);
    assert_eq!(stored, 11);

    // Garbage, wrong and missing secrets: rejected, nothing stored.
    let (status, _) = post(&c, &base, &format!("?secret={SECRET}"), "{\"ack\": [").await;
    assert_eq!(status, 400);
    let (status, _) = post(&c, &base, "?secret=wrong", &normalized.to_string()).await;
    assert_eq!(status, 401);
    let (status, _) = post(&c, &base, "", &late.to_string()).await;
    assert_eq!(status, 401);
    let (status, _) = post(&c, &base, "?secret=", &late.to_string()).await;
    assert_eq!(status, 401);
    // Over 1 MiB: 413 (or the connection closed while the client was still
    // writing the refused body).
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(1 << 20));
    let r = c
        .post(format!("{base}/?secret={SECRET}"))
        .body(big)
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
        // The unread body must not poison the pooled connection: the
        // refusal closes it (the health check below reuses the client).
        assert_eq!(
            r.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
    }
    assert_eq!(event_count(&db), stored);

    let health = c
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    server.stop().await;

    // The funnel, field by field.
    let status = status_json(&ctx, &db, &[]);
    assert_eq!(
        status,
        json!({"sends": {
            "course_signup": {"recipients": 4, "accepted": 3, "rejected": 1, "unknown": 0,
                              "delivered": 3, "read": 2, "completed": 2},
            "reminder": {"recipients": 1, "accepted": 0, "rejected": 0, "unknown": 1,
                         "delivered": 0, "read": 0, "completed": 0}}})
    );
    let one = status_json(&ctx, &db, &["--send", "reminder"]);
    assert_eq!(one["sends"].as_object().map(|m| m.len()), Some(1));

    let text = ctx
        .cmd()
        .args(["status", "--state"])
        .arg(state_url(&db))
        .output()
        .expect("status text");
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains("3 (75.0%)"), "{text}");
    assert!(text.contains("2 (66.7%)"), "{text}");

    let unknown = ctx
        .cmd()
        .args(["status", "--send", "nope", "--state"])
        .arg(state_url(&db))
        .output()
        .expect("status unknown");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nope"));

    // Responses: CSV with one column per field, nested values as JSON.
    let csv_path = ctx.path().join("out.csv");
    let out = ctx
        .cmd()
        .args(["responses", "--send", SEND, "--state"])
        .arg(state_url(&db))
        .arg("--out")
        .arg(&csv_path)
        .output()
        .expect("responses");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&csv_path).expect("csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "phone",
            "flow_token",
            "submitted_at",
            "address",
            "age",
            "consent",
            "name",
            "topics"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{csv}");
    let row2 = rows
        .iter()
        .find(|r| r[0] == "15551230002")
        .expect("recipient 2");
    assert_eq!(row2[1], "course_signup-tok-2");
    assert!(row2[2].starts_with("2023-11-14T22:16:40"), "{row2:?}");
    assert_eq!(row2[3], r#"{"city":"Lima","zip":"15001"}"#);
    assert_eq!(row2[4], "31");
    assert_eq!(row2[6], "Bo, Jr.");
    assert_eq!(row2[7], r#"["rust","sql"]"#);
    let row1 = rows
        .iter()
        .find(|r| r[0] == "15551230001")
        .expect("recipient 1");
    assert_eq!((row1[5].as_str(), row1[6].as_str()), ("true", "Ana"));
    assert_eq!(row1[3], "");

    let out = ctx
        .cmd()
        .args(["responses", "--send", SEND, "--format", "jsonl", "--state"])
        .arg(state_url(&db))
        .output()
        .expect("responses jsonl");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    let l2 = lines
        .iter()
        .find(|l| l["phone"] == "15551230002")
        .expect("line 2");
    assert_eq!(l2["flow_token"], "course_signup-tok-2");
    assert_eq!(l2["fields"]["address"]["city"], "Lima");
    assert!(l2["fields"].get("flow_token").is_none());
}

#[test]
fn status_without_a_ledger_says_nothing_recorded() {
    let ctx = TestContext::new();
    let db = ctx.path().join("never/state.db");
    let out = ctx
        .cmd()
        .args(["status", "--format", "json", "--state"])
        .arg(state_url(&db))
        .output()
        .expect("status");
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).expect("json"),
        json!({"sends": {}})
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing recorded yet"));
    assert!(!db.exists(), "status must not create the ledger");
}

#[test]
fn webhook_refuses_to_start_without_a_secret() {
    let ctx = TestContext::new();
    for value in [None, Some("")] {
        let mut cmd = ctx.cmd();
        cmd.args([
            "webhook",
            "--listen",
            "127.0.0.1:0",
            "--secret-env",
            "WF_TEST_NO_SECRET",
        ]);
        match value {
            Some(v) => cmd.env("WF_TEST_NO_SECRET", v),
            None => cmd.env_remove("WF_TEST_NO_SECRET"),
        };
        let out = cmd.timeout(Duration::from_secs(20)).output().expect("runs");
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("WF_TEST_NO_SECRET"));
    }
}

/// Events 0..n as single-ack bodies with unique message ids.
fn ack_body(client: usize, i: usize) -> Value {
    json!({"instanceId": "VID1", "ack": [
        {"id": format!("load-{client}-{i}"), "status": "delivered", "phone": "15551230001"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_answered_200_survives_sigkill() {
    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    seed(&db);
    let mut receiver = Receiver::start(&ctx, &db);
    let base = receiver.base.clone();
    let acked: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();

    let mut clients = Vec::new();
    for k in 0..4 {
        let acked = acked.clone();
        let base = base.clone();
        clients.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            for i in 0.. {
                let r = c
                    .post(format!("{base}/?secret={SECRET}"))
                    .json(&ack_body(k, i))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 200 => {
                        if let Ok(acked) = acked.lock().as_mut() {
                            acked.push((k, i));
                        }
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => break, // the receiver is gone
                }
            }
        }));
    }
    // Let the clients get going, then kill mid-stream.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().map(|a| a.len()).unwrap_or(0) < 200 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.kill();
    for c in clients {
        c.await.expect("client task");
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(acked.len() >= 200, "only {} events acked", acked.len());
    eprintln!(
        "sigkill: {} events answered 200 before the kill, {} stored",
        acked.len(),
        event_count(&db)
    );

    // Every acked event is in the store: the count covers them, and the
    // restarted receiver sees each one as a duplicate.
    assert!(event_count(&db) >= acked.len() as u64);
    let receiver = Receiver::start(&ctx, &db);
    let c = client();
    for (k, i) in &acked {
        let answer = post_ok(&c, &receiver.base, &ack_body(*k, *i)).await;
        assert_eq!(
            answer,
            json!({"stored": 0, "duplicates": 1}),
            "event {k}/{i} was answered 200 but not stored"
        );
    }
}

/// The whole loop with the sandbox as the provider: a send accepted by the
/// sandbox, its acks, a read and a submitted Flow come back through the
/// sandbox's `--webhook` delivery into the ledger and `status`/`responses`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_acks_and_completion_reach_status_and_responses() {
    use waform::provider::{AccountFlow, FlowStatus};
    use waform::sandbox::SandboxConfig;

    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    let server = in_process(&db).await;
    let sb = waform::sandbox::start(
        SandboxConfig {
            flows: vec![AccountFlow {
                id: "1234567890123456".into(),
                name: "signup".into(),
                status: FlowStatus::Published,
            }],
            approve_after: Duration::ZERO,
            webhook: Some(format!("{}/hooks/1msg?secret={SECRET}", server.base)),
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sandbox");
    let api = |method: &str| {
        format!(
            "{}/{}/{method}?token={}",
            sb.base_url(),
            sb.instance(),
            sb.token().expose()
        )
    };
    let http = client();
    let template = json!({"name": "t", "category": "MARKETING", "language": "en_US", "components": [
        {"type": "BODY", "text": "Hi {{1}}, our courses are open.", "example": {"body_text": [["Anna"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Sign up",
            "flow_id": "1234567890123456", "flow_action": "navigate"}]}]});
    let r = http
        .post(api("addTemplate"))
        .json(&template)
        .send()
        .await
        .expect("add");
    assert!(r.status().is_success());

    // What apply does: intent, send, outcome.
    let token = "course_signup-15551234567";
    let ledger = Ledger::open(&db).expect("ledger");
    ledger
        .record_intents(&[Intent {
            send: SEND.into(),
            phone: "15551234567".into(),
            flow_token: token.into(),
            kind: SendKind::Template,
            template: Some("t".into()),
            at: Utc::now(),
        }])
        .expect("intent");
    let send = json!({"template": "t", "language": {"policy": "deterministic", "code": "en_US"},
        "phone": "15551234567",
        "params": [{"type": "body", "parameters": [{"type": "text", "text": "Anna"}]},
                   {"type": "button", "sub_type": "flow", "index": "0",
                    "parameters": [{"type": "action", "action": {"flow_token": token}}]}]});
    let sent: Value = http
        .post(api("sendTemplate"))
        .json(&send)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let id = sent["id"].as_str().expect("message id").to_string();
    ledger
        .record_outcomes(&[OutcomeRecord::new(
            SEND,
            "15551234567",
            Outcome::Accepted {
                message_id: Some(id.clone()),
                job_id: None,
            },
            Utc::now(),
        )])
        .expect("outcome");

    for (path, body) in [
        ("read", json!({"id": id})),
        (
            "complete",
            json!({"flow_token": token, "response": {"course": "math", "slot": {"day": "mon"}}}),
        ),
    ] {
        let r = http
            .post(format!("{}/_sandbox/{path}", sb.base_url()))
            .json(&body)
            .send()
            .await
            .expect("control");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    // Delivery is asynchronous: wait for the funnel to fill.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let counts = loop {
        let counts = ledger.counts(Some(SEND)).expect("counts");
        let c = counts.get(SEND).copied().unwrap_or_default();
        if (c.read == 1 && c.completed == 1) || std::time::Instant::now() > deadline {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (
            counts.accepted,
            counts.delivered,
            counts.read,
            counts.completed
        ),
        (1, 1, 1, 1)
    );
    sb.shutdown().await;
    server.stop().await;

    let status = status_json(&ctx, &db, &["--send", SEND]);
    assert_eq!(status["sends"][SEND]["completed"], 1);
    let out = ctx
        .cmd()
        .args(["responses", "--send", SEND, "--state"])
        .arg(state_url(&db))
        .output()
        .expect("responses");
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("phone,flow_token,submitted_at,course,slot")
    );
    let row = lines.next().unwrap_or_default();
    assert!(
        row.starts_with("15551234567,course_signup-15551234567,"),
        "{csv}"
    );
    assert!(row.ends_with(r#",math,"{""day"":""mon""}""#), "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_tokens_are_matched_by_phone_and_odd_bodies_are_kept() {
    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    // Two sends whose rows share one token: only the phone tells them apart.
    {
        let ledger = Ledger::open(&db).expect("ledger");
        let now = Utc::now();
        let rows: Vec<Intent> = [("a", "15550000001"), ("b", "15550000002")]
            .iter()
            .map(|(send, phone)| Intent {
                send: send.to_string(),
                phone: phone.to_string(),
                flow_token: "shared".into(),
                kind: SendKind::Template,
                template: None,
                at: now,
            })
            .collect();
        ledger.record_intents(&rows).expect("intents");
    }
    let server = in_process(&db).await;
    let c = client();
    let body = json!({"instanceId": "x", "messages": [nfm("w1", "15550000002", 1_700_000_000, &json!({"flow_token": "shared", "answer": 42}))]});
    post_ok(&c, &server.base, &body).await;
    // A body with nothing we can classify is stored, not dropped.
    let odd = json!({"instanceId": "x", "messages": null, "chatUpdate": [{"x": 1}]});
    let answer = post_ok(&c, &server.base, &odd).await;
    assert_eq!(answer["stored"], 1, "{answer}");
    server.stop().await;
    let ledger = Ledger::open(&db).expect("ledger");
    assert!(
        ledger.responses("a").expect("a").is_empty(),
        "answers filed under the wrong person"
    );
    let b = ledger.responses("b").expect("b");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].phone, "15550000002");
    assert_eq!(b[0].fields["answer"], 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_with_plus_works_as_registered() {
    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    Ledger::open(&db).expect("ledger");
    let ledger = Arc::new(Ledger::open(&db).expect("ledger"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(waform::webhook::serve(
        ledger,
        Secret::new("ab+cd/ef=="),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let c = client();
    let body = json!({"instanceId": "x", "ack": []}).to_string();
    let (raw, _) = post(&c, &base, "?secret=ab+cd/ef==", &body).await;
    let (encoded, _) = post(&c, &base, "?secret=ab%2Bcd%2Fef%3D%3D", &body).await;
    let (wrong, _) = post(&c, &base, "?secret=ab%20cd/ef==", &body).await;
    assert_eq!((raw, encoded, wrong), (200, 200, 401));
    let _ = stop.send(());
    let _ = task.await;
}
