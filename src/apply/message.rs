//! The message a due send carries: its account template (name, language,
//! namespace, flow-button index) or its Flow with the fallback template
//! for a closed 24-hour window (docs/meta-rules.md).

use anyhow::{anyhow, bail};

use super::sends::{FlowTarget, Message, TemplateTarget};
use crate::config::types::SendSpec;
use crate::config::Config;
use crate::plan::diff::{resolve_template, Resolved};
use crate::provider::AccountTemplate;

/// Builds the message of send `name` against the templates the account
/// has now.
///
/// # Errors
/// The send's template is not declared or not ready, or its Flow id is
/// unknown.
pub(crate) fn build(
    cfg: &Config,
    name: &str,
    send: &SendSpec,
    flow_id: Option<&str>,
    observed_templates: &[AccountTemplate],
) -> anyhow::Result<Message> {
    if let Some(spec) = &send.flow_message {
        let fallback = match &send.fallback {
            Some(fb) => {
                match resolve_template(&cfg.raw, &fb.template, &fb.language, observed_templates) {
                    Resolved::Ready {
                        name,
                        namespace,
                        flow_button,
                    } => Some(TemplateTarget::new(
                        name,
                        fb.language.clone(),
                        namespace,
                        flow_button,
                        &fb.body_params,
                        fb.flow_button.as_ref(),
                    )?),
                    _ => None,
                }
            }
            None => None,
        };
        let flow_id = flow_id
            .ok_or_else(|| anyhow!("send {name}: the Flow id is unknown"))?
            .to_string();
        return Ok(Message::Flow {
            flow: Box::new(FlowTarget::new(flow_id, spec)?),
            fallback,
        });
    }
    let logical = send
        .template
        .as_deref()
        .ok_or_else(|| anyhow!("send {name} has no template"))?;
    let template = cfg
        .raw
        .templates
        .get(logical)
        .ok_or_else(|| anyhow!("template {logical} is not declared"))?;
    let language = send
        .language
        .clone()
        .or_else(|| template.languages.keys().next().cloned())
        .unwrap_or_default();
    match resolve_template(&cfg.raw, logical, &language, observed_templates) {
        Resolved::Ready {
            name: account_name,
            namespace,
            flow_button,
        } => Ok(Message::Template(TemplateTarget::new(
            account_name,
            language,
            namespace,
            flow_button,
            &send.body_params,
            send.flow_button.as_ref(),
        )?)),
        Resolved::Waiting(why) | Resolved::Blocked(why) => bail!("send {name}: {why}"),
    }
}
