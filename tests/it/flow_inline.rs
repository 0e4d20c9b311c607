//! The 501 inline path on the real binary and the in-process sandbox: a
//! channel without the Flow API (`WAFORM_SANDBOX_FLOWS_API=501`, remembered
//! by the saved sandbox account) gets the managed Flow inline in the
//! template's FLOW button; a Flow edit is a new template version with its
//! breaking marks; a second run changes nothing.

use serde_json::Value;

use crate::common::{copy_example, TestContext};

fn run(ctx: &TestContext, args: &[&str], dir: &std::path::Path, no_api: bool) -> String {
    let mut cmd = ctx.cmd();
    if no_api {
        cmd.env("WAFORM_SANDBOX_FLOWS_API", "501");
    }
    let out = cmd.args(args).arg(dir).output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{args:?}: {text}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn plan(ctx: &TestContext, dir: &std::path::Path) -> Value {
    serde_json::from_str(&run(
        ctx,
        &["plan", "--sandbox", "--format", "json"],
        dir,
        false,
    ))
    .expect("json")
}

/// The account file `apply --sandbox` saved: its templates as stored.
fn saved_templates(dir: &std::path::Path) -> Vec<Value> {
    let path = dir.join(".waform/state.sandbox-account.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let saved: Value = serde_json::from_str(&text).expect("json");
    saved["templates"].as_array().cloned().unwrap_or_default()
}

#[test]
fn without_the_flow_api_the_flow_goes_inline_and_an_edit_is_a_new_template_version() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");

    // The plan states the inline path, in every format.
    let first: Value = serde_json::from_str(&run(
        &ctx,
        &["plan", "--sandbox", "--format", "json"],
        &dir,
        true,
    ))
    .expect("json");
    let flow = &first["flow_changes"][0];
    assert_eq!(flow["action"], "inline", "{first}");
    assert_eq!(first["summary"]["flows"]["inline"], 1);
    assert_eq!(first["summary"]["flows"]["create"], 0);
    assert_eq!(first["summary"]["templates"]["create"], 1);
    let text = run(&ctx, &["plan", "--sandbox"], &dir, true);
    assert!(
        text.contains(
            "inline in its templates' FLOW buttons (the channel has no Flow API: HTTP 501)"
        ),
        "{text}"
    );
    assert!(text.contains("flow=inline:"), "{text}");
    let md = run(
        &ctx,
        &["plan", "--sandbox", "--format", "markdown"],
        &dir,
        true,
    );
    assert!(md.contains("no Flow API: HTTP 501"), "{md}");

    // Apply creates the template with the Flow JSON inline and sends; no
    // Flow is created through the (absent) Flow API.
    let out = run(&ctx, &["apply", "--sandbox"], &dir, true);
    assert!(!out.contains("created as DRAFT"), "{out}");
    assert!(out.contains("submitted for review"), "{out}");
    assert!(out.contains("8 accepted"), "{out}");
    let templates = saved_templates(&dir);
    assert_eq!(templates.len(), 1, "{templates:?}");
    let button = templates[0]["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "BUTTONS"))
        .map(|c| c["buttons"][0].clone())
        .expect("buttons");
    assert_eq!(button["type"], "FLOW");
    assert!(button.get("flow_name").is_none(), "{button}");
    let inline: Value =
        serde_json::from_str(button["flow_json"].as_str().expect("flow_json is a string"))
            .expect("Flow JSON");
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("flows/signup.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(inline, file, "the Flow JSON travels as written");
    let old_name = templates[0]["name"].as_str().expect("name").to_string();

    // A second run (the saved account remembers the 501 channel) changes
    // nothing: the template read back with flow_json compares equal.
    let second = plan(&ctx, &dir);
    assert_eq!(second["has_changes"], false, "{second}");
    assert_eq!(second["flow_changes"][0]["action"], "inline");
    assert!(second["flow_changes"][0].get("diff").is_none(), "{second}");
    assert_eq!(second["summary"]["templates"]["unchanged"], 1, "{second}");
    let out = run(&ctx, &["apply", "--sandbox"], &dir, false);
    assert!(!out.contains("submitted for review"), "{out}");

    // Drop the opt-in field: a new template version, marked breaking.
    let path = dir.join("flows/signup.json");
    let mut edited = file.clone();
    let confirm = &mut edited["screens"][2]["layout"]["children"];
    let kept: Vec<Value> = confirm
        .as_array()
        .expect("children")
        .iter()
        .filter(|c| c["name"] != "news_opt_in")
        .cloned()
        .collect();
    *confirm = Value::Array(kept);
    if let Some(payload) =
        edited["screens"][2]["layout"]["children"][2]["on-click-action"]["payload"].as_object_mut()
    {
        payload.remove("news_opt_in");
    }
    std::fs::write(&path, serde_json::to_string_pretty(&edited).expect("json")).expect("write");
    let third = plan(&ctx, &dir);
    let replace = third["templates"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["action"] == "replace"))
        .cloned()
        .unwrap_or_else(|| panic!("a new template version: {third}"));
    assert_eq!(replace["replaces"], old_name.as_str(), "{third}");
    assert_ne!(replace["name"], old_name.as_str());
    let flow = &third["flow_changes"][0];
    assert_eq!(flow["action"], "inline");
    assert!(
        flow["breaking"].to_string().contains("news_opt_in"),
        "{third}"
    );
    let text = run(&ctx, &["plan", "--sandbox"], &dir, false);
    assert!(
        text.contains("! breaking: form field `news_opt_in` is removed"),
        "{text}"
    );
    assert!(text.contains("- OptIn `news_opt_in`"), "{text}");

    // Reformatting the file alone is no new version.
    std::fs::write(&path, serde_json::to_string(&file).expect("json")).expect("write");
    assert_eq!(plan(&ctx, &dir)["has_changes"], false);
}
