//! `waform import` writes a managed Flow's categories as the account tells
//! them (`GET /flows/{id}`); when it does not, `[OTHER]` with a comment in
//! the written YAML telling the user to set the real ones.

use crate::common::{copy_example, TestContext};

fn run(ctx: &TestContext, args: &[&str]) {
    let out = ctx.cmd().args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn import_marks_categories_the_account_does_not_tell() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let dir_arg = dir.to_str().expect("utf-8");
    run(&ctx, &["apply", "--sandbox", dir_arg]);

    // The saved sandbox account forgets the Flow's categories, as an
    // account whose GET /flows/{id} carries none.
    let saved = dir.join(".waform/state.sandbox-account.json");
    let mut account: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("read")).expect("json");
    let assets = account["flow_assets"]
        .as_object_mut()
        .expect("flow assets saved");
    assert_eq!(assets.len(), 1);
    for asset in assets.values_mut() {
        assert_eq!(asset["categories"], serde_json::json!(["SIGN_UP"]));
        asset["categories"] = serde_json::json!([]);
    }
    std::fs::write(&saved, account.to_string()).expect("write");

    run(
        &ctx,
        &[
            "import",
            "--sandbox",
            "--out",
            "imported/waform.yaml",
            dir_arg,
        ],
    );
    let yaml = std::fs::read_to_string(ctx.path().join("imported/waform.yaml")).expect("yaml");
    assert!(
        yaml.contains(
            "  course_sign_up: { name: \"Course sign-up\", categories: [OTHER], json: \"flows/course_sign_up.json\", publish: true }  # categories: the account did not tell them; OTHER is a placeholder, set the real ones"
        ),
        "{yaml}"
    );
    run(&ctx, &["validate", "imported"]);
}
