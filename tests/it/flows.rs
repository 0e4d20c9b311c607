//! Flow JSON checked offline by `waform validate`: every corpus file (one per
//! rule family) fails with diagnostics pinned by snapshots at their line and
//! column; the example's managed Flow passes; the committed Flow JSON schema
//! is current and agrees with the validator on the example and the corpus.

use crate::common::{repo_root, TestContext};

fn corpus_files() -> Vec<std::path::PathBuf> {
    let corpus = repo_root().join("tests/corpus/flows");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn invalid_flow_corpus_snapshots() {
    let corpus = repo_root().join("tests/corpus/flows");
    let files = corpus_files();
    assert!(files.len() >= 10, "one corpus file per rule family");
    let ctx = TestContext::new();
    for file in files {
        let name = file
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        let out = ctx
            .cmd()
            .current_dir(&corpus)
            .args(["validate", "--no-color", &name])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{name} must fail:\n{stderr}");
        assert!(
            out.stdout.is_empty(),
            "{name}: nothing on stdout when invalid"
        );
        // Inline Flows point into the config, file Flows into their file.
        assert!(
            stderr.contains(&format!("--> {name}:")),
            "{name}: no file:line:col in\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name} panicked");
        insta::assert_snapshot!(format!("flow_{stem}"), stderr);
    }
}

#[test]
fn example_flow_validates_alone_and_in_its_config() {
    let ctx = TestContext::new();
    let example = repo_root().join("examples/course-signup");
    let out = ctx
        .cmd()
        .arg("validate")
        .arg(example.join("flows/signup.json"))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "no warnings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("is a valid Flow JSON"));
    let out = ctx
        .cmd()
        .arg("validate")
        .arg(&example)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "no warnings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const SMALL_FLOW: &str = r#"{
  "version": "VERSION",
  "screens": [
    {
      "id": "ONLY",
      "terminal": true,
      "layout": {
        "type": "SingleColumnLayout",
        "children": [
          { "type": "TextInput", "name": "email", "label": "Email" },
          {
            "type": "Footer",
            "label": "Send",
            "on-click-action": { "name": "complete", "payload": { "email": "${form.email}" } }
          }
        ]
      }
    }
  ]
}
"#;

#[test]
fn a_newer_version_warns_and_passes() {
    let ctx = TestContext::new();
    let path = ctx.write("next.json", &SMALL_FLOW.replace("VERSION", "8.0"));
    let out = ctx.cmd().arg("validate").arg(&path).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: Flow JSON 8.0 is newer"),
        "{stderr}"
    );
    assert!(stderr.contains("next.json:2:14"), "{stderr}");
}

#[test]
fn managed_flow_in_a_config_folder_is_checked_with_its_config() {
    let ctx = TestContext::new();
    ctx.write("flows/contact.json", &SMALL_FLOW.replace("VERSION", "7.3"));
    ctx.write(
        "config/waform.yaml",
        r#"version: 1
flows:
  contact:
    name: "Contact"
    categories: [CONTACT_US]
    json: ../flows/contact.json
templates:
  contact_us:
    category: UTILITY
    languages:
      en_US:
        body: "Leave your email below."
        buttons:
          - { type: flow, text: "Contact", flow: contact, screen: ONLY }
"#,
    );
    let out = ctx
        .cmd()
        .current_dir(ctx.path())
        .args(["validate", "config"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Break the Flow: the config now fails, pointing into the JSON file.
    ctx.write(
        "flows/contact.json",
        &SMALL_FLOW
            .replace("VERSION", "7.3")
            .replace("${form.email}", "${form.mail}"),
    );
    let out = ctx
        .cmd()
        .current_dir(ctx.path())
        .args(["validate", "config"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--> config/../flows/contact.json:14:76"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`${form.mail}` is not an input on screen `ONLY`"),
        "{stderr}"
    );
}

#[test]
fn hostile_flow_files_are_refused_without_panic() {
    let ctx = TestContext::new();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let path = ctx.write("deep.json", &deep);
    let out = ctx.cmd().arg("validate").arg(&path).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nests deeper than 128"), "{stderr}");
    let big = format!("{{\"version\": \"{}\"}}", "x".repeat(11 * 1024 * 1024));
    let path = ctx.write("big.json", &big);
    let out = ctx.cmd().arg("validate").arg(&path).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot be a Flow JSON"), "{stderr}");
    let path = ctx.write("array.json", "[1, 2]");
    let out = ctx.cmd().arg("validate").arg(&path).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be an object"));
}

#[test]
fn committed_flow_schema_is_current_and_agrees_with_the_validator() {
    let ctx = TestContext::new();
    let out = ctx
        .cmd()
        .args(["schema", "--flow-json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    let committed = std::fs::read_to_string(repo_root().join("schemas/flow-json.schema.json"))
        .expect("schemas/flow-json.schema.json is committed");
    assert_eq!(
        printed.trim_end(),
        committed.trim_end(),
        "schemas/flow-json.schema.json is stale: run `cargo run -- schema --flow-json > schemas/flow-json.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).expect("json");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("examples/course-signup/flows/signup.json"))
            .expect("example"),
    )
    .expect("json");
    let errors: Vec<String> = validator
        .iter_errors(&example)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "the example breaks the schema: {errors:?}"
    );
    for family in ["limits.json", "structure.json", "screens.json"] {
        let bad: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("tests/corpus/flows").join(family))
                .expect("corpus"),
        )
        .expect("json");
        assert!(!validator.is_valid(&bad), "{family} passes the schema");
    }
}

/// Two managed Flows where one is named like the other's 139001 clone
/// ("Course sign-up" and "Course sign-up #2"): plan would take the second
/// for the current generation of the first and upload the first's JSON
/// over it. Validate refuses the config at the second name.
#[test]
fn a_managed_flow_named_like_anothers_clone_is_refused() {
    let ctx = TestContext::new();
    let dir = crate::common::copy_example(&ctx, "course-signup");
    let path = dir.join("waform.yaml");
    let yaml = std::fs::read_to_string(&path).expect("read").replacen(
        "    publish: true\n",
        "    publish: true\n  signup2:\n    name: \"Course sign-up #2\"\n    categories: [SIGN_UP]\n    json: flows/signup.json\n",
        1,
    );
    std::fs::write(&path, &yaml).expect("write");
    let line = yaml
        .lines()
        .position(|l| l.contains("Course sign-up #2"))
        .expect("line")
        + 1;
    let out = ctx.cmd().arg("validate").arg(&dir).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("named like a clone of the other"), "{err}");
    assert!(err.contains(&format!("waform.yaml:{line}:11")), "{err}");
}
