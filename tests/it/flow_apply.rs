//! Managed Flows through plan and apply on the in-process sandbox: the
//! example's sign-up Flow is created, published and used by its campaign; a
//! second run changes nothing; an edit is an update in place (same id,
//! republished) whose removed form field is marked breaking.

use serde_json::Value;

use crate::common::{copy_example, TestContext};

fn waform(ctx: &TestContext, args: &[&str], dir: &std::path::Path) -> std::process::Output {
    let out = ctx.cmd().args(args).arg(dir).output().expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn plan(ctx: &TestContext, dir: &std::path::Path) -> Value {
    let out = waform(ctx, &["plan", "--sandbox", "--format", "json"], dir);
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn managed_flow_is_created_published_sent_then_updated_in_place() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");

    let first = plan(&ctx, &dir);
    assert_eq!(first["flow_changes"][0]["action"], "create", "{first}");
    assert_eq!(first["summary"]["flows"]["create"], 1);
    assert!(
        first["flow_changes"][0].get("json").is_none(),
        "no Flow JSON in the plan output"
    );
    assert_eq!(first["has_changes"], true);

    let out = waform(&ctx, &["apply", "--sandbox"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let created = stdout.find("created as DRAFT").expect("created");
    let published = stdout.find("published").expect("published");
    let submitted = stdout.find("submitted for review").expect("template");
    assert!(
        created < published && published < submitted,
        "Flow before template:\n{stdout}"
    );
    assert!(stdout.contains("8 accepted"), "{stdout}");

    // The CSV columns are the Flow's `complete` payload, in declared order,
    // before anyone has answered.
    let out = waform(
        &ctx,
        &["responses", "--sandbox", "--send", "spring_campaign"],
        &dir,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next(),
        Some(
            "phone,flow_token,submitted_at,first_name,last_name,email,course,schedule,news_opt_in"
        )
    );

    let second = plan(&ctx, &dir);
    assert_eq!(second["has_changes"], false, "{second}");
    assert_eq!(second["flow_changes"][0]["action"], "unchanged");
    let id = second["flow_changes"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();

    // Drop the opt-in field: an update in place, marked breaking.
    let path = dir.join("flows/signup.json");
    let mut flow: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let confirm = &mut flow["screens"][2]["layout"]["children"];
    let kept: Vec<Value> = confirm
        .as_array()
        .expect("children")
        .iter()
        .filter(|c| c["name"] != "news_opt_in")
        .cloned()
        .collect();
    *confirm = Value::Array(kept);
    if let Some(payload) =
        flow["screens"][2]["layout"]["children"][2]["on-click-action"]["payload"].as_object_mut()
    {
        payload.remove("news_opt_in");
    }
    std::fs::write(&path, serde_json::to_string_pretty(&flow).expect("json")).expect("write");
    waform(&ctx, &["validate"], &dir);

    let third = plan(&ctx, &dir);
    let change = &third["flow_changes"][0];
    assert_eq!(change["action"], "update", "{third}");
    assert_eq!(change["id"], id.as_str());
    let breaking = change["breaking"].to_string();
    assert!(breaking.contains("news_opt_in"), "{breaking}");
    let md = String::from_utf8_lossy(
        &waform(&ctx, &["plan", "--sandbox", "--format", "markdown"], &dir).stdout,
    )
    .to_string();
    assert!(
        md.contains("[preview the Flow on the account](https://"),
        "{md}"
    );
    assert!(
        md.contains("**breaking**: form field `news_opt_in` is removed"),
        "{md}"
    );
    let text =
        String::from_utf8_lossy(&waform(&ctx, &["plan", "--sandbox"], &dir).stdout).to_string();
    assert!(
        text.contains("! breaking: form field `news_opt_in` is removed"),
        "{text}"
    );
    assert!(text.contains("- OptIn `news_opt_in`"), "{text}");

    let out = waform(&ctx, &["apply", "--sandbox"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("({id}): Flow JSON replaced")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("({id}) published")), "{stdout}");
    let fourth = plan(&ctx, &dir);
    assert_eq!(fourth["has_changes"], false, "{fourth}");
    assert_eq!(fourth["flow_changes"][0]["id"], id.as_str(), "same Flow id");
}

fn run(ctx: &TestContext, args: &[&str], dir: &std::path::Path) -> (i32, String) {
    let out = ctx.cmd().args(args).arg(dir).output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_removed_flow_is_deprecated_only_with_allow_deprecate() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let yaml_path = dir.join("waform.yaml");
    let original = std::fs::read_to_string(&yaml_path).expect("read");
    let extra = "flows:\n  old_survey:\n    name: \"Old survey\"\n    categories: [SURVEY]\n    json: flows/signup.json\n    publish: true\n";
    std::fs::write(&yaml_path, original.replacen("flows:\n", extra, 1)).expect("write");
    waform(&ctx, &["apply", "--sandbox"], &dir);

    // The Flow leaves the config and is listed under removed:.
    std::fs::write(
        &yaml_path,
        format!("{original}\nremoved: [\"Old survey\"]\n"),
    )
    .expect("write");
    let (code, out) = run(&ctx, &["plan", "--sandbox", "--format", "json"], &dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"deprecate_blocked\""), "{out}");
    assert!(out.contains("--allow-deprecate"), "{out}");
    let (code, out) = run(&ctx, &["plan", "--sandbox"], &dir);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("flow Old survey \"Old survey\"") && out.contains("needs --allow-deprecate"),
        "{out}"
    );
    let (code, out) = run(&ctx, &["apply", "--sandbox"], &dir);
    assert_eq!(code, 1, "apply refuses without the flag: {out}");
    assert!(!out.contains("deprecated"), "{out}");

    let planned = {
        let (code, out) = run(
            &ctx,
            &["plan", "--sandbox", "--format", "json", "--allow-deprecate"],
            &dir,
        );
        assert_eq!(code, 0, "{out}");
        serde_json::from_str::<Value>(&out).expect("json")
    };
    let old = planned["flow_changes"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["name"] == "Old survey"))
        .cloned()
        .expect("old survey planned");
    assert_eq!(old["action"], "deprecate", "{planned}");
    assert_eq!(old["status"], "PUBLISHED");
    assert_eq!(planned["summary"]["flows"]["deprecate"], 1);

    let out = waform(&ctx, &["apply", "--sandbox", "--allow-deprecate"], &dir);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"Old survey\""),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The sandbox Flow is DEPRECATED; a second run is unchanged, with or
    // without the flag.
    for flags in [&["--allow-deprecate"][..], &[][..]] {
        let mut args = vec!["plan", "--sandbox", "--format", "json"];
        args.extend_from_slice(flags);
        let after: Value = serde_json::from_slice(&waform(&ctx, &args, &dir).stdout).expect("json");
        let old = after["flow_changes"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["name"] == "Old survey"))
            .cloned()
            .expect("old survey listed");
        assert_eq!(old["status"], "DEPRECATED", "{after}");
        assert_eq!(old["action"], "unchanged");
        assert_eq!(after["has_changes"], false, "{after}");
    }
}
