//! `validate` shows every problem in one run: schema errors do not stop the
//! semantic rules on the rest of the document, and a button (a tagged
//! union) names the exact field, the allowed `type` values and a fix.

use crate::common::TestContext;

fn validate(ctx: &TestContext, config: &str) -> String {
    ctx.write("waform.yaml", config);
    let out = ctx
        .cmd()
        .args(["validate", "--no-color"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_misspelled_field_does_not_hide_a_bad_phone_or_an_unknown_language() {
    let ctx = TestContext::new();
    let err = validate(
        &ctx,
        r#"version: 1
templates:
  welcome:
    category: UTILITY
    languages:
      english:
        body: "Hi {{1}}, welcome."
        body_examples: ["Anna"]
sends:
  hello:
    template: welcome
    language: english
    body_param: ["${recipient.fname}"]
    recipients:
      - { phone: "+1555", fname: Anna }
"#,
    );
    assert!(err.contains("unknown field `body_param`"), "{err}");
    assert!(err.contains("did you mean `body_params`"), "{err}");
    assert!(err.contains("waform.yaml:13:5"), "{err}");
    assert!(
        err.contains("`english` is not a language code Meta accepts"),
        "{err}"
    );
    assert!(err.contains("phone \"+1555\""), "{err}");
    assert!(err.contains("waform.yaml:15:"), "{err}");
    assert!(err.contains("3 errors"), "{err}");
}

#[test]
fn button_errors_name_the_field_the_allowed_types_and_a_fix() {
    let ctx = TestContext::new();
    let err = validate(
        &ctx,
        r#"version: 1
flows:
  signup: { id: "1234567890123456" }
templates:
  welcome:
    category: MARKETING
    languages:
      en_US:
        body: "Welcome to the course."
        buttons:
          - { type: flow, txt: "Go", flow: signup, screen: WELCOME }
          - { type: flw, text: "Sign up", flow: signup }
          - { type: quick_reply, text: "Later", extra: 1 }
          - { text: "No type" }
"#,
    );
    assert!(!err.contains("does not match any allowed form"), "{err}");
    // A misspelled key: named, with the fix, once (not also as "missing `text`").
    assert!(err.contains("unknown field `txt`"), "{err}");
    assert!(
        err.contains("did you mean `text` instead of `txt`?"),
        "{err}"
    );
    assert!(!err.contains("missing required field `text`"), "{err}");
    assert!(err.contains("buttons[0].txt"), "{err}");
    // A misspelled type: the allowed values and the closest one.
    assert!(err.contains("unknown type `flw`"), "{err}");
    assert!(
        err.contains("did you mean `flow`? `type` is one of: flow, quick_reply, url, phone_number"),
        "{err}"
    );
    assert!(err.contains("waform.yaml:12:21"), "{err}");
    // An extra field on a valid type.
    assert!(err.contains("unknown field `extra`"), "{err}");
    assert!(err.contains("buttons[2].extra"), "{err}");
    // No type at all.
    assert!(err.contains("missing required field `type`"), "{err}");
    assert!(err.contains("buttons[3]"), "{err}");
    assert!(err.contains("4 errors"), "{err}");
}

#[test]
fn an_empty_file_is_one_error_and_a_tab_is_reported_on_its_line() {
    let ctx = TestContext::new();
    let err = validate(&ctx, "");
    assert!(err.contains("the config is empty"), "{err}");
    assert!(err.contains("1 error,"), "{err}");

    let err = validate(
        &ctx,
        "version: 1\ntemplates:\n  welcome:\n    category: UTILITY\n\tlanguages: {}\n",
    );
    assert!(err.contains("waform.yaml:5:1"), "{err}");
    assert!(err.contains("replace the tab with spaces"), "{err}");
}
