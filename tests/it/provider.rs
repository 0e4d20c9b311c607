//! The real 1msg client against the in-process sandbox over loopback: every
//! endpoint, every send outcome class, retries of reads, and the token never
//! showing up in any output. Quirks the sandbox does not produce (offset
//! ignored, bare arrays, 5xx on reads) come from small fake servers here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use waform::provider::onemsg::{Backoff, OneMsgClient, OneMsgConfig};
use waform::provider::{
    AccountFlow, FlowButtonParams, FlowList, FlowMessage, FlowStatus, History, HistoryQuery,
    NewTemplate, Provider, ProviderError, SendOutcome, TemplateMessage, TemplateStatus,
};
use waform::sandbox::{self, SandboxConfig, SandboxHandle};
use waform::secret::Secret;

const FLOW_ID: &str = "1234567890123456";
const PHONE: &str = "+15551234567";

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start(config: SandboxConfig) -> SandboxHandle {
    let config = SandboxConfig {
        flows: vec![
            AccountFlow {
                id: FLOW_ID.into(),
                name: "signup".into(),
                status: FlowStatus::Published,
            },
            AccountFlow {
                id: "222".into(),
                name: "draft".into(),
                status: FlowStatus::Draft,
            },
        ],
        ..config
    };
    sandbox::start(config, localhost())
        .await
        .expect("sandbox starts")
}

fn fast(mut cfg: OneMsgConfig) -> OneMsgConfig {
    cfg.backoff = Backoff {
        base: Duration::from_millis(5),
        max: Duration::from_millis(20),
    };
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.timeout = Duration::from_secs(5);
    cfg
}

fn client_for(sb: &SandboxHandle) -> OneMsgClient {
    OneMsgClient::new(fast(sb.client_config())).expect("client")
}

fn client_at(base: &str, token: &str) -> OneMsgClient {
    OneMsgClient::new(fast(OneMsgConfig::new(base, "inst", Secret::new(token)))).expect("client")
}

fn signup_template(name: &str) -> NewTemplate {
    NewTemplate {
        name: name.into(),
        category: "MARKETING".into(),
        language: "en_US".into(),
        components: vec![
            json!({"type": "HEADER", "format": "TEXT", "text": "Spring courses"}),
            json!({"type": "BODY", "text": "Hi {{1}}, our spring courses are open. Sign up in two minutes.",
                   "example": {"body_text": [["Anna"]]}}),
            json!({"type": "FOOTER", "text": "Reply STOP to opt out"}),
            json!({"type": "BUTTONS", "buttons": [
                {"type": "FLOW", "text": "Sign up", "flow_id": FLOW_ID, "flow_action": "navigate", "navigate_screen": "WELCOME"},
                {"type": "QUICK_REPLY", "text": "Not now"}]}),
        ],
    }
}

fn template_message(name: &str, params: &[&str]) -> TemplateMessage {
    let mut data = Map::new();
    data.insert("fname".into(), json!("Anna"));
    TemplateMessage {
        phone: PHONE.into(),
        template: name.into(),
        language: "en_US".into(),
        namespace: None,
        body_params: params.iter().map(|s| s.to_string()).collect(),
        flow_button: Some(FlowButtonParams {
            index: 0,
            flow_token: "tok-1".into(),
            action_data: Some(data),
        }),
    }
}

fn flow_message(flow_id: &str, mode: &str) -> FlowMessage {
    FlowMessage {
        phone: PHONE.into(),
        flow_id: flow_id.into(),
        flow_token: "flow-tok".into(),
        body: "Finish your application".into(),
        cta: "Open form".into(),
        header: Some("Spring courses".into()),
        footer: Some("Takes two minutes".into()),
        action: "navigate".into(),
        screen: Some("WELCOME".into()),
        data: None,
        mode: mode.into(),
    }
}

