//! Delivery acks applied to `sends` set-based: one `UPDATE` for any number
//! of acks, with exactly the result of applying them one by one in order
//! (a row only moves forward: see [`Delivery`]; each stage keeps the time
//! of its first ack; a failure's error is kept only if the row had not
//! reached a later stage). Used for a webhook batch and for acks that
//! arrived before apply recorded their message id.

use super::super::Delivery;

const STAGES: [Delivery; 4] = [
    Delivery::Sent,
    Delivery::Failed,
    Delivery::Delivered,
    Delivery::Read,
];

/// `column`'s stage rank (NULL for an unknown status), from [`Delivery::rank`].
pub(crate) fn rank_sql(column: &str) -> String {
    let arms: String = STAGES
        .iter()
        .map(|d| format!(" WHEN '{}' THEN {}", d.as_str(), d.rank()))
        .collect();
    format!("(CASE {column}{arms} END)")
}

/// The `UPDATE` applying the acks of `source`, a relation with columns
/// `message_id, status, error, at, ord, rank` (`ord` orders the acks,
/// `rank` from [`rank_sql`], rows with a NULL rank are ignored). Returns
/// the message id of every row it touched.
pub(crate) fn apply_sql(source: &str) -> String {
    let failed = Delivery::Failed.rank();
    let first_at = |d: Delivery| {
        format!(
            "(array_agg(at ORDER BY ord) FILTER (WHERE status = '{}'))[1]",
            d.as_str()
        )
    };
    format!(
        "UPDATE sends s SET
            delivery = CASE WHEN s.delivery_rank < a.rank THEN a.status ELSE s.delivery END,
            delivery_error = CASE WHEN s.delivery_rank < {failed} AND a.failed_first
                                  THEN a.failed_error ELSE s.delivery_error END,
            sent_at = coalesce(s.sent_at, a.sent_at),
            delivered_at = coalesce(s.delivered_at, a.delivered_at),
            read_at = coalesce(s.read_at, a.read_at),
            failed_at = coalesce(s.failed_at, a.failed_at),
            delivery_rank = greatest(s.delivery_rank, a.rank)
         FROM (SELECT message_id,
                      max(rank) AS rank,
                      (array_agg(status ORDER BY rank DESC))[1] AS status,
                      coalesce(min(ord) FILTER (WHERE status = 'failed')
                               < min(ord) FILTER (WHERE rank > {failed}),
                               min(ord) FILTER (WHERE status = 'failed') IS NOT NULL)
                          AS failed_first,
                      (array_agg(error ORDER BY ord) FILTER (WHERE status = 'failed'))[1]
                          AS failed_error,
                      {sent} AS sent_at, {delivered} AS delivered_at, {read} AS read_at,
                      {failed_at} AS failed_at
               FROM ({source}) acks WHERE rank IS NOT NULL GROUP BY message_id) a
         WHERE s.message_id = a.message_id
         RETURNING s.message_id",
        sent = first_at(Delivery::Sent),
        delivered = first_at(Delivery::Delivered),
        read = first_at(Delivery::Read),
        failed_at = first_at(Delivery::Failed),
    )
}

/// Acks stored for the message ids in `$1`, in the order they were stored.
pub(crate) fn stored_acks_sql() -> String {
    apply_sql(&format!(
        "SELECT message_id, status, error, coalesce(event_at, received_at) AS at, id AS ord,
                {} AS rank
         FROM events WHERE kind = 'ack' AND message_id = ANY($1::text[])",
        rank_sql("status")
    ))
}
