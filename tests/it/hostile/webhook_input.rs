//! Webhook bodies and callers built to hurt: JSON nested past serde's
//! limit, callers with a wrong secret.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use waform::secret::Secret;
use waform::state::Ledger;

use crate::common::TestContext;

const SECRET: &str = "hostile-webhook-secret";

#[tokio::test]
async fn valid_json_deeper_than_the_limit_is_stored_raw_and_answered_200() {
    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    let ledger = Arc::new(Ledger::open(&db).expect("ledger"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(waform::webhook::serve(
        ledger,
        Secret::new(SECRET),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let deep = format!("{{\"entry\": {}1{}}}", "[".repeat(300), "]".repeat(300));
    let answer = reqwest::Client::new()
        .post(format!("http://{addr}/hooks/1msg?secret={SECRET}"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .expect("post");
    assert_eq!(answer.status().as_u16(), 200);
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    let count = Ledger::open(&db)
        .expect("ledger")
        .event_count()
        .expect("count");
    assert_eq!(count, 1, "the deep body is kept as one unclassified event");
}

#[test]
fn a_wrong_secret_is_logged_as_one_line_without_any_secret() {
    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    let stderr_path = ctx.path().join("stderr.txt");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("waform"))
        .current_dir(ctx.path())
        .env_remove("WAFORM_STATE")
        .env("WAFORM_WEBHOOK_SECRET", SECRET)
        .args(["webhook", "--listen", "127.0.0.1:0", "--state"])
        .arg(format!("sqlite://{}", db.display()))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("line");
    let base = line
        .trim()
        .strip_prefix("webhook listening on ")
        .expect("announcement")
        .to_string();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/hooks/1msg?secret=wrong-Guess-42"))
            .body("{}")
            .send()
            .await
            .expect("post")
            .status()
            .as_u16()
    });
    assert_eq!(status, 401);
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&stderr_path).expect("log");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("401")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("webhook: 401 for POST /hooks/1msg"),
        "{log}"
    );
    assert!(
        !log.contains("wrong-Guess-42") && !log.contains(SECRET),
        "{log}"
    );
}
