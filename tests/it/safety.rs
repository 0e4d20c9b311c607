//! Send safety under faults (docs/exactly-once.md): repeated SIGKILLs leave
//! only requests in flight in doubt, interrupts are reported truthfully,
//! `expires` holds per request, `--resend-unknown` changes nothing until it
//! sends, and a reviewed plan never reaches people it did not show. The
//! sandbox's request log (every request received, 429s included) and send
//! log are the ground truth.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use waform::provider::{AccountFlow, FlowStatus};
use waform::sandbox::{SandboxConfig, SandboxHandle};
use waform::state::{Ledger, Recorded};

use crate::common::TestContext;

pub struct Sandbox {
    pub handle: SandboxHandle,
    _rt: tokio::runtime::Runtime,
}

pub fn sandbox(tweak: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut config = SandboxConfig {
        approve_after: Duration::from_millis(200),
        flows: vec![AccountFlow {
            id: "1234567890123456".into(),
            name: "Sign-up".into(),
            status: FlowStatus::Published,
        }],
        ..SandboxConfig::default()
    };
    tweak(&mut config);
    let handle = rt
        .block_on(waform::sandbox::start(
            config,
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("sandbox");
    Sandbox { handle, _rt: rt }
}

impl Sandbox {
    pub fn env(&self, cmd: &mut Command) {
        cmd.env("WAFORM_BASE_URL", self.handle.base_url())
            .env("WAFORM_INSTANCE", self.handle.instance())
            .env("WAFORM_TOKEN", self.handle.token().expose())
            .env("NO_COLOR", "1");
    }

    /// `waform apply ARGS` in the context's dir, output captured.
    pub fn spawn(&self, ctx: &TestContext, args: &[&str]) -> Child {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("waform"));
        cmd.current_dir(ctx.path())
            .env_remove("WAFORM_STATE")
            .arg("apply")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.env(&mut cmd);
        cmd.spawn().expect("spawn")
    }

    pub fn run(&self, ctx: &TestContext, args: &[&str]) -> (Option<i32>, String) {
        let out = self.spawn(ctx, args).wait_with_output().expect("wait");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    pub fn sent_per_phone(&self) -> HashMap<String, usize> {
        let mut count = HashMap::new();
        for s in self.handle.sends() {
            *count.entry(s.phone).or_insert(0) += 1;
        }
        count
    }
}

pub fn config(rate: u32, concurrency: u32, extra: &str) -> String {
    format!(
        r#"version: 1
provider: {{ rate_limit: {rate}, concurrency: {concurrency} }}
flows:
  signup: {{ id: "1234567890123456" }}
templates:
  course_signup:
    category: MARKETING
    languages:
      en_US:
        body: "Hi {{{{1}}}}, sign up now."
        body_examples: ["Anna"]
        buttons:
          - {{ type: flow, text: "Sign up", flow: signup, screen: WELCOME }}
sends:
  spring:
    template: course_signup
    language: en_US
    body_params: ["${{recipient.fname}}"]
{extra}    recipients:
      - csv: people.csv
"#
    )
}

pub fn people(range: std::ops::Range<usize>) -> String {
    let mut csv = String::from("phone,fname\n");
    for i in range {
        csv.push_str(&format!("+1555{i:07},Name{i}\n"));
    }
    csv
}

pub fn phone(i: usize) -> String {
    format!("1555{i:07}")
}

pub fn rows(ctx: &TestContext) -> HashMap<String, Recorded> {
    let path = ctx.path().join(".waform/state.db");
    if !path.exists() {
        return HashMap::new();
    }
    Ledger::open(&path)
        .expect("ledger")
        .rows_for_send("spring")
        .expect("rows")
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn sigkill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// ≥ 10 SIGKILLs at random instants under 429 and 500-after-accept faults,
/// then a clean run. Checks the bound of docs/exactly-once.md after every
/// kill against the sandbox's own request log.
fn kill_loop(rate: u32, concurrency: u32, n: usize, tweak: impl FnOnce(&mut SandboxConfig)) {
    let sb = sandbox(tweak);
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &config(rate, concurrency, ""));
    ctx.write("people.csv", &people(0..n));
    let args = ["--auto-approve", "--lock-timeout", "10s"];
    // Rows left without outcome by each kill, and whether the sandbox had
    // seen a request for them.
    let mut in_doubt_unseen: HashSet<String> = HashSet::new();
    let mut kills = 0;
    let mut rounds = 0;
    while kills < 10 && rounds < 40 {
        rounds += 1;
        let before = rows(&ctx);
        if before.len() >= n {
            break;
        }
        let mut child = sb.spawn(&ctx, &args);
        std::thread::sleep(Duration::from_millis(150 + fastrand::u64(0..450)));
        let kill_ms = unix_ms();
        sigkill(&mut child);
        kills += 1;
        let after = rows(&ctx);
        let dangling: Vec<&String> = after
            .iter()
            .filter(|(_, r)| **r == Recorded::IntentOnly)
            .map(|(p, _)| p)
            .collect();
        let log = sb.handle.requests();
        let last_second = log
            .iter()
            .filter(|r| r.at_ms > kill_ms - 1000 && r.at_ms <= kill_ms + 50)
            .count();
        let bound = concurrency as usize + last_second.min(1000);
        assert!(
            dangling.len() <= bound,
            "kill {kills}: {} rows in doubt > {concurrency} in flight + {last_second} started in the last second",
            dangling.len()
        );
        if rate > 0 {
            assert!(
                dangling.len() <= (concurrency + rate) as usize,
                "kill {kills}: {} rows in doubt > concurrency + rate limit",
                dangling.len()
            );
        }
        let seen: HashSet<&str> = log.iter().filter_map(|r| r.phone.as_deref()).collect();
        let unseen: Vec<&String> = dangling
            .iter()
            .copied()
            .filter(|p| !seen.contains(p.as_str()))
            .collect();
        // Between its durable intent and its first byte on the wire a
        // request is in flight for waform but not yet seen by the API.
        assert!(
            unseen.len() <= concurrency as usize,
            "kill {kills}: {} rows in doubt never reached the API",
            unseen.len()
        );
        eprintln!(
            "kill {kills}: {} rows, {} in doubt ({} not seen by the API), {last_second} requests in the last second",
            after.len(),
            dangling.len(),
            unseen.len()
        );
        in_doubt_unseen.extend(unseen.into_iter().cloned());
    }
    assert!(kills >= 10 || rows(&ctx).len() >= n, "only {kills} kills");
    let (code, out) = sb.run(&ctx, &args);
    assert_eq!(code, Some(0), "{out}");

    let sent = sb.sent_per_phone();
    assert!(sent.values().all(|c| *c == 1), "someone was messaged twice");
    let final_rows = rows(&ctx);
    assert_eq!(final_rows.len(), n, "everybody planned has a row");
    let log = sb.handle.requests();
    let seen: HashSet<String> = log.iter().filter_map(|r| r.phone.clone()).collect();
    let ledger = Ledger::open(&ctx.path().join(".waform/state.db")).expect("ledger");
    for (phone, r) in &final_rows {
        match r {
            Recorded::Accepted => assert!(sent.contains_key(phone), "{phone} accepted, not sent"),
            Recorded::Rejected => panic!("{phone} rejected"),
            Recorded::IntentOnly => panic!("{phone} left without outcome after a clean run"),
            Recorded::Unknown => {
                // Unknown only when a request reached the API, or it was in
                // flight (intent durable, not yet on the wire) at a kill.
                assert!(
                    seen.contains(phone) || in_doubt_unseen.contains(phone),
                    "{phone} unknown though no request for it was ever made"
                );
                let row = ledger.row("spring", phone).expect("row").expect("exists");
                let reason = row.reason.unwrap_or_default();
                assert!(
                    reason.contains("started and was unanswered") || reason.contains("HTTP 5"),
                    "{phone}: untruthful reason {reason:?}"
                );
            }
        }
    }
    // Everyone the API never saw a request for was accepted by a later run.
    for i in 0..n {
        let p = phone(i);
        if !seen.contains(&p) && !in_doubt_unseen.contains(&p) {
            panic!("{p} never requested yet not accepted");
        }
    }
}

#[test]
fn kill_loop_without_rate_limit_leaves_only_requests_in_flight_in_doubt() {
    kill_loop(0, 16, 700, |c| {
        c.fault_429 = 0.05;
        c.fault_500 = 0.03;
        c.latency = Duration::from_millis(15);
        c.seed = fastrand::u64(..);
    });
}

#[test]
fn kill_loop_with_rate_limit_leaves_only_requests_in_flight_in_doubt() {
    kill_loop(40, 8, 260, |c| {
        c.fault_429 = 0.03;
        c.fault_500 = 0.03;
        c.latency = Duration::from_millis(10);
        c.seed = fastrand::u64(..);
    });
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn output(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// What decides whether a row is sent again, for every row: compares
/// ledgers before/after. (The reason may gain the evidence of the opening
/// history lookup, which finds nothing in another account.)
fn snapshot(ctx: &TestContext) -> Vec<String> {
    let ledger = Ledger::open(&ctx.path().join(".waform/state.db")).expect("ledger");
    let mut phones: Vec<String> = rows(ctx).into_keys().collect();
    phones.sort();
    phones
        .iter()
        .map(|p| {
            let r = ledger.row("spring", p).expect("row").expect("exists");
            format!(
                "{} {:?} {} {:?} {}",
                r.phone, r.recorded, r.intent_at, r.message_id, r.flow_token
            )
        })
        .collect()
}

#[test]
fn resend_unknown_changes_nothing_until_it_sends() {
    let faulty = sandbox(|c| {
        c.fault_500 = 1.0;
        c.approve_after = Duration::ZERO;
    });
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &config(0, 4, ""));
    ctx.write("people.csv", &people(0..5));
    let (code, out) = faulty.run(&ctx, &["--auto-approve"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("5 unknown"), "{out}");
    let before = snapshot(&ctx);
    assert_eq!(before.len(), 5);

    // Refused: no terminal to confirm on. (Another account from here on,
    // whose history cannot resolve the unknowns.)
    let healthy = sandbox(|c| c.approve_after = Duration::ZERO);
    let (code, out) = healthy.run(&ctx, &["--resend-unknown", "spring"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no terminal"), "{out}");
    assert_eq!(snapshot(&ctx), before, "a refused run changed the ledger");

    // Failed: the API is unreachable.
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("waform"));
    healthy.env(&mut cmd);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let out = cmd
        .current_dir(ctx.path())
        .env("WAFORM_BASE_URL", &dead_url)
        .args(["apply", "--auto-approve", "--resend-unknown", "spring"])
        .output()
        .expect("runs");
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(snapshot(&ctx), before, "a failed run changed the ledger");

    // A plain apply still resends nobody.
    let (code, out) = healthy.run(&ctx, &["--auto-approve"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(healthy.handle.sends().is_empty(), "{out}");

    // The decision: the plan shows them as resends, then each goes out once.
    let (code, out) = healthy.run(&ctx, &["--auto-approve", "--resend-unknown", "spring"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("5 due now"), "{out}");
    assert!(out.contains("5 of them resend (unknown before"), "{out}");
    assert!(out.contains("spring: 5 accepted"), "{out}");
    let sent = healthy.sent_per_phone();
    assert_eq!(sent.len(), 5);
    assert!(sent.values().all(|c| *c == 1));
    assert!(rows(&ctx).values().all(|r| *r == Recorded::Accepted));
}

/// The template waits for review; the CSV changes during the wait.
#[test]
fn csv_changed_during_the_approval_wait_stops_the_send() {
    let sb = sandbox(|c| c.approve_after = Duration::from_millis(1500));
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &config(0, 4, ""));
    ctx.write("people.csv", &people(0..6));
    let child = sb.spawn(&ctx, &["--auto-approve", "--approval-timeout", "20s"]);
    wait_until("the template submission", || {
        !sb.handle.templates().is_empty()
    });
    // One planned person dropped, one never planned added.
    ctx.write("people.csv", &people(1..7));
    let (code, out) = output(child);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("plan is stale: people.csv changed after the plan; run plan again"),
        "{out}"
    );
    assert!(
        sb.handle.requests().is_empty(),
        "someone was messaged: {out}"
    );
    assert!(rows(&ctx).is_empty());
}

/// A real terminal (script(1) gives apply a pty): the CSV changes while the
/// confirmation prompt waits for `yes`.
#[test]
fn csv_changed_between_confirmation_and_send_stops_the_send() {
    let sb = sandbox(|c| c.approve_after = Duration::ZERO);
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &config(0, 4, ""));
    ctx.write("people.csv", &people(0..4));
    // Template approved beforehand, so the send follows the confirmation.
    let (code, out) = sb.run(&ctx, &["--auto-approve"]);
    assert_eq!(code, Some(0), "{out}");
    let first = sb.handle.requests().len();
    ctx.write("people.csv", &people(0..8));
    let line = format!(
        "{} apply --approval-timeout 5s",
        assert_cmd::cargo::cargo_bin("waform").display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", &line, "/dev/null"])
        .current_dir(ctx.path())
        .env_remove("WAFORM_STATE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sb.env(&mut cmd);
    let mut child = cmd.spawn().expect("script");
    let mut stdout = child.stdout.take().expect("stdout");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = seen.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        })
    };
    wait_until("the confirmation prompt", || {
        seen.lock().is_ok_and(|s| s.contains("Type `yes`"))
    });
    ctx.write("people.csv", &people(2..10));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(b"yes\n");
    }
    let status = child.wait().expect("wait");
    let _ = reader.join();
    let out = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("plan is stale: people.csv changed after the plan"),
        "{out}"
    );
    assert_eq!(
        sb.handle.requests().len(),
        first,
        "someone was messaged: {out}"
    );
}

#[test]
fn a_plan_file_never_reaches_people_it_did_not_show() {
    let sb = sandbox(|c| c.approve_after = Duration::ZERO);
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &config(5, 1, ""));
    ctx.write("people.csv", &people(0..4));
    let (code, out) = sb.run(&ctx, &["--auto-approve"]);
    assert_eq!(code, Some(0), "{out}");
    let first = sb.handle.requests().len();
    ctx.write("people.csv", &people(0..8));
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("waform"));
    sb.env(&mut cmd);
    let out = cmd
        .current_dir(ctx.path())
        .args(["plan", "--out", "plan.json"])
        .output()
        .expect("plan");
    assert!(out.status.success());
    let text = std::fs::read_to_string(ctx.path().join("plan.json")).expect("plan file");
    for i in 0..8 {
        assert!(
            !text.contains(&phone(i)[4..]),
            "a phone in clear in the plan file"
        );
    }
    // Changed after the plan: refused before any request.
    ctx.write("people.csv", &people(0..9));
    let (code, out) = sb.run(&ctx, &["--auto-approve", "plan.json"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("plan is stale: people.csv changed after the plan"),
        "{out}"
    );
    assert_eq!(sb.handle.requests().len(), first);
    // Restored: applied exactly; rows appended while sending are not messaged.
    ctx.write("people.csv", &people(0..8));
    let child = sb.spawn(&ctx, &["--auto-approve", "plan.json"]);
    wait_until("the first send", || sb.handle.requests().len() > first);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ctx.path().join("people.csv"))
            .expect("open");
        let _ = f.write_all(
            people(20..23)
                .trim_start_matches("phone,fname\n")
                .as_bytes(),
        );
    }
    let (_, out) = output(child);
    let sent = sb.sent_per_phone();
    let expected: HashSet<String> = (0..8).map(phone).collect();
    assert_eq!(
        sent.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "{out}"
    );
}

