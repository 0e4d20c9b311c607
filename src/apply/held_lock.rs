//! The apply lock, held for the whole run and watched while sending.
//!
//! A backend's lock can only be lost by something outside the process (its
//! lock file replaced, its database session killed). Sending must then stop:
//! the watchdog looks ten times a second and raises the same stop flag a
//! Ctrl-C raises, which the dispatcher reads before every request; callers
//! also [`HeldApplyLock::check`] between steps and fail with
//! [`StateError::LockLost`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::stop::Stop;
use crate::state::{LockGuard, StateError};

/// How often the watchdog looks: bounds what a holder starts after a loss.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// See the module docs. Dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct HeldApplyLock {
    guard: Arc<Mutex<LockGuard>>,
    lost: Arc<AtomicBool>,
    location: String,
    watchdog: tokio::task::JoinHandle<()>,
}

impl HeldApplyLock {
    /// Starts watching `guard` (the lock of the state at `location`); on
    /// loss, sets `stop`. Needs a tokio runtime.
    pub(crate) fn watch(guard: LockGuard, location: String, stop: Arc<Stop>) -> HeldApplyLock {
        let guard = Arc::new(Mutex::new(guard));
        let lost = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let guard = guard.clone();
            let lost = lost.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(WATCH_EVERY).await;
                    let g = guard.clone();
                    // The check may touch the file system or the network.
                    let gone = tokio::task::spawn_blocking(move || is_lost(&g))
                        .await
                        .unwrap_or(true);
                    if gone {
                        lost.store(true, Ordering::SeqCst);
                        stop.request(0);
                        return;
                    }
                }
            })
        };
        HeldApplyLock {
            guard,
            lost,
            location,
            watchdog,
        }
    }

    /// Whether the lock is still this process's.
    ///
    /// # Errors
    /// [`StateError::LockLost`]: nothing more may be sent.
    pub(crate) fn check(&self) -> Result<(), StateError> {
        if self.lost.load(Ordering::SeqCst) || is_lost(&self.guard) {
            return Err(StateError::LockLost {
                location: self.location.clone(),
                why: "its lock is gone (lock file replaced or session ended), so another apply may hold it now".into(),
            });
        }
        Ok(())
    }
}

fn is_lost(guard: &Mutex<LockGuard>) -> bool {
    // A poisoned mutex only means a check panicked; the guard is intact.
    guard.lock().unwrap_or_else(|p| p.into_inner()).is_lost()
}

impl Drop for HeldApplyLock {
    fn drop(&mut self) {
        self.watchdog.abort();
    }
}
