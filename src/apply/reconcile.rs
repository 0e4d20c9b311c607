//! Resolving `unknown` outcomes from the account's message history
//! (docs/reconcile.md, docs/design.md §5 rule 8).
//!
//! A request answered by a timeout, a 5xx or a cut connection may or may not
//! have reached WhatsApp, so its row is `unknown` and nobody resends it
//! automatically. The account's history (`GET /messages`,
//! docs/provider-1msg.md §2.6) can settle it: an outgoing message to that
//! phone, after the intent, carrying the row's Flow token, template or Flow,
//! proves it went out, and the row becomes `accepted` with that message id.
//!
//! # Guarantees
//! - Only "found" is decisive. A row not found stays `unknown`, with "not
//!   found in the account's history at TIME" added to its reason: history
//!   may be disabled, incomplete or paged away.
//! - A history that cannot answer (an error, or a channel without history)
//!   changes no row.
//! - One history message settles at most one row.
//! - Bounded work: one query per phone (all its unknown rows at once), at
//!   most `MAX_PAGES` pages of `PAGE` messages each, through the run's
//!   rate limiter and at most `concurrency` queries at a time.
//!
//! # Assumptions
//! The caller holds the apply lock and has turned dangling intents into
//! `unknown` first, so no row changes under it.
//!
//! # Caveats
//! What a history item carries for a template or Flow message is not
//! documented (docs/provider-1msg.md §2.6 lists the fields, not their
//! content for templates): a row matches when its Flow token, its account
//! template name or its Flow id appears in the item's `body`, `caption` or
//! `metadata`. A history that shows none of them finds nothing, which leaves
//! rows `unknown` — the safe side.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::ratelimit::RateLimiter;
use crate::config::Config;
use crate::provider::{History, HistoryMessage, HistoryQuery, Provider};
use crate::state::{fmt_time, Outcome, OutcomeRecord, SendKind, SendLedger, SendRow, StateError};

/// History items per page (the API's default).
pub(crate) const PAGE: usize = 100;
/// Pages read per phone at most: a phone with more outgoing messages since
/// its oldest unknown intent than this is left partly unsearched.
pub(crate) const MAX_PAGES: usize = 20;
/// Clock difference tolerated between this machine (the intent time) and the
/// API (the message time). Small on purpose: a wider window could match an
/// earlier message of the same template to the same phone.
pub(crate) const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(60);

const NOT_FOUND: &str = "not found in the account's history at ";

/// What a reconcile pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Unknown rows looked up.
    pub rows: usize,
    /// Rows now `accepted`: their message is in the history.
    pub found: usize,
    /// Rows still `unknown`, with the "not found" evidence.
    pub not_found: usize,
    /// Rows left untouched because the history could not answer for them.
    pub unanswered: usize,
    /// Phones queried.
    pub phones: usize,
    /// Rows an earlier pass did not find, not looked up again (`recheck` off).
    pub skipped: usize,
    /// Why the history could not answer (the first reason seen).
    pub unavailable: Option<String>,
}

/// How to reach the history.
pub struct Reconciler {
    /// The account whose message history is read.
    pub provider: Arc<dyn Provider>,
    /// Rate of history reads.
    pub limiter: Arc<RateLimiter>,
    /// History reads in flight at most.
    pub concurrency: usize,
    /// The Flow id of each `flow_message` send, by send name (a marker for
    /// Flow rows, which record no template).
    pub flow_ids: HashMap<String, String>,
    /// Look up again the rows an earlier pass did not find. `waform
    /// reconcile` does; apply's opening pass does not, so its work is bounded
    /// by the unknowns new since the last pass (at most the requests in
    /// doubt of one interrupted run), not by every unknown ever left.
    pub recheck: bool,
}

impl Reconciler {
    /// Reads the history at the pace and concurrency the config gives sends
    /// (`crate::settings::rate_limit`, `crate::settings::concurrency`),
    /// with the config's Flow ids as markers of Flow rows.
    pub fn for_config(cfg: &Config, provider: Arc<dyn Provider>) -> Reconciler {
        let flow_ids = cfg
            .raw
            .sends
            .iter()
            .filter_map(|(name, send)| {
                let key = &send.flow_message.as_ref()?.flow;
                let id = cfg.raw.flows.get(key)?.id.clone()?;
                Some((name.clone(), id))
            })
            .collect();
        Reconciler {
            provider,
            limiter: Arc::new(RateLimiter::new(crate::settings::rate_limit(cfg).value)),
            concurrency: crate::settings::concurrency(cfg).value,
            flow_ids,
            recheck: true,
        }
    }

