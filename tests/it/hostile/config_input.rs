//! Configs built to hurt: alias bombs, deep nesting, floods of errors,
//! byte-order marks, files that are not files, literal tokens.

use crate::common::{repo_root, TestContext};

/// Runs `waform validate FILE` and returns (exit code, stderr).
fn validate(ctx: &TestContext, file: &str) -> (Option<i32>, String) {
    let out = ctx.cmd().arg("validate").arg(file).output().expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn alias_bomb_is_one_diagnostic_at_the_alias() {
    let ctx = TestContext::new();
    let mut text = String::from("version: 1\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    // Seven levels: 9^7 strings. The old loader built all of them (and with
    // nine levels grew to 24 GB).
    let names = ["a", "b", "c", "d", "e", "f", "g"];
    for pair in names.windows(2) {
        let uses = vec![format!("*{}", pair[0]); 9].join(",");
        text.push_str(&format!("{}: &{} [{uses}]\n", pair[1], pair[1]));
    }
    ctx.write("bomb.yaml", &text);
    let (code, stderr) = validate(&ctx, "bomb.yaml");
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(stderr.contains("aliases expand"), "{stderr}");
    // The budget runs out at the first alias of `e` (9^4 strings).
    assert!(stderr.contains("--> bomb.yaml:6:26"), "{stderr}");
}

#[test]
fn deep_nesting_is_a_diagnostic_not_an_abort() {
    let ctx = TestContext::new();
    // 10,000 levels inside action_data overflowed the stack (exit 134).
    let example = std::fs::read_to_string(repo_root().join("examples/course-signup/waform.yaml"))
        .expect("example");
    let deep = format!("[{}1{}]", "[".repeat(9_999), "]".repeat(9_999));
    let text = example.replace(
        "action_data: { fname: \"${recipient.fname}\", lname: \"${recipient.lname}\" }",
        &format!("action_data: {{ fname: {deep} }}"),
    );
    assert_ne!(text, example);
    ctx.write("waform.yaml", &text);
    for csv in ["recipients.csv", "opted_out.csv"] {
        std::fs::copy(
            repo_root().join("examples/course-signup").join(csv),
            ctx.path().join(csv),
        )
        .expect("copy");
    }
    let (code, stderr) = validate(&ctx, "waform.yaml");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--> waform.yaml:"), "{stderr}");

    // Block style, 100,000 levels anywhere.
    let block = format!("version: 1\nx:\n  {}1\n", "- ".repeat(100_000));
    ctx.write("block.yaml", &block);
    let (code, stderr) = validate(&ctx, "block.yaml");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("nests deeper than 128 levels"), "{stderr}");
    assert!(stderr.contains("--> block.yaml:3:"), "{stderr}");
}

#[test]
fn a_flood_of_errors_is_capped_with_a_count() {
    let ctx = TestContext::new();
    let mut text = String::from("version: 1\ntemplates:\n");
    for i in 0..3_000 {
        text.push_str(&format!("  t{i}: {{ bogus: 1 }}\n"));
    }
    ctx.write("many.yaml", &text);
    let (code, stderr) = validate(&ctx, "many.yaml");
    assert_eq!(code, Some(1));
    assert_eq!(stderr.matches("error:").count(), 200, "cap");
    assert!(
        stderr.contains("... and 8800 more (only the first 200 are shown"),
        "{}",
        &stderr[stderr.len().saturating_sub(400)..]
    );
    assert!(stderr.ends_with("9000 errors, 0 warnings\n"), "tally");
    // The first ones by position are the ones shown.
    assert!(stderr.contains("--> many.yaml:3:"));

    // Thousands of unknown keys are one diagnostic naming a few of them.
    let mut text = String::from("version: 1\n");
    for i in 0..20_000 {
        text.push_str(&format!("key{i}: {i}\n"));
    }
    ctx.write("keys.yaml", &text);
    let (code, stderr) = validate(&ctx, "keys.yaml");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("`key9` and 19990 more"), "{stderr}");
    assert!(stderr.len() < 2_000, "{}", stderr.len());
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let ctx = TestContext::new();
    let example = std::fs::read_to_string(repo_root().join("examples/multi-language/waform.yaml"))
        .expect("example");
    ctx.write("bom.yaml", &format!("\u{feff}{example}"));
    let (code, stderr) = validate(&ctx, "bom.yaml");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn only_regular_files_are_read_as_config() {
    let ctx = TestContext::new();
    let (code, stderr) = validate(&ctx, "/dev/zero");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("only regular files are read"), "{stderr}");

    let fifo = ctx.path().join("fifo.yaml");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: mkfifo on a NUL-terminated path inside the test's temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let started = std::time::Instant::now();
    let (code, stderr) = validate(&ctx, "fifo.yaml");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn a_literal_token_line_is_never_echoed() {
    let ctx = TestContext::new();
    let token = "Zq8-literal-T0KEN";
    // A syntax error on the token's line, a second error on it, and a
    // YAML-escaped spelling on a continuation line.
    for (name, text) in [
        (
            "syntax.yaml",
            format!("version: 1\nprovider:\n  token: \"{token}\" x: [\n"),
        ),
        (
            "twice.yaml",
            format!("version: 1\nprovider: {{ kind: onemsg, token: {token}, bogus: 1 }}\n"),
        ),
        (
            "escaped.yaml",
            "version: 1\nprovider:\n  token:\n    \"Zq8\\x2Dliteral\\x2DT0KEN\"\n  kind: nope\n"
                .to_string(),
        ),
    ] {
        ctx.write(name, &text);
        let (code, stderr) = validate(&ctx, name);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        for spelled in [token, "Zq8\\x2D", "literal"] {
            assert!(
                !stderr.contains(spelled),
                "{name} echoed the token:\n{stderr}"
            );
        }
        assert!(stderr.contains("--> "), "{name}: {stderr}");
    }
}
