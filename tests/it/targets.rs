//! The plan resolves each send's target once and apply builds messages
//! from it alone: a Flow message whose managed Flow and fallback template
//! are both created by the same apply is planned with the parts apply
//! learns (the Flow id, the template's approval) and sent with them; a
//! plan file without targets (an older waform's) is refused.

use serde_json::Value;

use crate::common::{copy_example, TestContext};

/// course-signup plus a Flow message opening the same managed Flow, with
/// the campaign template as its fallback.
fn with_flow_message(ctx: &TestContext) -> std::path::PathBuf {
    let dir = copy_example(ctx, "course-signup");
    let path = dir.join("waform.yaml");
    let mut yaml = std::fs::read_to_string(&path).expect("read");
    yaml.push_str(
        r#"  follow_up:
    flow_message:
      flow: signup
      body: "Still interested, ${recipient.fname}?"
      cta: "Sign up"
      action: navigate
      screen: WELCOME
      data: { fname: "${recipient.fname}", lname: "${recipient.lname}" }
    fallback:
      template: course_signup
      language: en_US
      body_params: ["${recipient.fname}"]
      flow_button:
        action_data: { fname: "${recipient.fname}", lname: "${recipient.lname}" }
    recipients:
      - { phone: "+15557654321", fname: Ben, lname: Bell }
"#,
    );
    std::fs::write(&path, yaml).expect("write");
    dir
}

fn run(ctx: &TestContext, args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = ctx.cmd().args(args).arg(dir).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn targets_learnt_by_apply_are_planned_and_used() {
    let ctx = TestContext::new();
    let dir = with_flow_message(&ctx);
    let (_, out, err) = run(&ctx, &["plan", "--sandbox", "--format", "json"], &dir);
    assert!(err.is_empty(), "{err}");
    let plan: Value = serde_json::from_str(&out).expect("json");
    let send = plan["sends"]
        .as_array()
        .expect("sends")
        .iter()
        .find(|s| s["name"] == "follow_up")
        .expect("follow_up")
        .clone();
    // Not blocked for want of an id: the Flow is created by this apply.
    assert_eq!(send["state"], "waiting", "{send}");
    assert_eq!(send["target"]["flow"]["key"], "signup", "{send}");
    assert!(send["target"]["flow"].get("id").is_none(), "{send}");
    let fallback = &send["target"]["template"];
    assert_eq!(fallback["review"], "in_review", "{send}");
    assert_eq!(fallback["language"], "en_US");
    assert_eq!(fallback["flow_button"], 0);
    let name = fallback["name"].as_str().expect("name");
    assert!(name.starts_with("course_signup_"), "{name}");

    let (code, out, err) = run(&ctx, &["apply", "--sandbox", "--auto-approve"], &dir);
    assert_eq!(code, 0, "{out}{err}");
    // The window is closed for Ben: the Flow message was tried with the
    // created Flow's id, and the fallback went out with the template this
    // apply saw approved.
    assert!(
        out.contains("follow_up: 1 accepted (1 window closed → fallback template)"),
        "{out}"
    );
    assert!(out.contains("8 accepted"), "{out}");
}

#[test]
fn a_plan_file_without_targets_is_refused() {
    let sb = crate::apply::sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write(
        "waform.yaml",
        &crate::apply::template_config("Hi {{1}}, sign up now."),
    );
    ctx.write("people.csv", &crate::apply::people(3));
    let out = sb
        .cmd(&ctx)
        .args(["plan", "--out", "old.plan"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = ctx.path().join("old.plan");
    let mut json: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("plan file")).expect("json");
    for send in json["plan"]["sends"].as_array_mut().expect("sends") {
        assert!(send.get("target").is_some(), "{send}");
        send.as_object_mut().expect("object").remove("target");
    }
    std::fs::write(&file, json.to_string()).expect("write");
    let out = sb.apply(&ctx, &["old.plan"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not name the templates and Flows its sends use")
            && err.contains("waform plan --out"),
        "{err}"
    );
    assert!(sb.handle.templates().is_empty() && sb.handle.sends().is_empty());
}

/// A plan file whose targets were edited (another template, language,
/// button, namespace, a Flow message's Flow) while its fingerprints still
/// match is refused before anything is sent: messages built from it would
/// go out with what nobody reviewed, or be rejected and burn the audience.
/// The file as written still applies.
#[test]
fn a_plan_file_with_edited_targets_is_refused() {
    let sb = crate::apply::sandbox(|_| {});
    let ctx = TestContext::new();
    ctx.write(
        "waform.yaml",
        &crate::apply::template_config("Hi {{1}}, sign up now."),
    );
    ctx.write("people.csv", &crate::apply::people(1));
    let out = sb.apply(&ctx, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ctx.write("people.csv", &crate::apply::people(4));
    let out = sb
        .cmd(&ctx)
        .args(["plan", "--out", "reviewed.plan"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reviewed: Value = serde_json::from_str(
        &std::fs::read_to_string(ctx.path().join("reviewed.plan")).expect("plan file"),
    )
    .expect("json");
    let target = &reviewed["plan"]["sends"][0]["target"]["template"];
    assert_eq!(target["review"], "approved", "{target}");
    let edits: [(&str, Value); 5] = [
        ("name", Value::from("someone_elses_template")),
        ("language", Value::from("de")),
        ("flow_button", Value::from(7)),
        ("namespace", Value::from("other_namespace")),
        ("interim", serde_json::json!({"name": "old_version"})),
    ];
    let rows = || {
        crate::apply::ledger(&ctx)
            .rows_for_send("spring")
            .expect("rows")
    };
    let before = rows();
    for (field, value) in edits {
        let mut json = reviewed.clone();
        json["plan"]["sends"][0]["target"]["template"][field] = value;
        std::fs::write(ctx.path().join("edited.plan"), json.to_string()).expect("write");
        let out = sb.apply(&ctx, &["edited.plan"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{field}: {err}");
        assert!(
            err.contains("target of send spring") && err.contains("waform plan --out"),
            "{field}: {err}"
        );
        assert_eq!(sb.handle.sends().len(), 1, "{field}: something was sent");
        assert_eq!(rows(), before, "{field}: the ledger changed");
    }
    let out = sb.apply(&ctx, &["reviewed.plan"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sb.handle.sends().len(), 4);
}