    /// Looks up every `unknown` row of `ledger`; see the module docs.
    ///
    /// # Errors
    /// Only ledger failures; an API that cannot answer is reported in
    /// [`ReconcileReport::unavailable`].
    pub async fn run(
        &self,
        ledger: &dyn SendLedger,
        now: DateTime<Utc>,
    ) -> Result<ReconcileReport, StateError> {
        let mut rows = ledger.unknown_rows()?;
        let mut report = ReconcileReport::default();
        if !self.recheck {
            let before = rows.len();
            rows.retain(|r| !was_looked_up(r));
            report.skipped = before - rows.len();
        }
        report.rows = rows.len();
        if rows.is_empty() {
            return Ok(report);
        }
        let mut by_phone: BTreeMap<String, Vec<SendRow>> = BTreeMap::new();
        for row in rows {
            by_phone.entry(row.phone.clone()).or_default().push(row);
        }
        report.phones = by_phone.len();

        let semaphore = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let gave_up = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        for (phone, rows) in by_phone {
            let provider = self.provider.clone();
            let limiter = self.limiter.clone();
            let semaphore = semaphore.clone();
            let gave_up = gave_up.clone();
            tasks.spawn(async move {
                let Ok(_permit) = semaphore.acquire_owned().await else {
                    return (rows, Lookup::Unanswered("stopped".into()));
                };
                // A channel without history answers the same for everyone.
                if gave_up.load(Ordering::SeqCst) {
                    return (rows, Lookup::Unanswered(String::new()));
                }
                let since = rows.iter().map(|r| r.intent_at).min().unwrap_or(now) - CLOCK_SKEW;
                let lookup = outgoing_since(provider.as_ref(), &limiter, &phone, since).await;
                if matches!(lookup, Lookup::Unanswered(_)) {
                    gave_up.store(true, Ordering::SeqCst);
                }
                (rows, lookup)
            });
        }

        let mut outcomes = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let Ok((rows, lookup)) = joined else {
                continue;
            };
            match lookup {
                Lookup::Unanswered(why) => {
                    report.unanswered += rows.len();
                    if !why.is_empty() {
                        report.unavailable.get_or_insert(why);
                    }
                }
                Lookup::Answered(items) => {
                    for (row, found) in match_rows(&rows, &items, &self.flow_ids) {
                        outcomes.push(match found {
                            Some(item) => {
                                report.found += 1;
                                found_outcome(row, item, now)
                            }
                            None => {
                                report.not_found += 1;
                                not_found_outcome(row, now)
                            }
                        });
                    }
                }
            }
        }
        ledger.record_outcomes(&outcomes)?;
        tracing::debug!(
            rows = report.rows,
            phones = report.phones,
            found = report.found,
            not_found = report.not_found,
            unanswered = report.unanswered,
            "unknown outcomes looked up in the message history"
        );
        Ok(report)
    }
}

/// A phone's outgoing history since a time, or why there is none to read.
enum Lookup {
    Answered(Vec<HistoryMessage>),
    Unanswered(String),
}

/// Pages forward through `phone`'s chat from `since` (at most
/// [`MAX_PAGES`]), keeping the business's own messages in that chat.
async fn outgoing_since(
    provider: &dyn Provider,
    limiter: &RateLimiter,
    phone: &str,
    since: DateTime<Utc>,
) -> Lookup {
    let mut query = HistoryQuery {
        chat_id: Some(format!("{phone}@c.us")),
        min_time: Some(since.timestamp()),
        after_number: None,
        limit: PAGE,
    };
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        limiter.acquire().await;
        let page = match provider.list_messages(&query).await {
            Ok(History::Messages(page)) => page,
            Ok(History::Unavailable(why)) => {
                return Lookup::Unanswered(format!("the account keeps no message history ({why})"))
            }
            Err(e) => {
                return Lookup::Unanswered(format!("the message history could not be read: {e}"))
            }
        };
        let full = page.len() >= PAGE;
        let last = page.iter().filter_map(|m| m.number).max();
        out.extend(page.into_iter().filter(|m| {
            // Checked here, not trusted to the query: a server that ignores
            // `chatId` or `min_time` must not match someone else's message.
            m.from_me
                && m.chat_phone() == Some(phone)
                && m.time.is_some_and(|t| t >= since.timestamp())
        }));
        match (full, last) {
            (true, Some(n)) if query.after_number.is_none_or(|prev| n > prev) => {
                query.after_number = Some(n)
            }
            _ => break,
        }
    }
    Lookup::Answered(out)
}

