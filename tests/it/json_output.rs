//! Whole-document snapshots of the machine-readable outputs that pipelines
//! parse: `plan --format json` and `status --format json`. A change here is
//! a change to a contract (docs/design.md §3), so it must show in review.

use crate::common::{copy_example, TestContext};

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

#[test]
fn plan_json_of_the_course_signup_example() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let out = ctx
        .cmd()
        .args([
            "plan",
            "--sandbox",
            "--format",
            "json",
            "--now",
            "2026-11-30T00:00:00Z",
        ])
        .arg(&dir)
        .output()
        .expect("runs");
    insta::assert_json_snapshot!("plan_json_course_signup", json(&out));
}

#[test]
fn status_json_after_the_main_job() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let out = ctx
        .cmd()
        .args(["apply", "--sandbox", "--auto-approve"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ctx
        .cmd()
        .args(["status", "--sandbox", "--format", "json"])
        .arg(&dir)
        .output()
        .expect("runs");
    insta::assert_json_snapshot!("status_json_course_signup", json(&out));
}
