//! Errors of the state, whichever backend holds it, with the context a user
//! needs to act. Driver errors are kept as the source (for `{:#}` chains)
//! without their types leaking out of the backend modules.

use std::path::PathBuf;

use super::{fmt_time, LockHolder};

/// A driver's error, boxed so callers never name a backend's types.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the state could not be opened, read, written or locked.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The folder of a SQLite state file could not be created.
    #[error("cannot create the state folder {path}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `location` is a file path or a URL without its password.
    #[error("cannot open the state database {location}")]
    Open {
        /// The file path, or the URL without its password.
        location: String,
        /// The driver's error.
        #[source]
        source: BackendError,
    },
    /// The database was migrated by a newer waform; this one must not write it.
    #[error(
        "the state database {location} has schema version {found}, newer than this waform supports ({supported}); upgrade waform"
    )]
    FutureSchema {
        /// The file path, or the URL without its password.
        location: String,
        /// The schema version found.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A query failed; `backend` names the database kind.
    #[error("state database error ({backend})")]
    Backend {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The driver's error.
        #[source]
        source: BackendError,
    },
    #[error(
        "the state is locked by another apply (host {}, pid {}, since {}{}); waited {waited:?}. {hint}",
        holder.host, holder.pid, fmt_time(holder.since),
        holder.command.as_deref().map(|c| format!(", running `{c}`")).unwrap_or_default()
    )]
    /// Another apply holds the state lock and did not let go in time.
    Locked {
        /// Who holds it (host, pid, since when, which command).
        holder: LockHolder,
        /// How long this process waited.
        waited: std::time::Duration,
        /// What to do if the holder is gone; depends on the backend.
        hint: String,
    },
    /// The lock was taken away mid-run (file replaced, session ended).
    #[error("lost the apply lock on {location}: {why}; stopped before the next request")]
    LockLost {
        /// The lock file, or the database without its password.
        location: String,
        /// What was noticed.
        why: String,
    },
    /// The lock file could not be created, opened or locked.
    #[error("cannot use the lock file {path}")]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    #[error(
        "unsupported state URL {url:?}: expected sqlite://RELATIVE/PATH, sqlite:///ABSOLUTE/PATH or postgres://USER@HOST:PORT/DATABASE"
    )]
    /// A state URL of no known scheme.
    UnsupportedUrl {
        /// The URL as given (password removed).
        url: String,
    },
    /// The state URL refers to an environment variable that is not set.
    #[error("the state URL {url} uses ${{env.{name}}}, which is not set")]
    UnsetVariable {
        /// The variable.
        name: String,
        /// The URL as written.
        url: String,
    },
    /// A stored value this version cannot read (hand-edited or foreign rows).
    #[error("corrupt value {value:?} in column {column} of the state database")]
    Corrupt {
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
    },
}