/// Pairs each row (oldest intent first) with the earliest unused history
/// message that carries one of its markers and is not older than its intent.
fn match_rows<'r, 'm>(
    rows: &'r [SendRow],
    items: &'m [HistoryMessage],
    flow_ids: &HashMap<String, String>,
) -> Vec<(&'r SendRow, Option<&'m HistoryMessage>)> {
    let mut sorted: Vec<&SendRow> = rows.iter().collect();
    sorted.sort_by_key(|r| r.intent_at);
    let mut by_time: Vec<&HistoryMessage> = items.iter().collect();
    by_time.sort_by_key(|m| (m.time, m.number));
    let mut used: HashSet<&str> = HashSet::new();
    sorted
        .into_iter()
        .map(|row| {
            let markers = markers(row, flow_ids);
            let earliest = (row.intent_at - CLOCK_SKEW).timestamp();
            let found = by_time
                .iter()
                .find(|m| {
                    !used.contains(m.id.as_str())
                        && m.time.is_some_and(|t| t >= earliest)
                        && carries_any(m, &markers)
                })
                .copied();
            if let Some(m) = found {
                used.insert(m.id.as_str());
            }
            (row, found)
        })
        .collect()
}

/// What identifies the row's message: its Flow token (unique per send and
/// recipient), its account template name, or its Flow id.
fn markers<'a>(row: &'a SendRow, flow_ids: &'a HashMap<String, String>) -> Vec<&'a str> {
    let mut out = Vec::new();
    // A very short token could occur in any text by chance.
    if row.flow_token.len() >= 8 {
        out.push(row.flow_token.as_str());
    }
    match row.kind {
        SendKind::Template | SendKind::Fallback => out.extend(row.template.as_deref()),
        SendKind::Flow => out.extend(flow_ids.get(&row.send).map(String::as_str)),
    }
    out
}

fn carries_any(m: &HistoryMessage, markers: &[&str]) -> bool {
    let metadata = m.metadata.as_ref().map(|v| v.to_string());
    let texts = [m.body.as_deref(), m.caption.as_deref(), metadata.as_deref()];
    let carried = texts
        .into_iter()
        .flatten()
        .any(|text| markers.iter().any(|k| contains_word(text, k)));
    carried
}

/// `needle` in `hay` as a whole identifier: `course_signup_1a2b` does not
/// match inside `course_signup_1a2b_v2`.
fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

fn found_outcome(row: &SendRow, item: &HistoryMessage, now: DateTime<Utc>) -> OutcomeRecord {
    let at = item
        .time
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .unwrap_or(now);
    OutcomeRecord::new(
        &row.send,
        &row.phone,
        Outcome::Accepted {
            message_id: Some(item.id.clone()),
            job_id: None,
        },
        at,
    )
}

fn not_found_outcome(row: &SendRow, now: DateTime<Utc>) -> OutcomeRecord {
    OutcomeRecord::new(
        &row.send,
        &row.phone,
        Outcome::Unknown {
            reason: with_evidence(row.reason.as_deref(), now),
        },
        row.outcome_at.unwrap_or(now),
    )
}

/// Whether an earlier pass looked the row up and did not find it (its
/// reason carries the evidence [`with_evidence`] writes).
fn was_looked_up(row: &SendRow) -> bool {
    row.reason.as_deref().is_some_and(|r| r.contains(NOT_FOUND))
}