/// A sandbox with one approved template named `name`.
async fn with_approved(config: SandboxConfig, name: &str) -> (SandboxHandle, OneMsgClient) {
    let sb = start(SandboxConfig {
        approve_after: Duration::ZERO,
        ..config
    })
    .await;
    let client = client_for(&sb);
    client
        .add_template(&signup_template(name))
        .await
        .expect("add");
    (sb, client)
}

#[tokio::test]
async fn provider_template_lifecycle() {
    let sb = start(SandboxConfig {
        approve_after: Duration::from_secs(3600),
        ..SandboxConfig::default()
    })
    .await;
    let client = client_for(&sb);
    assert!(client
        .list_templates()
        .await
        .expect("empty list")
        .is_empty());

    client
        .add_template(&signup_template("course_signup"))
        .await
        .expect("add");
    let mut ru = signup_template("course_signup");
    ru.language = "ru".into();
    client.add_template(&ru).await.expect("second language");

    let listed = client.list_templates().await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t.status == TemplateStatus::Pending));
    assert!(
        listed.iter().all(|t| t.rejected_reason.is_none()),
        "NONE maps to None"
    );
    assert!(listed
        .iter()
        .all(|t| t.namespace.as_deref() == Some(sb.namespace().as_str())));
    assert_eq!(listed[0].components.len(), 4);

    // Duplicate name+language and invalid content are refused.
    let dup = client.add_template(&signup_template("course_signup")).await;
    assert!(
        matches!(dup, Err(ProviderError::Http { status: 400, ref message }) if message.contains("already exists")),
        "{dup:?}"
    );
    let mut bad = signup_template("Bad Name");
    bad.category = "MARKETING".into();
    assert!(matches!(
        client.add_template(&bad).await,
        Err(ProviderError::Http { status: 400, .. })
    ));

    // Review through the control endpoint, then removal of every language.
    let http = reqwest::Client::new();
    let approve = http
        .post(format!(
            "{}/_sandbox/templates/course_signup/approve",
            sb.base_url()
        ))
        .send()
        .await
        .expect("approve");
    assert!(approve.status().is_success());
    let listed = client.list_templates().await.expect("list");
    assert!(listed.iter().all(|t| t.status == TemplateStatus::Approved));

    client
        .remove_template("course_signup")
        .await
        .expect("remove");
    assert!(client.list_templates().await.expect("list").is_empty());
    // An approved name is blocked for 30 days.
    let again = client.add_template(&signup_template("course_signup")).await;
    assert!(
        matches!(again, Err(ProviderError::Http { ref message, .. }) if message.contains("30 days")),
        "{again:?}"
    );
}

#[tokio::test]
async fn provider_rejected_template_has_reason() {
    let sb = start(SandboxConfig {
        approve_after: Duration::ZERO,
        reject_containing: Some("spring".into()),
        ..SandboxConfig::default()
    })
    .await;
    let client = client_for(&sb);
    client
        .add_template(&signup_template("promo"))
        .await
        .expect("add");
    let listed = client.list_templates().await.expect("list");
    assert_eq!(listed[0].status, TemplateStatus::Rejected);
    assert!(listed[0].rejected_reason.is_some());
}

#[tokio::test]
async fn provider_pages_through_templates() {
    let sb = start(SandboxConfig {
        approve_after: Duration::ZERO,
        ..SandboxConfig::default()
    })
    .await;
    let mut cfg = fast(OneMsgConfig::new(
        sb.base_url(),
        sb.instance(),
        sb.token().clone(),
    ));
    cfg.page_size = 2;
    let client = OneMsgClient::new(cfg).expect("client");
    for i in 0..5 {
        client
            .add_template(&signup_template(&format!("t_{i}")))
            .await
            .expect("add");
    }
    let listed = client.list_templates().await.expect("list");
    let names: Vec<_> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["t_0", "t_1", "t_2", "t_3", "t_4"]);
}

