//! Flows managed through the API (docs/provider-1msg.md §2.7–2.11): create,
//! replace the Flow JSON, publish, preview, deprecate, delete, with Meta's
//! state machine — DRAFT → PUBLISHED → DEPRECATED; editing a PUBLISHED Flow
//! returns it to DRAFT under the same id; only a DRAFT may be deleted; a
//! Flow with validation errors cannot be published.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Account, Refusal};
use crate::provider::{AccountFlow, FlowStatus};

/// What the API keeps beside a Flow's id, name and status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct FlowAsset {
    pub(crate) categories: Vec<String>,
    #[serde(default)]
    pub(crate) endpoint_uri: Option<String>,
    /// The current Flow JSON, if one was uploaded.
    #[serde(default)]
    pub(crate) json: Option<Value>,
    /// Meta-shaped validation errors of `json`.
    #[serde(default)]
    pub(crate) validation_errors: Vec<Value>,
    /// Editing the JSON answers Meta's 139001 (some older published Flows
    /// cannot be edited: clone them instead). A clone starts editable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) frozen: bool,
}

/// A create request, as `POST /flows` carries it.
#[derive(Debug, Default)]
pub(crate) struct NewFlow {
    pub(crate) name: String,
    pub(crate) categories: Vec<String>,
    pub(crate) endpoint_uri: Option<String>,
    pub(crate) flow_json: Option<Value>,
    pub(crate) publish: bool,
    pub(crate) clone_flow_id: Option<String>,
}

impl Account {
    fn flow_index(&self, id: &str) -> Result<usize, Refusal> {
        self.flows
            .iter()
            .position(|f| f.id == id)
            .ok_or_else(|| Refusal::BadRequest(format!("Flow {id:?} not found")))
    }

    pub(crate) fn create_flow(&mut self, req: NewFlow) -> Result<Value, Refusal> {
        if req.name.trim().is_empty() {
            return Err(Refusal::BadRequest("name is required".into()));
        }
        if self.flows.iter().any(|f| f.name == req.name) {
            return Err(Refusal::BadRequest(format!(
                "A Flow named {:?} already exists on this account",
                req.name
            )));
        }
        if req.categories.is_empty() {
            return Err(Refusal::BadRequest("categories is required".into()));
        }
        if let Some(bad) = req
            .categories
            .iter()
            .find(|c| !crate::provider::FLOW_CATEGORIES.contains(&c.as_str()))
        {
            return Err(Refusal::BadRequest(format!("unknown category {bad:?}")));
        }
        let mut json = req.flow_json;
        if let Some(from) = &req.clone_flow_id {
            let i = self.flow_index(from)?;
            let id = self.flows[i].id.clone();
            json = json.or_else(|| self.flow_assets.get(&id).and_then(|a| a.json.clone()));
        }
        self.next_flow_id += 1;
        let id = format!("{}", self.next_flow_id);
        let validation_errors = json
            .as_ref()
            .map(super::super::flow_check::validation_errors)
            .unwrap_or_default();
        let publish = req.publish && json.is_some() && validation_errors.is_empty();
        self.flows.push(AccountFlow {
            id: id.clone(),
            name: req.name,
            status: if publish {
                FlowStatus::Published
            } else {
                FlowStatus::Draft
            },
        });
        self.flow_assets.insert(
            id.clone(),
            FlowAsset {
                categories: req.categories,
                endpoint_uri: req.endpoint_uri,
                json,
                validation_errors: validation_errors.clone(),
                frozen: false,
            },
        );
        Ok(json!({"id": id, "success": true, "validation_errors": validation_errors}))
    }

    /// `GET /flows/{id}`: the Flow with its status, categories and errors.
    pub(crate) fn flow_json_view(&self, id: &str) -> Result<Value, Refusal> {
        let flow = &self.flows[self.flow_index(id)?];
        let asset = self.flow_assets.get(id).cloned().unwrap_or_default();
        Ok(json!({
            "id": flow.id,
            "name": flow.name,
            "status": status_word(&flow.status),
            "categories": asset.categories,
            "validation_errors": asset.validation_errors,
            "json_version": asset.json.as_ref().and_then(|j| j.get("version")).cloned(),
            "endpoint_uri": asset.endpoint_uri,
            "flow_json": asset.json,
        }))
    }

    /// `PATCH /flows/{id}/assets`: replaces the Flow JSON. A PUBLISHED Flow
    /// goes back to DRAFT (same id) until it is published again.
    pub(crate) fn update_flow_assets(
        &mut self,
        id: &str,
        flow_json: Value,
    ) -> Result<Value, Refusal> {
        let i = self.flow_index(id)?;
        match self.flows[i].status {
            FlowStatus::Draft | FlowStatus::Published => {}
            ref other => {
                return Err(Refusal::BadRequest(format!(
                    "Flow {id:?} is {} and cannot be edited",
                    status_word(other)
                )))
            }
        }
        if self.flow_assets.get(id).is_some_and(|a| a.frozen) {
            return Err(Refusal::Meta {
                code: 139001,
                title: "Flow can't be updated".into(),
                message: format!(
                    "Flow {id:?} cannot be edited; clone it (clone_flow_id) and publish the clone"
                ),
            });
        }
        let errors = super::super::flow_check::validation_errors(&flow_json);
        self.flows[i].status = FlowStatus::Draft;
        let asset = self.flow_assets.entry(id.to_string()).or_default();
        asset.json = Some(flow_json);
        asset.validation_errors = errors.clone();
        Ok(json!({"success": true, "validationErrors": errors}))
    }

