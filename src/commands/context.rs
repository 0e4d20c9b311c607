//! What plan, apply and import share: the loaded config, the provider
//! (the account, or an in-process sandbox), the ledger, and the observed
//! account state.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::interp::{Interp, Var};
use crate::config::{self, Config, Depth};
use crate::plan::tally;
use crate::plan::{Observed, Tally};
use crate::provider::onemsg::{OneMsgClient, OneMsgConfig};
use crate::provider::{AccountFlow, FlowStatus, Provider};
use crate::sandbox::{SandboxConfig, SandboxHandle};
use crate::secret::Secret;
use crate::state::{SendLedger, StateLocation};

/// Loads and fully checks the config; renders diagnostics to stderr and
/// fails on errors (nothing is sent or written).
pub fn load_config(path: &Path, color: bool) -> anyhow::Result<Config> {
    let result = config::load(path, Depth::Full);
    if !result.diagnostics.is_empty() {
        eprint!("{}", result.render(color));
    }
    match result.config {
        Some(cfg) if !result.diagnostics.has_errors() => Ok(cfg),
        _ => bail!(
            "{} is not valid; nothing was sent or changed",
            path.display()
        ),
    }
}

pub fn color_enabled(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// `--now` or the clock.
pub fn now(flag: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
    match flag {
        None => Ok(Utc::now()),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                anyhow!("--now {s:?} is not an RFC 3339 time (e.g. 2026-12-01T09:00:00+03:00)")
            }),
    }
}

/// The account to talk to: the real API or an in-process sandbox.
pub struct Account {
    pub provider: std::sync::Arc<dyn Provider>,
    /// Which account this is (base URL and instance, never the token), so a
    /// plan file made for one account is refused by another.
    pub identity: String,
    /// The in-process sandbox and the file its account is saved to.
    pub sandbox: Option<(SandboxHandle, PathBuf)>,
}

fn env_or(value: Option<&str>, env: &str) -> anyhow::Result<Option<String>> {
    if let Some(v) = std::env::var_os(env) {
        if value.is_none() || env == "WAFORM_BASE_URL" {
            return Ok(Some(v.to_string_lossy().into_owned()));
        }
    }
    let Some(v) = value else { return Ok(None) };
    let t = Interp::parse(v).map_err(|e| anyhow!(e))?;
    let env: HashMap<String, String> = t
        .vars()
        .filter_map(|var| match var {
            Var::Env(name) => std::env::var(name).ok().map(|val| (name.clone(), val)),
            _ => None,
        })
        .collect();
    let out = t
        .render(|var| match var {
            Var::Env(name) => env.get(name).map(String::as_str),
            _ => None,
        })
        .map_err(|var| anyhow!("{var} is not set"))?;
    Ok(Some(out))
}

/// Connects to the account named by the config and the environment.
pub fn real_account(cfg: &Config) -> anyhow::Result<Account> {
    let p = cfg.raw.provider.as_ref();
    let base_url = env_or(p.and_then(|p| p.base_url.as_deref()), "WAFORM_BASE_URL")?
        .unwrap_or_else(|| "https://api.1msg.io".to_string());
    let instance = env_or(p.and_then(|p| p.instance.as_deref()), "WAFORM_INSTANCE");
    let token = env_or(p.and_then(|p| p.token.as_deref()), "WAFORM_TOKEN");
    // Both are reported at once, so a fresh setup needs one retry, not two.
    let (instance, token) = match (instance, token) {
        (Ok(Some(instance)), Ok(Some(token))) => (instance, token),
        (instance, token) => {
            let mut missing = Vec::new();
            match instance {
                Ok(Some(_)) => {}
                Ok(None) => missing.push(
                    "no channel instance: set WAFORM_INSTANCE (or provider.instance: ${env.NAME})"
                        .to_string(),
                ),
                Err(e) => missing.push(format!("no channel instance: {e}")),
            }
            match token {
                Ok(Some(_)) => {}
                Ok(None) => missing.push(
                    "no API token: set WAFORM_TOKEN (or provider.token: ${env.NAME})".to_string(),
                ),
                Err(e) => missing.push(format!("no API token: {e}")),
            }
            bail!("{}; or use --sandbox for a dry run", missing.join("; "));
        }
    };
    let identity = format!("{base_url}|{instance}");
    let client = OneMsgClient::new(OneMsgConfig::new(base_url, instance, Secret::new(token)))
        .map_err(|e| anyhow!("{e}"))?;
    Ok(Account {
        provider: std::sync::Arc::new(client),
        identity,
        sandbox: None,
    })
}