/// The sandbox in quirks mode: bare arrays, offset ignored, `language` as
/// an object, components as a string, namespaces missing or renamed.
#[tokio::test]
async fn provider_parses_the_quirky_sandbox_listing() {
    let sb = start(SandboxConfig {
        approve_after: Duration::ZERO,
        quirks: true,
        ..SandboxConfig::default()
    })
    .await;
    let mut cfg = fast(OneMsgConfig::new(
        sb.base_url(),
        sb.instance(),
        sb.token().clone(),
    ));
    cfg.page_size = 3;
    let client = OneMsgClient::new(cfg).expect("client");
    for i in 0..7 {
        client
            .add_template(&signup_template(&format!("q_{i}")))
            .await
            .expect("add");
    }
    let listed = client.list_templates().await.expect("list");
    // With offset ignored and pages of 3, only the first page can be read:
    // the client must stop rather than loop, and keep what it got intact.
    assert_eq!(listed.len(), 3);
    let expected = sb.templates();
    for (got, want) in listed.iter().zip(expected.iter()) {
        assert_eq!(got.name, want.name);
        assert_eq!(got.language, "en_US");
        assert_eq!(got.status, TemplateStatus::Approved);
        assert_eq!(got.components, want.components);
        assert_eq!(got.namespace.as_deref(), Some(sb.namespace().as_str()));
        assert_eq!(got.rejected_reason, None);
    }
    // With a page big enough, everything arrives.
    let mut cfg = fast(OneMsgConfig::new(
        sb.base_url(),
        sb.instance(),
        sb.token().clone(),
    ));
    cfg.page_size = 100;
    let all = OneMsgClient::new(cfg)
        .expect("client")
        .list_templates()
        .await
        .expect("list");
    assert_eq!(all.len(), 7);
}

/// A server that ignores `offset` and always answers the same full page, in
/// the loosest shapes 1msg has been seen to use (docs/provider-1msg.md §2.1).
async fn quirky_server(hits: Arc<AtomicUsize>) -> SocketAddr {
    let app = Router::new().route(
        "/inst/templates",
        get(move || {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                Json(json!([
                    {"name": "a", "language": {"code": "en"}, "status": "APPROVED",
                     "components": "[{\"type\":\"BODY\",\"text\":\"Hi\"}]", "rejected_reason": "NONE"},
                    {"name": "b", "language": "en", "status": "approved", "components": [],
                     "message_template_namespace": "ns_x"}
                ]))
            }
        }),
    );
    serve(app).await
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(localhost())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test]
async fn provider_paging_stops_when_offset_is_ignored() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = quirky_server(hits.clone()).await;
    let mut cfg = fast(OneMsgConfig::new(
        format!("http://{addr}"),
        "inst",
        Secret::new("t"),
    ));
    cfg.page_size = 2;
    let client = OneMsgClient::new(cfg).expect("client");
    let listed = client.list_templates().await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "second page adds nothing: stop"
    );
    assert_eq!(listed[0].components[0]["text"], "Hi");
    // The missing namespace is filled from the sibling.
    assert!(listed
        .iter()
        .all(|t| t.namespace.as_deref() == Some("ns_x")));
}

/// A server that honors `offset` but caps every page at 2 items whatever
/// `limit` asks for, and reports `total`: the client reads to the end.
#[tokio::test]
async fn provider_paging_follows_total_when_pages_are_capped() {
    let app = Router::new().route(
        "/inst/templates",
        get(
            |axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
                let items: Vec<Value> = (offset..5.min(offset + 2))
                    .map(|i| json!({"name": format!("t_{i}"), "language": "en", "status": "APPROVED"}))
                    .collect();
                Json(json!({"total": 5, "templates": items}))
            },
        ),
    );
    let addr = serve(app).await;
    let client = client_at(&format!("http://{addr}"), "t");
    let listed = client.list_templates().await.expect("list");
    let names: Vec<_> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["t_0", "t_1", "t_2", "t_3", "t_4"]);
}

