//! What the commands share on the CLI side: loading the config with its
//! diagnostics rendered to stderr, colour, `--now`, and thin wrappers over
//! the library's settings, account and plan inputs.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::bail;

use waform::config::{self, Config, Depth};
use waform::state::StateLocation;

/// Loads and fully checks the config; renders diagnostics to stderr and
/// fails on errors (nothing is sent or written).
pub(crate) fn load_config(path: &Path, color: bool) -> anyhow::Result<Config> {
    let result = config::load(path, Depth::Full);
    if !result.diagnostics.is_empty() {
        waform::err!("{}", result.render(color));
    }
    match result.config {
        Some(cfg) if !result.diagnostics.has_errors() => Ok(cfg),
        _ => bail!(
            "{} is not valid; nothing was sent or changed",
            path.display()
        ),
    }
}

pub(crate) fn color_enabled(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

pub(crate) use waform::account::{sandbox_account_file, Account};

/// Connects to the account named by the config and the environment.
pub(crate) fn real_account(cfg: &Config) -> anyhow::Result<Account> {
    let settings = waform::settings::provider(cfg)?;
    Ok(Account::connect(&settings)?)
}

/// The in-process sandbox standing in for the account (see
/// [`Account::sandbox`]).
pub(crate) async fn sandbox_account(
    cfg: &Config,
    approve_after: Duration,
    ledger: &StateLocation,
) -> anyhow::Result<Account> {
    Ok(Account::sandbox(cfg, approve_after, ledger).await?)
}

/// The state location for a command (see [`waform::settings::state`]).
pub(crate) fn state_path(
    cfg: &Config,
    flag: Option<&str>,
    config_path: &Path,
    sandbox: bool,
) -> anyhow::Result<StateLocation> {
    let overrides = waform::settings::Overrides {
        state: flag.map(str::to_string),
    };
    Ok(waform::settings::state(
        cfg,
        &overrides,
        config_path,
        sandbox,
    )?)
}
