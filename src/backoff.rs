//! One backoff for every wait that follows a refusal or a "not yet": API
//! reads retried after 429/5xx, sends refused before they were sent, and
//! polling for Meta's template review. Exponential with jitter, and a
//! server's `Retry-After` wins when it sends one (docs/provider-1msg.md §4).

use std::time::Duration;

/// Backoff parameters. Small defaults keep tests fast; production waits are
/// dominated by `Retry-After` when the API sends one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry; doubled each time.
    pub base: Duration,
    /// Ceiling of the computed delay (not of `Retry-After`).
    pub max: Duration,
}

/// A `Retry-After` longer than this is clamped: a read that has to wait
/// longer is better reported as a failure than hung on.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

impl Backoff {
    /// The wait before retry number `attempt` (0 = first retry).
    ///
    /// "Equal jitter": half the exponential delay plus a random half, so
    /// clients that failed together do not retry together. `Retry-After`
    /// replaces the exponential part but keeps a little jitter on top.
    pub(crate) fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        if let Some(after) = retry_after {
            let after = after.min(MAX_RETRY_AFTER);
            let jitter_ms = rng.u64(0..=(self.base.as_millis() as u64 / 2).max(1));
            return after + Duration::from_millis(jitter_ms);
        }
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        let half = exp / 2;
        let spread = (exp - half).as_micros() as u64;
        half + Duration::from_micros(rng.u64(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_with_bounded_jitter() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 0..8 {
            let exp = (Duration::from_millis(100) * 2u32.pow(attempt)).min(Duration::from_secs(1));
            for _ in 0..50 {
                let d = b.delay(attempt, None, &mut rng);
                assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d:?}");
            }
        }
        // Huge attempt numbers neither overflow nor exceed the cap.
        assert!(b.delay(u32::MAX, None, &mut rng) <= Duration::from_secs(1));
    }

    #[test]
    fn retry_after_wins_and_is_clamped() {
        let b = Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(20),
        };
        let mut rng = fastrand::Rng::with_seed(1);
        let d = b.delay(0, Some(Duration::from_secs(2)), &mut rng);
        assert!(
            d >= Duration::from_secs(2) && d <= Duration::from_millis(2005),
            "{d:?}"
        );
        let d = b.delay(0, Some(Duration::from_secs(100_000)), &mut rng);
        assert!(d <= MAX_RETRY_AFTER + Duration::from_millis(5));
    }
}