#[test]
fn expires_holds_per_request_and_now_needs_the_sandbox() {
    let sb = sandbox(|c| {
        c.approve_after = Duration::ZERO;
        c.latency = Duration::from_millis(250);
    });
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(0..40));
    ctx.write("waform.yaml", &config(0, 1, ""));
    let (code, out) = sb.run(&ctx, &["--auto-approve", "--no-wait"]);
    assert_eq!(code, Some(0), "{out}");
    let first = sb.handle.requests().len();

    // --now on a real apply: refused, nothing sent.
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (code, out) = sb.run(&ctx, &["--auto-approve", "--now", &later]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("--now is only for"), "{out}");
    assert_eq!(sb.handle.requests().len(), first);

    ctx.write("people.csv", &people(0..80));
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(2500);
    let extra = format!("    expires: {}\n", expires.to_rfc3339());
    ctx.write("waform.yaml", &config(0, 1, &extra));
    let (code, out) = sb.run(&ctx, &["--auto-approve"]);
    assert_eq!(code, Some(1), "{out}");
    let log = sb.handle.requests();
    let late: Vec<_> = log
        .iter()
        .skip(first)
        .filter(|r| r.at_ms > expires.timestamp_millis() + 100)
        .collect();
    assert!(
        late.is_empty(),
        "{} request(s) after expires: {out}",
        late.len()
    );
    let made = log.len() - first;
    assert!(made > 0 && made < 40, "{made} requests: {out}");
    assert!(out.contains(&format!("{} expired", 40 - made)), "{out}");
    // The expired ones are recorded nowhere.
    assert_eq!(rows(&ctx).len(), 40 + made);
}

