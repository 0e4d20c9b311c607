//! The retry policy for safe requests (reads, and writes that provably never
//! reached the server): exponential backoff with jitter ([`crate::backoff::Backoff`]),
//! honoring `Retry-After`.
//!
//! 1msg documents no rate-limit headers and advises exponential backoff
//! (docs/provider-1msg.md §4); when a `Retry-After` does come, it wins. Sends never
//! go through here (see `classify`).

use std::time::{Duration, SystemTime};

/// Parses a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110
/// §10.2.3). A date in the past means "now".
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
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
