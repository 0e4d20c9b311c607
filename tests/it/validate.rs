//! `waform validate`: the examples pass, every corpus file fails with a
//! diagnostic that names its line and column, and the rendered diagnostics
//! are pinned by snapshots.

use crate::common::{repo_root, TestContext};

#[test]
fn every_example_validates() {
    let ctx = TestContext::new();
    for example in ["course-signup", "service-followup", "multi-language"] {
        let path = repo_root()
            .join("examples")
            .join(example)
            .join("waform.yaml");
        let out = ctx.cmd().arg("validate").arg(&path).output().expect("runs");
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The folder form is the same config.
        let dir = repo_root().join("examples").join(example);
        ctx.cmd().arg("validate").arg(dir).assert().success();
    }
}

#[test]
fn invalid_corpus_snapshots() {
    let corpus = repo_root().join("tests/corpus/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8);
    let ctx = TestContext::new();
    for file in files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        let out = ctx
            .cmd()
            .current_dir(&corpus)
            .arg("validate")
            .arg(file.file_name().expect("name"))
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{name} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            stderr.contains(&format!("--> {name}.yaml:")),
            "{name}: no file:line:col in\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name} panicked");
        insta::assert_snapshot!(format!("validate_{name}"), stderr);
    }
}

#[test]
fn all_problems_are_reported_in_one_run() {
    let ctx = TestContext::new();
    let out = ctx
        .cmd()
        .current_dir(repo_root().join("tests/corpus/invalid"))
        .args(["validate", "limits.yaml"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.matches("error:").count() >= 6, "{stderr}");
}

#[test]
fn warnings_alone_exit_zero() {
    let ctx = TestContext::new();
    ctx.write(
        "waform.yaml",
        r#"version: 1
templates:
  hello:
    category: UTILITY
    languages:
      en_US: { body: "Hello there" }
sends:
  s:
    template: hello
    recipients:
      - { phone: "+15551234567" }
      - { phone: "+1 555 123 4567" }
"#,
    );
    let out = ctx.cmd().arg("validate").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: 1 duplicate recipient"),
        "{stderr}"
    );
    assert!(stderr.contains("waform.yaml:12:"), "{stderr}");
}

#[test]
fn folder_merge_reports_keys_defined_twice() {
    let ctx = TestContext::new();
    ctx.write("cfg/a.yaml", "version: 1\ntemplates:\n  t:\n    category: UTILITY\n    languages:\n      en: { body: \"Hello\" }\n");
    ctx.write("cfg/b.yaml", "templates:\n  t:\n    category: UTILITY\n    languages:\n      en: { body: \"Hi\" }\n  u:\n    category: UTILITY\n    languages:\n      en: { body: \"Yo\" }\n");
    let out = ctx.cmd().args(["validate", "cfg"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`templates.t` is defined in two files"),
        "{stderr}"
    );
    assert!(stderr.contains("b.yaml:2:"), "{stderr}");
    assert!(
        stderr.contains("first defined at") && stderr.contains("a.yaml:3:"),
        "{stderr}"
    );
}

#[test]
fn csv_problems_point_at_the_csv_line() {
    let ctx = TestContext::new();
    ctx.write(
        "people.csv",
        "phone,fname\n+15551234567,Anna\nnot-a-phone,Bob\n+15551234568\n",
    );
    ctx.write("nophone.csv", "name\nx\n");
    ctx.write(
        "waform.yaml",
        r#"version: 1
templates:
  hello:
    category: UTILITY
    languages:
      en_US: { body: "Hello {{1}}, hi.", body_examples: [A] }
sends:
  s:
    template: hello
    body_params: ["${recipient.fname}"]
    recipients:
      - csv: people.csv
      - csv: nophone.csv
"#,
    );
    let out = ctx.cmd().arg("validate").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("people.csv:3:1"), "{stderr}");
    assert!(stderr.contains("people.csv:4:1"), "{stderr}");
    assert!(
        stderr.contains("nophone.csv has no `phone` column"),
        "{stderr}"
    );
}

#[test]
fn garbage_input_never_panics() {
    let ctx = TestContext::new();
    let inputs = [
        "",
        "---\n---\n",
        "[1, 2]",
        "version: [",
        "\u{0}\u{1}binary",
        "a: *nope",
        "version: 1\ntemplates: 5",
        "version: 1\nsends:\n  s:\n    recipients: [1, 2]",
        "version: 1\ntemplates:\n  ? [a]\n  : b\n",
        "version: 99999999999999999999",
    ];
    for (i, input) in inputs.iter().enumerate() {
        let name = format!("g{i}.yaml");
        ctx.write(&name, input);
        let out = ctx.cmd().arg("validate").arg(&name).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "input {input:?}: {stderr}");
        assert_eq!(out.status.code(), Some(1), "input {input:?}: {stderr}");
    }
}

#[test]
fn missing_config_is_a_clear_error() {
    let ctx = TestContext::new();
    let out = ctx.cmd().arg("validate").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config waform.yaml does not exist"),
        "{stderr}"
    );
}
