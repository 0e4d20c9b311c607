//! `waform reconcile` and the same pass at the start of apply (issue 9
//! point 2): `unknown` outcomes looked up in the account's message history
//! (the sandbox keeps every accepted send there, 500-after-accept included).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::Utc;
use waform::apply::ratelimit::RateLimiter;
use waform::apply::reconcile::Reconciler;
use waform::provider::onemsg::{OneMsgClient, OneMsgConfig};
use waform::provider::{
    AccountTemplate, FlowList, FlowMessage, History, HistoryQuery, NewTemplate, Provider,
    ProviderError, SendOutcome, TemplateMessage,
};
use waform::state::{Intent, Outcome, OutcomeRecord, Recorded, SendKind};

use crate::apply::{ledger, people, sandbox, template_config, Sandbox};
use crate::common::TestContext;

fn reconcile(sb: &Sandbox, ctx: &TestContext) -> std::process::Output {
    sb.cmd(ctx).arg("reconcile").output().expect("runs")
}

/// An `unknown` row for a phone nobody messaged (a request that timed out
/// before it reached the API, say).
fn plant_unknown(ctx: &TestContext, phone: &str) {
    let l = ledger(ctx);
    let now = Utc::now();
    l.record_intents(&[Intent {
        send: "spring".into(),
        phone: phone.into(),
        flow_token: format!("planted-token-{phone}"),
        kind: SendKind::Template,
        template: None,
        at: now,
    }])
    .expect("intent");
    l.record_outcomes(&[OutcomeRecord::new(
        "spring",
        phone,
        Outcome::Unknown {
            reason: "timed out".into(),
        },
        now,
    )])
    .expect("outcome");
}

#[test]
fn reconcile_turns_every_unknown_the_history_holds_into_accepted() {
    let sb = sandbox(|c| {
        c.fault_500 = 0.3;
        c.fault_drop = 0.05;
        c.fault_429 = 0.05;
        c.retry_after = std::time::Duration::from_millis(50);
        c.seed = 11;
    });
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(80));
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    let out = sb.apply(&ctx, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unknown_before = ledger(&ctx)
        .rows_for_send("spring")
        .expect("rows")
        .values()
        .filter(|r| r.is_unknown())
        .count();
    assert!(unknown_before >= 10, "only {unknown_before} faults");
    plant_unknown(&ctx, "15559999999");

    let out = reconcile(&sb, &ctx);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{unknown_before} found in the history")),
        "{stdout}"
    );

    // The sandbox's own log is the ground truth: every message it holds is
    // accepted in the ledger under its id; nobody it never saw is.
    let l = ledger(&ctx);
    let sends = sb.handle.sends();
    assert_eq!(sends.len(), 80, "each person once");
    for s in &sends {
        let row = l.row("spring", &s.phone).expect("reads").expect("row");
        assert_eq!(row.recorded, Recorded::Accepted, "{}", s.phone);
        assert_eq!(row.message_id.as_deref(), Some(s.id.as_str()));
    }
    let planted = l.row("spring", "15559999999").expect("reads").expect("row");
    assert_eq!(planted.recorded, Recorded::Unknown);
    let reason = planted.reason.unwrap_or_default();
    assert!(
        reason.starts_with("timed out; not found in the account's history at "),
        "{reason}"
    );

    // A second pass finds nothing new and does not pile evidence up.
    let out = reconcile(&sb, &ctx);
    assert!(out.status.success());
    let again = ledger(&ctx)
        .row("spring", "15559999999")
        .expect("reads")
        .expect("row")
        .reason
        .unwrap_or_default();
    assert_eq!(again.matches("not found").count(), 1, "{again}");
    assert_eq!(sb.handle.sends().len(), 80, "reconcile sends nothing");

    // Apply's opening pass leaves rows already not found to `reconcile`.
    let out = sb.apply(&ctx, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 unknown outcome(s) were not found in the account's history before")
            && !stdout.contains("Unknown outcomes checked"),
        "{stdout}"
    );
}

