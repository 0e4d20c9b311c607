//! Classification of one send attempt into [`SendOutcome`].
//!
//! Apply's exactly-once guarantee (docs/design.md §5) rests on this: only outcomes
//! that prove nothing was sent may be retried, and anything that might have
//! reached the recipient is `Ambiguous`. Pure functions of (status, headers,
//! body) or of the transport error, so each class is unit-tested.

use std::time::Duration;

use serde_json::Value;

use super::wire::{error_code, message_of, scalar_string};
use crate::lenient::truthy;
use crate::provider::SendOutcome;

/// Strings that mark the 24-hour customer-service window refusal; the official
/// n8n node matches these (docs/provider-1msg.md §1.4; Meta code 131047 in
/// docs/meta-rules.md "Throughput and limits").
const WINDOW_CLOSED: [&str; 4] = [
    "dialog window is closed",
    "outside the allowed window",
    "re-engagement",
    "131047",
];

/// Whether an API reason says the 24-hour window is closed.
pub(crate) fn is_window_closed(reason: &str) -> bool {
    let lower = reason.to_ascii_lowercase();
    WINDOW_CLOSED.iter().any(|needle| lower.contains(needle))
}

/// How a transport-level failure happened, as far as the client can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TransportFailure {
    /// No connection was made (refused, DNS, connect timeout): nothing was
    /// written, so nothing can have been sent.
    BeforeWrite,
    /// The request may have been written: connection cut, broken body.
    AfterWrite,
    /// The request was written and no answer came in time.
    Timeout,
}

/// Classifies a failure with no HTTP answer. `detail` must already be free of
/// the token.
pub(super) fn transport(failure: TransportFailure, detail: String) -> SendOutcome {
    match failure {
        TransportFailure::BeforeWrite => SendOutcome::Retry {
            reason: format!("not sent, could not connect: {detail}"),
            retry_after: None,
        },
        TransportFailure::AfterWrite => SendOutcome::Ambiguous {
            reason: format!("no answer after the request was sent (connection cut): {detail}"),
        },
        TransportFailure::Timeout => SendOutcome::Ambiguous {
            reason: format!("no answer after the request was sent (timed out): {detail}"),
        },
    }
}

/// Classifies an HTTP answer to a send.
pub(super) fn http(status: u16, retry_after: Option<Duration>, body: &str) -> SendOutcome {
    match status {
        // 429 is declared for the send family and means "not taken"
        // (docs/provider-1msg.md §4).
        429 => SendOutcome::Retry {
            reason: format!(
                "rate limited (HTTP 429): {}",
                super::wire::error_message(body)
            ),
            retry_after,
        },
        // A 5xx may come after the message went out (the sandbox's
        // --fault-500 does exactly that); never resend blindly (§4, AGENTS
        // reliability.md).
        500..=599 => SendOutcome::Ambiguous {
            reason: format!(
                "HTTP {status} after the request reached the API (the message may have gone out): {}",
                super::wire::error_message(body)
            ),
        },
        200..=299 => success_body(body),
        // Wrong token or unknown channel: nothing was sent, and nothing about
        // the recipient is wrong. Recording these as rejected would strand
        // every recipient after a config typo; as Retry they stay unsent and
        // go out once the config is fixed.
        401 | 403 | 404 => SendOutcome::Retry {
            reason: format!(
                "not sent: the API refused the channel or token (HTTP {status}): {}; check WAFORM_TOKEN and WAFORM_INSTANCE",
                super::wire::error_message(body)
            ),
            retry_after: None,
        },
        _ => {
            let reason = format!("HTTP {status}: {}", super::wire::error_message(body));
            rejected(reason)
        }
    }
}

/// A 2xx body. 1msg answers many refusals with HTTP 200 and `sent: false`
/// (docs/provider-1msg.md §1.4); `sent: false` with a `jobId` is a queued message
/// (§2.4), not a refusal.
fn success_body(body: &str) -> SendOutcome {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return SendOutcome::Ambiguous {
            reason: format!(
                "the API answered 2xx with an unreadable body: {}",
                super::wire::error_message(body)
            ),
        };
    };
    let Some(obj) = value.as_object() else {
        return SendOutcome::Ambiguous {
            reason: "the API answered 2xx with a body that is not an object".into(),
        };
    };
    let message_id = obj.get("id").and_then(scalar_string);
    let job_id = obj
        .get("jobId")
        .or_else(|| obj.get("job_id"))
        .and_then(scalar_string);
    match obj.get("sent") {
        Some(sent) if truthy(sent) => SendOutcome::Accepted { message_id, job_id },
        Some(_) if job_id.is_some() => SendOutcome::Accepted {
            message_id: None,
            job_id,
        },
        Some(_) => rejected(reason_of(&value)),
        None => {
            // No `sent` flag: an error member is a refusal, an id is a
            // success; anything else cannot be read either way.
            let has_error = ["error", "response"]
                .iter()
                .any(|k| obj.get(*k).is_some_and(|v| !v.is_null()));
            if has_error {
                rejected(reason_of(&value))
            } else if message_id.is_some() || job_id.is_some() {
                SendOutcome::Accepted { message_id, job_id }
            } else {
                SendOutcome::Ambiguous {
                    reason: "the API answered 2xx without `sent` or an id".into(),
                }
            }
        }
    }
}