#[tokio::test]
async fn provider_reads_retry_on_429_and_5xx() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/inst/messages",
        get(move || {
            let n = h.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => {
                        let mut headers = HeaderMap::new();
                        headers.insert("retry-after", "0".parse().expect("header"));
                        (StatusCode::TOO_MANY_REQUESTS, headers, "slow down").into_response()
                    }
                    1 => (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response(),
                    _ => Json(json!({"messages": [{"id": "m1", "fromMe": "1", "time": "5"}]}))
                        .into_response(),
                }
            }
        }),
    );
    let addr = serve(app).await;
    let client = client_at(&format!("http://{addr}"), "t");
    let History::Messages(msgs) = client
        .list_messages(&HistoryQuery::default())
        .await
        .expect("third attempt succeeds")
    else {
        panic!("a message list")
    };
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].from_me);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn provider_reads_give_up_after_max_retries() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/inst/templates",
        get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": "down"})),
                )
            }
        }),
    );
    let addr = serve(app).await;
    let client = client_at(&format!("http://{addr}"), "t");
    let err = client.list_templates().await.expect_err("gives up");
    assert!(
        matches!(err, ProviderError::Http { status: 503, ref message } if message == "down"),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 5, "1 attempt + 4 retries");
}

#[tokio::test]
async fn provider_lists_flows_and_reports_501_as_unavailable() {
    let sb = start(SandboxConfig::default()).await;
    match client_for(&sb).list_flows().await.expect("flows") {
        FlowList::Flows(flows) => {
            assert_eq!(flows.len(), 2);
            assert_eq!(flows[0].id, FLOW_ID);
            assert_eq!(flows[0].status, FlowStatus::Published);
            assert_eq!(flows[1].status, FlowStatus::Draft);
        }
        other => panic!("{other:?}"),
    }
    let sb = start(SandboxConfig {
        flows_unavailable: true,
        ..SandboxConfig::default()
    })
    .await;
    match client_for(&sb)
        .list_flows()
        .await
        .expect("501 is not an error")
    {
        FlowList::NotImplemented(why) => assert!(why.contains("501"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn provider_send_template_accepted_and_logged() {
    let (sb, client) = with_approved(SandboxConfig::default(), "course_signup").await;
    let mut msg = template_message("course_signup", &["Anna"]);
    msg.namespace = Some(sb.namespace());
    let outcome = client.send_template(&msg).await;
    let SendOutcome::Accepted {
        message_id: Some(id),
        job_id: None,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    let sends = sb.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].id, id);
    assert_eq!(sends[0].phone, "15551234567");
    assert_eq!(sends[0].params, ["Anna"]);
    assert_eq!(sends[0].flow_token.as_deref(), Some("tok-1"));
    assert_eq!(sends[0].action_data, Some(json!({"fname": "Anna"})));
    assert_eq!(sends[0].fault, None);
}

#[tokio::test]
async fn provider_send_template_rejections() {
    let (sb, client) = with_approved(SandboxConfig::default(), "course_signup").await;
    for (msg, needle) in [
        (
            template_message("no_such_template", &["Anna"]),
            "template is not defined",
        ),
        (template_message("course_signup", &[]), "132000"),
        (
            template_message("course_signup", &["Anna", "Extra"]),
            "132000",
        ),
    ] {
        match client.send_template(&msg).await {
            SendOutcome::Rejected {
                reason,
                window_closed,
            } => {
                assert!(reason.contains(needle), "{reason}");
                assert!(!window_closed);
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
    let mut wrong_button = template_message("course_signup", &["Anna"]);
    if let Some(b) = wrong_button.flow_button.as_mut() {
        b.index = 1;
    }
    assert!(matches!(
        client.send_template(&wrong_button).await,
        SendOutcome::Rejected { .. }
    ));
    let mut other_language = template_message("course_signup", &["Anna"]);
    other_language.language = "de".into();
    assert!(matches!(
        client.send_template(&other_language).await,
        SendOutcome::Rejected { .. }
    ));
    assert!(sb.sends().is_empty());
}

#[tokio::test]
async fn provider_send_template_pending_is_rejected() {
    let sb = start(SandboxConfig {
        approve_after: Duration::from_secs(3600),
        ..SandboxConfig::default()
    })
    .await;
    let client = client_for(&sb);
    client
        .add_template(&signup_template("slow"))
        .await
        .expect("add");
    match client
        .send_template(&template_message("slow", &["Anna"]))
        .await
    {
        SendOutcome::Rejected { reason, .. } => {
            assert!(reason.contains("not approved"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn provider_send_flow_window_and_status() {
    let sb = start(SandboxConfig::default()).await;
    let client = client_for(&sb);
    match client.send_flow(&flow_message(FLOW_ID, "published")).await {
        SendOutcome::Rejected {
            window_closed,
            reason,
        } => assert!(window_closed, "{reason}"),
        other => panic!("{other:?}"),
    }
    sb.inbound(PHONE, "hello");
    let outcome = client.send_flow(&flow_message(FLOW_ID, "published")).await;
    assert!(
        matches!(
            outcome,
            SendOutcome::Accepted {
                message_id: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    // A DRAFT Flow only goes out with mode draft.
    assert!(matches!(
        client.send_flow(&flow_message("222", "published")).await,
        SendOutcome::Rejected {
            window_closed: false,
            ..
        }
    ));
    assert!(matches!(
        client.send_flow(&flow_message("222", "draft")).await,
        SendOutcome::Accepted { .. }
    ));
    let sends = sb.sends();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].kind, "flow");
    assert_eq!(sends[0].flow_id.as_deref(), Some(FLOW_ID));
    assert_eq!(sends[0].flow_token.as_deref(), Some("flow-tok"));

    let all = HistoryQuery {
        limit: 100,
        ..HistoryQuery::default()
    };
    let Ok(History::Messages(history)) = client.list_messages(&all).await else {
        panic!("history")
    };
    assert_eq!(history.len(), 3, "one inbound, two sends");
    assert!(!history[0].from_me);
    assert!(history[1].from_me);
    // Filtered by chat and paged by the messageNumber cursor, as 1msg does.
    let chat = HistoryQuery {
        chat_id: Some(format!(
            "{}@c.us",
            history[1].chat_phone().expect("1:1 chat")
        )),
        limit: 1,
        ..HistoryQuery::default()
    };
    let Ok(History::Messages(first)) = client.list_messages(&chat).await else {
        panic!("page")
    };
    assert_eq!(first.len(), 1);
    let next = HistoryQuery {
        after_number: first[0].number,
        ..chat.clone()
    };
    let Ok(History::Messages(second)) = client.list_messages(&next).await else {
        panic!("page")
    };
    assert!(second.iter().all(|m| m.number > first[0].number));
    assert!(second
        .iter()
        .chain(&first)
        .all(|m| m.chat_id == chat.chat_id));
}

#[tokio::test]
async fn provider_history_notice_never_carries_the_token() {
    let app = Router::new().route(
        "/inst/messages",
        get(|| async {
            Json(json!({"messages": [], "notice": "history is off for token s3cr3t-history-token"}))
        }),
    );
    let addr = serve(app).await;
    let client = client_at(&format!("http://{addr}"), "s3cr3t-history-token");
    let answer = client
        .list_messages(&HistoryQuery::default())
        .await
        .expect("answers");
    match answer {
        History::Unavailable(why) => {
            assert!(why.contains("history is off"), "{why}");
            assert!(!why.contains("s3cr3t-history-token"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn provider_history_disabled_is_unavailable_not_empty() {
    let sb = start(SandboxConfig {
        history_disabled: true,
        ..SandboxConfig::default()
    })
    .await;
    let client = client_for(&sb);
    let answer = client
        .list_messages(&HistoryQuery::default())
        .await
        .expect("answers");
    assert!(
        matches!(&answer, History::Unavailable(why) if why.contains("disabled")),
        "{answer:?}"
    );
}

#[tokio::test]
async fn provider_send_429_is_retry_with_retry_after() {
    let (sb, client) = with_approved(
        SandboxConfig {
            fault_429: 1.0,
            retry_after: Duration::from_secs(7),
            ..SandboxConfig::default()
        },
        "course_signup",
    )
    .await;
    match client
        .send_template(&template_message("course_signup", &["Anna"]))
        .await
    {
        SendOutcome::Retry { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }
    assert!(sb.sends().is_empty(), "a 429 sends nothing");
}

#[tokio::test]
async fn provider_send_500_after_accept_is_ambiguous_but_sent() {
    let (sb, client) = with_approved(
        SandboxConfig {
            fault_500: 1.0,
            ..SandboxConfig::default()
        },
        "course_signup",
    )
    .await;
    let outcome = client
        .send_template(&template_message("course_signup", &["Anna"]))
        .await;
    assert!(
        matches!(outcome, SendOutcome::Ambiguous { .. }),
        "{outcome:?}"
    );
    let sends = sb.sends();
    assert_eq!(sends.len(), 1, "the message went out");
    assert_eq!(sends[0].fault, Some("500"));
}

#[tokio::test]
async fn provider_send_dropped_connection_is_ambiguous_but_sent() {
    let (sb, client) = with_approved(
        SandboxConfig {
            fault_drop: 1.0,
            ..SandboxConfig::default()
        },
        "course_signup",
    )
    .await;
    let outcome = client
        .send_template(&template_message("course_signup", &["Anna"]))
        .await;
    let SendOutcome::Ambiguous { reason } = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        reason.starts_with("no answer after the request was sent"),
        "a transport failure, no status line: {reason}"
    );
    eprintln!("dropped connection seen as: {reason}");
    assert_eq!(sb.sends().len(), 1);
    assert_eq!(sb.sends()[0].fault, Some("drop"));
}

#[tokio::test]
async fn provider_send_timeout_after_write_is_ambiguous() {
    let sb = start(SandboxConfig {
        approve_after: Duration::ZERO,
        latency: Duration::from_millis(800),
        ..SandboxConfig::default()
    })
    .await;
    let mut cfg = fast(OneMsgConfig::new(
        sb.base_url(),
        sb.instance(),
        sb.token().clone(),
    ));
    cfg.timeout = Duration::from_millis(200);
    let client = OneMsgClient::new(cfg).expect("client");
    let outcome = client
        .send_template(&template_message("whatever", &["Anna"]))
        .await;
    assert!(
        matches!(outcome, SendOutcome::Ambiguous { .. }),
        "{outcome:?}"
    );
}

/// A port nobody listens on: bind, note the port, close.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(localhost())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

#[tokio::test]
async fn provider_send_connection_refused_is_retry() {
    let addr = closed_port().await;
    let client = client_at(&format!("http://{addr}"), "t");
    let outcome = client
        .send_template(&template_message("x", &["Anna"]))
        .await;
    assert!(
        matches!(
            outcome,
            SendOutcome::Retry {
                retry_after: None,
                ..
            }
        ),
        "{outcome:?}"
    );
    let outcome = client.send_flow(&flow_message(FLOW_ID, "published")).await;
    assert!(matches!(outcome, SendOutcome::Retry { .. }), "{outcome:?}");
}

#[tokio::test]
async fn provider_wrong_token_and_instance() {
    let sb = start(SandboxConfig::default()).await;
    let wrong = OneMsgClient::new(fast(OneMsgConfig::new(
        sb.base_url(),
        sb.instance(),
        Secret::new("not-the-token"),
    )))
    .expect("client");
    assert!(matches!(
        wrong.list_templates().await,
        Err(ProviderError::Unauthorized)
    ));
    let other = OneMsgClient::new(fast(OneMsgConfig::new(
        sb.base_url(),
        "other_instance",
        sb.token().clone(),
    )))
    .expect("client");
    assert!(matches!(
        other.list_templates().await,
        Err(ProviderError::NotFound)
    ));
    // A config mistake strands nobody: the send is "not sent, retry".
    for client in [&wrong, &other] {
        let outcome = client
            .send_template(&template_message("x", &["Anna"]))
            .await;
        assert!(
            matches!(outcome, SendOutcome::Retry { ref reason, .. } if reason.contains("WAFORM_TOKEN")),
            "{outcome:?}"
        );
    }
    assert!(sb.sends().is_empty());
}

/// Under every fault at once, the client's classes add up to what the
/// sandbox logged: Accepted + Ambiguous = went out, Retry = did not. This
/// is the invariant apply's exactly-once rests on.
#[tokio::test]
async fn provider_outcomes_match_the_sandbox_log_under_faults() {
    let (sb, client) = with_approved(
        SandboxConfig {
            fault_429: 0.2,
            fault_500: 0.15,
            fault_drop: 0.15,
            seed: 11,
            ..SandboxConfig::default()
        },
        "course_signup",
    )
    .await;
    let mut handles = Vec::new();
    for i in 0..120 {
        let client = client.clone();
        handles.push(tokio::spawn(async move {
            let mut msg = template_message("course_signup", &["Anna"]);
            if let Some(b) = msg.flow_button.as_mut() {
                b.flow_token = format!("tok-{i}");
            }
            (format!("tok-{i}"), client.send_template(&msg).await)
        }));
    }
    let (mut accepted, mut ambiguous, mut retry) = (0, 0, 0);
    let mut went_out = std::collections::HashSet::new();
    for h in handles {
        let (token, outcome) = h.await.expect("task");
        match outcome {
            SendOutcome::Accepted { .. } => {
                accepted += 1;
                went_out.insert(token);
            }
            SendOutcome::Ambiguous { .. } => {
                ambiguous += 1;
                went_out.insert(token);
            }
            SendOutcome::Retry { retry_after, .. } => {
                assert!(retry_after.is_some());
                retry += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    let logged: std::collections::HashSet<String> = sb
        .sends()
        .into_iter()
        .filter_map(|s| s.flow_token)
        .collect();
    assert_eq!(
        logged, went_out,
        "exactly the accepted and ambiguous sends went out"
    );
    assert_eq!(accepted + ambiguous + retry, 120);
    assert!(
        accepted > 0 && ambiguous > 0 && retry > 0,
        "{accepted} {ambiguous} {retry}"
    );
    let faulted = sb.sends().iter().filter(|s| s.fault.is_some()).count();
    assert_eq!(faulted, ambiguous);
}

#[tokio::test]
async fn provider_token_never_appears_in_output() {
    const TOKEN: &str = "tok-SUPER-secret-8f1c2d";
    let mut seen = Vec::new();

    // Closed port: reads (after retries) and sends.
    let addr = closed_port().await;
    let client = client_at(&format!("http://{addr}"), TOKEN);
    let err = client.list_templates().await.expect_err("refused");
    seen.push(format!("{err} {err:?}"));
    let outcome = client.send_template(&template_message("x", &[])).await;
    seen.push(format!("{outcome:?}"));
    seen.push(format!("{client:?}"));

    // Sandbox with a different token: 401 everywhere.
    let sb = start(SandboxConfig::default()).await;
    let client = OneMsgClient::new(fast(OneMsgConfig::new(
        sb.base_url(),
        sb.instance(),
        Secret::new(TOKEN),
    )))
    .expect("client");
    let err = client.list_templates().await.expect_err("401");
    seen.push(format!("{err} {err:?}"));
    let err = client
        .add_template(&signup_template("x"))
        .await
        .expect_err("401");
    seen.push(format!("{err} {err:?}"));
    seen.push(format!(
        "{:?}",
        client.send_template(&template_message("x", &[])).await
    ));
    seen.push(format!(
        "{:?}",
        client.send_flow(&flow_message("1", "draft")).await
    ));

    // A server that answers with an error body quoting the token back, like
    // the real 401 does (docs/provider-1msg.md §1.4).
    let app = Router::new().fallback(|| async {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("Wrong token \"{TOKEN}\" for channel \"inst\"")})),
        )
    });
    let addr = serve(app).await;
    let client = client_at(&format!("http://{addr}"), TOKEN);
    let err = client.list_templates().await.expect_err("400");
    seen.push(format!("{err} {err:?}"));
    seen.push(format!(
        "{:?}",
        client.send_template(&template_message("x", &[])).await
    ));

    // Timeouts print the URL in reqwest's own Display.
    let slow = Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    });
    let addr = serve(slow).await;
    let mut cfg = fast(OneMsgConfig::new(
        format!("http://{addr}"),
        "inst",
        Secret::new(TOKEN),
    ));
    cfg.timeout = Duration::from_millis(100);
    cfg.max_read_retries = 0;
    let client = OneMsgClient::new(cfg).expect("client");
    let err = client
        .list_messages(&HistoryQuery::default())
        .await
        .expect_err("timeout");
    seen.push(format!("{err} {err:?}"));
    seen.push(format!(
        "{:?}",
        client.send_template(&template_message("x", &[])).await
    ));

    for text in &seen {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
    assert!(
        seen.iter().any(|t| t.contains("***")),
        "the quoted token was redacted: {seen:?}"
    );
}

#[tokio::test]
async fn provider_queued_job_is_accepted() {
    let app = Router::new().fallback(|| async {
        Json(json!({"sent": false, "jobId": "job-77", "message": "queued"}))
    });
    let addr = serve(app).await;
    let client = client_at(&format!("http://{addr}"), "t");
    assert_eq!(
        client.send_template(&template_message("x", &[])).await,
        SendOutcome::Accepted {
            message_id: None,
            job_id: Some("job-77".into())
        }
    );
}

#[tokio::test]
async fn provider_unparseable_success_is_ambiguous() {
    let app = Router::new().fallback(|| async { "OK, probably" });
    let addr = serve(app).await;
    let client = client_at(&format!("http://{addr}"), "t");
    assert!(matches!(
        client.send_flow(&flow_message("1", "draft")).await,
        SendOutcome::Ambiguous { .. }
    ));
}

#[tokio::test]
async fn provider_http_body_shapes_on_the_wire() {
    // What the client really puts on the wire, captured by a fake server.
    let captured = Arc::new(std::sync::Mutex::new(Vec::<(String, Value)>::new()));
    let c = captured.clone();
    let app = Router::new().fallback(move |uri: axum::http::Uri, Json(body): Json<Value>| {
        let c = c.clone();
        async move {
            let query = uri.query().unwrap_or_default().to_string();
            c.lock()
                .expect("lock")
                .push((format!("{} {query}", uri.path()), body));
            Json(json!({"sent": true, "id": "x"}))
        }
    });
    let addr = serve(app).await;
    let client = client_at(&format!("http://{addr}"), "t0k");
    let mut msg = template_message("course_signup", &["Anna"]);
    msg.namespace = Some("ns".into());
    client.send_template(&msg).await;
    client.send_flow(&flow_message(FLOW_ID, "published")).await;
    let got = captured.lock().expect("lock").clone();
    assert_eq!(got[0].0, "/inst/sendTemplate token=t0k");
    assert_eq!(got[0].1["phone"], json!("15551234567"));
    assert_eq!(
        got[0].1["language"],
        json!({"policy": "deterministic", "code": "en_US"})
    );
    assert_eq!(got[0].1["params"][1]["index"], json!("0"));
    assert_eq!(got[1].0, "/inst/sendFlow token=t0k");
    assert_eq!(got[1].1["flowId"], json!(FLOW_ID));
    assert_eq!(got[1].1["flowMessageVersion"], json!("3"));
    assert_eq!(got[1].1["flowActionPayload"], json!({"screen": "WELCOME"}));
}