#[test]
fn apply_reconciles_unknowns_before_anything_else() {
    let sb = sandbox(|c| c.fault_500 = 1.0);
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(6));
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    let out = sb.apply(&ctx, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 unknown"));

    let out = sb.apply(&ctx, &["--resend-unknown", "spring"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("6 found (now accepted)"), "{stdout}");
    // Resolved before planning: nothing is left for --resend-unknown.
    assert!(
        stdout.contains("nothing left to send; 6 already sent"),
        "{stdout}"
    );
    assert_eq!(sb.handle.sends().len(), 6, "nobody was messaged twice");
    let rows = ledger(&ctx).rows_for_send("spring").expect("rows");
    assert!(rows.values().all(|r| *r == Recorded::Accepted), "{rows:?}");
}

#[test]
fn a_history_that_cannot_answer_changes_nothing() {
    let sb = sandbox(|c| {
        c.fault_500 = 1.0;
        c.history_disabled = true;
    });
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(4));
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    let _ = sb.apply(&ctx, &[]);
    let before: Vec<_> = ["15550000000", "15550000001", "15550000002", "15550000003"]
        .iter()
        .map(|p| ledger(&ctx).row("spring", p).expect("reads").expect("row"))
        .collect();
    assert!(before.iter().all(|r| r.recorded == Recorded::Unknown));

    let out = reconcile(&sb, &ctx);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let token = sb.handle.token().expose();
    assert!(!stderr.contains(token) && !String::from_utf8_lossy(&out.stdout).contains(token));
    assert!(
        stderr.contains("4 unknown outcome(s) could not be checked and are unchanged")
            && stderr.contains("disabled"),
        "{stderr}"
    );
    for r in &before {
        assert_eq!(
            &ledger(&ctx)
                .row("spring", &r.phone)
                .expect("reads")
                .expect("row"),
            r
        );
    }
}

#[test]
fn reconcile_without_a_ledger_creates_nothing() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(2));
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    let out = reconcile(&sb, &ctx);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to reconcile"));
    assert!(!ctx.path().join(".waform").exists());
}

#[test]
fn flow_and_fallback_messages_are_found_too() {
    let sb = sandbox(|c| c.fault_500 = 1.0);
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
    // One window open: a Flow message; two closed: the fallback template.
    sb.handle.inbound("15550000000", "hi");
    let out = sb.apply(&ctx, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 unknown"));

    let out = reconcile(&sb, &ctx);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let l = ledger(&ctx);
    for s in sb.handle.sends() {
        let row = l.row("finish", &s.phone).expect("reads").expect("row");
        assert_eq!(row.recorded, Recorded::Accepted, "{} ({})", s.phone, s.kind);
        assert_eq!(row.message_id.as_deref(), Some(s.id.as_str()));
    }
    assert_eq!(sb.handle.sends().len(), 3);
}

/// Counts history queries on the way to the real client.
struct Counting {
    inner: Arc<dyn Provider>,
    queries: AtomicUsize,
}

#[async_trait::async_trait]
impl Provider for Counting {
    async fn list_templates(&self) -> Result<Vec<AccountTemplate>, ProviderError> {
        self.inner.list_templates().await
    }
    async fn add_template(&self, t: &NewTemplate) -> Result<(), ProviderError> {
        self.inner.add_template(t).await
    }
    async fn remove_template(&self, name: &str) -> Result<(), ProviderError> {
        self.inner.remove_template(name).await
    }
    async fn list_flows(&self) -> Result<FlowList, ProviderError> {
        self.inner.list_flows().await
    }
    async fn send_template(&self, m: &TemplateMessage) -> SendOutcome {
        self.inner.send_template(m).await
    }
    async fn send_flow(&self, m: &FlowMessage) -> SendOutcome {
        self.inner.send_flow(m).await
    }
    async fn list_messages(&self, q: &HistoryQuery) -> Result<History, ProviderError> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        self.inner.list_messages(q).await
    }
}

#[test]
fn one_history_query_per_phone_whatever_its_unknown_rows() {
    let sb = sandbox(|c| c.fault_500 = 1.0);
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(5));
    // Two sends to the same five people: ten unknown rows, five phones.
    ctx.write(
        "waform.yaml",
        &template_config("Hi {{1}}, sign up now.").replace(
            "sends:\n",
            "sends:\n  autumn:\n    template: course_signup\n    language: en_US\n    body_params: [\"${recipient.fname}\"]\n    flow_button:\n      action_data: { fname: \"${recipient.fname}\" }\n    recipients:\n      - csv: people.csv\n",
        ),
    );
    let out = sb.apply(&ctx, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 unknown"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = OneMsgClient::new(OneMsgConfig::new(
        sb.handle.base_url(),
        sb.handle.instance(),
        sb.handle.token().clone(),
    ))
    .expect("client");
    let counting = Arc::new(Counting {
        inner: Arc::new(client),
        queries: AtomicUsize::new(0),
    });
    let reconciler = Reconciler {
        provider: counting.clone(),
        limiter: Arc::new(RateLimiter::new(0.0)),
        concurrency: 2,
        flow_ids: HashMap::new(),
        recheck: true,
    };
    let l = ledger(&ctx);
    let report = rt
        .block_on(reconciler.run(&l, Utc::now()))
        .expect("reconciles");
    assert_eq!((report.rows, report.phones), (10, 5));
    assert_eq!(report.found, 10, "{report:?}");
    assert_eq!(counting.queries.load(Ordering::SeqCst), 5);
}
