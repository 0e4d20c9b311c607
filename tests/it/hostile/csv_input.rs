//! Recipient lists built to hurt: endless rows, devices, FIFOs.

use std::time::{Duration, Instant};

use crate::common::TestContext;

const CONFIG: &str = r#"version: 1
flows:
  signup: { id: "1234567890123456" }
templates:
  hello:
    category: MARKETING
    languages:
      en_US:
        body: "Hi {{1}}"
        body_examples: ["Anna"]
        buttons:
          - { type: flow, text: "Sign up", flow: signup, action: navigate, screen: WELCOME }
sends:
  s:
    template: hello
    language: en_US
    body_params: ["${recipient.fname}"]
    recipients:
      - csv: CSVFILE
"#;

fn validate_with(ctx: &TestContext, csv: &str) -> (Option<i32>, String, Duration) {
    ctx.write("waform.yaml", &CONFIG.replace("CSVFILE", csv));
    let started = Instant::now();
    let out = ctx.cmd().arg("validate").output().expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn an_overlong_row_is_a_diagnostic_naming_file_and_line() {
    let ctx = TestContext::new();
    // 20 MB on one line (no line break), after two good rows.
    let mut text = String::from("phone,fname\n+15551230001,Anna\n+15551230002,Bob\n+15551230003,");
    text.push_str(&"x".repeat(20 << 20));
    text.push('\n');
    ctx.write("long.csv", &text);
    let (code, stderr, _) = validate_with(&ctx, "long.csv");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("long.csv: the row at line 4 is longer than 64 KB"),
        "{stderr}"
    );
    assert!(stderr.contains("--> "), "{stderr}");

    // Just over the limit, quoted across lines: caught after the row.
    let field = "y".repeat(70 << 10);
    ctx.write(
        "quoted.csv",
        &format!("phone,fname\n+15551230001,\"a\n{field}\"\n+15551230002,Bob\n"),
    );
    let (code, stderr, _) = validate_with(&ctx, "quoted.csv");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the row at line 2 is longer than 64 KB"),
        "{stderr}"
    );

    // A header row without end.
    ctx.write("header.csv", &"phone".repeat(30_000));
    let (code, stderr, _) = validate_with(&ctx, "header.csv");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("line 1 is longer than 64 KB"), "{stderr}");
}

#[test]
fn only_regular_files_are_recipient_lists() {
    let ctx = TestContext::new();
    let (code, stderr, elapsed) = validate_with(&ctx, "/dev/zero");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("/dev/zero is not a regular file"),
        "{stderr}"
    );
    assert!(elapsed < Duration::from_secs(10));

    let fifo = ctx.path().join("fifo.csv");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: mkfifo on a NUL-terminated path inside the test's temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (code, stderr, elapsed) = validate_with(&ctx, "fifo.csv");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert!(elapsed < Duration::from_secs(10));
}
