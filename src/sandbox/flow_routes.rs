//! HTTP side of the Flow API (docs/provider-1msg.md §2.7–2.11):
//! `POST /flows`, `GET|DELETE /flows/{id}`, `POST /flows/{id}/publish`,
//! `POST /flows/{id}/deprecate`, `GET /flows/{id}/preview`,
//! `PATCH /flows/{id}/assets` (JSON body `flowJson`). With
//! `flows_unavailable` every one answers 501, as 1msg's newer contract says.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::account::NewFlow;
use super::server::{authorized, decode_body, error, parse_pairs, refusal, Shared};

pub(super) fn unavailable() -> Response {
    // docs/provider-1msg.md §2.7: "Currently returns HTTP 501".
    error(
        StatusCode::NOT_IMPLEMENTED,
        "Not implemented: Flows are not available on this channel",
    )
}

/// The instance and token checks every API route makes.
fn gate(s: &Shared, instance: &str, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    if instance != s.instance {
        return Some(error(
            StatusCode::NOT_FOUND,
            format!("Channel {instance:?} not found"),
        ));
    }
    let query = parse_pairs(uri.query().unwrap_or_default());
    if !authorized(&s.token, &query, headers) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            format!(
                "Wrong token for channel {:?}. Please provide token as a GET parameter.",
                s.instance
            ),
        ));
    }
    s.flows_unavailable.then(unavailable)
}

/// The Flow JSON of a request: an object, or a string holding one (how form
/// bodies and some SDKs carry it).
fn flow_json(v: Option<&Value>) -> Result<Option<Value>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(_)) => Ok(v.cloned()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(obj @ Value::Object(_)) => Ok(Some(obj)),
            _ => Err("flowJson must be a JSON object".into()),
        },
        Some(_) => Err("flowJson must be a JSON object".into()),
    }
}

pub(super) fn create(s: &Shared, req: &Value) -> Response {
    let text = |k: &str| req.get(k).and_then(Value::as_str).map(str::to_string);
    let categories = match req.get("categories") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let json = match flow_json(req.get("flowJson").or_else(|| req.get("flow_json"))) {
        Ok(j) => j,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let new = NewFlow {
        name: text("name").unwrap_or_default(),
        categories,
        endpoint_uri: text("endpointUri").or_else(|| text("endpoint_uri")),
        flow_json: json,
        publish: req.get("publish").and_then(Value::as_bool).unwrap_or(false),
        clone_flow_id: text("cloneFlowId").or_else(|| text("clone_flow_id")),
    };
    match s.account().create_flow(new) {
        Ok(v) => Json(v).into_response(),
        Err(r) => refusal(r),
    }
}

pub(super) async fn item(
    State(s): State<Arc<Shared>>,
    Path((instance, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(stop) = gate(&s, &instance, &uri, &headers) {
        return stop;
    }
    let result = match method {
        Method::GET => s.account().flow_json_view(&id),
        Method::DELETE => s.account().delete_flow(&id),
        _ => return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
    };
    match result {
        Ok(v) => Json(v).into_response(),
        Err(r) => refusal(r),
    }
}

pub(super) async fn action(
    State(s): State<Arc<Shared>>,
    Path((instance, id, action)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(stop) = gate(&s, &instance, &uri, &headers) {
        return stop;
    }
    let result = match (method, action.as_str()) {
        (Method::POST, "publish") => s.account().publish_flow(&id),
        (Method::POST, "deprecate") => s.account().deprecate_flow(&id),
        (Method::GET, "preview") => s.account().preview_flow(&id),
        (Method::PATCH, "assets") => {
            let req = match decode_body(&headers, &body) {
                Ok(v) => v,
                Err(m) => return error(StatusCode::BAD_REQUEST, m),
            };
            match flow_json(req.get("flowJson")) {
                Ok(Some(json)) => s.account().update_flow_assets(&id, json),
                Ok(None) => return error(StatusCode::BAD_REQUEST, "flowJson is required"),
                Err(m) => return error(StatusCode::BAD_REQUEST, m),
            }
        }
        (_, "publish" | "deprecate" | "preview" | "assets") => {
            return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        }
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!("Unknown Flow action {action:?}"),
            )
        }
    };
    match result {
        Ok(v) => Json(v).into_response(),
        Err(r) => refusal(r),
    }
}
