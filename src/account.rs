//! The account a run talks to: the real 1msg API named by the settings, or
//! an in-process sandbox that stands in for it (`--sandbox`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::provider::onemsg::{OneMsgClient, OneMsgConfig};
use crate::provider::{AccountFlow, FlowStatus, Provider};
use crate::sandbox::{SandboxConfig, SandboxHandle};
use crate::settings::ProviderSettings;
use crate::state::StateLocation;

/// `WAFORM_SANDBOX_FLOWS_API=501` makes the in-process sandbox a channel
/// without the Flow API (every `/flows…` call answers 501, as on 1msg
/// channels per docs/provider-1msg.md §2.7); `available` turns it back.
/// The saved sandbox account remembers the choice, so later `--sandbox`
/// runs meet the same channel without the variable.
pub const FLOWS_API_ENV: &str = "WAFORM_SANDBOX_FLOWS_API";

/// The account to talk to: the real API or an in-process sandbox.
pub struct Account {
    /// The API client.
    pub provider: Arc<dyn Provider>,
    /// Which account this is (base URL and instance, never the token), so a
    /// plan file made for one account is refused by another.
    pub identity: String,
    /// The in-process sandbox and the file its account is saved to.
    pub sandbox: Option<(SandboxHandle, PathBuf)>,
}

/// Why an account could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The HTTP client could not be built (TLS roots, bad base URL).
    #[error("cannot set up the API client: {0}")]
    Client(String),
    /// The in-process sandbox did not start or its saved account is unreadable.
    #[error("cannot start the in-process sandbox: {0}")]
    Sandbox(String),
}

impl Account {
    /// The real account named by `settings`.
    ///
    /// # Errors
    /// [`AccountError::Client`] when the client cannot be built.
    pub fn connect(settings: &ProviderSettings) -> Result<Account, AccountError> {
        let base_url = settings.base_url.value.clone();
        let instance = settings.instance.value.clone();
        let identity = format!("{base_url}|{instance}");
        let client = OneMsgClient::new(OneMsgConfig::new(
            base_url,
            instance,
            settings.token.value.clone(),
        ))
        .map_err(|e| AccountError::Client(e.to_string()))?;
        Ok(Account {
            provider: Arc::new(client),
            identity,
            sandbox: None,
        })
    }

    /// Starts an in-process sandbox: the account an earlier `apply --sandbox`
    /// left beside the sandbox ledger at `ledger` (so a re-run meets the same
    /// templates and history, as with a real account), plus the config's
    /// Flows as PUBLISHED; new templates are approved after `approve_after`.
    ///
    /// # Errors
    /// [`AccountError::Sandbox`] when the saved account cannot be read or the
    /// server cannot bind a loopback port.
    pub async fn sandbox(
        cfg: &Config,
        approve_after: Duration,
        ledger: &StateLocation,
    ) -> Result<Account, AccountError> {
        let saved_at = sandbox_account_file(ledger);
        let saved = crate::sandbox::store::load(&saved_at)
            .map_err(|e| AccountError::Sandbox(format!("{e:#}")))?;
        let mut flows = Vec::new();
        for (i, (key, flow)) in cfg.raw.flows.iter().enumerate() {
            // A managed Flow is created by apply itself, as on a real account.
            if flow.is_managed() {
                continue;
            }
            let name = flow.name.clone().unwrap_or_else(|| key.clone());
            // A Flow known by name keeps the id the saved account gave it.
            let known = saved.as_ref().and_then(|s| {
                s.flows()
                    .iter()
                    .find(|f| flow.id.is_none() && f.name == name)
            });
            if known.is_some() {
                continue;
            }
            flows.push(AccountFlow {
                id: flow
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("{}", 1_000_000_000_000_000u64 + i as u64)),
                name,
                status: FlowStatus::Published,
            });
        }
        let flows_unavailable = match std::env::var(FLOWS_API_ENV).ok().as_deref() {
            Some("501") => true,
            Some("available") => false,
            None | Some("") => saved.as_ref().is_some_and(|s| s.flows_api_501()),
            Some(other) => {
                return Err(AccountError::Sandbox(format!(
                "{FLOWS_API_ENV}={other:?}: write 501 (the channel has no Flow API) or available"
            )))
            }
        };
        let config = SandboxConfig {
            approve_after,
            flows,
            account: saved,
            flows_unavailable,
            ..SandboxConfig::default()
        };
        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let handle = crate::sandbox::start(config, listen)
            .await
            .map_err(|e| AccountError::Sandbox(e.to_string()))?;
        let client = OneMsgClient::new(handle.client_config())
            .map_err(|e| AccountError::Client(e.to_string()))?;
        Ok(Account {
            provider: Arc::new(client),
            identity: format!("sandbox|{}", handle.base_url()),
            sandbox: Some((handle, saved_at)),
        })
    }

    /// Saves the in-process sandbox's account for the next dry run (nothing
    /// to do for a real account).
    ///
    /// # Errors
    /// The account file cannot be written.
    pub fn persist(&self) -> anyhow::Result<()> {
        match &self.sandbox {
            Some((handle, path)) => crate::sandbox::store::save(path, &handle.snapshot()),
            None => Ok(()),
        }
    }
}

/// Where the sandbox account of the (sandbox) state `ledger` is saved.
pub fn sandbox_account_file(ledger: &StateLocation) -> PathBuf {
    match ledger {
        StateLocation::Sqlite(path) => crate::sandbox::store::account_path(path),
        // The sandbox rows live in the database's sandbox schema; the
        // emulated account is a local dry-run artefact, kept in the
        // current folder.
        StateLocation::Postgres(_) => {
            crate::sandbox::store::account_path(std::path::Path::new(".waform/state.sandbox.db"))
        }
    }
}