    pub(crate) fn publish_flow(&mut self, id: &str) -> Result<Value, Refusal> {
        let i = self.flow_index(id)?;
        let asset = self.flow_assets.get(id).cloned().unwrap_or_default();
        match self.flows[i].status {
            FlowStatus::Published => return Ok(json!({"success": true})),
            FlowStatus::Draft => {}
            ref other => {
                return Err(Refusal::BadRequest(format!(
                    "Flow {id:?} is {} and cannot be published",
                    status_word(other)
                )))
            }
        }
        if asset.json.is_none() {
            return Err(Refusal::BadRequest(format!(
                "Flow {id:?} has no Flow JSON to publish"
            )));
        }
        if !asset.validation_errors.is_empty() {
            return Err(Refusal::BadRequest(format!(
                "Flow {id:?} has {} validation error(s) and cannot be published",
                asset.validation_errors.len()
            )));
        }
        self.flows[i].status = FlowStatus::Published;
        Ok(json!({"success": true}))
    }

    /// `POST /flows/{id}/deprecate`: irreversible; only a PUBLISHED Flow.
    pub(crate) fn deprecate_flow(&mut self, id: &str) -> Result<Value, Refusal> {
        let i = self.flow_index(id)?;
        if self.flows[i].status != FlowStatus::Published {
            return Err(Refusal::BadRequest(format!(
                "Only a PUBLISHED Flow can be deprecated; {id:?} is {}",
                status_word(&self.flows[i].status)
            )));
        }
        self.flows[i].status = FlowStatus::Deprecated;
        Ok(json!({"success": true}))
    }

    /// `DELETE /flows/{id}`: only a DRAFT.
    pub(crate) fn delete_flow(&mut self, id: &str) -> Result<Value, Refusal> {
        let i = self.flow_index(id)?;
        if self.flows[i].status != FlowStatus::Draft {
            return Err(Refusal::BadRequest(format!(
                "Only a DRAFT Flow can be deleted; {id:?} is {}",
                status_word(&self.flows[i].status)
            )));
        }
        self.flows.remove(i);
        self.flow_assets.remove(id);
        Ok(json!({"success": true}))
    }

    /// `GET /flows/{id}/preview`: a public link, valid 30 days.
    pub(crate) fn preview_flow(&self, id: &str) -> Result<Value, Refusal> {
        let flow = &self.flows[self.flow_index(id)?];
        Ok(json!({
            "id": flow.id,
            "preview": {
                "preview_url": format!("https://business.facebook.com/wa/manage/flows/{}/preview/?token=sandbox", flow.id),
                "expires_at": super::unix_now() + 30 * 24 * 3600,
            }
        }))
    }

    /// Marks a Flow as (not) editable: see [`FlowAsset::frozen`].
    pub(crate) fn set_flow_editable(&mut self, id: &str, editable: bool) {
        self.flow_assets.entry(id.to_string()).or_default().frozen = !editable;
    }

    pub(crate) fn flow_categories(&self, id: &str) -> Vec<String> {
        self.flow_assets
            .get(id)
            .map(|a| a.categories.clone())
            .unwrap_or_else(|| vec!["OTHER".into()])
    }

    pub(crate) fn flow_validation_errors(&self, id: &str) -> Vec<Value> {
        self.flow_assets
            .get(id)
            .map(|a| a.validation_errors.clone())
            .unwrap_or_default()
    }
}

/// A FLOW button's inline `flow_json` (Meta creates that Flow with the
/// template): it must be a Flow JSON without validation errors.
pub(super) fn check_inline(components: &[Value]) -> Result<(), Refusal> {
    let inline = components
        .iter()
        .filter_map(|c| c.get("buttons").and_then(Value::as_array))
        .flatten()
        .filter_map(|b| b.get("flow_json"));
    for raw in inline {
        let parsed = match raw {
            Value::String(text) => serde_json::from_str::<Value>(text).ok(),
            other => Some(other.clone()),
        };
        let Some(flow) = parsed.filter(Value::is_object) else {
            return Err(Refusal::BadRequest(
                "Invalid template: flow_json is not a Flow JSON object".into(),
            ));
        };
        let errors = super::super::flow_check::validation_errors(&flow);
        if let Some(first) = errors.first() {
            return Err(Refusal::BadRequest(format!(
                "Invalid template: flow_json has {} validation error(s), first: {}",
                errors.len(),
                first.get("message").and_then(Value::as_str).unwrap_or("?")
            )));
        }
    }
    Ok(())
}

fn status_word(s: &FlowStatus) -> String {
    match s {
        FlowStatus::Other(w) => w.clone(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}
