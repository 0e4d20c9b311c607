//! `validation_errors` the account finds, mapped back to the user's file:
//! the sandbox (like Meta) refuses an Image whose `src` is a URL rather than
//! base64 data, a rule `waform validate` does not check. Apply must stop
//! with exit 1 at that Flow, naming the Flow file and the line and column of
//! the `src` there (a `.json` file, and an inline YAML Flow), and send
//! nothing.

use crate::common::{copy_example, TestContext};

const IMAGE: &str = r#"{ "type": "Image", "src": "https://example.com/logo.png", "height": 80 },"#;

/// Adds the Image after the first screen's TextBody; returns the text.
fn with_image(flow: &str, indent: &str) -> String {
    let mut out = String::new();
    for line in flow.lines() {
        out.push_str(line);
        out.push('\n');
        if line.contains("\"type\": \"TextBody\"") && !out.contains("Image") {
            out.push_str(indent);
            out.push_str(IMAGE);
            out.push('\n');
        }
    }
    out
}

/// The 1-based line and column of the image URL's opening quote.
fn position_of_src(text: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(i, line)| line.find("\"https://example.com").map(|c| (i + 1, c + 1)))
        .expect("the image is in the text")
}

fn apply_fails(ctx: &TestContext, dir: &std::path::Path) -> String {
    let out = ctx
        .cmd()
        .args(["apply", "--sandbox"])
        .arg(dir)
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.contains("submitted for review"), "{text}");
    assert!(!text.contains("accepted"), "nothing sent: {text}");
    assert!(!text.contains(") published"), "{text}");
    text
}

#[test]
fn account_validation_errors_point_into_the_json_file() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let path = dir.join("flows/signup.json");
    let flow = with_image(&std::fs::read_to_string(&path).expect("read"), "          ");
    std::fs::write(&path, &flow).expect("write");
    let out = ctx.cmd().arg("validate").arg(&dir).output().expect("runs");
    assert!(out.status.success(), "validate does not check this rule");

    let text = apply_fails(&ctx, &dir);
    let (line, column) = position_of_src(&flow);
    let at = format!("{}:{line}:{column}: ", path.display());
    assert!(text.contains(&at), "expected {at} in:\n{text}");
    assert!(
        text.contains("src must be the image itself, base64-encoded"),
        "{text}"
    );
    assert!(
        text.contains("(at screens[0].layout.children[2].src)"),
        "{text}"
    );
}

#[test]
fn account_validation_errors_point_into_an_inline_yaml_flow() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let flow = with_image(
        &std::fs::read_to_string(dir.join("flows/signup.json")).expect("read"),
        "          ",
    );
    // JSON is YAML: the Flow goes inline under `json:`, indented.
    let indented: String = flow
        .lines()
        .map(|l| format!("      {l}\n"))
        .collect::<String>();
    let yaml_path = dir.join("waform.yaml");
    let yaml = std::fs::read_to_string(&yaml_path).expect("read").replace(
        "    json: flows/signup.json  # checked by `waform validate`, line and column\n",
        &format!("    json:\n{indented}"),
    );
    assert!(yaml.contains("\"type\": \"Image\""), "inline Flow written");
    std::fs::write(&yaml_path, &yaml).expect("write");
    std::fs::remove_file(dir.join("flows/signup.json")).expect("rm");
    let out = ctx.cmd().arg("validate").arg(&dir).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = apply_fails(&ctx, &dir);
    let (line, column) = position_of_src(&yaml);
    let at = format!(":{line}:{column}: ");
    let hit = text
        .lines()
        .find(|l| l.contains(&at))
        .unwrap_or_else(|| panic!("expected waform.yaml{at} in:\n{text}"));
    assert!(hit.contains("waform.yaml"), "{hit}");
}
