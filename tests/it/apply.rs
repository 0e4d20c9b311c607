//! `waform apply` against a sandbox over loopback: the full path for both
//! send kinds and the fallback, re-apply, versioning, rejection, approval
//! timeout, lock contention, faults and crashes. The sandbox's send log is
//! the ground truth of what went out.

use std::collections::HashMap;
use std::time::Duration;

use waform::provider::{AccountFlow, FlowStatus};
use waform::sandbox::{SandboxConfig, SandboxHandle};
use waform::state::{Ledger, Recorded};

use crate::common::TestContext;

pub(crate) struct Sandbox {
    pub(crate) handle: SandboxHandle,
    _rt: tokio::runtime::Runtime,
}

pub(crate) fn sandbox(tweak: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut config = SandboxConfig {
        approve_after: Duration::from_millis(300),
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
    /// The binary, pointed at this sandbox as if it were the real account.
    pub(crate) fn cmd(&self, ctx: &TestContext) -> assert_cmd::Command {
        let mut cmd = ctx.cmd();
        cmd.env("WAFORM_BASE_URL", self.handle.base_url())
            .env("WAFORM_INSTANCE", self.handle.instance())
            .env("WAFORM_TOKEN", self.handle.token().expose());
        cmd
    }

    pub(crate) fn apply(&self, ctx: &TestContext, extra: &[&str]) -> std::process::Output {
        let mut cmd = self.cmd(ctx);
        cmd.args(["apply", "--auto-approve"]).args(extra);
        if !extra.contains(&"--approval-timeout") {
            cmd.args(["--approval-timeout", "20s"]);
        }
        cmd.output().expect("runs")
    }

    pub(crate) fn phones_sent(&self) -> HashMap<String, usize> {
        let mut count = HashMap::new();
        for s in self.handle.sends() {
            *count.entry(s.phone.clone()).or_insert(0) += 1;
        }
        count
    }
}

pub(crate) fn template_config(body: &str) -> String {
    format!(
        r#"version: 1
provider: {{ rate_limit: 0 }}
flows:
  signup: {{ id: "1234567890123456" }}
templates:
  course_signup:
    category: MARKETING
    languages:
      en_US:
        body: "{body}"
        body_examples: ["Anna"]
        buttons:
          - {{ type: flow, text: "Sign up", flow: signup, screen: WELCOME }}
sends:
  spring:
    template: course_signup
    language: en_US
    body_params: ["${{recipient.fname}}"]
    flow_button:
      action_data: {{ fname: "${{recipient.fname}}" }}
    recipients:
      - csv: people.csv
"#
    )
}

pub(crate) fn people(n: usize) -> String {
    let mut csv = String::from("phone,fname\n");
    for i in 0..n {
        csv.push_str(&format!("+1555{i:07},Name{i}\n"));
    }
    csv
}

pub(crate) fn ledger(ctx: &TestContext) -> Ledger {
    Ledger::open(&ctx.path().join(".waform/state.db")).expect("ledger")
}

#[test]
fn full_path_then_reapply_sends_nothing() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    ctx.write("people.csv", &people(20));
    let out = sb.apply(&ctx, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("spring: 20 accepted"), "{stdout}");
    let sent = sb.phones_sent();
    assert_eq!(sent.len(), 20);
    assert!(sent.values().all(|n| *n == 1));
    let first = &sb.handle.sends()[0];
    assert_eq!(first.kind, "template");
    assert!(first
        .flow_token
        .as_deref()
        .is_some_and(|t| t.starts_with("waform.spring.")));
    assert!(first.params[0].starts_with("Name"));
    // Again: nothing new goes out.
    let out = sb.apply(&ctx, &[]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(sb.handle.sends().len(), 20);
    let rows = ledger(&ctx).rows_for_send("spring").expect("rows");
    assert_eq!(rows.len(), 20);
    assert!(rows.values().all(|r| *r == Recorded::Accepted));
}

#[test]
fn changed_template_creates_a_version_then_removes_the_old_one() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    ctx.write("people.csv", &people(2));
    assert!(sb.apply(&ctx, &[]).status.success());
    let v1: Vec<String> = sb
        .handle
        .templates()
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(v1.len(), 1);
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up today."));
    let out = sb.apply(&ctx, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("-/+"), "{stdout}");
    assert!(stdout.contains(&format!("- {} deleted", v1[0])), "{stdout}");
    let names: Vec<String> = sb
        .handle
        .templates()
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(names.len(), 1);
    assert_ne!(names[0], v1[0]);
}

