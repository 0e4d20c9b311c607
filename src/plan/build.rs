//! Building a plan from its inputs: the config, the account (read with GET
//! only), the ledger and the clock. The one entry point plan, apply and
//! library users share; rendering is left to the caller.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::planned::{self, PlannedSet, Review, SendReview};
use super::{fingerprint, tally, Observed, Plan, Tally};
use crate::config::Config;
use crate::provider::{Provider, ProviderError};
use crate::state::{SendLedger, StateError};

/// Everything a plan is a function of.
pub struct PlanInputs<'a> {
    /// The loaded, validated config.
    pub config: &'a Config,
    /// The account to read.
    pub provider: &'a dyn Provider,
    /// Which account this is (base URL and instance), for the fingerprint.
    pub account_identity: &'a str,
    /// The ledger, or `None` when nothing was recorded yet.
    pub ledger: Option<&'a dyn SendLedger>,
    /// The clock (pinned in tests and `--now`).
    pub now: DateTime<Utc>,
    /// Sends whose unknown outcomes are to be sent again (`--resend-unknown`).
    pub resend_unknown: &'a [String],
    /// Flows under `removed:` may be deprecated (`--allow-deprecate`).
    pub allow_deprecate: bool,
}

/// Why a plan could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A GET on the account failed.
    #[error("cannot list the account's {what}: {source}")]
    Observe {
        /// "templates" or "Flows".
        what: &'static str,
        /// The provider's error (never carries the token).
        source: ProviderError,
    },
    /// A send's recipients could not be read.
    #[error("send {send}: {summary}")]
    Recipients {
        /// The send.
        send: String,
        /// What went wrong, with the file.
        summary: String,
    },
    /// The ledger could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// A recipient file vanished between validation and fingerprinting.
    #[error("cannot fingerprint the config's recipient files: {0}")]
    Fingerprint(std::io::Error),
}

/// Reads templates and Flows from the account (GET requests only).
///
/// # Errors
/// [`BuildError::Observe`] naming which list failed.
pub(crate) async fn observe(provider: &dyn Provider) -> Result<Observed, BuildError> {
    let templates = provider
        .list_templates()
        .await
        .map_err(|source| BuildError::Observe {
            what: "templates",
            source,
        })?;
    let flows = provider
        .list_flows()
        .await
        .map_err(|source| BuildError::Observe {
            what: "Flows",
            source,
        })?;
    Ok(Observed { templates, flows })
}

/// Counts every send's audience against the ledger (none: nothing sent),
/// plus per send the recipients it counts as remaining and the hashes of
/// its input files.
///
/// # Errors
/// A recipient file or the ledger cannot be read.
pub(crate) fn tallies_with_review(
    cfg: &Config,
    ledger: Option<&dyn SendLedger>,
    resend_unknown: &[String],
) -> Result<(BTreeMap<String, Tally>, Review), BuildError> {
    let mut out = BTreeMap::new();
    let mut review = Review::default();
    // Nothing recorded yet: a private scratch database still does the
    // deduplication, so no audience is ever held in memory.
    let scratch;
    let ledger = match ledger {
        Some(ledger) => ledger,
        None => {
            scratch = crate::state::Ledger::scratch()?;
            &scratch
        }
    };
    for (name, send) in &cfg.raw.sends {
        let resend = resend_unknown.contains(name);
        let mut recipients = PlannedSet::new();
        let t = tally::tally(ledger, name, send, &cfg.base_dir, resend, &mut recipients).map_err(
            |e| match e {
                tally::AudienceError::Recipients(d) => BuildError::Recipients {
                    send: name.clone(),
                    summary: d.summary.clone(),
                },
                tally::AudienceError::State(e) => BuildError::State(e),
            },
        )?;
        recipients.seal();
        let inputs = planned::inputs(send, &cfg.base_dir).map_err(BuildError::Fingerprint)?;
        review.sends.insert(
            name.clone(),
            SendReview {
                recipients,
                inputs,
                resend_unknown: resend,
            },
        );
        out.insert(name.clone(), t);
    }
    Ok((out, review))
}

/// Builds the plan: observes the account, tallies every send against the
/// ledger, diffs, and fingerprints config and account.
///
/// # Errors
/// See [`BuildError`].
pub async fn build(inputs: PlanInputs<'_>) -> Result<(Plan, Observed), BuildError> {
    let observed = observe(inputs.provider).await?;
    let (tallies, mut review) =
        tallies_with_review(inputs.config, inputs.ledger, inputs.resend_unknown)?;
    // How the account names each managed Flow in its templates (inline on
    // a channel without the Flow API).
    let raw = super::lower::for_account(inputs.config, &observed.flows);
    let mut plan = super::diff(&raw, &observed, &tallies, inputs.now);
    // Only what goes out now or after approval is promised.
    for sp in &plan.sends {
        if sp.counts.due + sp.counts.waiting == 0 {
            review.sends.remove(&sp.name);
        }
    }
    plan.review = review;
    match super::flows::plan(inputs.config, &observed, inputs.provider).await {
        Ok(changes) => plan.flow_changes = changes,
        Err(message) => plan.messages.push(super::PlanMessage {
            severity: crate::diag::Severity::Warning,
            message,
        }),
    }
    let (deprecated, blocked) =
        super::flows::removed(inputs.config, &observed.flows, inputs.allow_deprecate);
    plan.flow_changes.extend(deprecated);
    plan.messages
        .extend(blocked.into_iter().map(|message| super::PlanMessage {
            severity: crate::diag::Severity::Error,
            message,
        }));
    plan.fingerprints.config =
        fingerprint::config(inputs.config).map_err(BuildError::Fingerprint)?;
    plan.fingerprints.account = fingerprint::account(inputs.account_identity, &observed);
    Ok((plan, observed))
}