#[test]
fn sigint_and_sigterm_exit_130_and_143_and_say_what_remains() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let sb = sandbox(|c| c.approve_after = Duration::ZERO);
        let ctx = TestContext::new();
        ctx.write("people.csv", &people(0..40));
        ctx.write("waform.yaml", &config(8, 2, ""));
        let child = sb.spawn(&ctx, &["--auto-approve"]);
        wait_until("three sends", || sb.handle.sends().len() >= 3);
        signal(&child, sig);
        let (got, out) = output(child);
        assert_eq!(got, Some(code), "{out}");
        let done = rows(&ctx).len();
        assert!(done < 40);
        assert!(
            out.contains(&format!(
                "{} not yet sent; run apply again to continue",
                40 - done
            )),
            "{out}"
        );
        assert!(
            !out.contains("accepted in") || out.contains("interrupted"),
            "{out}"
        );
    }
}

#[test]
fn sigint_during_the_approval_wait_is_not_a_timeout() {
    let sb = sandbox(|c| c.approve_after = Duration::from_secs(3600));
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(0..3));
    ctx.write("waform.yaml", &config(0, 2, ""));
    let child = sb.spawn(&ctx, &["--auto-approve", "--approval-timeout", "30m"]);
    wait_until("the template submission", || {
        !sb.handle.templates().is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGINT);
    let (code, out) = output(child);
    assert_eq!(code, Some(130), "{out}");
    assert!(!out.contains("timeout"), "{out}");
    assert!(
        out.contains("interrupted (SIGINT) while waiting for template approval"),
        "{out}"
    );
}

