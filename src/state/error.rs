//! Errors of the state, whichever backend holds it, with the context a user
//! needs to act. Driver errors are kept as the source (for `{:#}` chains)
//! without their types leaking out of the backend modules.

use std::path::PathBuf;

use super::{fmt_time, LockHolder};

/// A driver's error, boxed so callers never name a backend's types.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `location` is a file path or a URL without its password.
    #[error("cannot open the state database {location}")]
    Open {
        location: String,
        #[source]
        source: BackendError,
    },
    #[error(
        "the state database {location} has schema version {found}, newer than this waform supports ({supported}); upgrade waform"
    )]
    FutureSchema {
        location: String,
        found: i64,
        supported: i64,
    },
    /// A query failed; `backend` names the database kind.
    #[error("state database error ({backend})")]
    Backend {
        backend: &'static str,
        #[source]
        source: BackendError,
    },
    #[error(
        "the state is locked by another apply (host {}, pid {}, since {}{}); waited {waited:?}. {hint}",
        holder.host, holder.pid, fmt_time(holder.since),
        holder.command.as_deref().map(|c| format!(", running `{c}`")).unwrap_or_default()
    )]
    Locked {
        holder: LockHolder,
        waited: std::time::Duration,
        /// What to do if the holder is gone; depends on the backend.
        hint: String,
    },
    #[error("lost the apply lock on {location}: {why}; stopped before the next request")]
    LockLost { location: String, why: String },
    #[error("cannot use the lock file {path}")]
    LockFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "unsupported state URL {url:?}: expected sqlite://RELATIVE/PATH, sqlite:///ABSOLUTE/PATH or postgres://USER@HOST:PORT/DATABASE"
    )]
    UnsupportedUrl { url: String },
    #[error("the state URL {url} uses ${{env.{name}}}, which is not set")]
    UnsetVariable { name: String, url: String },
    #[error("corrupt value {value:?} in column {column} of the state database")]
    Corrupt { column: &'static str, value: String },
}
