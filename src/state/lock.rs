//! One apply per state file (docs/design.md §5 rule 5), for the SQLite
//! backend: an OS file lock (`flock`) on a file beside the database
//! (`state.db` → `state.db.lock`), held from apply's first write to its exit.
//!
//! Two applies over the same ledger could both see a recipient as "not yet
//! sent" and both message them. The lock must die with its holder and with
//! nothing else, so it is never keyed by a pid: a pid says nothing about a
//! process in another pid namespace or container sharing the hostname (a
//! pid-keyed lock was once "taken over" from such a live holder).
//!
//! The kernel holds it for the open file and drops it when the process ends,
//! however it ends (SIGKILL included), so a later apply never has to guess
//! whether a holder is alive: if the lock can be taken, nobody holds it. The
//! file's content — one JSON [`LockHolder`] — is written after the lock is
//! taken and only feeds the "locked by …" message.
//!
//! # Caveats
//! - The lock file is never deleted (not even by `waform unlock`): deleting
//!   it while held would let a second apply lock a new file under the same
//!   name. Should anything replace it anyway, the holder notices on its next
//!   [`HeldLock::is_lost`] (the path no longer names the file it locked) and
//!   stops.
//! - `flock` is only as good as the file system: local disks are fine; NFS
//!   emulates it with byte-range locks, other network file systems may not
//!   lock at all. Share state across machines through PostgreSQL instead.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{HeldLock, LockGuard, LockHolder, StateError, Unlock};

/// `state.db` → `state.db.lock`, in the same folder.
pub(crate) fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    state.with_file_name(name)
}

/// Takes the lock, polling until `timeout`.
///
/// # Errors
/// [`StateError::Locked`] naming the holder, the state and how to clear it;
/// [`StateError::LockFile`] when the lock file cannot be created or locked.
pub(crate) fn acquire(state: &Path, timeout: Duration) -> Result<LockGuard, StateError> {
    let path = lock_path(state);
    let started = Instant::now();
    let mut waiting = false;
    loop {
        if let Some(held) = try_acquire(&path)? {
            tracing::debug!(lock = %path.display(), waited_ms = started.elapsed().as_millis(), "state lock acquired");
            return Ok(LockGuard::new(Box::new(held)));
        }
        let waited = started.elapsed();
        if !waiting {
            waiting = true;
            tracing::debug!(lock = %path.display(), "state lock held by another apply; waiting");
        }
        if waited >= timeout {
            return Err(StateError::Locked {
                holder: read_holder(&path).ok().flatten().unwrap_or_else(unrecorded),
                waited,
                hint: hint(state, &path),
            });
        }
        thread::sleep((timeout - waited).min(Duration::from_millis(50)));
    }
}

/// Who holds the lock now; `None` when nobody does (whatever the file says).
pub(crate) fn holder(state: &Path) -> Result<Option<LockHolder>, StateError> {
    let path = lock_path(state);
    if !path.exists() {
        return Ok(None);
    }
    let file = open(&path, false)?;
    if try_lock(&file).map_err(|e| lock_error(&path, e))? {
        // Free: what the file names is a holder that has ended.
        unlock(&file);
        return Ok(None);
    }
    Ok(Some(read_holder(&path)?.unwrap_or_else(unrecorded)))
}

/// Clears leftover holder information, refusing while a holder lives. Only
/// ever run while holding the lock itself, so it can never race an apply.
pub(crate) fn clear(state: &Path) -> Result<Unlock, StateError> {
    let path = lock_path(state);
    if !path.exists() {
        return Ok(Unlock::Cleared(None));
    }
    // Read before locking: taking the lock writes our own name.
    let stale = read_holder(&path).ok().flatten();
    match try_acquire(&path)? {
        None => Ok(Unlock::Held(read_holder(&path)?.unwrap_or_else(unrecorded))),
        Some(mut held) => {
            held.file
                .set_len(0)
                .map_err(|source| StateError::LockFile {
                    path: path.clone(),
                    source,
                })?;
            held.release()?;
            Ok(Unlock::Cleared(stale))
        }
    }
}

/// The lock file, locked by this process.
#[derive(Debug)]
struct FileLock {
    file: File,
    path: PathBuf,
}

impl HeldLock for FileLock {
    fn release(&mut self) -> Result<(), StateError> {
        // Clearing the content first keeps a stale name out of the next
        // message; the lock itself goes with the descriptor.
        let _ = self.file.set_len(0);
        unlock(&self.file);
        Ok(())
    }

    /// Lost when `path` no longer names the locked file (deleted or
    /// replaced: another apply may lock the new one). A file whose identity
    /// cannot be read counts as lost: sending stops rather than guesses.
    fn is_lost(&self) -> bool {
        !same_file(&self.file, &self.path).unwrap_or(false)
    }
}

