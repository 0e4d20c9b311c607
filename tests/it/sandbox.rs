//! The sandbox over raw HTTP (shapes a client other than ours would see),
//! its webhooks, the `waform sandbox` command, and the official 1msg Python
//! SDK as a client nobody here wrote.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use waform::provider::{AccountFlow, FlowStatus, TemplateStatus};
use waform::sandbox::{self, SandboxConfig, SandboxHandle};

const FLOW_ID: &str = "1234567890123456";

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start(config: SandboxConfig) -> SandboxHandle {
    sandbox::start(config, localhost())
        .await
        .expect("sandbox starts")
}

fn published_flow() -> AccountFlow {
    AccountFlow {
        id: FLOW_ID.into(),
        name: "signup".into(),
        status: FlowStatus::Published,
    }
}

fn url(sb: &SandboxHandle, method: &str) -> String {
    format!(
        "{}/{}/{method}?token=sandbox-token",
        sb.base_url(),
        sb.instance()
    )
}

fn template_body(name: &str) -> Value {
    json!({"name": name, "category": "MARKETING", "language": "en_US", "components": [
        {"type": "BODY", "text": "Hi {{1}}, our courses are open.", "example": {"body_text": [["Anna"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Sign up", "flow_id": FLOW_ID, "flow_action": "navigate"}]}]})
}

fn send_body(name: &str, token: &str) -> Value {
    json!({"template": name, "language": {"policy": "deterministic", "code": "en_US"}, "phone": "15551234567",
           "params": [{"type": "body", "parameters": [{"type": "text", "text": "Anna"}]},
                      {"type": "button", "sub_type": "flow", "index": "0",
                       "parameters": [{"type": "action", "action": {"flow_token": token, "flow_action_data": {"fname": "Anna"}}}]}]})
}

#[tokio::test]
async fn sandbox_auth_and_instance() {
    let sb = start(SandboxConfig::default()).await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!(
            "{}/sandbox/templates?token=WRONG-token-xyz",
            sb.base_url()
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    let message = body["error"].as_str().expect("error string");
    assert!(
        !message.contains("WRONG-token-xyz") && !message.contains("sandbox-token"),
        "{message}"
    );

    let r = http
        .get(format!("{}/sandbox/templates", sb.base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401, "no token at all");

    let r = http
        .get(format!("{}/sandbox/templates", sb.base_url()))
        .bearer_auth("sandbox-token")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "Bearer works too");

    let r = http
        .get(format!(
            "{}/other/templates?token=sandbox-token",
            sb.base_url()
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    let r = http.get(url(&sb, "me")).send().await.expect("request");
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.expect("json");
    assert!(me["phone"].is_string());
}

#[tokio::test]
async fn sandbox_template_listing_shape_and_paging() {
    let sb = start(SandboxConfig {
        flows: vec![published_flow()],
        approve_after: Duration::from_secs(3600),
        ..SandboxConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    for name in ["a_one", "b_two", "c_three"] {
        let r = http
            .post(url(&sb, "addTemplate"))
            .json(&template_body(name))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    let page: Value = http
        .get(format!("{}&limit=2&offset=1", url(&sb, "templates")))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(page["total"], 3);
    let items = page["templates"].as_array().expect("array");
    assert_eq!(items.len(), 2);
    let first = &items[0];
    assert_eq!(first["name"], "b_two");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["rejected_reason"], "NONE");
    assert_eq!(first["language"], "en_US");
    assert_eq!(first["category"], "MARKETING");
    assert!(first["id"].is_string() && first["namespace"].is_string());
    assert_eq!(first["components"][0]["type"], "BODY");

    // Control: reject with a reason, approve.
    let r = http
        .post(format!("{}/_sandbox/templates/a_one/reject", sb.base_url()))
        .json(&json!({"reason": "INCORRECT_CATEGORY"}))
        .send()
        .await
        .expect("reject");
    assert!(r.status().is_success());
    http.post(format!(
        "{}/_sandbox/templates/b_two/approve",
        sb.base_url()
    ))
    .send()
    .await
    .expect("approve");
    let templates = sb.templates();
    assert_eq!(templates[0].status, TemplateStatus::Rejected);
    assert_eq!(
        templates[0].rejected_reason.as_deref(),
        Some("INCORRECT_CATEGORY")
    );
    assert_eq!(templates[1].status, TemplateStatus::Approved);
    assert_eq!(templates[2].status, TemplateStatus::Pending);
    let r = http
        .post(format!("{}/_sandbox/templates/nope/approve", sb.base_url()))
        .send()
        .await
        .expect("approve");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn sandbox_defaults_and_approval_delay() {
    let d = SandboxConfig::default();
    assert_eq!(d.instance, "sandbox");
    assert_eq!(d.token.expose(), "sandbox-token");
    assert_eq!(d.approve_after, Duration::from_secs(2));

    let sb = start(SandboxConfig {
        flows: vec![published_flow()],
        approve_after: Duration::from_millis(300),
        ..SandboxConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    http.post(url(&sb, "addTemplate"))
        .json(&template_body("later"))
        .send()
        .await
        .expect("add");
    let sent: Value = http
        .post(url(&sb, "sendTemplate"))
        .json(&send_body("later", "t"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(sent["sent"], false, "pending cannot be sent: {sent}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sb.templates()[0].status, TemplateStatus::Approved);
    let sent: Value = http
        .post(url(&sb, "sendTemplate"))
        .json(&send_body("later", "t"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(sent["sent"], true, "{sent}");
}

#[tokio::test]
async fn sandbox_validates_templates() {
    let sb = start(SandboxConfig {
        flows: vec![published_flow()],
        ..SandboxConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let mut bad = template_body("ok_name");
    bad["components"][0]["text"] = json!("{{1}} at the start");
    let r = http
        .post(url(&sb, "addTemplate"))
        .json(&bad)
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("start"),
        "{body}"
    );

    let mut unknown_flow = template_body("ok_name");
    unknown_flow["components"][1]["buttons"][0]["flow_id"] = json!("999");
    let r = http
        .post(url(&sb, "addTemplate"))
        .json(&unknown_flow)
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), 400);

    // Components as a JSON string in a form body, as form-first clients send.
    let components = template_body("formed")["components"].to_string();
    let r = http
        .post(url(&sb, "addTemplate"))
        .form(&[
            ("name", "formed"),
            ("category", "utility"),
            ("language", "en_US"),
            ("components", components.as_str()),
        ])
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(sb.templates()[0].category, "UTILITY");
}

#[tokio::test]
async fn sandbox_send_flow_accepts_form_bodies_and_numeric_phones() {
    let sb = start(SandboxConfig {
        flows: vec![published_flow()],
        ..SandboxConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_sandbox/inbound", sb.base_url()))
        .json(&json!({"phone": "+79991234567"}))
        .send()
        .await
        .expect("inbound");
    assert!(r.status().is_success());
    // Form-urlencoded, nested objects stringified (the SDKs' default).
    let r = http
        .post(url(&sb, "sendFlow"))
        .form(&[
            ("body", "Finish"),
            ("flowId", FLOW_ID),
            ("flowToken", "form-tok"),
            ("flowCta", "Open"),
            ("flowAction", "navigate"),
            (
                "flowActionPayload",
                r#"{"screen":"WELCOME","data":{"a":"b"}}"#,
            ),
            ("phone", "79991234567"),
        ])
        .send()
        .await
        .expect("sendFlow");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["sent"], true, "{body}");
    // JSON with the phone as an integer (the contract's type).
    let r = http
        .post(url(&sb, "sendFlow"))
        .json(
            &json!({"body": "Finish", "flowId": FLOW_ID, "flowToken": "json-tok", "flowCta": "Open",
                      "flowActionPayload": {"screen": "WELCOME"}, "phone": 79991234567u64}),
        )
        .send()
        .await
        .expect("sendFlow");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["sent"], true, "{body}");
    // Missing required field: 400 with {"error"}.
    let r = http
        .post(url(&sb, "sendFlow"))
        .json(&json!({"body": "Finish", "flowId": FLOW_ID, "flowCta": "Open", "phone": "79991234567"}))
        .send()
        .await
        .expect("sendFlow");
    assert_eq!(r.status(), 400);

    let sends: Value = http
        .get(format!("{}/_sandbox/sends", sb.base_url()))
        .send()
        .await
        .expect("sends")
        .json()
        .await
        .expect("json");
    let sends = sends.as_array().expect("array");
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0]["kind"], "flow");
    assert_eq!(sends[0]["phone"], "79991234567");
    assert_eq!(sends[0]["flow_token"], "form-tok");
    assert_eq!(sends[0]["action_data"], json!({"a": "b"}));
    for key in [
        "id",
        "kind",
        "phone",
        "template",
        "language",
        "flow_token",
        "params",
    ] {
        assert!(sends[1].get(key).is_some(), "{key} in {}", sends[1]);
    }
}

#[tokio::test]
async fn sandbox_flows_control_endpoint() {
    let sb = start(SandboxConfig::default()).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_sandbox/flows", sb.base_url()))
        .json(&json!({"id": "42", "name": "survey", "status": "DRAFT"}))
        .send()
        .await
        .expect("flow");
    assert!(r.status().is_success());
    // Control bodies are JSON whatever the Content-Type (a bare `curl -d`).
    let r = http
        .post(format!("{}/_sandbox/flows", sb.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"id": "43", "name": "tmp"}"#)
        .send()
        .await
        .expect("flow");
    assert!(r.status().is_success());
    sb.add_flow(AccountFlow {
        id: "43".into(),
        name: "other".into(),
        status: FlowStatus::Published,
    });
    let flows: Value = http
        .get(url(&sb, "flows"))
        .send()
        .await
        .expect("flows")
        .json()
        .await
        .expect("json");
    assert_eq!(flows["total"], 2);
    assert_eq!(flows["items"][0]["status"], "DRAFT");
    assert_eq!(flows["items"][1]["id"], "43");
}

#[tokio::test]
async fn sandbox_faults_are_seeded() {
    async fn pattern(seed: u64) -> Vec<u16> {
        let sb = start(SandboxConfig {
            flows: vec![published_flow()],
            approve_after: Duration::ZERO,
            fault_429: 0.3,
            fault_500: 0.3,
            seed,
            ..SandboxConfig::default()
        })
        .await;
        let http = reqwest::Client::new();
        http.post(url(&sb, "addTemplate"))
            .json(&template_body("t"))
            .send()
            .await
            .expect("add");
        let mut statuses = Vec::new();
        for i in 0..30 {
            let r = http
                .post(url(&sb, "sendTemplate"))
                .json(&send_body("t", &format!("tok-{i}")))
                .send()
                .await
                .expect("send");
            if r.status() == 429 {
                assert!(r.headers().get("retry-after").is_some());
            }
            statuses.push(r.status().as_u16());
        }
        // Every 200 and every 500 is in the log; no 429 is.
        let logged = sb.sends().len();
        assert_eq!(logged, statuses.iter().filter(|s| **s != 429).count());
        statuses
    }
    let a = pattern(7).await;
    assert_eq!(a, pattern(7).await, "same seed, same faults");
    assert!(
        a.contains(&429) && a.contains(&500) && a.contains(&200),
        "{a:?}"
    );
}

/// Collects webhook payloads.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |Json(v): Json<Value>| {
            let g = g.clone();
            async move {
                g.lock().expect("lock").push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(localhost())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

async fn wait_for(got: &Arc<Mutex<Vec<Value>>>, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let v = got.lock().expect("lock").clone();
        if v.len() >= n {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    got.lock().expect("lock").clone()
}

#[tokio::test]
async fn sandbox_webhooks_acks_inbound_and_completion() {
    let (hook, got) = receiver().await;
    let sb = start(SandboxConfig {
        flows: vec![published_flow()],
        approve_after: Duration::ZERO,
        webhook: Some(hook),
        ..SandboxConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    http.post(url(&sb, "addTemplate"))
        .json(&template_body("t"))
        .send()
        .await
        .expect("add");
    let sent: Value = http
        .post(url(&sb, "sendTemplate"))
        .json(&send_body("t", "spring-15551234567"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let id = sent["id"].as_str().expect("id").to_string();

    let events = wait_for(&got, 2).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["instanceId"], "sandbox");
    assert_eq!(events[0]["ack"][0]["id"], id.as_str());
    assert_eq!(events[0]["ack"][0]["status"], "sent");
    assert_eq!(events[0]["ack"][0]["chatId"], "15551234567@c.us");
    assert_eq!(events[0]["ack"][0]["phone"], "15551234567");
    assert_eq!(events[1]["ack"][0]["status"], "delivered");

    let r = http
        .post(format!("{}/_sandbox/read", sb.base_url()))
        .json(&json!({"id": id}))
        .send()
        .await
        .expect("read");
    assert!(r.status().is_success());

    let r = http
        .post(format!("{}/_sandbox/complete", sb.base_url()))
        .json(
            &json!({"flow_token": "spring-15551234567", "response": {"course": "math", "age": 30}}),
        )
        .send()
        .await
        .expect("complete");
    assert!(r.status().is_success());
    let r = http
        .post(format!("{}/_sandbox/complete", sb.base_url()))
        .json(&json!({"flow_token": "nobody", "response": {}}))
        .send()
        .await
        .expect("complete");
    assert_eq!(r.status(), 404);

    http.post(format!("{}/_sandbox/inbound", sb.base_url()))
        .json(&json!({"phone": "15550001111", "body": "hello"}))
        .send()
        .await
        .expect("inbound");

    let events = wait_for(&got, 5).await;
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(events[2]["ack"][0]["status"], "read");
    let done = &events[3]["messages"][0];
    assert_eq!(done["type"], "interactive");
    assert_eq!(done["fromMe"], false);
    assert_eq!(done["chatId"], "15551234567@c.us");
    assert_eq!(done["quotedMsgId"], id.as_str());
    assert_eq!(done["interactive"]["type"], "nfm_reply");
    let reply = &done["interactive"]["nfm_reply"];
    assert_eq!(reply["name"], "flow");
    let response: Value =
        serde_json::from_str(reply["response_json"].as_str().expect("a JSON string"))
            .expect("json");
    assert_eq!(
        response,
        json!({"course": "math", "age": 30, "flow_token": "spring-15551234567"})
    );
    let inbound = &events[4]["messages"][0];
    assert_eq!(inbound["type"], "chat");
    assert_eq!(inbound["body"], "hello");
    assert_eq!(inbound["chatId"], "15550001111@c.us");
    assert!(inbound["time"].is_i64());
}

#[tokio::test]
async fn sandbox_stops_on_shutdown() {
    let sb = start(SandboxConfig::default()).await;
    let addr = sb.addr();
    sb.shutdown().await;
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/sandbox/me?token=sandbox-token"))
        .send()
        .await;
    assert!(r.is_err(), "still answering after shutdown");
}

/// A `waform sandbox` process, killed when dropped (an assertion failing
/// before SIGTERM must not leave it running).
struct CliSandbox {
    child: std::process::Child,
    base: String,
}

impl CliSandbox {
    /// Spawns `waform sandbox --listen 127.0.0.1:0 ARGS` and reads the
    /// announced address from its first line.
    fn spawn(instance: &str, args: &[&str]) -> CliSandbox {
        let bin = assert_cmd::cargo::cargo_bin("waform");
        let mut child = Command::new(bin)
            .args(["sandbox", "--listen", "127.0.0.1:0", "--instance", instance])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn waform sandbox");
        let stdout = child.stdout.take().expect("stdout");
        let mut sandbox = CliSandbox {
            child,
            base: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("line");
        let suffix = format!(" (instance {instance})");
        sandbox.base = line
            .trim()
            .strip_prefix("sandbox listening on ")
            .and_then(|rest| rest.strip_suffix(suffix.as_str()))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        sandbox
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: plain signal to our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0);
        self.child.wait().expect("wait")
    }
}

impl Drop for CliSandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `waform sandbox` as a process: the announced line, the flags applied, and
/// a clean exit on SIGTERM.
#[test]
fn sandbox_command_serves_until_sigterm() {
    let sb = CliSandbox::spawn(
        "cli_inst",
        &[
            "--token",
            "cli-token",
            "--flow",
            "77=signup",
            "--flow",
            "78=old:DEPRECATED",
            "--approve-after",
            "100ms",
        ],
    );
    let flows: Value = blocking_get_json(&format!("{}/cli_inst/flows?token=cli-token", sb.base));
    assert_eq!(flows["items"][0]["id"], "77");
    assert_eq!(flows["items"][1]["status"], "DEPRECATED");
    let status = sb.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn sandbox_command_rejects_bad_flags() {
    let ctx = crate::common::TestContext::new();
    for args in [
        vec![
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--approve-after",
            "soon",
        ],
        vec!["sandbox", "--listen", "127.0.0.1:0", "--fault-429", "1.5"],
        vec!["sandbox", "--listen", "127.0.0.1:0", "--flow", "nonsense"],
    ] {
        let out = ctx.cmd().args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
    }
}

/// Tiny blocking GET for the process test (no blocking reqwest feature).
fn blocking_get_json(url: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        reqwest::get(url)
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    })
}

/// The official 1msg Python SDK (`one-msg-sdk==1.0.2`) lists, adds and
/// removes templates and sends a template with a FLOW button against a
/// `waform sandbox` process. Fails (does not skip) without bash, python3 or
/// pip unless WAFORM_SKIP_PY_SDK=1.
#[test]
fn sandbox_official_python_sdk() {
    if std::env::var("WAFORM_SKIP_PY_SDK").as_deref() == Ok("1") {
        eprintln!("WAFORM_SKIP_PY_SDK=1: skipping the Python SDK check");
        return;
    }
    let sb = CliSandbox::spawn(
        "sdk_inst",
        &["--token", "sdk-token", "--approve-after", "1h"],
    );
    let script = crate::common::repo_root().join("scripts/sdk_check/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args([sb.base.as_str(), "sdk_inst", "sdk-token"])
        .output()
        .expect("bash runs (set WAFORM_SKIP_PY_SDK=1 to skip)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Python SDK check failed (set WAFORM_SKIP_PY_SDK=1 to skip when python3/pip are unavailable)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains(": ok"), "{stdout}");
    let sends: Value = blocking_get_json(&format!("{}/_sandbox/sends", sb.base));
    assert_eq!(sends.as_array().map(Vec::len), Some(1), "{sends}");
    assert_eq!(sends[0]["flow_token"], "sdk-check-token");
    assert!(sb.terminate().success());
}
