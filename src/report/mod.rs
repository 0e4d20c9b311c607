//! The funnel report behind `waform status --format markdown|html`: per
//! send, the stages (planned → accepted → delivered → read → completed)
//! with rates, completions over time, and why messages were rejected or
//! have an unknown outcome. Read from the ledger; rendered without any
//! network or script (`html` is one self-contained file).

pub mod html;
pub mod markdown;

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::state::{LedgerCounts, Recorded, SendLedger, StateError};

/// One send's funnel.
#[derive(Debug, Clone, PartialEq)]
pub struct Funnel {
    pub(crate) name: String,
    pub(crate) counts: LedgerCounts,
    /// Completed forms per time bucket, oldest first (empty: none yet).
    pub(crate) completions: Vec<Bucket>,
    /// The rejected and unknown outcomes grouped by reason, most frequent first.
    pub(crate) reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bucket {
    pub(crate) start: DateTime<Utc>,
    /// `day` or `hour`.
    pub(crate) width: &'static str,
    pub(crate) count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reason {
    /// `rejected` or `unknown`.
    pub(crate) outcome: &'static str,
    pub(crate) reason: String,
    pub(crate) count: u64,
}

/// A stage of the funnel: its label, its count, and the count its rate is
/// taken of (`None` for the first stage).
pub(crate) struct Stage {
    pub(crate) label: &'static str,
    pub(crate) count: u64,
    pub(crate) of: Option<u64>,
}

impl Funnel {
    /// The five stages. Accepted is a rate of planned; delivered, read and
    /// completed are rates of accepted (as in `status` text).
    pub(crate) fn stages(&self) -> [Stage; 5] {
        let c = &self.counts;
        [
            Stage {
                label: "planned",
                count: c.recipients,
                of: None,
            },
            Stage {
                label: "accepted",
                count: c.accepted,
                of: Some(c.recipients),
            },
            Stage {
                label: "delivered",
                count: c.delivered,
                of: Some(c.accepted),
            },
            Stage {
                label: "read",
                count: c.read,
                of: Some(c.accepted),
            },
            Stage {
                label: "completed",
                count: c.completed,
                of: Some(c.accepted),
            },
        ]
    }
}

/// Said when messages went out but nothing came back yet: the later stages
/// are filled by `waform webhook`, and a dry run gets no callbacks.
pub(crate) fn no_acks_note(f: &Funnel) -> Option<String> {
    let c = &f.counts;
    (c.accepted > 0 && c.delivered == 0 && c.read == 0 && c.completed == 0).then(|| {
        "No delivery, read or completion recorded yet: they arrive through `waform webhook` \
         (an `apply --sandbox` dry run gets none)."
            .to_string()
    })
}

/// `n` of `of` as a percentage with one decimal, `-` when `of` is 0.
pub(crate) fn rate(n: u64, of: u64) -> String {
    if of == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", n as f64 * 100.0 / of as f64)
    }
}

/// Reads the funnels of `counts`' sends from `ledger` (`None`: nothing
/// recorded yet, every funnel is empty).
pub fn gather(
    ledger: Option<&dyn SendLedger>,
    counts: &BTreeMap<String, LedgerCounts>,
) -> Result<Vec<Funnel>, StateError> {
    let mut out = Vec::with_capacity(counts.len());
    for (name, c) in counts {
        let (completions, reasons) = match ledger {
            Some(l) if c.recipients > 0 => (completion_buckets(l, name)?, reasons(l, name)?),
            _ => (Vec::new(), Vec::new()),
        };
        out.push(Funnel {
            name: name.clone(),
            counts: *c,
            completions,
            reasons,
        });
    }
    Ok(out)
}

/// Completions per hour when they span less than two days, else per day.
fn completion_buckets(ledger: &dyn SendLedger, send: &str) -> Result<Vec<Bucket>, StateError> {
    let times: Vec<DateTime<Utc>> = ledger
        .responses(send)?
        .into_iter()
        .map(|r| r.submitted_at)
        .collect();
    Ok(bucket(&times))
}

/// Groups `times` into consecutive buckets (empty ones included, so the
/// chart's x axis is true to time).
pub(crate) fn bucket(times: &[DateTime<Utc>]) -> Vec<Bucket> {
    let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
        return Vec::new();
    };
    let (step, width) = if *last - *first < TimeDelta::days(2) {
        (TimeDelta::hours(1), "hour")
    } else {
        (TimeDelta::days(1), "day")
    };
    let floor = |t: DateTime<Utc>| t.duration_trunc(step).unwrap_or(t);
    let start = floor(*first);
    let n =
        usize::try_from((floor(*last) - start).num_seconds() / step.num_seconds()).unwrap_or(0) + 1;
    // A report stays readable: at most ~1 year of days or 48 hours.
    let n = n.min(400);
    let mut buckets: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start: start + step * i32::try_from(i).unwrap_or(0),
            width,
            count: 0,
        })
        .collect();
    for t in times {
        let i =
            usize::try_from((floor(*t) - start).num_seconds() / step.num_seconds()).unwrap_or(0);
        if let Some(b) = buckets.get_mut(i) {
            b.count += 1;
        }
    }
    buckets
}

/// At most this many reasons per send; the rest are summed as "other".
const MAX_REASONS: usize = 10;

