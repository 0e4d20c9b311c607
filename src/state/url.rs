//! Where the state is: `--state`, then `WAFORM_STATE`, then the config's
//! `state.url`, then `sqlite://.waform/state.db` beside the config.
//!
//! A flag or environment value is what the user typed in a shell, so a
//! relative path there is relative to the current folder; a URL written in
//! the config (or the default) belongs to the config, so it is relative to
//! the config's folder. That way `waform status --config ci/waform.yaml` and
//! `apply ci/` find the same file from anywhere.

use std::fmt;
use std::path::{Path, PathBuf};

use super::StateError;

/// Which backend holds the state, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// The embedded SQLite file.
    Sqlite(PathBuf),
}

impl StateLocation {
    /// Where a dry run (`--sandbox`) keeps its state: always apart from the
    /// real one, so a dry run never marks real recipients as sent.
    pub fn sandbox(&self) -> StateLocation {
        match self {
            StateLocation::Sqlite(path) => {
                let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("state");
                StateLocation::Sqlite(path.with_file_name(format!("{name}.sandbox.db")))
            }
        }
    }
}

impl StateLocation {
    /// Whether anything was ever recorded there (a SQLite file exists).
    pub fn exists(&self) -> bool {
        match self {
            StateLocation::Sqlite(path) => path.exists(),
        }
    }
}

/// For messages: the file path (a URL is shown without its password).
impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::Sqlite(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The default `state.url` (docs/design.md §2).
pub const DEFAULT_STATE_URL: &str = "sqlite://.waform/state.db";

/// The environment variable that overrides the config's `state.url`.
pub const STATE_ENV: &str = "WAFORM_STATE";

/// Resolves where the state is.
///
/// Order: `flag` (`--state`), env `WAFORM_STATE`, `configured` (the config's
/// `state.url`), [`DEFAULT_STATE_URL`]. `config_path` is the config file or
/// folder given on the command line (it need not exist); when it is a folder
/// the config-relative URLs are resolved inside it, otherwise beside it.
///
/// Accepted forms: `sqlite://RELATIVE/PATH`, `sqlite:///ABSOLUTE/PATH`, and
/// (for convenience) a bare file path.
///
/// # Errors
/// [`StateError::UnsupportedUrl`] for another scheme or an empty path.
pub fn resolve_state_url(
    flag: Option<&str>,
    config_path: &Path,
    configured: Option<&str>,
) -> Result<StateLocation, StateError> {
    let env = std::env::var(STATE_ENV).ok();
    resolve_with_env(flag, env.as_deref(), config_path, configured)
}

/// [`resolve_state_url`] with the environment value passed in (testable).
pub fn resolve_with_env(
    flag: Option<&str>,
    env: Option<&str>,
    config_path: &Path,
    configured: Option<&str>,
) -> Result<StateLocation, StateError> {
    let nonempty = |s: Option<&str>| s.filter(|v| !v.trim().is_empty()).map(str::to_string);
    if let Some(url) = nonempty(flag).or_else(|| nonempty(env)) {
        return url_to_path(&url, Path::new("."));
    }
    let base = config_folder(config_path);
    let url = nonempty(configured).unwrap_or_else(|| DEFAULT_STATE_URL.to_string());
    url_to_path(&url, &base)
}

fn config_folder(config_path: &Path) -> PathBuf {
    if config_path.is_dir() {
        return config_path.to_path_buf();
    }
    match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn url_to_path(url: &str, base: &Path) -> Result<StateLocation, StateError> {
    let unsupported = || StateError::UnsupportedUrl {
        url: url.to_string(),
    };
    let rest = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(unsupported());
    } else {
        url
    };
    if rest.is_empty() || rest == ":memory:" {
        return Err(unsupported());
    }
    let path = Path::new(rest);
    Ok(StateLocation::Sqlite(
        if path.is_absolute() || base == Path::new(".") {
            path.to_path_buf()
        } else {
            base.join(path)
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_env_beats_config_beats_default() {
        let cfg = Path::new("/nonexistent/conf/waform.yaml");
        let r = |flag, env, configured| resolve_with_env(flag, env, cfg, configured).unwrap();
        assert_eq!(
            r(
                Some("sqlite://a.db"),
                Some("sqlite://b.db"),
                Some("sqlite://c.db")
            ),
            StateLocation::Sqlite(PathBuf::from("a.db"))
        );
        assert_eq!(
            r(None, Some("sqlite:///abs/b.db"), Some("sqlite://c.db")),
            StateLocation::Sqlite(PathBuf::from("/abs/b.db"))
        );
        assert_eq!(
            r(None, None, Some("sqlite://c.db")),
            StateLocation::Sqlite(PathBuf::from("/nonexistent/conf/c.db"))
        );
        assert_eq!(
            r(None, Some(""), None),
            StateLocation::Sqlite(PathBuf::from("/nonexistent/conf/.waform/state.db"))
        );
    }

    #[test]
    fn bare_config_file_resolves_to_current_folder() {
        let p = resolve_with_env(None, None, Path::new("waform.yaml"), None).unwrap();
        assert_eq!(p, StateLocation::Sqlite(PathBuf::from(".waform/state.db")));
    }

    #[test]
    fn other_schemes_are_refused() {
        let err = resolve_with_env(Some("postgres://x/y"), None, Path::new("."), None);
        assert!(matches!(err, Err(StateError::UnsupportedUrl { .. })));
    }
}
