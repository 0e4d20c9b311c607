//! The API token in no output, plan file or ledger, on every error path:
//! refused connections, DNS and TLS failures, timeouts, every error status,
//! redirects, malformed bodies and 200s whose body quotes the token back in
//! several spellings. The token holds `+/=&%~* ` so that each encoding
//! (percent, form, JSON) spells it differently.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use waform::provider::onemsg::{OneMsgClient, OneMsgConfig};
use waform::provider::Provider;
use waform::sandbox::SandboxConfig;
use waform::secret::Secret;

use crate::apply::{people, sandbox, template_config, Sandbox};
use crate::common::TestContext;

const TOKEN: &str = "Ab+/=&%~* Zq9tok~end";

/// Spellings the token takes in URLs and JSON; none may appear anywhere.
fn spellings() -> Vec<String> {
    let mut upper = String::new();
    let mut lower = String::new();
    let mut form = String::new();
    for b in TOKEN.bytes() {
        if b.is_ascii_alphanumeric() {
            for s in [&mut upper, &mut lower, &mut form] {
                s.push(b as char);
            }
        } else {
            upper.push_str(&format!("%{b:02X}"));
            lower.push_str(&format!("%{b:02x}"));
            form.push_str(&if b == b' ' {
                "+".to_string()
            } else {
                format!("%{b:02X}")
            });
        }
    }
    let json = TOKEN.replace('/', "\\/").replace('&', "\\u0026");
    // The core no encoding changes: any spelling of the token contains it.
    vec![TOKEN.into(), upper, lower, form, json, "Zq9tok".into()]
}

/// An error body quoting the token back raw, percent-encoded and
/// JSON-escaped.
fn echo_body() -> String {
    let s = spellings();
    format!(
        r#"{{"error":"token {} (sent as {} / {}) is not valid for channel inst"}}"#,
        TOKEN.replace('&', "\\u0026"),
        s[1],
        s[4]
    )
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Status(u16),
    Ok200WithError,
    Redirect,
    Malformed,
}

#[derive(Clone)]
struct Proxy {
    sandbox: String,
    fault: Fault,
    /// Fail every request (reads), or only sends.
    everything: bool,
    port: u16,
    http: reqwest::Client,
}

async fn proxy(
    State(p): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_send = uri.path().ends_with("/sendTemplate") || uri.path().ends_with("/sendFlow");
    if (p.everything || is_send) && !uri.path().starts_with("/redirected") {
        return match p.fault {
            Fault::Status(code) => {
                let mut r =
                    (StatusCode::from_u16(code).expect("status"), echo_body()).into_response();
                if code == 429 {
                    r.headers_mut()
                        .insert("retry-after", "0".parse().expect("value"));
                }
                r
            }
            Fault::Ok200WithError => (StatusCode::OK, echo_body()).into_response(),
            Fault::Malformed => {
                (StatusCode::OK, format!("<html>{}</html>", echo_body())).into_response()
            }
            Fault::Redirect => {
                let location = format!(
                    "http://127.0.0.1:{}/redirected?token={}",
                    p.port,
                    spellings()[1]
                );
                (StatusCode::FOUND, [("location", location)], "").into_response()
            }
        };
    }
    let url = format!(
        "{}{}",
        p.sandbox,
        uri.path_and_query().map_or("", |q| q.as_str())
    );
    let mut req = p.http.request(method, url).body(body);
    if let Some(ct) = headers.get("content-type") {
        req = req.header("content-type", ct.clone());
    }
    match req.send().await {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).expect("status");
            (status, r.bytes().await.unwrap_or_default()).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// Starts a proxy in front of the sandbox that answers with `fault`.
fn start_proxy(
    sb: &Sandbox,
    rt: &tokio::runtime::Runtime,
    fault: Fault,
    everything: bool,
) -> SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Proxy {
            sandbox: sb.handle.base_url(),
            fault,
            everything,
            port: addr.port(),
            http: reqwest::Client::new(),
        });
        let app = Router::new().fallback(proxy).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    })
}

/// Every file under `dir` (the ledger, its WAL, plan files), as bytes.
fn files_under(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
}

fn assert_clean(case: &str, texts: &[(String, Vec<u8>)]) {
    for (name, bytes) in texts {
        let text = String::from_utf8_lossy(bytes);
        for spelled in spellings() {
            assert!(
                !text.contains(&spelled),
                "{case}: {name} holds the token as {spelled:?}:\n{}",
                text.chars().take(3000).collect::<String>()
            );
        }
    }
}

