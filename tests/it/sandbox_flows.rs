//! The sandbox's Flow API over HTTP: create, upload JSON, publish, edit a
//! published Flow (back to DRAFT, same id), preview, deprecate, delete, the
//! state machine's refusals, Meta-shaped `validation_errors`, inline
//! `flow_json` in a template's FLOW button, and the 501 switch.

use std::net::SocketAddr;

use serde_json::{json, Value};
use waform::sandbox::{self, SandboxConfig, SandboxHandle};

use crate::common::repo_root;

async fn start(config: SandboxConfig) -> SandboxHandle {
    sandbox::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("sandbox starts")
}

fn url(sb: &SandboxHandle, path: &str) -> String {
    format!(
        "{}/{}/{path}?token=sandbox-token",
        sb.base_url(),
        sb.instance()
    )
}

fn signup() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("examples/course-signup/flows/signup.json"))
            .expect("example flow"),
    )
    .expect("json")
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn status_of(http: &reqwest::Client, sb: &SandboxHandle, id: &str) -> String {
    let (code, body) = call(
        http,
        reqwest::Method::GET,
        url(sb, &format!("flows/{id}")),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    body["status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn flow_lifecycle_follows_metas_state_machine() {
    use reqwest::Method;
    let sb = start(SandboxConfig::default()).await;
    let http = reqwest::Client::new();

    let (code, created) = call(
        &http,
        Method::POST,
        url(&sb, "flows"),
        Some(json!({"name": "Course sign-up", "categories": ["SIGN_UP"]})),
    )
    .await;
    assert_eq!(code, 200, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(status_of(&http, &sb, &id).await, "DRAFT");

    // The name is unique per account.
    let (code, _) = call(
        &http,
        Method::POST,
        url(&sb, "flows"),
        Some(json!({"name": "Course sign-up", "categories": ["SIGN_UP"]})),
    )
    .await;
    assert_eq!(code, 400);

    // Nothing to publish yet.
    let (code, _) = call(
        &http,
        Method::POST,
        url(&sb, &format!("flows/{id}/publish")),
        None,
    )
    .await;
    assert_eq!(code, 400);

    // An invalid upload is stored with Meta-shaped errors and blocks publishing.
    let mut broken = signup();
    broken["screens"][2]["id"] = json!("SUCCESS");
    let (code, up) = call(
        &http,
        Method::PATCH,
        url(&sb, &format!("flows/{id}/assets")),
        Some(json!({"flowJson": broken})),
    )
    .await;
    assert_eq!(code, 200, "{up}");
    let errors = up["validationErrors"].as_array().expect("errors");
    assert!(!errors.is_empty());
    let first = &errors[0];
    for field in [
        "error",
        "error_type",
        "message",
        "line_start",
        "column_start",
    ] {
        assert!(first.get(field).is_some(), "{field} missing in {first}");
    }
    assert!(first["pointers"][0]["path"].as_str().is_some(), "{first}");
    let (code, _) = call(
        &http,
        Method::POST,
        url(&sb, &format!("flows/{id}/publish")),
        None,
    )
    .await;
    assert_eq!(code, 400, "a Flow with validation errors is not published");

    // A valid upload publishes.
    let (code, up) = call(
        &http,
        Method::PATCH,
        url(&sb, &format!("flows/{id}/assets")),
        Some(json!({"flowJson": signup()})),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(up["validationErrors"], json!([]));
    let (code, _) = call(
        &http,
        Method::POST,
        url(&sb, &format!("flows/{id}/publish")),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(status_of(&http, &sb, &id).await, "PUBLISHED");

    // Editing a published Flow returns it to DRAFT under the same id.
    let mut edited = signup();
    edited["screens"][0]["title"] = json!("Spring courses 2027");
    let (code, _) = call(
        &http,
        Method::PATCH,
        url(&sb, &format!("flows/{id}/assets")),
        Some(json!({"flowJson": edited.to_string()})),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(status_of(&http, &sb, &id).await, "DRAFT");
    let (_, view) = call(&http, Method::GET, url(&sb, &format!("flows/{id}")), None).await;
    assert_eq!(
        view["flow_json"]["screens"][0]["title"],
        "Spring courses 2027"
    );
    assert_eq!(view["categories"], json!(["SIGN_UP"]));
    call(
        &http,
        Method::POST,
        url(&sb, &format!("flows/{id}/publish")),
        None,
    )
    .await;

    let (code, preview) = call(
        &http,
        Method::GET,
        url(&sb, &format!("flows/{id}/preview")),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert!(preview["preview"]["preview_url"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://")));

    // Only a DRAFT can be deleted; deprecation is for PUBLISHED and final.
    let (code, _) = call(
        &http,
        Method::DELETE,
        url(&sb, &format!("flows/{id}")),
        None,
    )
    .await;
    assert_eq!(code, 400);
    let (code, _) = call(
        &http,
        Method::POST,
        url(&sb, &format!("flows/{id}/deprecate")),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(status_of(&http, &sb, &id).await, "DEPRECATED");
    let (code, _) = call(
        &http,
        Method::PATCH,
        url(&sb, &format!("flows/{id}/assets")),
        Some(json!({"flowJson": signup()})),
    )
    .await;
    assert_eq!(code, 400, "a deprecated Flow cannot be edited");

    // Created with JSON and publish: published at once, listed with its category.
    let (code, created) = call(
        &http,
        Method::POST,
        url(&sb, "flows"),
        Some(json!({"name": "Other", "categories": ["SURVEY"], "flowJson": signup(), "publish": true})),
    )
    .await;
    assert_eq!(code, 200, "{created}");
    let other = created["id"].as_str().expect("id").to_string();
    let (_, list) = call(&http, Method::GET, url(&sb, "flows"), None).await;
    let listed = list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|f| f["id"] == other.as_str()).cloned())
        .expect("listed");
    assert_eq!(listed["status"], "PUBLISHED");
    assert_eq!(listed["categories"], json!(["SURVEY"]));

    // A draft is deleted.
    let (_, draft) = call(
        &http,
        Method::POST,
        url(&sb, "flows"),
        Some(json!({"name": "Scratch", "categories": ["OTHER"]})),
    )
    .await;
    let draft = draft["id"].as_str().expect("id").to_string();
    let (code, _) = call(
        &http,
        Method::DELETE,
        url(&sb, &format!("flows/{draft}")),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = call(
        &http,
        Method::GET,
        url(&sb, &format!("flows/{draft}")),
        None,
    )
    .await;
    assert_eq!(code, 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn flows_api_501_switch_and_auth() {
    use reqwest::Method;
    let sb = start(SandboxConfig {
        flows_unavailable: true,
        ..SandboxConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    for (method, path) in [
        (Method::GET, "flows".to_string()),
        (Method::POST, "flows".to_string()),
        (Method::GET, "flows/1".to_string()),
        (Method::POST, "flows/1/publish".to_string()),
        (Method::PATCH, "flows/1/assets".to_string()),
    ] {
        let (code, _) = call(&http, method, url(&sb, &path), Some(json!({}))).await;
        assert_eq!(code, 501, "{path}");
    }
    let wrong = format!(
        "{}/{}/flows/1/publish?token=nope",
        sb.base_url(),
        sb.instance()
    );
    let (code, body) = call(&http, Method::POST, wrong, None).await;
    assert_eq!(code, 401);
    assert!(!body.to_string().contains("nope"));
    sb.shutdown().await;
}

#[tokio::test]
async fn inline_flow_json_in_a_template_is_checked() {
    let sb = start(SandboxConfig::default()).await;
    let http = reqwest::Client::new();
    let template = |name: &str, flow: &Value| {
        json!({"name": name, "category": "MARKETING", "language": "en_US", "components": [
            {"type": "BODY", "text": "Hi {{1}}, sign up below.", "example": {"body_text": [["Anna"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Sign up", "flow_json": flow.to_string(),
                "flow_action": "navigate", "navigate_screen": "WELCOME"}]}]})
    };
    let (code, body) = call(
        &http,
        reqwest::Method::POST,
        url(&sb, "addTemplate"),
        Some(template("inline_ok", &signup())),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let mut broken = signup();
    broken["version"] = json!("4.0");
    let (code, body) = call(
        &http,
        reqwest::Method::POST,
        url(&sb, "addTemplate"),
        Some(template("inline_bad", &broken)),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("flow_json"), "{body}");
    sb.shutdown().await;
}

#[test]
fn waform_sandbox_accepts_flows_api_501() {
    let ctx = crate::common::TestContext::new();
    let out = ctx
        .cmd()
        .args(["sandbox", "--help"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--flows-api"));
    let out = ctx
        .cmd()
        .args(["sandbox", "--listen", "127.0.0.1:0", "--flows-api", "404"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "only 501 is emulated");
}
