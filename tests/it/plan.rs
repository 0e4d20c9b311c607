//! `waform plan` against the sandbox: actions, version-hash stability,
//! `--now` boundaries, exit codes, renderers and plan files.

use serde_json::Value;

use crate::common::{repo_root, TestContext};

const CONFIG: &str = r#"version: 1
flows:
  signup: { id: "1234567890123456" }
templates:
  course_signup:
    category: MARKETING
    languages:
      en_US:
        body: "Hi {{1}}, our courses are open. Sign up now."
        body_examples: ["Anna"]
        buttons:
          - { type: flow, text: "Sign up", flow: signup, screen: WELCOME }
sends:
  spring:
    template: course_signup
    language: en_US
    at: 2026-12-01T09:00:00+03:00
    expires: 2026-12-02T09:00:00+03:00
    body_params: ["${recipient.fname}"]
    recipients:
      - { phone: "+15551234567", fname: Anna }
      - { phone: "+15551234568", fname: Ben }
      - { phone: "+15551234568", fname: Ben }
      - { phone: "+15551234569", fname: Cleo }
    exclude:
      - { phone: "+15551234569" }
"#;

fn plan_json(ctx: &TestContext, now: &str) -> Value {
    let out = ctx
        .cmd()
        .args(["plan", "--sandbox", "--format", "json", "--now", now])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

#[test]
fn json_summary_counts_templates_and_recipients() {
    let ctx = TestContext::new();
    ctx.write("waform.yaml", CONFIG);
    let plan = plan_json(&ctx, "2026-11-30T00:00:00Z");
    assert_eq!(plan["format_version"], "1");
    let s = &plan["summary"];
    assert_eq!(s["templates"]["create"], 1);
    assert_eq!(s["templates"]["replace"], 0);
    assert_eq!(s["templates"]["delete"], 0);
    assert_eq!(s["templates"]["unchanged"], 0);
    assert_eq!(s["templates"]["pending"], 0);
    // Two unique, not excluded recipients; the template is not approved yet,
    // but the send is scheduled later anyway.
    assert_eq!(s["sends"]["scheduled"], 2);
    assert_eq!(s["sends"]["due"], 0);
    assert_eq!(s["sends"]["excluded"], 1);
    assert_eq!(s["sends"]["already_sent"], 0);
    assert_eq!(s["sends"]["expired"], 0);
    assert_eq!(plan["sends"][0]["counts"]["duplicates"], 1);
    let name = plan["templates"][0]["name"].as_str().expect("name");
    assert!(name.starts_with("course_signup_") && name.len() == "course_signup_".len() + 8);
}

#[test]
fn now_boundaries_at_and_expires() {
    let ctx = TestContext::new();
    ctx.write("waform.yaml", CONFIG);
    // One second before `at`: scheduled. Exactly at `at`: not scheduled any
    // more (waiting for the template). At `expires`: expired.
    let before = plan_json(&ctx, "2026-12-01T05:59:59Z");
    assert_eq!(before["summary"]["sends"]["scheduled"], 2);
    let at = plan_json(&ctx, "2026-12-01T06:00:00Z");
    assert_eq!(at["summary"]["sends"]["scheduled"], 0);
    assert_eq!(at["summary"]["sends"]["waiting"], 2);
    let expired = plan_json(&ctx, "2026-12-02T06:00:00Z");
    assert_eq!(expired["summary"]["sends"]["expired"], 2);
    assert_eq!(expired["sends"][0]["state"], "expired");
}

#[test]
fn version_hash_is_stable_under_formatting() {
    let ctx = TestContext::new();
    ctx.write("a/waform.yaml", CONFIG);
    // Same content: keys reordered, other quoting, flow style, comments.
    ctx.write(
        "b/waform.yaml",
        r#"# reformatted
version: 1
templates:
  course_signup:
    languages:
      en_US:
        buttons: [{screen: WELCOME, flow: signup, text: 'Sign up', type: flow}]
        body_examples: [Anna]
        body: 'Hi {{1}}, our courses are open. Sign up now.'
    category: MARKETING
flows: {signup: {id: '1234567890123456'}}
"#,
    );
    ctx.write(
        "c/waform.yaml",
        &CONFIG.replace("Sign up now.", "Sign up today."),
    );
    let name = |dir: &str| {
        let out = ctx
            .cmd()
            .args(["plan", "--sandbox", "--format", "json", dir])
            .output()
            .expect("runs");
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        v["templates"][0]["name"]
            .as_str()
            .expect("name")
            .to_string()
    };
    assert_eq!(name("a"), name("b"));
    assert_ne!(name("a"), name("c"));
}

#[test]
fn detailed_exitcode_and_errors() {
    let ctx = TestContext::new();
    ctx.write("waform.yaml", CONFIG);
    ctx.cmd()
        .args(["plan", "--sandbox", "--detailed-exitcode"])
        .assert()
        .code(2);
    ctx.cmd().args(["plan", "--sandbox"]).assert().code(0);
    // No changes: nothing declared.
    ctx.write("empty/waform.yaml", "version: 1\n");
    ctx.cmd()
        .args(["plan", "--sandbox", "--detailed-exitcode", "empty"])
        .assert()
        .code(0);
    // Invalid config: exit 1.
    ctx.write("bad/waform.yaml", "version: 1\ntemplates: 5\n");
    ctx.cmd()
        .args(["plan", "--sandbox", "--detailed-exitcode", "bad"])
        .assert()
        .code(1);
    // No credentials for the real API: a clear error, exit 1.
    let out = ctx.cmd().arg("plan").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WAFORM_INSTANCE"));
}

#[test]
fn markdown_has_counts_not_phones() {
    let ctx = TestContext::new();
    ctx.write("waform.yaml", CONFIG);
    let out = ctx
        .cmd()
        .args([
            "plan",
            "--sandbox",
            "--format",
            "markdown",
            "--now",
            "2026-11-30T00:00:00Z",
        ])
        .output()
        .expect("runs");
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.starts_with("### waform plan"));
    assert!(md.contains("<details>"));
    assert!(!md.contains("1555123456"), "phones leaked:\n{md}");
    assert!(!md.contains('\u{1b}'));
    insta::assert_snapshot!("plan_markdown", md);
}

