//! Meta's 139001 on the real binary against a sandbox over loopback: the
//! account refuses to edit a published Flow, so apply clones it into the
//! next generation ("<name> #2"), uploads the new JSON, publishes the clone
//! and stops; the next plan re-points the template to the clone (a new
//! template version), and applying that leaves nothing to do.

use serde_json::Value;
use waform::provider::FlowStatus;

use crate::apply::sandbox;
use crate::common::{copy_example, TestContext};

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_flow_the_account_cannot_edit_is_cloned_republished_and_its_template_re_pointed() {
    let ctx = TestContext::new();
    let sb = sandbox(|c| c.flows.clear());
    let dir = copy_example(&ctx, "course-signup");
    let plan = |sb: &crate::apply::Sandbox| -> Value {
        let out = sb
            .cmd(&ctx)
            .args(["plan", "--format", "json"])
            .arg(&dir)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}", output_text(&out));
        serde_json::from_slice(&out.stdout).expect("json")
    };

    let out = sb.apply(&ctx, &[dir.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", output_text(&out));
    let original = sb
        .handle
        .flows()
        .into_iter()
        .find(|f| f.name == "Course sign-up")
        .expect("created");
    let sent_before = sb.handle.sends().len();
    assert_eq!(sent_before, 8);

    // The account will refuse any edit of this Flow (Meta error 139001).
    sb.handle.set_flow_editable(&original.id, false);
    let path = dir.join("flows/signup.json");
    let mut flow: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    flow["screens"][0]["title"] = Value::String("Welcome!".into());
    std::fs::write(&path, serde_json::to_string_pretty(&flow).expect("json")).expect("write");

    let planned = plan(&sb);
    let change = &planned["flow_changes"][0];
    assert_eq!(change["action"], "update", "{planned}");
    assert_eq!(change["clone_name"], "Course sign-up #2", "{planned}");

    let out = sb.apply(&ctx, &[dir.to_str().expect("utf-8")]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cannot be edited (Meta error 139001): cloned as \"Course sign-up #2\""),
        "{text}"
    );
    assert!(text.contains("Run `waform plan`"), "{text}");
    assert!(!text.contains("submitted for review"), "{text}");
    let flows = sb.handle.flows();
    let clone = flows
        .iter()
        .find(|f| f.name == "Course sign-up #2")
        .unwrap_or_else(|| panic!("a clone: {flows:?}"));
    assert_eq!(
        clone.status,
        FlowStatus::Published,
        "the clone is published"
    );
    let old = flows
        .iter()
        .find(|f| f.id == original.id)
        .expect("the old Flow stays");
    assert_eq!(
        old.status,
        FlowStatus::Published,
        "messages already sent keep it"
    );
    assert_eq!(sb.handle.sends().len(), sent_before, "nothing sent");

    // The next plan: the clone is the managed Flow (its JSON is the edited
    // one), and the template is re-pointed to it — a new version.
    let next = plan(&sb);
    let change = &next["flow_changes"][0];
    assert_eq!(change["action"], "unchanged", "{next}");
    assert_eq!(change["id"], clone.id.as_str(), "{next}");
    assert_eq!(change["name"], "Course sign-up #2");
    let replace = next["templates"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["action"] == "replace"))
        .cloned()
        .unwrap_or_else(|| panic!("a re-pointed template version: {next}"));
    assert!(
        replace["after"]
            .to_string()
            .contains("flow=Course sign-up #2"),
        "{replace}"
    );
    assert!(
        replace["before"]
            .to_string()
            .contains("flow=Course sign-up "),
        "{replace}"
    );

    let out = sb.apply(&ctx, &[dir.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", output_text(&out));
    let last = plan(&sb);
    assert_eq!(last["has_changes"], false, "{last}");
    let pointed = sb
        .handle
        .templates()
        .into_iter()
        .filter(|t| t.name.starts_with("course_signup_"))
        .map(|t| t.components)
        .collect::<Vec<_>>();
    assert_eq!(pointed.len(), 1, "the old version was deleted: {pointed:?}");
    assert!(
        serde_json::to_string(&pointed[0])
            .expect("json")
            .contains("\"flow_name\":\"Course sign-up #2\""),
        "{pointed:?}"
    );
}

/// An account Flow named like the last generation there can be
/// (`<name> #4294967295`) leaves no next generation to clone into: plan
/// does not panic (it did, on the overflow), it plans the Flow and names
/// no clone.
#[test]
fn the_last_possible_generation_on_the_account_does_not_panic_plan() {
    let ctx = TestContext::new();
    let sb = sandbox(|c| {
        c.flows = vec![
            waform::provider::AccountFlow {
                id: "1111111111111111".into(),
                name: "Course sign-up".into(),
                status: FlowStatus::Published,
            },
            waform::provider::AccountFlow {
                id: "2222222222222222".into(),
                name: "Course sign-up #4294967295".into(),
                status: FlowStatus::Published,
            },
        ];
    });
    let dir = copy_example(&ctx, "course-signup");
    let out = sb
        .cmd(&ctx)
        .args(["plan", "--format", "json"])
        .arg(&dir)
        .output()
        .expect("runs");
    let text = output_text(&out);
    assert!(!text.contains("panicked"), "{text}");
    assert!(matches!(out.status.code(), Some(0 | 2)), "{text}");
    let plan: Value = serde_json::from_slice(&out.stdout).expect("json");
    let flow = &plan["flows"][0];
    assert_eq!(flow["id"], "2222222222222222", "{flow}");
    assert!(flow.get("clone_name").is_none(), "{flow}");
}