#[test]
fn a_second_sigint_stops_at_once_and_in_flight_become_unknown() {
    let sb = sandbox(|c| {
        c.approve_after = Duration::ZERO;
        c.latency = Duration::from_secs(2);
    });
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(0..10));
    ctx.write("waform.yaml", &config(0, 3, ""));
    let child = sb.spawn(&ctx, &["--auto-approve"]);
    wait_until("three requests in flight", || {
        sb.handle.requests().len() >= 3
    });
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    signal(&child, libc::SIGINT);
    let (code, out) = output(child);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "did not stop at once"
    );
    assert_eq!(code, Some(130), "{out}");
    let rows = rows(&ctx);
    assert_eq!(rows.len(), 3, "{out}");
    let ledger = Ledger::open(&ctx.path().join(".waform/state.db")).expect("ledger");
    for phone in rows.keys() {
        let row = ledger.row("spring", phone).expect("row").expect("exists");
        assert_eq!(row.recorded, Recorded::Unknown);
        assert!(
            row.reason.unwrap_or_default().contains("stopped at once"),
            "untruthful reason"
        );
    }
    assert!(out.contains("7 not yet sent"), "{out}");
}

/// An account that takes every message and remembers who got one.
#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl waform::provider::Provider for Recording {
    async fn list_templates(
        &self,
    ) -> Result<Vec<waform::provider::AccountTemplate>, waform::provider::ProviderError> {
        Ok(Vec::new())
    }
    async fn add_template(
        &self,
        _: &waform::provider::NewTemplate,
    ) -> Result<(), waform::provider::ProviderError> {
        Ok(())
    }
    async fn remove_template(&self, _: &str) -> Result<(), waform::provider::ProviderError> {
        Ok(())
    }
    async fn list_flows(
        &self,
    ) -> Result<waform::provider::FlowList, waform::provider::ProviderError> {
        Ok(waform::provider::FlowList::Flows(Vec::new()))
    }
    async fn send_template(
        &self,
        m: &waform::provider::TemplateMessage,
    ) -> waform::provider::SendOutcome {
        if let Ok(mut sent) = self.0.lock() {
            sent.push(m.phone.clone());
        }
        waform::provider::SendOutcome::Accepted {
            message_id: Some(format!("wamid.{}", m.phone)),
            job_id: None,
        }
    }
    async fn send_flow(&self, _: &waform::provider::FlowMessage) -> waform::provider::SendOutcome {
        waform::provider::SendOutcome::Rejected {
            reason: "not used".into(),
            window_closed: false,
        }
    }
    async fn list_messages(
        &self,
        _: &waform::provider::HistoryQuery,
    ) -> Result<waform::provider::History, waform::provider::ProviderError> {
        Ok(waform::provider::History::Messages(Vec::new()))
    }
}