/// Runs `args` like [`run`], but ends the run with SIGTERM after `limit`
/// (apply keeps retrying sends the API refuses with 401/403/404, which
/// leave nobody sent, until it is stopped).
fn run_stopped_after(
    ctx: &TestContext,
    base: &str,
    args: &[&str],
    limit: Duration,
) -> Vec<(String, Vec<u8>)> {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("waform"));
    command
        .current_dir(ctx.path())
        .env_remove("WAFORM_STATE")
        .env_remove("WAFORM_WEBHOOK_SECRET")
        .env("NO_COLOR", "1")
        .env("WAFORM_BASE_URL", base)
        .env("WAFORM_INSTANCE", "inst")
        .env("WAFORM_TOKEN", TOKEN)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("spawn");
    let pid = child.id() as i32;
    let started = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("wait"));
    while !waiter.is_finished() && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !waiter.is_finished() {
        // SAFETY: signalling the child this test spawned and has not reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let out = waiter.join().expect("join");
    assert!(
        matches!(out.status.code(), Some(0..=2 | 130 | 143)),
        "{args:?} at {base}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    vec![
        (format!("{args:?} stdout"), out.stdout),
        (format!("{args:?} stderr"), out.stderr),
    ]
}

/// Runs `args` with the account at `base`; returns stdout and stderr.
fn run(ctx: &TestContext, base: &str, args: &[&str]) -> Vec<(String, Vec<u8>)> {
    let case = std::thread::current().name().unwrap_or("?").to_string();
    let out = ctx
        .cmd()
        .env("WAFORM_BASE_URL", base)
        .env("WAFORM_INSTANCE", "inst")
        .env("WAFORM_TOKEN", TOKEN)
        .args(args)
        .timeout(Duration::from_secs(90))
        .output()
        .expect("runs");
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "{case} {args:?} at {base}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    vec![
        (format!("{args:?} stdout"), out.stdout),
        (format!("{args:?} stderr"), out.stderr),
    ]
}

fn workspace() -> TestContext {
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up"));
    ctx.write("people.csv", &people(3));
    ctx
}