fn reason_of(value: &Value) -> String {
    let mut reason = message_of(value).unwrap_or_else(|| "sent: false, no reason given".into());
    if let Some(code) = error_code(value) {
        if !reason.contains(&code.to_string()) {
            reason = format!("{reason} (code {code})");
        }
    }
    reason
}

fn rejected(reason: String) -> SendOutcome {
    SendOutcome::Rejected {
        window_closed: is_window_closed(&reason),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(id: Option<&str>, job: Option<&str>) -> SendOutcome {
        SendOutcome::Accepted {
            message_id: id.map(str::to_string),
            job_id: job.map(str::to_string),
        }
    }

    #[test]
    fn sent_true_is_accepted_with_its_id() {
        assert_eq!(
            http(
                200,
                None,
                r#"{"sent":true,"id":"gBGG","message":"Sent to 1@c.us"}"#
            ),
            accepted(Some("gBGG"), None)
        );
        assert_eq!(
            http(200, None, r#"{"sent":"true","id":"x"}"#),
            accepted(Some("x"), None)
        );
    }

    #[test]
    fn queued_job_is_accepted_but_kept_apart_from_message_ids() {
        assert_eq!(
            http(
                200,
                None,
                r#"{"sent":false,"jobId":"job-1","message":"queued"}"#
            ),
            accepted(None, Some("job-1"))
        );
    }

    #[test]
    fn sent_false_with_reason_is_rejected() {
        match http(
            200,
            None,
            r#"{"sent":false,"message":"template is not defined"}"#,
        ) {
            SendOutcome::Rejected {
                reason,
                window_closed,
            } => {
                assert_eq!(reason, "template is not defined");
                assert!(!window_closed);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn window_strings_mark_window_closed() {
        for body in [
            r#"{"sent":false,"message":"The dialog window is closed"}"#,
            r#"{"sent":false,"message":"Message outside the allowed window"}"#,
            r#"{"sent":false,"error":{"message":"Re-engagement message","code":131047}}"#,
            r#"{"error":"(#131047) more than 24 hours"}"#,
        ] {
            match http(200, None, body) {
                SendOutcome::Rejected { window_closed, .. } => assert!(window_closed, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        match http(400, None, r#"{"error":"131047: Re-engagement"}"#) {
            SendOutcome::Rejected { window_closed, .. } => assert!(window_closed),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_limit_is_retry_with_delay() {
        assert_eq!(
            http(
                429,
                Some(Duration::from_secs(3)),
                r#"{"error":"Rate limit exceeded"}"#
            ),
            SendOutcome::Retry {
                reason: "rate limited (HTTP 429): Rate limit exceeded".into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
    }

    #[test]
    fn server_errors_and_unreadable_success_are_ambiguous() {
        for (status, body) in [
            (500, r#"{"error":"boom"}"#),
            (502, "<html>Bad gateway</html>"),
            (200, "not json"),
            (200, "[1,2]"),
            (200, "{}"),
        ] {
            assert!(
                matches!(http(status, None, body), SendOutcome::Ambiguous { .. }),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn client_errors_are_rejected() {
        assert!(matches!(
            http(400, None, "plain text problem"),
            SendOutcome::Rejected { .. }
        ));
        assert!(matches!(
            http(422, None, r#"{"error":"bad"}"#),
            SendOutcome::Rejected { .. }
        ));
        assert!(matches!(
            http(200, None, r#"{"response":{"error":"upstream said no"}}"#),
            SendOutcome::Rejected { .. }
        ));
    }

    #[test]
    fn auth_and_channel_errors_are_retry_not_rejection() {
        for status in [401, 403, 404] {
            assert!(
                matches!(
                    http(status, None, "{}"),
                    SendOutcome::Retry {
                        retry_after: None,
                        ..
                    }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn transport_failures() {
        assert!(matches!(
            transport(TransportFailure::BeforeWrite, "refused".into()),
            SendOutcome::Retry {
                retry_after: None,
                ..
            }
        ));
        assert!(matches!(
            transport(TransportFailure::AfterWrite, "cut".into()),
            SendOutcome::Ambiguous { .. }
        ));
    }
}