#[test]
fn rejection_blocks_the_send_with_metas_reason() {
    let sb = sandbox(|c| c.reject_containing = Some("casino".into()));
    let ctx = TestContext::new();
    ctx.write(
        "waform.yaml",
        &template_config("Hi {{1}}, win at the casino now."),
    );
    ctx.write("people.csv", &people(3));
    let out = sb.apply(&ctx, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rejected by Meta"), "{stdout}");
    assert!(stdout.contains("blocked"), "{stdout}");
    assert!(sb.handle.sends().is_empty());
}

#[test]
fn approval_timeout_and_no_wait() {
    let sb = sandbox(|c| c.approve_after = Duration::from_secs(3600));
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    ctx.write("people.csv", &people(3));
    let out = sb.apply(&ctx, &["--no-wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("not waiting (--no-wait)"));
    let out = sb.apply(&ctx, &["--approval-timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("approval timeout") && stderr.contains("course_signup_"),
        "{stderr}"
    );
    assert!(sb.handle.sends().is_empty());
}

#[test]
fn refuses_without_a_terminal_or_auto_approve() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    ctx.write("people.csv", &people(3));
    let out = sb.cmd(&ctx).arg("apply").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no terminal to confirm on") && stderr.contains("--auto-approve"),
        "{stderr}"
    );
    assert!(sb.handle.templates().is_empty());
    assert!(!stderr.contains(sb.handle.token().expose()));
}

#[test]
fn lock_contention_names_the_holder() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    ctx.write("people.csv", &people(3));
    let l = ledger(&ctx);
    let guard = l.acquire_lock(Duration::from_secs(1)).expect("lock");
    let out = sb.apply(&ctx, &["--lock-timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("locked by another apply")
            && stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    drop(guard);
    assert!(sb.apply(&ctx, &[]).status.success());
}

#[test]
fn flow_message_uses_the_window_or_the_fallback() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(3));
    ctx.write(
        "waform.yaml",
        r#"version: 1
provider: { rate_limit: 0 }
flows:
  signup: { id: "1234567890123456" }
templates:
  reminder:
    category: UTILITY
    languages:
      en_US:
        body: "Hello {{1}}, finish your application."
        body_examples: ["Anna"]
        buttons:
          - { type: flow, text: "Finish", flow: signup, screen: WELCOME }
sends:
  finish:
    flow_message:
      flow: signup
      body: "Finish your application, ${recipient.fname}"
      cta: "Open form"
      screen: WELCOME
      data: { fname: "${recipient.fname}" }
    fallback:
      template: reminder
      language: en_US
      body_params: ["${recipient.fname}"]
    recipients:
      - csv: people.csv
"#,
    );
    // Only the first person wrote to us in the last 24 hours.
    sb.handle.inbound("15550000000", "hi");
    let out = sb.apply(&ctx, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("3 accepted (2 window closed → fallback template)"),
        "{stdout}"
    );
    let sends = sb.handle.sends();
    let flow: Vec<_> = sends.iter().filter(|s| s.kind == "flow").collect();
    assert_eq!(flow.len(), 1);
    assert_eq!(flow[0].phone, "15550000000");
    assert_eq!(sends.iter().filter(|s| s.kind == "template").count(), 2);
    assert_eq!(sb.phones_sent().len(), 3);
}

#[test]
fn faults_never_send_twice_and_500s_are_unknown() {
    let sb = sandbox(|c| {
        c.fault_429 = 0.10;
        c.fault_500 = 0.05;
        c.retry_after = Duration::from_millis(50);
        c.seed = 7;
    });
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    ctx.write("people.csv", &people(300));
    let out = sb.apply(&ctx, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = sb.phones_sent();
    assert!(sent.values().all(|n| *n == 1), "someone got two messages");
    let rows = ledger(&ctx).rows_for_send("spring").expect("rows");
    assert_eq!(rows.len(), 300);
    let faulted: Vec<String> = sb
        .handle
        .sends()
        .iter()
        .filter(|s| s.fault.is_some())
        .map(|s| s.phone.clone())
        .collect();
    assert!(!faulted.is_empty());
    for phone in &faulted {
        assert_eq!(rows.get(phone), Some(&Recorded::Unknown), "{phone}");
    }
    for (phone, r) in &rows {
        if *r == Recorded::Accepted {
            assert!(sent.contains_key(phone));
        }
    }
}

#[test]
fn sigkill_at_random_moments_never_sends_twice() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    let n = 400;
    ctx.write(
        "waform.yaml",
        &template_config("Hi {{1}}, sign up now.").replace("rate_limit: 0", "rate_limit: 400"),
    );
    ctx.write("people.csv", &people(n));
    for round in 0..4u64 {
        let mut child = spawn_apply(&sb, &ctx, &["--lock-timeout", "5s"]);
        std::thread::sleep(Duration::from_millis(
            300 + fastrand::u64(0..400) + round * 50,
        ));
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = sb.apply(&ctx, &["--lock-timeout", "5s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = sb.phones_sent();
    assert!(sent.values().all(|c| *c == 1), "someone got two messages");
    let rows = ledger(&ctx).rows_for_send("spring").expect("rows");
    assert_eq!(rows.len(), n, "everyone is recorded");
    for (phone, r) in &rows {
        match r {
            Recorded::Accepted => assert!(sent.contains_key(phone)),
            Recorded::Unknown | Recorded::IntentOnly => {}
            Recorded::Rejected => panic!("{phone} rejected"),
        }
    }
    // Everyone the sandbox saw is in the ledger; nobody not in the ledger was sent.
    for phone in sent.keys() {
        assert!(rows.contains_key(phone));
    }
}

#[test]
fn plan_file_is_applied_exactly_and_refused_when_stale() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    ctx.write("people.csv", &people(5));
    let plan = |out: &str| {
        sb.cmd(&ctx)
            .args(["plan", "--out", out])
            .output()
            .expect("runs")
    };
    assert!(plan("one.plan").status.success());
    let text = std::fs::read_to_string(ctx.path().join("one.plan")).expect("plan file");
    assert!(
        !text.contains(sb.handle.token().expose()),
        "token in plan file"
    );
    // The recipients change after the plan was made: refused, nothing sent.
    ctx.write("people.csv", &people(6));
    let out = sb.apply(&ctx, &["one.plan"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stale"));
    assert!(sb.handle.templates().is_empty() && sb.handle.sends().is_empty());
    // A fresh plan applies.
    assert!(plan("two.plan").status.success());
    let out = sb.apply(&ctx, &["two.plan"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sb.phones_sent().len(), 6);
}

#[test]
fn import_then_plan_shows_no_template_changes() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(1));
    ctx.write(
        "waform.yaml",
        r#"version: 1
flows:
  signup: { id: "1234567890123456" }
templates:
  welcome:
    category: UTILITY
    languages:
      en_US:
        header: { text: "Hello {{1}}", example: "Anna" }
        body: "Hi {{1}}, \"welcome\" to {{2}} today."
        body_examples: ["Anna", "school"]
        footer: "Reply STOP to opt out"
        buttons:
          - { type: flow, text: "Start", flow: signup, screen: WELCOME }
          - { type: url, text: "Site", url: "https://example.com" }
      es_MX:
        body: "Hola, bienvenido."
        buttons:
          - { type: quick_reply, text: "Gracias" }
"#,
    );
    assert!(sb.apply(&ctx, &[]).status.success());
    let env = |cmd: &mut assert_cmd::Command| {
        cmd.env("WAFORM_BASE_URL", sb.handle.base_url())
            .env("WAFORM_INSTANCE", sb.handle.instance())
            .env("WAFORM_TOKEN", sb.handle.token().expose());
    };
    let mut import = ctx.cmd();
    env(&mut import);
    let out = import
        .args(["import", "--out", "imported/waform.yaml"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = std::fs::read_to_string(ctx.path().join("imported/waform.yaml")).expect("yaml");
    assert!(yaml.contains("naming: exact"), "{yaml}");
    ctx.cmd().args(["validate", "imported"]).assert().success();
    let mut plan = ctx.cmd();
    env(&mut plan);
    let out = plan
        .args(["plan", "--format", "json", "imported"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let t = &v["summary"]["templates"];
    assert_eq!(t["create"], 0, "{yaml}\n{v}");
    assert_eq!(t["conflict"], 0, "{yaml}\n{v}");
    assert_eq!(t["unchanged"], 2, "{v}");
    assert_eq!(v["has_changes"], false);
}

#[test]
fn watch_sends_when_due_and_stops_cleanly_on_sigterm() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(5));
    let at = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let config = template_config("Hi {{1}}, sign up now.").replace(
        "    language: en_US\n",
        &format!("    language: en_US\n    at: {at}\n"),
    );
    ctx.write("waform.yaml", &config);
    let mut child = spawn_apply(&sb, &ctx, &["--watch"]);
    wait_for_sends(&sb, 5);
    assert_eq!(
        sb.handle.sends().len(),
        5,
        "the scheduled send went out while watching"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    assert_eq!(sb.phones_sent().len(), 5);
}

fn spawn_apply(sb: &Sandbox, ctx: &TestContext, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("waform"))
        .current_dir(ctx.path())
        .env("WAFORM_BASE_URL", sb.handle.base_url())
        .env("WAFORM_INSTANCE", sb.handle.instance())
        .env("WAFORM_TOKEN", sb.handle.token().expose())
        .args(["apply", "--auto-approve"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn")
}

pub(crate) fn wait_for_sends(sb: &Sandbox, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sb.handle.sends().len() < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigint_stops_sending_and_unsent_recipients_stay_due() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(40));
    ctx.write(
        "waform.yaml",
        &template_config("Hi {{1}}, sign up now.").replace("rate_limit: 0", "rate_limit: 5"),
    );
    let mut child = spawn_apply(&sb, &ctx, &[]);
    wait_for_sends(&sb, 3);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait");
    // Interrupted is not success: 128 + SIGINT, as shells report it.
    assert_eq!(status.code(), Some(130), "{status:?}");
    let sent = sb.handle.sends().len();
    assert!(sent < 20, "apply kept sending after SIGINT: {sent}");
    let rows = ledger(&ctx).rows_for_send("spring").expect("rows");
    // Everyone recorded was really sent; the others are not in the ledger.
    assert_eq!(rows.len(), sent, "{rows:?}");
    assert!(rows.values().all(|r| *r == Recorded::Accepted));
    let out = sb.apply(&ctx, &[]);
    assert!(out.status.success());
    let counts = sb.phones_sent();
    assert_eq!(counts.len(), 40);
    assert!(counts.values().all(|n| *n == 1));
}

#[test]
fn sigkill_leaves_at_most_one_second_of_recipients_in_doubt() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(40));
    ctx.write(
        "waform.yaml",
        &template_config("Hi {{1}}, sign up now.").replace("rate_limit: 0", "rate_limit: 4"),
    );
    let mut child = spawn_apply(&sb, &ctx, &[]);
    wait_for_sends(&sb, 6);
    let _ = child.kill();
    let _ = child.wait();
    let rows = ledger(&ctx).rows_for_send("spring").expect("rows");
    let doubtful = rows.values().filter(|r| r.is_unknown()).count();
    assert!(doubtful <= 4, "{doubtful} rows in doubt after SIGKILL");
    let out = sb.apply(&ctx, &[]);
    assert!(out.status.success());
    let counts = sb.phones_sent();
    assert!(counts.values().all(|n| *n == 1));
    assert!(counts.len() >= 40 - doubtful);
}

#[test]
fn resend_unknown_is_the_explicit_decision() {
    let faulty = sandbox(|c| c.fault_500 = 1.0);
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(5));
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    let out = faulty.apply(&ctx, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 unknown"));
    // Nothing is resent without the decision...
    let healthy = sandbox(|_| {});
    let out = healthy.apply(&ctx, &[]);
    assert!(out.status.success());
    assert!(healthy.handle.sends().is_empty());
    // ...and with it, exactly the unknown ones go out once.
    let out = healthy.apply(&ctx, &["--resend-unknown", "spring"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("spring: 5 accepted"), "{stdout}");
    assert_eq!(healthy.phones_sent().len(), 5);
    let out = healthy.apply(&ctx, &["--resend-unknown", "nope"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn flow_message_waits_for_its_fallback_template() {
    let sb = sandbox(|c| c.approve_after = Duration::from_secs(3600));
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(3));
    ctx.write(
        "waform.yaml",
        r#"version: 1
flows:
  signup: { id: "1234567890123456" }
templates:
  reminder:
    category: UTILITY
    languages:
      en_US:
        body: "Hello {{1}}, finish your application."
        body_examples: ["Anna"]
sends:
  finish:
    flow_message: { flow: signup, body: "Finish it", cta: "Open form", screen: WELCOME }
    fallback: { template: reminder, language: en_US, body_params: ["${recipient.fname}"] }
    recipients:
      - csv: people.csv
"#,
    );
    let out = sb.apply(&ctx, &["--no-wait"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("3 waiting for template approval"),
        "{stdout}"
    );
    assert!(sb.handle.sends().is_empty());
    assert!(ledger(&ctx)
        .rows_for_send("finish")
        .expect("rows")
        .is_empty());
}

#[test]
fn usage_errors_exit_1_not_2() {
    let ctx = TestContext::new();
    ctx.cmd()
        .args(["plan", "--detailed-exitcode", "--format", "yaml"])
        .assert()
        .code(1);
    ctx.cmd().arg("--help").assert().code(0);
}

/// Adds a template straight to the sandbox account (as if made elsewhere).
fn add_template(sb: &Sandbox, name: &str, body: &str) {
    use waform::provider::{NewTemplate, Provider};
    let client =
        waform::provider::onemsg::OneMsgClient::new(sb.handle.client_config()).expect("client");
    let t = NewTemplate {
        name: name.into(),
        category: "UTILITY".into(),
        language: "en_US".into(),
        components: vec![serde_json::json!({"type": "BODY", "text": body})],
    };
    sb._rt
        .block_on(client.add_template(&t))
        .expect("add template");
}

#[test]
fn plan_reports_every_action_kind() {
    let sb = sandbox(|c| c.reject_containing = Some("casino".into()));
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(2));
    // v1 of `promo` goes out and is approved.
    let v1 = r#"version: 1
templates:
  promo:
    category: UTILITY
    languages:
      en_US: { body: "Our spring sale starts now." }
  adopted:
    naming: exact
    category: UTILITY
    languages:
      en_US: { body: "Hello from the old days." }
"#;
    ctx.write("waform.yaml", v1);
    assert!(sb.apply(&ctx, &[]).status.success());
    add_template(&sb, "legacy_promo", "Legacy text here.");
    add_template(&sb, "someone_elses", "Not ours.");
    // The config changes: promo gets new content (replace), adopted drifts
    // (conflict), a casino template is rejected, legacy_promo is removed.
    let v2 = r#"version: 1
templates:
  promo:
    category: UTILITY
    languages:
      en_US: { body: "Our summer sale starts now." }
  adopted:
    naming: exact
    category: UTILITY
    languages:
      en_US: { body: "Hello from the new days." }
  risky:
    category: MARKETING
    languages:
      en_US: { body: "Win big at the casino tonight." }
removed: [legacy_promo]
"#;
    ctx.write("waform.yaml", v2);
    // Submit risky (it gets rejected) without touching the rest.
    add_template(&sb, "risky_placeholder", "x");
    let plan = |ctx: &TestContext| {
        let out = sb
            .cmd(ctx)
            .args(["plan", "--format", "json"])
            .output()
            .expect("runs");
        (
            out.status.code(),
            serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json"),
        )
    };
    let (code, v) = plan(&ctx);
    assert_eq!(code, Some(1), "a conflict fails the plan");
    let actions: Vec<(String, String)> = v["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .map(|t| {
            (
                t["action"].as_str().unwrap_or("").to_string(),
                t["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let has = |action: &str, prefix: &str| {
        actions
            .iter()
            .any(|(a, n)| a == action && n.starts_with(prefix))
    };
    assert!(has("replace", "promo_"), "{actions:?}");
    assert!(has("superseded", "promo_"), "{actions:?}");
    assert!(has("conflict", "adopted"), "{actions:?}");
    assert!(has("create", "risky_"), "{actions:?}");
    assert!(has("delete", "legacy_promo"), "{actions:?}");
    assert_eq!(
        v["summary"]["templates"]["unmanaged"], 2,
        "someone_elses and the placeholder"
    );
    assert!(v["messages"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("conflict"));
    // Resolve the conflict by renaming; apply: risky is rejected, promo v2 is
    // approved and v1 deleted, legacy_promo deleted.
    ctx.write(
        "waform.yaml",
        &v2.replace(
            "  adopted:\n    naming: exact",
            "  adopted_v2:\n    naming: exact",
        ),
    );
    let out = sb.apply(&ctx, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a rejection exits 1: {stdout}");
    assert!(stdout.contains("rejected by Meta"), "{stdout}");
    let (_, v) = plan(&ctx);
    let pending_or_rejected: Vec<&serde_json::Value> = v["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .filter(|t| t["action"] == "rejected")
        .collect();
    assert_eq!(pending_or_rejected.len(), 1, "{v}");
    assert!(pending_or_rejected[0]["reason"]
        .as_str()
        .unwrap_or("")
        .contains("Meta rejected it"));
    assert_eq!(v["summary"]["templates"]["delete"], 0, "{v}");
    let names: Vec<String> = sb
        .handle
        .templates()
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert!(!names.iter().any(|n| n == "legacy_promo"), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.starts_with("promo_")).count(),
        1,
        "{names:?}"
    );
}

#[test]
fn the_token_never_appears_in_any_output_or_plan_file() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(2));
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    // A wrong token with URL-special characters: 401 on every call.
    let token = "S3cr3t+tok/en=Value";
    let runs = [
        vec!["plan"],
        vec!["plan", "--out", "p.plan"],
        vec!["apply", "--auto-approve"],
        vec!["import"],
    ];
    for args in runs {
        let out = ctx
            .cmd()
            .env("WAFORM_BASE_URL", sb.handle.base_url())
            .env("WAFORM_INSTANCE", sb.handle.instance())
            .env("WAFORM_TOKEN", token)
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("401") || all.contains("token"),
            "{args:?}: {all}"
        );
        for needle in [token, "S3cr3t%2Btok%2Fen%3DValue", "S3cr3t"] {
            assert!(!all.contains(needle), "{args:?} leaked the token: {all}");
        }
    }
    assert!(!ctx.path().join("p.plan").exists());
    // With the right token, the plan file holds no token either.
    sb.cmd(&ctx)
        .args(["plan", "--out", "ok.plan"])
        .assert()
        .success();
    let text = std::fs::read_to_string(ctx.path().join("ok.plan")).expect("plan file");
    assert!(!text.contains(sb.handle.token().expose()));
}
