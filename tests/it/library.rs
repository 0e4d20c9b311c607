//! `examples/library.rs`: the public library API alone drives validate →
//! plan → apply → status against the embedded sandbox.

use std::process::Command;

use crate::common::{copy_example, repo_root, TestContext};

#[test]
fn library_example_applies_course_signup_in_process() {
    let ctx = TestContext::new();
    // A temp copy: the example writes its sandbox ledger beside the config.
    let dir = copy_example(&ctx, "course-signup");
    let out = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args(["run", "--quiet", "--example", "library", "--"])
        .arg(&dir)
        .env_remove("WAFORM_STATE")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("is valid"), "{stdout}");
    assert!(
        stdout.contains("plan: 1 template change(s), 8 message(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("submitted for review"), "{stdout}");
    assert!(stdout.contains("apply: Success"), "{stdout}");
    assert!(
        stdout.contains("8 recipients, 8 accepted, 0 rejected, 0 unknown"),
        "{stdout}"
    );
    assert!(dir.join(".waform").is_dir());
}