/// Whatever the recipient files say by the time a send runs, the
/// dispatcher messages only the recipients of the reviewed plan.
#[test]
fn the_dispatcher_messages_only_planned_recipients() {
    use waform::apply::dispatch::{Dispatcher, SendJob, Window};
    use waform::apply::sends::{Message, TemplateTarget};
    use waform::plan::planned::PlannedSet;

    let ctx = TestContext::new();
    ctx.write("people.csv", &people(0..10));
    let send: waform::config::types::SendSpec = serde_json::from_value(serde_json::json!({
        "template": "course_signup",
        "recipients": [{"csv": "people.csv"}],
    }))
    .expect("send");
    let mut planned = PlannedSet::new();
    for i in 0..6 {
        planned.insert(&phone(i));
    }
    planned.seal();
    let provider = std::sync::Arc::new(Recording::default());
    let ledger = std::sync::Arc::new(Ledger::open(&ctx.path().join("state.db")).expect("ledger"));
    let shared: std::sync::Arc<dyn waform::state::SendLedger> = ledger.clone();
    let dispatcher = Dispatcher {
        provider: provider.clone(),
        limiter: std::sync::Arc::new(waform::apply::ratelimit::RateLimiter::new(0.0)),
        concurrency: 3,
        stop: std::sync::Arc::new(waform::apply::stop::Stop::new()),
    };
    let job = SendJob {
        name: "spring",
        send: &send,
        base_dir: ctx.path(),
        message: Message::Template(
            TemplateTarget::new(
                "course_signup_1".into(),
                "en_US".into(),
                None,
                None,
                &[],
                None,
            )
            .expect("target"),
        ),
        cap: None,
        window: Window::default(),
        planned: Some(&planned),
        resend_unknown: false,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt
        .block_on(dispatcher.run(&shared, job, |_| {}))
        .expect("runs");
    assert_eq!(report.accepted, 6);
    assert_eq!(report.not_in_plan, 4);
    let mut sent = provider.0.lock().map(|s| s.clone()).unwrap_or_default();
    sent.sort();
    assert_eq!(sent, (0..6).map(phone).collect::<Vec<_>>());
    assert_eq!(ledger.rows_for_send("spring").expect("rows").len(), 6);
}