/// The rejected and unknown rows of `send` by reason: grouped by the
/// database, then merged here where several stored reasons read the same
/// (blank ones, intents without an answer next to unknown rows).
fn reasons(ledger: &dyn SendLedger, send: &str) -> Result<Vec<Reason>, StateError> {
    let mut grouped: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
    for group in ledger.reason_counts(send)? {
        let outcome = match group.recorded {
            Recorded::Accepted => continue,
            Recorded::Rejected => "rejected",
            Recorded::Unknown | Recorded::IntentOnly => "unknown",
        };
        let why = match group.reason {
            Some(why) if !why.trim().is_empty() => why,
            _ if group.recorded == Recorded::IntentOnly => {
                "no answer recorded (apply stopped mid-request)".to_string()
            }
            _ => "no reason recorded".to_string(),
        };
        *grouped.entry((outcome, why)).or_default() += group.count;
    }
    let mut list: Vec<Reason> = grouped
        .into_iter()
        .map(|((outcome, reason), count)| Reason {
            outcome,
            reason,
            count,
        })
        .collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    if list.len() > MAX_REASONS {
        let rest = list.split_off(MAX_REASONS - 1);
        for outcome in ["rejected", "unknown"] {
            let count: u64 = rest
                .iter()
                .filter(|r| r.outcome == outcome)
                .map(|r| r.count)
                .sum();
            if count > 0 {
                list.push(Reason {
                    outcome,
                    reason: "other reasons".to_string(),
                    count,
                });
            }
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Intent, Ledger, Outcome, OutcomeRecord, SendKind};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn completions_are_bucketed_by_hour_or_day_without_gaps() {
        let hours = bucket(&[
            at("2026-11-25T10:05:00Z"),
            at("2026-11-25T10:55:00Z"),
            at("2026-11-25T13:00:00Z"),
        ]);
        assert_eq!(hours.len(), 4);
        assert_eq!(
            hours.iter().map(|b| b.count).collect::<Vec<_>>(),
            [2, 0, 0, 1]
        );
        assert_eq!(hours[0].width, "hour");
        let days = bucket(&[at("2026-11-20T23:00:00Z"), at("2026-11-25T01:00:00Z")]);
        assert_eq!(days.len(), 6);
        assert_eq!(days[0].width, "day");
        assert_eq!(days.iter().map(|b| b.count).sum::<u64>(), 2);
        assert!(bucket(&[]).is_empty());
    }

    #[test]
    fn rates_are_of_the_stage_they_follow() {
        assert_eq!(rate(1, 8), "12.5%");
        assert_eq!(rate(0, 0), "-");
    }

    /// A SQLite ledger holding one intent per `(phone, outcome)` of send `s`
    /// (`None`: the intent only).
    fn ledger_with(rows: &[(&str, Option<Outcome>)]) -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = Ledger::open(&dir.path().join("state.db")).expect("ledger");
        let intents: Vec<Intent> = rows
            .iter()
            .map(|(phone, _)| Intent {
                send: "s".into(),
                phone: (*phone).into(),
                flow_token: format!("s-{phone}"),
                kind: SendKind::Template,
                template: Some("t".into()),
                at: Utc::now(),
            })
            .collect();
        ledger.record_intents(&intents).expect("intents");
        let outcomes: Vec<OutcomeRecord> = rows
            .iter()
            .filter_map(|(phone, o)| {
                o.clone()
                    .map(|o| OutcomeRecord::new("s", phone, o, Utc::now()))
            })
            .collect();
        ledger.record_outcomes(&outcomes).expect("outcomes");
        (dir, ledger)
    }

    fn rejected(why: &str) -> Option<Outcome> {
        Some(Outcome::Rejected { reason: why.into() })
    }

    fn listed(list: &[Reason]) -> Vec<(&str, &str, u64)> {
        list.iter()
            .map(|r| (r.outcome, r.reason.as_str(), r.count))
            .collect()
    }

    #[test]
    fn blank_reasons_merge_and_intents_without_an_answer_are_named() {
        let (_dir, ledger) = ledger_with(&[
            (
                "1",
                Some(Outcome::Accepted {
                    message_id: None,
                    job_id: None,
                }),
            ),
            ("2", rejected("blocked")),
            ("3", rejected("blocked")),
            ("4", rejected("  ")),
            ("5", rejected("")),
            (
                "6",
                Some(Outcome::Unknown {
                    reason: "timeout".into(),
                }),
            ),
            ("7", Some(Outcome::Unknown { reason: " ".into() })),
            ("8", None),
        ]);
        let list = reasons(&ledger, "s").expect("reasons");
        assert_eq!(
            listed(&list),
            [
                ("rejected", "blocked", 2),
                ("rejected", "no reason recorded", 2),
                (
                    "unknown",
                    "no answer recorded (apply stopped mid-request)",
                    1
                ),
                ("unknown", "no reason recorded", 1),
                ("unknown", "timeout", 1),
            ]
        );
    }

    #[test]
    fn past_the_cap_the_rest_is_summed_as_other_reasons_per_outcome() {
        let mut rows: Vec<(String, Option<Outcome>)> = (0..12)
            .map(|i| (format!("r{i}"), rejected(&format!("reason {i:02}"))))
            .collect();
        rows.push(("r12".into(), rejected("reason 00")));
        rows.push(("u".into(), Some(Outcome::Unknown { reason: "z".into() })));
        let borrowed: Vec<(&str, Option<Outcome>)> =
            rows.iter().map(|(p, o)| (p.as_str(), o.clone())).collect();
        let (_dir, ledger) = ledger_with(&borrowed);
        let list = reasons(&ledger, "s").expect("reasons");
        assert_eq!(list.len(), MAX_REASONS + 1);
        assert_eq!(
            listed(&list[..2]),
            [("rejected", "reason 00", 2), ("rejected", "reason 01", 1)]
        );
        assert_eq!(
            listed(&list[MAX_REASONS - 1..]),
            [
                ("rejected", "other reasons", 3),
                ("unknown", "other reasons", 1)
            ]
        );
    }
}
