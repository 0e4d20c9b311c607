//! How apply is asked to stop: the first SIGINT/SIGTERM lets the requests in
//! flight finish ([`Stop::request`]); a second one halts at once
//! ([`Stop::halt`]), leaving those requests `unknown` with a reason that
//! says so.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use tokio::sync::Notify;

/// The stop flag apply's tasks watch (see the module docs).
#[derive(Debug, Default)]
pub struct Stop {
    requested: AtomicBool,
    halted: AtomicBool,
    /// The signal that asked first (0: none; the stop came from elsewhere).
    signal: AtomicI32,
    notify: Notify,
}

impl Stop {
    /// Not asked to stop.
    pub fn new() -> Self {
        Stop::default()
    }

    /// No new request starts; the ones in flight finish and are recorded.
    pub fn request(&self, signal: i32) {
        let _ = self
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        self.requested.store(true, Ordering::SeqCst);
    }

    /// Stop at once: requests in flight are abandoned.
    pub fn halt(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.halted.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Whether a stop (gentle or not) was asked for: start nothing new.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    pub(crate) fn is_halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// The flag the approval wait polls.
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.requested
    }

    /// The first signal received, if a signal asked (SIGINT 2, SIGTERM 15).
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// Resolves once [`Stop::halt`] was called (at once if it already was).
    pub(crate) async fn halted(&self) {
        while !self.is_halted() {
            self.notify.notified().await;
        }
    }
}