/// Starts an in-process sandbox: the account an earlier `apply --sandbox`
/// left beside the sandbox ledger at `ledger` (so a re-run meets the same
/// templates and history, as with a real account), plus the config's Flows
/// as PUBLISHED; new templates are approved after `approve_after`.
pub async fn sandbox_account(
    cfg: &Config,
    approve_after: Duration,
    ledger: &StateLocation,
) -> anyhow::Result<Account> {
    let saved_at = sandbox_account_file(ledger);
    let saved = crate::sandbox::store::load(&saved_at)?;
    let mut flows = Vec::new();
    for (i, (key, flow)) in cfg.raw.flows.iter().enumerate() {
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
    let config = SandboxConfig {
        approve_after,
        flows,
        account: saved,
        ..SandboxConfig::default()
    };
    let handle = crate::sandbox::start(config, "127.0.0.1:0".parse()?)
        .await
        .context("cannot start the in-process sandbox")?;
    let client = OneMsgClient::new(handle.client_config()).map_err(|e| anyhow!("{e}"))?;
    Ok(Account {
        provider: std::sync::Arc::new(client),
        identity: format!("sandbox|{}", handle.base_url()),
        sandbox: Some((handle, saved_at)),
    })
}

/// Where the sandbox account of the (sandbox) state `ledger` is saved.
pub fn sandbox_account_file(ledger: &StateLocation) -> PathBuf {
    match ledger {
        StateLocation::Sqlite(path) => crate::sandbox::store::account_path(path),
    }
}

/// Saves the in-process sandbox's account for the next dry run (nothing to
/// do for a real account).
pub fn persist_sandbox(account: &Account) -> anyhow::Result<()> {
    match &account.sandbox {
        Some((handle, path)) => crate::sandbox::store::save(path, &handle.snapshot()),
        None => Ok(()),
    }
}

/// The state: `--state`, `WAFORM_STATE`, `state.url`, or the default
/// beside the config. Sandbox runs use their own state so a dry run never
/// marks real recipients as sent.
pub fn state_path(
    cfg: &Config,
    flag: Option<&str>,
    config_path: &Path,
    sandbox: bool,
) -> anyhow::Result<StateLocation> {
    let configured = cfg.raw.state.as_ref().and_then(|s| s.url.as_deref());
    let location = crate::state::resolve_state_url(flag, config_path, configured)
        .map_err(|e| anyhow!("{e}"))?;
    Ok(if sandbox {
        location.sandbox()
    } else {
        location
    })
}

/// Reads templates and Flows from the account (GET requests only).
pub async fn observe(provider: &dyn Provider) -> anyhow::Result<Observed> {
    let templates = provider
        .list_templates()
        .await
        .map_err(|e| anyhow!("cannot list the account's templates: {e}"))?;
    let flows = provider
        .list_flows()
        .await
        .map_err(|e| anyhow!("cannot list the account's Flows: {e}"))?;
    Ok(Observed { templates, flows })
}

/// Counts every send's audience against the ledger (none yet: nothing sent).
pub fn tallies(
    cfg: &Config,
    ledger: Option<&dyn SendLedger>,
) -> anyhow::Result<BTreeMap<String, Tally>> {
    let mut out = BTreeMap::new();
    for (name, send) in &cfg.raw.sends {
        let rec = match ledger {
            Some(ledger) => crate::apply::recorded_map(ledger, name)?,
            None => HashMap::new(),
        };
        let t = tally::tally(send, &cfg.base_dir, &rec)
            .map_err(|d| anyhow!("send {name}: {}", d.summary))?;
        out.insert(name.clone(), t);
    }
    Ok(out)
}

/// Fingerprint of the config: its merged content and every recipient file.
pub fn config_fingerprint(cfg: &Config) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&cfg.raw)?);
    for send in cfg.raw.sends.values() {
        for source in send.recipients.iter().chain(&send.exclude) {
            if let crate::config::types::RecipientSource::Csv(csv) = source {
                let mut f = std::fs::File::open(cfg.base_dir.join(&csv.csv))?;
                std::io::copy(&mut f, &mut h)?;
            }
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Fingerprint of the observed account (templates and Flows, sorted).
pub fn account_fingerprint(identity: &str, observed: &Observed) -> String {
    let mut items: Vec<String> = observed
        .templates
        .iter()
        .map(|t| {
            format!(
                "{}|{}|{:?}|{}",
                t.name,
                t.language,
                t.status,
                serde_json::Value::Array(t.components.clone())
            )
        })
        .collect();
    items.sort();
    let mut h = Sha256::new();
    h.update(identity.as_bytes());
    h.update(b"\n");
    for i in items {
        h.update(i.as_bytes());
        h.update(b"\n");
    }
    h.update(format!("{:?}", observed.flows).as_bytes());
    hex::encode(h.finalize())
}