#[test]
fn text_plan_snapshot() {
    let ctx = TestContext::new();
    ctx.write("waform.yaml", CONFIG);
    let out = ctx
        .cmd()
        .args([
            "plan",
            "--sandbox",
            "--no-color",
            "--now",
            "2026-11-30T00:00:00Z",
        ])
        .output()
        .expect("runs");
    insta::assert_snapshot!("plan_text", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn examples_plan_cleanly() {
    let ctx = TestContext::new();
    for example in ["course-signup", "service-followup", "multi-language"] {
        let out = ctx
            .cmd()
            .args(["plan", "--sandbox", "--format", "json", "--state"])
            .arg(format!("sqlite://{}/{example}.db", ctx.path().display()))
            .arg(repo_root().join("examples").join(example))
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn markdown_stays_under_the_github_limit() {
    use waform::plan::render::markdown;
    use waform::plan::*;
    let t = TemplateChange {
        after: vec!["body: ".to_string() + &"word ".repeat(200)],
        ..TemplateChange::new(TemplateAction::Create, &"x".repeat(40), "en_US")
    };
    let send = SendPlan {
        name: "s".repeat(30),
        kind: waform::plan::SendPlanKind::Template,
        template: None,
        language: None,
        flow_id: None,
        target: None,
        state: SendState::Waiting,
        at: None,
        expires: None,
        reason: Some("waiting for template approval".into()),
        counts: SendCounts {
            recipients: 3,
            waiting: 3,
            ..SendCounts::default()
        },
    };
    let message = PlanMessage {
        severity: waform::diag::Severity::Error,
        message: "template x conflicts with the account: ".to_string() + &"words ".repeat(40),
    };
    let plan = Plan {
        templates: vec![t; 3000],
        unmanaged: 0,
        flows: vec![],
        flow_changes: vec![],
        sends: vec![send; 1000],
        messages: vec![message; 3000],
        fingerprints: Fingerprints::default(),
        review: Default::default(),
    };
    let md = markdown::render(&plan);
    assert!(md.len() <= markdown::LIMIT, "{}", md.len());
    assert!(md.contains("| create | 3000 |"));
    assert!(
        md.contains("…and 950 more sends"),
        "sends are totalled, not listed"
    );
    assert!(
        md.contains("| …and 950 more sends |  |  | 2850 | 0 | 2850 |"),
        "{}",
        &md[..3000.min(md.len())]
    );
    assert!(md.contains("…and 2980 more messages (2980 errors)"));
    assert!(md.contains("truncated"));
    assert_eq!(
        md.matches("```").count() % 2,
        0,
        "code fences stay balanced"
    );
    assert!(md
        .trim_end()
        .ends_with("run `waform plan` for the full plan."));
}
