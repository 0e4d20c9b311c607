//! Every setting decided in one place: the command line, then the
//! environment, then the config, then the default — with the source kept,
//! so a message can say where a wrong value came from.
//!
//! Commands pass what the user typed ([`Overrides`]); the engine receives
//! typed, resolved values ([`ProviderSettings`], [`StateLocation`]) and never
//! reads the environment itself.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::config::interp::{Interp, Var};
use crate::config::Config;
use crate::secret::Secret;
use crate::state::StateLocation;

/// The 1msg API's public base URL (docs/provider-1msg.md §1.1).
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.1msg.io";
/// Sends per second when the config says nothing (docs/design.md §2).
pub(crate) const DEFAULT_RATE_LIMIT: f64 = 20.0;
/// Requests in flight when the config says nothing (docs/design.md §2).
pub(crate) const DEFAULT_CONCURRENCY: usize = 8;

/// Environment variables waform reads (docs/design.md §3).
pub(crate) mod env {
    /// The API token.
    pub(crate) const TOKEN: &str = "WAFORM_TOKEN";
    /// The channel instance id.
    pub(crate) const INSTANCE: &str = "WAFORM_INSTANCE";
    /// The API base URL; overrides the config's `provider.base_url`.
    pub(crate) const BASE_URL: &str = "WAFORM_BASE_URL";
}

/// Where a resolved value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// The config file (`provider.*`, `state.url`).
    Config(&'static str),
    /// Built in.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(name) => write!(f, "--{name}"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Config(path) => write!(f, "config {path}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub struct Setting<T> {
    /// The resolved value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

/// Values typed on the command line, highest precedence.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--state URL`.
    pub state: Option<String>,
}

/// How to reach the account and how hard to push it.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// API base URL.
    pub(crate) base_url: Setting<String>,
    /// Channel instance id.
    pub(crate) instance: Setting<String>,
    /// API token (never printed).
    pub(crate) token: Setting<Secret>,
    /// Sends per second (0 = no limit).
    pub rate_limit: Setting<f64>,
    /// Requests in flight.
    pub concurrency: Setting<usize>,
}

/// Why the settings could not be resolved. Every missing value is listed
/// at once, so a fresh setup needs one retry, not one per variable.
#[derive(Debug, thiserror::Error)]
#[error("{}; or use --sandbox for a dry run", .problems.join("; "))]
pub struct SettingsError {
    /// One line per missing or unresolvable value.
    pub(crate) problems: Vec<String>,
}

/// The send pace from the config (no flag or environment variable sets it).
pub(crate) fn rate_limit(cfg: &Config) -> Setting<f64> {
    match cfg.raw.provider.as_ref().and_then(|p| p.rate_limit) {
        Some(v) => Setting {
            value: v,
            source: Source::Config("provider.rate_limit"),
        },
        None => Setting {
            value: DEFAULT_RATE_LIMIT,
            source: Source::Default,
        },
    }
}

/// Requests in flight from the config.
pub(crate) fn concurrency(cfg: &Config) -> Setting<usize> {
    match cfg.raw.provider.as_ref().and_then(|p| p.concurrency) {
        Some(v) => Setting {
            value: (v as usize).max(1),
            source: Source::Config("provider.concurrency"),
        },
        None => Setting {
            value: DEFAULT_CONCURRENCY,
            source: Source::Default,
        },
    }
}

/// Resolves the provider settings: environment over config for the base
/// URL; config (`${env.NAME}` interpolated) over environment for instance
/// and token, as documented in the README's config reference.
///
/// # Errors
/// [`SettingsError`] naming every value that is missing or refers to an
/// unset variable.
pub fn provider(cfg: &Config) -> Result<ProviderSettings, SettingsError> {
    provider_with_env(cfg, &|name| std::env::var(name).ok())
}