#[test]
fn the_token_appears_in_no_output_plan_file_or_ledger_on_any_error_path() {
    let sb = sandbox(|c: &mut SandboxConfig| {
        c.token = Secret::new(TOKEN);
        c.instance = "inst".into();
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let faults = [
        Fault::Ok200WithError,
        Fault::Status(400),
        Fault::Status(401),
        Fault::Status(403),
        Fault::Status(404),
        Fault::Status(429),
        Fault::Status(500),
        Fault::Status(502),
        Fault::Redirect,
        Fault::Malformed,
    ];
    std::thread::scope(|scope| {
        for fault in faults {
            // Reads fail: plan (with a plan file) and status.
            let reads = start_proxy(&sb, &rt, fault, true);
            // Sends fail: apply records the outcome in the ledger.
            let sends = start_proxy(&sb, &rt, fault, false);
            let name = format!("{fault:?}");
            std::thread::Builder::new()
                .name(name)
                .spawn_scoped(scope, move || {
                    let case = format!("{fault:?}");
                    let ctx = workspace();
                    let mut texts = run(
                        &ctx,
                        &format!("http://{reads}"),
                        &["plan", "--out", "plan.json"],
                    );
                    texts.extend(run_stopped_after(
                        &ctx,
                        &format!("http://{sends}"),
                        &["apply", "--auto-approve", "--approval-timeout", "20s"],
                        Duration::from_secs(15),
                    ));
                    texts.extend(run(
                        &ctx,
                        &format!("http://{sends}"),
                        &["plan", "--out", "after.json", "--format", "json"],
                    ));
                    texts.extend(run(&ctx, &format!("http://{sends}"), &["status"]));
                    files_under(ctx.path(), &mut texts);
                    assert_clean(&case, &texts);
                    assert!(
                        texts.iter().any(|(name, _)| name.ends_with("state.db")),
                        "{case}: apply wrote no ledger: {}",
                        String::from_utf8_lossy(&texts[3].1)
                    );
                })
                .expect("thread");
        }
        // Transport failures before any answer.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let plain = {
            // TLS spoken to a plain HTTP server: a handshake failure.
            format!(
                "https://127.0.0.1:{}",
                sb.handle.base_url().rsplit(':').next().unwrap_or("1")
            )
        };
        for (case, base) in [
            ("refused", format!("http://{closed}")),
            ("dns", "http://waform-test.invalid".to_string()),
            ("tls", plain),
        ] {
            scope.spawn(move || {
                let ctx = workspace();
                let mut texts = run(&ctx, &base, &["plan", "--out", "plan.json"]);
                texts.extend(run_stopped_after(
                    &ctx,
                    &base,
                    &["apply", "--auto-approve"],
                    Duration::from_secs(15),
                ));
                files_under(ctx.path(), &mut texts);
                assert_clean(case, &texts);
            });
        }
        // A black hole: accepted, never answered. The read fails within
        // its budget, naming the URL.
        scope.spawn(|| {
            let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = hole.local_addr().expect("addr");
            let ctx = workspace();
            let started = Instant::now();
            let texts = run(&ctx, &format!("http://{addr}"), &["plan"]);
            let elapsed = started.elapsed();
            assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
            let stderr = String::from_utf8_lossy(&texts[1].1).into_owned();
            assert!(
                stderr.contains(&format!("GET http://{addr}/inst/templates")),
                "{stderr}"
            );
            assert_clean("timeout", &texts);
            drop(hole);
        });
    });
}

/// Trace logs (every HTTP request, retry, commit and lock wait) carry no
/// spelling of the token: not through request logging, retries of 429s, nor
/// anything a dependency logs at trace level.
#[test]
fn trace_logs_never_carry_the_token() {
    let sb = sandbox(|c: &mut SandboxConfig| {
        c.token = Secret::new(TOKEN);
        c.instance = "inst".into();
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let limited = start_proxy(&sb, &rt, Fault::Status(429), true);
    let ctx = workspace();
    let traced = |base: &str, args: &[&str]| {
        let out = ctx
            .cmd()
            .env("WAFORM_LOG", "trace")
            .env("WAFORM_BASE_URL", base)
            .env("WAFORM_INSTANCE", "inst")
            .env("WAFORM_TOKEN", TOKEN)
            .args(args)
            .timeout(Duration::from_secs(90))
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out,
        )
    };
    // Reads answered 429 every time: retried with backoff, then refused.
    let (code, retried, out) = traced(&format!("http://{limited}"), &["plan"]);
    assert_eq!(code, Some(1), "{retried}");
    assert!(retried.contains("retrying after backoff"), "{retried}");
    assert!(retried.contains("status=429"), "{retried}");
    let mut texts = vec![("plan stderr".to_string(), out.stderr)];
    // A whole apply against the account: reads, template creation, sends,
    // ledger commits.
    let (code, applied, out) = traced(
        &sb.handle.base_url(),
        &["apply", "--auto-approve", "--approval-timeout", "20s"],
    );
    assert_eq!(code, Some(0), "{applied}");
    assert!(applied.contains("/inst/templates"), "{applied}");
    assert!(applied.contains("/inst/sendTemplate"), "{applied}");
    assert!(applied.contains("ledger group committed"), "{applied}");
    texts.push(("apply stderr".to_string(), out.stderr));
    assert_clean("trace", &texts);
}

#[test]
fn a_short_token_is_refused_not_masked_everywhere() {
    let ctx = workspace();
    let out = ctx
        .cmd()
        .env("WAFORM_BASE_URL", "http://127.0.0.1:9")
        .env("WAFORM_INSTANCE", "inst")
        .env("WAFORM_TOKEN", "t")
        .arg("plan")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the API token (env WAFORM_TOKEN) is 1 character long"),
        "{stderr}"
    );
    // Not garbled: the letter t is still in the words.
    assert!(stderr.contains("token"), "{stderr}");
}

#[tokio::test]
async fn a_black_holed_read_fails_within_its_budget_naming_the_url() {
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = hole.local_addr().expect("addr");
    let mut cfg = OneMsgConfig::new(format!("http://{addr}"), "inst", Secret::new(TOKEN));
    cfg.read_budget = Duration::from_secs(2);
    let client = OneMsgClient::new(cfg).expect("client");
    let started = Instant::now();
    let err = client.list_templates().await.expect_err("times out");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("GET http://{addr}/inst/templates")),
        "{text}"
    );
    for spelled in spellings() {
        assert!(!text.contains(&spelled), "{text}");
    }
    drop(hole);
}
