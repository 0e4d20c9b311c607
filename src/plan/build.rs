//! Building a plan from its inputs: the config, the account (read with GET
//! only), the ledger and the clock. The one entry point plan, apply and
//! library users share; rendering is left to the caller.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

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
pub async fn observe(provider: &dyn Provider) -> Result<Observed, BuildError> {
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

/// Counts every send's audience against the ledger (none: nothing sent).
///
/// # Errors
/// A recipient file or the ledger cannot be read.
pub fn tallies(
    cfg: &Config,
    ledger: Option<&dyn SendLedger>,
) -> Result<BTreeMap<String, Tally>, BuildError> {
    let mut out = BTreeMap::new();
    for (name, send) in &cfg.raw.sends {
        let rec = match ledger {
            Some(ledger) => tally::recorded(ledger, name)?,
            None => HashMap::new(),
        };
        let t = tally::tally(send, &cfg.base_dir, &rec).map_err(|d| BuildError::Recipients {
            send: name.clone(),
            summary: d.summary.clone(),
        })?;
        out.insert(name.clone(), t);
    }
    Ok(out)
}

/// Builds the plan: observes the account, tallies every send against the
/// ledger, diffs, and fingerprints config and account.
///
/// # Errors
/// See [`BuildError`].
pub async fn build(inputs: PlanInputs<'_>) -> Result<(Plan, Observed), BuildError> {
    let observed = observe(inputs.provider).await?;
    let tallies = tallies(inputs.config, inputs.ledger)?;
    let mut plan = super::diff(&inputs.config.raw, &observed, &tallies, inputs.now);
    plan.fingerprints.config =
        fingerprint::config(inputs.config).map_err(BuildError::Fingerprint)?;
    plan.fingerprints.account = fingerprint::account(inputs.account_identity, &observed);
    Ok((plan, observed))
}