/// The row's reason with the latest "not found" evidence (replacing an
/// earlier one, so repeated passes do not pile up).
fn with_evidence(reason: Option<&str>, now: DateTime<Utc>) -> String {
    let evidence = format!("{NOT_FOUND}{}", fmt_time(now));
    let original = reason
        .map(|r| r.split(&format!("; {NOT_FOUND}")).next().unwrap_or(r))
        .filter(|r| !r.is_empty() && !r.starts_with(NOT_FOUND));
    match original {
        Some(r) => format!("{r}; {evidence}"),
        None => evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn row(send: &str, kind: SendKind, template: Option<&str>, token: &str, t: &str) -> SendRow {
        SendRow {
            send: send.into(),
            phone: "15550001".into(),
            flow_token: token.into(),
            kind,
            template: template.map(str::to_string),
            intent_at: at(t),
            recorded: crate::state::Recorded::Unknown,
            message_id: None,
            job_id: None,
            reason: Some("HTTP 500 after the request was sent".into()),
            outcome_at: Some(at(t)),
            delivery: None,
            delivery_error: None,
            delivered_at: None,
            read_at: None,
            completed_at: None,
            response_json: None,
        }
    }

    fn item(id: &str, t: &str, body: &str) -> HistoryMessage {
        HistoryMessage {
            id: id.into(),
            number: None,
            chat_id: Some("15550001@c.us".into()),
            from_me: true,
            time: Some(at(t).timestamp()),
            kind: Some("chat".into()),
            body: Some(body.into()),
            caption: None,
            metadata: None,
        }
    }

    #[test]
    fn a_message_settles_one_row_and_only_after_its_intent() {
        let rows = [
            row(
                "a",
                SendKind::Template,
                Some("promo_1a2b"),
                "tok-a-000001",
                "2026-11-26T10:00:00Z",
            ),
            row(
                "b",
                SendKind::Template,
                Some("promo_1a2b"),
                "tok-b-000001",
                "2026-11-26T10:05:00Z",
            ),
        ];
        let items = [
            // Earlier than both intents (beyond the skew): an older campaign.
            item("old", "2026-11-26T09:00:00Z", "promo_1a2b"),
            item("m1", "2026-11-26T10:00:01Z", "promo_1a2b"),
        ];
        let matched = match_rows(&rows, &items, &HashMap::new());
        assert_eq!(matched[0].1.map(|m| m.id.as_str()), Some("m1"));
        assert_eq!(matched[1].1, None, "m1 is taken and `old` predates b");
    }

    #[test]
    fn markers_are_whole_words_and_flow_rows_match_their_flow_or_token() {
        assert!(contains_word("template promo_1a2b sent", "promo_1a2b"));
        assert!(!contains_word("promo_1a2b_v2", "promo_1a2b"));
        assert!(!contains_word("xpromo_1a2b", "promo_1a2b"));
        let flow = row(
            "f",
            SendKind::Flow,
            None,
            "tok-f-000001",
            "2026-11-26T10:00:00Z",
        );
        let ids: HashMap<String, String> =
            [("f".to_string(), "1234567890123456".to_string())].into();
        let by_id = [item("m", "2026-11-26T10:00:02Z", "1234567890123456")];
        assert!(match_rows(std::slice::from_ref(&flow), &by_id, &ids)[0]
            .1
            .is_some());
        assert!(
            match_rows(std::slice::from_ref(&flow), &by_id, &HashMap::new())[0]
                .1
                .is_none()
        );
        let mut by_token = item("m", "2026-11-26T10:00:02Z", "Sign up now");
        by_token.metadata = Some(serde_json::json!({"flow_token": "tok-f-000001"}));
        assert!(
            match_rows(std::slice::from_ref(&flow), &[by_token], &HashMap::new())[0]
                .1
                .is_some()
        );
    }

    #[test]
    fn evidence_replaces_an_earlier_one() {
        let t1 = at("2026-11-26T10:00:00Z");
        let t2 = at("2026-11-26T11:00:00Z");
        let once = with_evidence(Some("HTTP 500"), t1);
        assert_eq!(
            once,
            "HTTP 500; not found in the account's history at 2026-11-26T10:00:00.000Z"
        );
        let twice = with_evidence(Some(&once), t2);
        assert_eq!(
            twice,
            "HTTP 500; not found in the account's history at 2026-11-26T11:00:00.000Z"
        );
        assert_eq!(
            with_evidence(None, t1),
            "not found in the account's history at 2026-11-26T10:00:00.000Z"
        );
    }
}