fn try_acquire(path: &Path) -> Result<Option<FileLock>, StateError> {
    let file = open(path, true)?;
    if !try_lock(&file).map_err(|e| lock_error(path, e))? {
        return Ok(None);
    }
    // Between our open and our lock the file may have been replaced; a lock
    // on a file no longer at `path` excludes nobody.
    if !same_file(&file, path).unwrap_or(false) {
        unlock(&file);
        return Ok(None);
    }
    let held = FileLock {
        file,
        path: path.to_path_buf(),
    };
    write_holder(&held.file, &current_holder()).map_err(|e| lock_error(path, e))?;
    Ok(Some(held))
}

fn open(path: &Path, create: bool) -> Result<File, StateError> {
    if create {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StateError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(|source| StateError::LockFile {
            path: path.to_path_buf(),
            source,
        })
}

/// The lock file's content: who holds it, for messages only.
#[derive(Serialize, Deserialize)]
struct HolderRecord {
    host: String,
    /// In the holder's own pid namespace: not comparable with ours.
    pid: u32,
    since: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    command: Option<String>,
}

/// This process, now.
fn current_holder() -> LockHolder {
    LockHolder {
        host: hostname(),
        pid: std::process::id(),
        since: chrono::Utc::now(),
        // The token is never an argument (it comes from WAFORM_TOKEN).
        command: Some(std::env::args().skip(1).collect::<Vec<_>>().join(" ")),
    }
}

fn write_holder(mut file: &File, holder: &LockHolder) -> std::io::Result<()> {
    let record = HolderRecord {
        host: holder.host.clone(),
        pid: holder.pid,
        since: holder.since,
        command: holder.command.clone(),
    };
    let text = serde_json::to_string(&record).map_err(std::io::Error::other)?;
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// The holder the file names, if it names one (it is empty between holders).
fn read_holder(path: &Path) -> Result<Option<LockHolder>, StateError> {
    let mut text = String::new();
    match File::open(path).and_then(|mut f| f.read_to_string(&mut text)) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::LockFile {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    // Written by another (maybe older or newer) waform: unreadable content is
    // only a worse message, never an error.
    Ok(serde_json::from_str::<HolderRecord>(text.trim())
        .ok()
        .map(|r| LockHolder {
            host: r.host,
            pid: r.pid,
            since: r.since,
            command: r.command,
        }))
}

/// A live holder that has not written its name yet (it does so right after
/// taking the lock).
fn unrecorded() -> LockHolder {
    LockHolder {
        host: "(not recorded yet)".into(),
        pid: 0,
        since: chrono::Utc::now(),
        command: None,
    }
}

fn hint(state: &Path, lock: &Path) -> String {
    format!(
        "State {}: the lock is an OS file lock on {}, held by that process and released the moment it ends (even when killed). Wait for it to finish (or raise --lock-timeout), or stop it; `waform unlock --force` clears a lock whose holder is gone and refuses while the holder runs",
        state.display(),
        lock.display()
    )
}

#[allow(unsafe_code)]
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // when the name fits, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn lock_error(path: &Path, source: std::io::Error) -> StateError {
    StateError::LockFile {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `path` still names the open `file` (same device and inode).
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(held.dev() == now.dev() && held.ino() == now.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> std::io::Result<bool> {
    // Windows refuses to delete or replace a file that is open, so the path
    // keeps naming it while held.
    Ok(path.exists())
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file holds it.
///
/// `flock`, not `fcntl`: an `fcntl` lock belongs to the process and is
/// dropped when *any* descriptor of the file closes (reading the holder's
/// name would release it); a `flock` lock belongs to this open file only.
#[cfg(unix)]
#[allow(unsafe_code)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: the descriptor is valid for the lifetime of `file`, and
        // flock only changes the lock state of that open file.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn unlock(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: as in `try_lock`. Closing the descriptor releases it too; this
    // only makes the release immediate for a caller that keeps the file.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
}

#[cfg(not(unix))]
fn try_lock(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(not(unix))]
fn unlock(file: &File) {
    let _ = file.unlock();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_sits_beside_the_state() {
        assert_eq!(
            lock_path(Path::new(".waform/state.db")),
            Path::new(".waform/state.db.lock")
        );
    }

    #[test]
    fn a_second_open_file_cannot_lock_and_release_frees_it() {
        let dir = tempfile::tempdir().expect("dir");
        let state = dir.path().join("state.db");
        let guard = acquire(&state, Duration::ZERO).expect("free");
        assert!(!guard.is_lost());
        let err = acquire(&state, Duration::from_millis(60)).expect_err("held");
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        let holder = holder(&state).expect("reads").expect("held");
        assert_eq!(holder.pid, std::process::id());
        assert!(matches!(clear(&state), Ok(Unlock::Held(_))));
        guard.release().expect("release");
        assert_eq!(holder_now(&state), None);
        assert_eq!(clear(&state).expect("clears"), Unlock::Cleared(None));
    }

    #[test]
    fn a_replaced_lock_file_is_a_lost_lock() {
        let dir = tempfile::tempdir().expect("dir");
        let state = dir.path().join("state.db");
        let guard = acquire(&state, Duration::ZERO).expect("free");
        std::fs::remove_file(lock_path(&state)).expect("rm");
        assert!(guard.is_lost());
    }

    fn holder_now(state: &Path) -> Option<LockHolder> {
        holder(state).expect("reads")
    }
}
