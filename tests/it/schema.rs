//! The committed JSON Schema equals `waform schema` and accepts the examples.

use crate::common::{repo_root, TestContext};

#[test]
fn committed_schema_is_current() {
    let ctx = TestContext::new();
    let out = ctx.cmd().arg("schema").output().expect("runs");
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    let committed = std::fs::read_to_string(repo_root().join("schemas/waform.schema.json"))
        .expect("schemas/waform.schema.json is committed");
    assert_eq!(
        printed.trim_end(),
        committed.trim_end(),
        "schemas/waform.schema.json is stale: run `cargo run -- schema > schemas/waform.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).expect("json");
    assert_eq!(schema["title"], "waform config");
    assert!(schema["properties"]["templates"].is_object());
    assert!(schema["properties"]["sends"].is_object());
}

#[test]
fn examples_point_editors_at_the_schema() {
    for example in ["course-signup", "service-followup", "multi-language"] {
        let text = std::fs::read_to_string(
            repo_root()
                .join("examples")
                .join(example)
                .join("waform.yaml"),
        )
        .expect("example");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../../schemas/waform.schema.json")
        );
    }
}