/// [`provider`] with the environment passed in (testable).
pub(crate) fn provider_with_env(
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProviderSettings, SettingsError> {
    let p = cfg.raw.provider.as_ref();
    let mut problems = Vec::new();
    let base_url = match env(env::BASE_URL).filter(|v| !v.is_empty()) {
        Some(v) => Setting {
            value: v,
            source: Source::Env(env::BASE_URL),
        },
        None => match p.and_then(|p| p.base_url.as_deref()) {
            Some(v) => match interpolate(v, env) {
                Ok(v) => Setting {
                    value: v,
                    source: Source::Config("provider.base_url"),
                },
                Err(e) => {
                    problems.push(format!("provider.base_url: {e}"));
                    default_base_url()
                }
            },
            None => default_base_url(),
        },
    };
    let instance = config_or_env(
        p.and_then(|p| p.instance.as_deref()),
        "provider.instance",
        env::INSTANCE,
        "no channel instance",
        env,
        &mut problems,
    );
    let token = config_or_env(
        p.and_then(|p| p.token.as_deref()),
        "provider.token",
        env::TOKEN,
        "no API token",
        env,
        &mut problems,
    );
    if let Some(token) = &token {
        let length = token.value.chars().count();
        if length < crate::secret::MIN_SECRET_LEN {
            // Masking a one-letter token would garble every message, and
            // no real 1msg token is this short: it is a mistake.
            problems.push(format!(
                "the API token ({}) is {length} character{} long; 1msg tokens are much longer (at least {} characters are required): check the value",
                token.source,
                if length == 1 { "" } else { "s" },
                crate::secret::MIN_SECRET_LEN
            ));
        } else {
            crate::secret::register_text(&token.value);
        }
    }
    match (instance, token) {
        (Some(instance), Some(token)) if problems.is_empty() => Ok(ProviderSettings {
            base_url,
            instance,
            token: Setting {
                value: Secret::new(token.value),
                source: token.source,
            },
            rate_limit: rate_limit(cfg),
            concurrency: concurrency(cfg),
        }),
        _ => Err(SettingsError { problems }),
    }
}

fn default_base_url() -> Setting<String> {
    Setting {
        value: DEFAULT_BASE_URL.to_string(),
        source: Source::Default,
    }
}

fn config_or_env(
    configured: Option<&str>,
    field: &'static str,
    var: &'static str,
    what: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<Setting<String>> {
    if let Some(v) = configured {
        return match interpolate(v, env) {
            Ok(v) => Some(Setting {
                value: v,
                source: Source::Config(field),
            }),
            Err(e) => {
                problems.push(format!("{what}: {e}"));
                None
            }
        };
    }
    match env(var).filter(|v| !v.is_empty()) {
        Some(v) => Some(Setting {
            value: v,
            source: Source::Env(var),
        }),
        None => {
            problems.push(format!("{what}: set {var} (or {field}: ${{env.NAME}})"));
            None
        }
    }
}

/// `${env.NAME}` in a provider or state value, from `env`.
fn interpolate(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let t = Interp::parse(value)?;
    let vals: HashMap<String, String> = t
        .vars()
        .filter_map(|var| match var {
            Var::Env(name) => env(name).map(|val| (name.clone(), val)),
            _ => None,
        })
        .collect();
    t.render(|var| match var {
        Var::Env(name) => vals.get(name).map(String::as_str),
        _ => None,
    })
    .map_err(|var| format!("{var} is not set"))
}

/// Where the state is: `--state`, `WAFORM_STATE`, `state.url`, or the
/// default beside the config; a sandbox run uses its own state so a dry run
/// never marks real recipients as sent.
///
/// # Errors
/// An unsupported or empty state URL.
pub fn state(
    cfg: &Config,
    overrides: &Overrides,
    config_path: &Path,
    sandbox: bool,
) -> Result<StateLocation, crate::state::StateError> {
    let configured = cfg.raw.state.as_ref().and_then(|s| s.url.as_deref());
    let location =
        crate::state::resolve_state_url(overrides.state.as_deref(), config_path, configured)?;
    Ok(if sandbox {
        location.sandbox()
    } else {
        location
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(provider: serde_json::Value) -> Config {
        let raw = serde_json::json!({"version": 1, "provider": provider});
        Config {
            raw: serde_json::from_value(raw).unwrap(),
            base_dir: ".".into(),
            spans: Default::default(),
            flows: Default::default(),
        }
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    /// (config provider, environment, expected base URL and its source,
    /// expected instance and its source)
    type Case = (
        serde_json::Value,
        &'static [(&'static str, &'static str)],
        &'static str,
        Source,
        &'static str,
        Source,
    );

    #[test]
    fn precedence_table() {
        let cases: Vec<Case> = vec![
            (
                serde_json::json!({}),
                &[
                    ("WAFORM_INSTANCE", "i-env"),
                    ("WAFORM_TOKEN", "tok-env-123"),
                ],
                DEFAULT_BASE_URL,
                Source::Default,
                "i-env",
                Source::Env(env::INSTANCE),
            ),
            (
                serde_json::json!({"base_url": "https://cfg.example", "instance": "i-cfg", "token": "${env.T}"}),
                &[
                    ("WAFORM_BASE_URL", "https://env.example"),
                    ("WAFORM_INSTANCE", "i-env"),
                    ("T", "tok-from-t-123"),
                ],
                "https://env.example",
                Source::Env(env::BASE_URL),
                "i-cfg",
                Source::Config("provider.instance"),
            ),
            (
                serde_json::json!({"base_url": "https://cfg.example", "instance": "${env.I}", "token": "${env.T}"}),
                &[("I", "i-interp"), ("T", "tok-from-t-123")],
                "https://cfg.example",
                Source::Config("provider.base_url"),
                "i-interp",
                Source::Config("provider.instance"),
            ),
        ];
        for (provider, env, base, base_src, instance, instance_src) in cases {
            let cfg = config(provider.clone());
            let s = provider_with_env(&cfg, &env_of(env)).unwrap();
            assert_eq!(s.base_url.value, base, "{provider}");
            assert_eq!(s.base_url.source, base_src, "{provider}");
            assert_eq!(s.instance.value, instance, "{provider}");
            assert_eq!(s.instance.source, instance_src, "{provider}");
            assert_eq!(s.rate_limit.value, DEFAULT_RATE_LIMIT);
            assert_eq!(s.concurrency.value, DEFAULT_CONCURRENCY);
        }
    }

    #[test]
    fn every_missing_value_reported_at_once() {
        let cfg = config(serde_json::json!({"token": "${env.NOPE}"}));
        let err = provider_with_env(&cfg, &env_of(&[])).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("no channel instance: set WAFORM_INSTANCE"),
            "{text}"
        );
        assert!(
            text.contains("no API token: ${env.NOPE} is not set") || text.contains("NOPE"),
            "{text}"
        );
        assert!(text.ends_with("or use --sandbox for a dry run"), "{text}");
    }

    #[test]
    fn config_pace_over_default() {
        let cfg = config(serde_json::json!({"rate_limit": 0.0, "concurrency": 32}));
        assert_eq!(rate_limit(&cfg).value, 0.0);
        assert_eq!(
            rate_limit(&cfg).source,
            Source::Config("provider.rate_limit")
        );
        assert_eq!(concurrency(&cfg).value, 32);
    }
}
