//! The message a due send carries, built from the target its plan resolved
//! (docs/ARCHITECTURE.md, "The plan is all apply needs"): the account
//! template (name, language, namespace, flow-button index) or the Flow
//! with the fallback template for a closed 24-hour window
//! (docs/meta-rules.md). Nothing is looked up again here; the only values
//! filled in are the ones this apply's own steps produced ([`Learnt`]).

use std::collections::HashMap;

use anyhow::{anyhow, bail};

use super::sends::{FlowTarget, Message, TemplateTarget};
use crate::config::types::SendSpec;
use crate::plan::target::{PlannedTemplate, SendTarget};

/// What this apply's own steps produced that a plan could not know.
#[derive(Debug, Clone, Default)]
pub(crate) struct Learnt {
    /// Templates its review saw approved, by (name, language), with the
    /// namespace the account gave.
    pub(crate) approved: HashMap<(String, String), Option<String>>,
    /// Flows it created, by key in `flows:`, with the id the create answered.
    pub(crate) flow_ids: HashMap<String, String>,
}

impl Learnt {
    fn approved(&self, name: &str, language: &str) -> Option<Option<String>> {
        self.approved
            .get(&(name.to_string(), language.to_string()))
            .cloned()
    }
}

fn template(
    name: &str,
    planned: &PlannedTemplate,
    learnt: &Learnt,
    body_params: &[String],
    button: Option<&crate::config::types::FlowButton>,
) -> anyhow::Result<TemplateTarget> {
    let version = planned
        .version(|n, l| learnt.approved(n, l))
        .ok_or_else(|| {
            anyhow!(
                "send {name}: template {} ({}) is not approved yet and this apply did not see it approved",
                planned.name,
                planned.language
            )
        })?;
    TemplateTarget::new(
        version.name,
        planned.language.clone(),
        version.namespace,
        version.flow_button,
        body_params,
        button,
    )
}

/// Builds the message of send `name` from its planned `target` and the
/// send's own content (body parameters, Flow message texts).
///
/// # Errors
/// The plan resolved no target, the template it waits for was not
/// approved by this apply, or the Flow id is unknown.
pub(crate) fn build(
    name: &str,
    send: &SendSpec,
    target: Option<&SendTarget>,
    learnt: &Learnt,
) -> anyhow::Result<Message> {
    let Some(target) = target else {
        bail!("send {name}: the plan resolved no template or Flow to send with");
    };
    if let Some(spec) = &send.flow_message {
        let planned = target
            .flow
            .as_ref()
            .ok_or_else(|| anyhow!("send {name}: the plan resolved no Flow"))?;
        let flow_id = planned
            .id
            .clone()
            .or_else(|| learnt.flow_ids.get(&planned.key).cloned())
            .ok_or_else(|| anyhow!("send {name}: the id of Flow `{}` is unknown", planned.key))?;
        let fallback = match (&send.fallback, &target.template) {
            (Some(fb), Some(planned)) => Some(template(
                name,
                planned,
                learnt,
                &fb.body_params,
                fb.flow_button.as_ref(),
            )?),
            _ => None,
        };
        return Ok(Message::Flow {
            flow: Box::new(FlowTarget::new(flow_id, spec)?),
            fallback,
        });
    }
    let planned = target
        .template
        .as_ref()
        .ok_or_else(|| anyhow!("send {name}: the plan resolved no template"))?;
    Ok(Message::Template(template(
        name,
        planned,
        learnt,
        &send.body_params,
        send.flow_button.as_ref(),
    )?))
}
