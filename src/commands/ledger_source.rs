//! What the reading commands (`status`, `responses`) look at: the config
//! named by PATH (for its sends and `state.url`) and the ledger it points
//! to, the real one or the sandbox one (docs/design.md §3).

use std::path::PathBuf;

use anyhow::bail;

use crate::cli::ConfigPath;
use waform::config::{self, Config, Depth};
use waform::state::StateLocation;

const DEFAULT_CONFIG: &str = "waform.yaml";

/// The config path a command was given, and whether the user typed it
/// (a typed path that does not exist is an error; the default may be
/// absent when `--state` names the ledger directly).
pub(crate) fn config_path(args: &ConfigPath) -> (PathBuf, bool) {
    if args.config_flag.is_some() && args.path.is_none() {
        waform::errln!("warning: --config is deprecated; pass the config as the first argument");
    }
    match args.path.as_ref().or(args.config_flag.as_ref()) {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    }
}

/// A reading command's inputs.
pub(crate) struct Source {
    /// `None` only when PATH was left at its default, no `waform.yaml` is
    /// there, and `--state` names the ledger.
    pub config: Option<Config>,
    pub config_path: PathBuf,
    pub ledger: StateLocation,
}

impl Source {
    /// Send names the config declares, in order.
    pub(crate) fn declared_sends(&self) -> Vec<String> {
        self.config
            .as_ref()
            .map(|c| c.raw.sends.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Fails unless `send` is declared by the config (or, without a
    /// config, recorded in the ledger), naming the sends that exist.
    pub(crate) fn check_send(&self, send: &str, recorded: &[String]) -> anyhow::Result<()> {
        let declared = self.declared_sends();
        let known = if self.config.is_some() {
            &declared
        } else {
            recorded
        };
        if known.iter().any(|s| s == send) {
            return Ok(());
        }
        let where_ = if self.config.is_some() {
            format!("declared in {}", self.config_path.display())
        } else {
            format!("recorded in {}", self.ledger)
        };
        let mut msg = format!("unknown send {send:?}: ");
        if known.is_empty() {
            msg.push_str(&format!("no sends are {where_}"));
        } else {
            msg.push_str(&format!("the sends {where_} are {}", known.join(", ")));
        }
        if let Some(close) = waform::schema::closest(send, known) {
            msg.push_str(&format!(" (did you mean {close:?}?)"));
        }
        bail!(msg)
    }
}

/// Loads the config (without reading recipient files) and resolves the
/// ledger. A missing config is an error unless it was not typed and
/// `--state` (or WAFORM_STATE) names the ledger.
pub(crate) fn resolve(
    args: &ConfigPath,
    state_flag: Option<&str>,
    sandbox: bool,
    command: &str,
) -> anyhow::Result<Source> {
    let (path, typed) = config_path(args);
    let state_named = state_flag.is_some_and(|s| !s.trim().is_empty())
        || std::env::var(waform::state::url::STATE_ENV).is_ok_and(|s| !s.trim().is_empty());
    if !path.exists() {
        if typed || !state_named {
            let mut msg = if typed {
                format!("{}: no such config file or folder", path.display())
            } else {
                format!("no {DEFAULT_CONFIG} in the current folder")
            };
            msg.push_str(&format!(
                "; pass the config as the first argument (`waform {command} examples/course-signup`) \
                 or name the ledger with --state (or WAFORM_STATE)"
            ));
            if typed && !path.to_string_lossy().contains(['/', '.', '\\']) {
                msg.push_str(&format!(" (to pick a send, use --send {})", path.display()));
            }
            bail!(msg);
        }
        let ledger = sandbox_variant(
            waform::state::resolve_state_url(state_flag, &path, None)?,
            sandbox,
        );
        return Ok(Source {
            config: None,
            config_path: path,
            ledger,
        });
    }
    let loaded = config::load(&path, Depth::NoRecipients);
    let cfg = match loaded.config {
        Some(cfg) if !loaded.diagnostics.has_errors() => cfg,
        _ => {
            waform::err!("{}", loaded.render(false));
            bail!(
                "{} is not valid; run `waform validate` on it",
                path.display()
            );
        }
    };
    let ledger = super::context::state_path(&cfg, state_flag, &path, sandbox)?;
    Ok(Source {
        config: Some(cfg),
        config_path: path,
        ledger,
    })
}

fn sandbox_variant(location: StateLocation, sandbox: bool) -> StateLocation {
    if sandbox {
        location.sandbox()
    } else {
        location
    }
}

/// Said when the chosen ledger does not exist: where it was looked for,
/// and a pointer to the other one when that one has records.
pub(crate) fn missing_ledger_note(source: &Source, sandbox: bool) -> String {
    let mut note = format!("nothing recorded yet (no state file at {})", source.ledger);
    if !sandbox {
        let other = sandbox_variant(source.ledger.clone(), true);
        if other.exists() {
            note.push_str(&format!(
                "; the sandbox ledger {other} has records: add --sandbox"
            ));
        }
    }
    note
}
