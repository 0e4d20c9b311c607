//! `apply --sandbox` twice: the in-process sandbox keeps its account beside
//! the sandbox ledger, so the second run meets the same account, like a
//! real one, and has nothing to do.

use serde_json::Value;

use crate::common::{copy_example, TestContext};

fn run(ctx: &TestContext, args: &[&str], dir: &std::path::Path) -> std::process::Output {
    let out = ctx.cmd().args(args).arg(dir).output().expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn plan_json(ctx: &TestContext, dir: &std::path::Path) -> Value {
    let out = run(ctx, &["plan", "--sandbox", "--format", "json"], dir);
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn a_second_sandbox_apply_plans_no_changes_and_sends_nothing() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let first = run(&ctx, &["apply", "--sandbox"], &dir);
    let first = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(
        first.contains("8 message(s) accepted in this run"),
        "{first}"
    );
    assert!(dir.join(".waform/state.sandbox-account.json").is_file());

    let plan = plan_json(&ctx, &dir);
    assert_eq!(plan["has_changes"], false, "{plan}");
    assert_eq!(plan["summary"]["templates"]["unchanged"], 1, "{plan}");
    assert_eq!(plan["summary"]["sends"]["already_sent"], 8, "{plan}");

    let second = run(&ctx, &["apply", "--sandbox"], &dir);
    let second = String::from_utf8_lossy(&second.stdout).to_string();
    assert!(second.contains("No changes."), "{second}");
    assert!(second.contains("0 template(s) to create"), "{second}");
    assert!(
        second.contains("0 message(s) accepted in this run"),
        "{second}"
    );
    assert!(!second.contains("waiting"), "{second}");
}

#[test]
fn a_done_send_never_carries_a_waiting_reason() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    run(&ctx, &["apply", "--sandbox"], &dir);
    // The ledger remembers the sends while the account is fresh (as after
    // an account file was deleted): the template is pending again, yet
    // nobody is left to send to.
    std::fs::remove_file(dir.join(".waform/state.sandbox-account.json")).expect("rm");
    let plan = plan_json(&ctx, &dir);
    let send = &plan["sends"][0];
    assert_eq!(send["state"], "done", "{plan}");
    assert!(send.get("reason").is_none_or(Value::is_null), "{plan}");
}

#[test]
fn an_unreadable_sandbox_account_is_an_error_that_says_what_to_do() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    ctx.write(
        "course-signup/.waform/state.sandbox-account.json",
        "{not json",
    );
    let out = ctx
        .cmd()
        .args(["apply", "--sandbox"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("state.sandbox-account.json"), "{err}");
    assert!(err.contains("delete it"), "{err}");
}

#[test]
fn import_sandbox_reads_the_saved_account_with_flows_by_name() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let missing = ctx
        .cmd()
        .args(["import", "--sandbox"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("apply --sandbox"));

    run(&ctx, &["apply", "--sandbox"], &dir);
    let out = ctx
        .cmd()
        .args(["import", "--sandbox", "--out", "imported/waform.yaml"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = std::fs::read_to_string(ctx.path().join("imported/waform.yaml")).expect("yaml");
    assert!(yaml.contains("naming: exact"), "{yaml}");
    // The Flow is keyed by its name on the account ("Course sign-up"), not
    // `flow_<id>`, and managed: its JSON is written beside the YAML.
    assert!(
        yaml.contains(
            "  course_sign_up: { name: \"Course sign-up\", categories: [SIGN_UP], json: \"flows/course_sign_up.json\", publish: true }"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("flow: course_sign_up"), "{yaml}");
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ctx.path().join("imported/flows/course_sign_up.json"))
            .expect("Flow file"),
    )
    .expect("json");
    let original: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("flows/signup.json")).expect("example Flow"),
    )
    .expect("json");
    assert_eq!(written, original, "the account's Flow JSON, as applied");
    ctx.cmd().args(["validate", "imported"]).assert().success();

    // Round trip: the imported config planned against the same sandbox
    // account (its saved file copied to where the new folder's sandbox
    // looks) shows no template or Flow change.
    let saved = find(&dir, "sandbox-account.json").expect("saved sandbox account");
    let relative = saved.strip_prefix(&dir).expect("inside the config folder");
    let target = ctx.path().join("imported").join(relative);
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    std::fs::copy(&saved, &target).expect("copy");
    let out = run(
        &ctx,
        &["plan", "--sandbox", "--format", "json"],
        &ctx.path().join("imported"),
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(plan["has_changes"], false, "{plan}");
    assert_eq!(plan["flow_changes"][0]["action"], "unchanged", "{plan}");
    assert_eq!(plan["summary"]["templates"]["unchanged"], 1, "{plan}");
    assert_eq!(plan["summary"]["templates"]["create"], 0, "{plan}");

    // Importing again over the written Flow file needs --force.
    let again = ctx
        .cmd()
        .args(["import", "--sandbox", "--out", "imported/waform2.yaml"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("course_sign_up.json already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// The first file under `dir` whose name ends with `suffix`.
fn find(dir: &std::path::Path, suffix: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find(&path, suffix) {
                return Some(found);
            }
        } else if path.to_string_lossy().ends_with(suffix) {
            return Some(path);
        }
    }
    None
}

#[test]
fn a_flow_message_says_why_it_went_by_fallback_and_names_its_flow_alike() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "service-followup");
    let out = run(&ctx, &["apply", "--sandbox"], &dir);
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.contains("3 accepted (3 window closed → fallback template)"),
        "{out}"
    );
    // The button names the Flow; the Flows section shows that name too.
    assert!(out.contains("flow=Course application"), "{out}");
    assert!(
        out.contains("application \"Course application\" id "),
        "{out}"
    );

    let plan = run(&ctx, &["plan", "--sandbox"], &dir);
    let plan = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(
        plan.contains("24-hour window closed (no message from the person in the last 24 h) → fallback template application_reminder_"),
        "{plan}"
    );
    assert!(!plan.contains("(flow_message via "), "{plan}");
}
