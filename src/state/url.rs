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
    /// A PostgreSQL database (`postgres://USER@HOST:PORT/DB?sslmode=...`).
    Postgres(PgLocation),
}

/// A PostgreSQL state: the URL with `${env.NAME}` already filled in (so it
/// may hold a password: only its [`fmt::Display`] form, which hides it, is
/// ever shown), and the schema its tables live in when not the default.
#[derive(Clone, PartialEq, Eq)]
pub struct PgLocation {
    /// The connection URL (may hold a password: never print it).
    pub url: String,
    /// The schema of waform's tables, when not the default `public`.
    pub schema: Option<String>,
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLocation")
            .field("url", &super::postgres::redact(&self.url))
            .field("schema", &self.schema)
            .finish()
    }
}

/// The schema a dry run (`--sandbox`) keeps its rows in, beside the real ones.
pub(crate) const SANDBOX_SCHEMA: &str = "waform_sandbox";

impl StateLocation {
    /// Where a dry run (`--sandbox`) keeps its state: always apart from the
    /// real one, so a dry run never marks real recipients as sent.
    pub fn sandbox(&self) -> StateLocation {
        match self {
            StateLocation::Sqlite(path) => {
                let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("state");
                StateLocation::Sqlite(path.with_file_name(format!("{name}.sandbox.db")))
            }
            StateLocation::Postgres(pg) => StateLocation::Postgres(PgLocation {
                url: pg.url.clone(),
                schema: Some(SANDBOX_SCHEMA.to_string()),
            }),
        }
    }
}

impl StateLocation {
    /// Whether anything may have been recorded there: a SQLite file
    /// exists; a database is asked when opened.
    pub fn exists(&self) -> bool {
        match self {
            StateLocation::Sqlite(path) => path.exists(),
            StateLocation::Postgres(_) => true,
        }
    }
}

/// For messages: the file path (a URL is shown without its password).
impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StateLocation::Postgres(pg) => {
                write!(f, "{}", super::postgres::redact(&pg.url))?;
                match &pg.schema {
                    Some(schema) => write!(f, " (schema {schema})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The default `state.url` (docs/design.md §2).
pub(crate) const DEFAULT_STATE_URL: &str = "sqlite://.waform/state.db";

/// The environment variable that overrides the config's `state.url`.
pub const STATE_ENV: &str = "WAFORM_STATE";

/// Resolves where the state is.
///
/// Order: `flag` (`--state`), env `WAFORM_STATE`, `configured` (the config's
/// `state.url`), `DEFAULT_STATE_URL`. `config_path` is the config file or
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
    // A URL of another scheme may hold a password too: shown redacted.
    let unsupported = || StateError::UnsupportedUrl {
        url: super::postgres::redact(url),
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StateLocation::Postgres(PgLocation {
            url: interpolate(url)?,
            schema: None,
        }));
    }
    let rest = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(unsupported());
    } else if looks_like_postgres(url) {
        // Not a file name: taken as one, it would become a SQLite file
        // named after the connection string (password included).
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

/// A PostgreSQL connection written the way waform does not take it: a
/// `postgres:` URL missing its `//`, another spelling of the scheme, or a
/// libpq `key=value` string (`host=db user=app password=...`).
fn looks_like_postgres(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("postgres:") || lower.starts_with("postgresql:") {
        return true;
    }
    const KEYWORDS: [&str; 6] = ["host", "hostaddr", "dbname", "user", "password", "port"];
    lower.split_whitespace().any(|word| {
        word.split_once('=')
            .is_some_and(|(key, _)| KEYWORDS.contains(&key))
    }) || KEYWORDS
        .iter()
        .any(|k| lower.starts_with(k) && lower[k.len()..].trim_start().starts_with('='))
}

/// Fills in `${env.NAME}` (the way a password reaches the URL without
/// being written in the config).
fn interpolate(url: &str) -> Result<String, StateError> {
    use crate::config::interp::{Interp, Var};
    let shown = super::postgres::redact(url);
    let t = Interp::parse(url).map_err(|_| StateError::UnsupportedUrl { url: shown.clone() })?;
    let env: std::collections::HashMap<String, String> = t
        .vars()
        .filter_map(|var| match var {
            Var::Env(name) => std::env::var(name).ok().map(|v| (name.clone(), v)),
            _ => None,
        })
        .collect();
    t.render(|var| match var {
        Var::Env(name) => env.get(name).map(String::as_str),
        _ => None,
    })
    .map_err(|var| StateError::UnsetVariable {
        name: match var {
            Var::Env(name) => name,
            other => format!("{other:?}"),
        },
        url: shown,
    })
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
        let err = resolve_with_env(Some("mysql://x/y"), None, Path::new("."), None);
        assert!(matches!(err, Err(StateError::UnsupportedUrl { .. })));
    }

    /// A connection string that is not a `postgres://` URL is refused, not
    /// taken as a SQLite file name, and the refusal hides its password.
    #[test]
    fn postgres_connections_in_other_spellings_are_refused_without_password() {
        for url in [
            "host=db port=5432 user=app password=ss9Z dbname=w",
            "password = ss9Z host=db",
            "postgres:app:ss9Z@db/w",
            "POSTGRES://app:ss9Z@db/w",
            "postgresql:/app:ss9Z@db/w",
            "mysql://app:ss9Z@db/w",
        ] {
            let err = resolve_with_env(Some(url), None, Path::new("."), None)
                .expect_err(url)
                .to_string();
            assert!(err.contains("unsupported state URL"), "{url}: {err}");
            assert!(!err.contains("ss9Z"), "{url}: {err}");
        }
        // A file name with `=` in it is still a file name.
        assert_eq!(
            resolve_with_env(Some("runs/a=b.db"), None, Path::new("."), None).unwrap(),
            StateLocation::Sqlite(PathBuf::from("runs/a=b.db"))
        );
    }

    #[test]
    fn postgres_urls_interpolate_env_and_display_without_password() {
        std::env::set_var("WAFORM_TEST_URL_PW", "s3cret");
        let loc = resolve_with_env(
            None,
            Some("postgres://app:${env.WAFORM_TEST_URL_PW}@db:5432/waform?sslmode=disable"),
            Path::new("."),
            None,
        )
        .unwrap();
        let StateLocation::Postgres(pg) = &loc else {
            panic!("{loc:?}")
        };
        assert!(pg.url.contains("s3cret"));
        assert_eq!(
            loc.to_string(),
            "postgres://app:***@db:5432/waform?sslmode=disable"
        );
        assert!(!format!("{loc:?}").contains("s3cret"));
        assert!(!loc.sandbox().to_string().contains("s3cret"));
        let missing = resolve_with_env(
            None,
            Some("postgres://app:${env.WAFORM_TEST_URL_UNSET}@db/w"),
            Path::new("."),
            None,
        );
        assert!(matches!(missing, Err(StateError::UnsetVariable { .. })));
    }
}
