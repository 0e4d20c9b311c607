//! The retry policy for safe requests (reads, and writes that provably never
//! reached the server): exponential backoff with jitter, honoring
//! `Retry-After`.
//!
//! 1msg documents no rate-limit headers and advises exponential backoff
//! (docs/provider-1msg.md §4); when a `Retry-After` does come, it wins. Sends never
//! go through here (see `classify`).

use std::time::{Duration, SystemTime};

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
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

impl Backoff {
    /// The wait before retry number `attempt` (0 = first retry).
    ///
    /// "Equal jitter": half the exponential delay plus a random half, so
    /// clients that failed together do not retry together. `Retry-After`
    /// replaces the exponential part but keeps a little jitter on top.
    pub fn delay(
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

/// Parses a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110
/// §10.2.3). A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            // A server may send anything here; absurd values are clamped, not a panic.
            return Some(
                Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(u32::MAX as u64)),
            );
        }
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_retry_after_does_not_panic() {
        assert!(parse_retry_after("1e30", SystemTime::now()).is_some());
    }

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

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_400);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        // 2015-10-21T07:28:00Z is 1_445_412_480.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(80))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
