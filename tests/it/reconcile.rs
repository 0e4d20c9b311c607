//! `waform reconcile` and the same pass at the start of apply (issue 9
//! point 2): `unknown` outcomes looked up in the account's message history
//! (the sandbox keeps every accepted send there, 500-after-accept included).

use chrono::Utc;
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
    assert!(
        stdout.contains("spring: 0 recipient(s) with an unknown outcome will be attempted again"),
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
