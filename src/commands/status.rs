//! `waform status`: each send's funnel from the ledger (recipients →
//! accepted → delivered → read → completed), as a table, JSON, or the
//! Markdown/HTML report of [`waform::report`].
//!
//! Also home of [`open_existing`], the read-only ledger opening shared by
//! `status` and `responses`.

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::json;

use crate::cli::{StatusArgs, StatusFormat};
use waform::state::{LedgerCounts, SendLedger, StateLocation};

/// Opens the ledger for reading, or `None` when nothing was recorded yet.
pub(crate) fn open_existing(
    location: &StateLocation,
) -> anyhow::Result<Option<Box<dyn SendLedger>>> {
    waform::state::open_existing(location)
        .with_context(|| format!("could not open the state at {location}"))
}

pub(crate) fn run(args: StatusArgs) -> anyhow::Result<waform::ExitStatus> {
    let source =
        super::ledger_source::resolve(&args.config, args.state.as_deref(), args.sandbox, "status")?;
    let ledger = open_existing(&source.ledger)?;
    let mut counts = match &ledger {
        None => {
            waform::errln!(
                "{}",
                super::ledger_source::missing_ledger_note(&source, args.sandbox)
            );
            BTreeMap::new()
        }
        Some(ledger) => ledger.counts(None)?,
    };
    // Declared sends that sent nothing yet still get a row of zeros.
    for name in source.declared_sends() {
        counts.entry(name).or_default();
    }
    if let Some(send) = &args.send {
        let recorded: Vec<String> = counts.keys().cloned().collect();
        source.check_send(send, &recorded)?;
        counts.retain(|name, _| name == send);
        counts.entry(send.clone()).or_default();
    }
    let out = match args.format {
        StatusFormat::Json => render_json(&counts),
        StatusFormat::Text => render_text(&counts),
        StatusFormat::Markdown | StatusFormat::Html => {
            let funnels = waform::report::gather(ledger.as_deref(), &counts)
                .with_context(|| format!("could not read the state at {}", source.ledger))?;
            if args.format == StatusFormat::Markdown {
                waform::report::markdown::render(&funnels)
            } else {
                let from = if args.sandbox {
                    format!("the sandbox ledger {}", source.ledger)
                } else {
                    format!("the ledger {}", source.ledger)
                };
                waform::report::html::render(&funnels, &from)
            }
        }
    };
    match &args.out {
        Some(file) => {
            std::fs::write(file, out.as_bytes())
                .with_context(|| format!("could not write {}", file.display()))?;
            waform::errln!("wrote {}", file.display());
        }
        None => waform::out!("{out}"),
    }
    Ok(waform::ExitStatus::Success)
}

/// `{"sends": {"NAME": {"recipients", "accepted", ...}}}`, integers only.
pub(crate) fn render_json(counts: &BTreeMap<String, LedgerCounts>) -> String {
    let sends: serde_json::Map<String, serde_json::Value> = counts
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                json!({
                    "recipients": c.recipients,
                    "accepted": c.accepted,
                    "rejected": c.rejected,
                    "unknown": c.unknown,
                    "delivered": c.delivered,
                    "read": c.read,
                    "completed": c.completed,
                }),
            )
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&json!({ "sends": sends }))
        .unwrap_or_else(|_| "{\"sends\": {}}".to_string());
    s.push('\n');
    s
}

fn rate(n: u64, of: u64) -> String {
    if of == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", n as f64 * 100.0 / of as f64)
    }
}

/// An aligned table; accepted is a rate of recipients, the later stages
/// rates of accepted.
pub(crate) fn render_text(counts: &BTreeMap<String, LedgerCounts>) -> String {
    if counts.is_empty() {
        return "no sends recorded\n".to_string();
    }
    let header = [
        "SEND",
        "RECIPIENTS",
        "ACCEPTED",
        "REJECTED",
        "UNKNOWN",
        "DELIVERED",
        "READ",
        "COMPLETED",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for (name, c) in counts {
        let with = |n: u64, of: u64| format!("{n} ({})", rate(n, of));
        rows.push(vec![
            name.clone(),
            c.recipients.to_string(),
            with(c.accepted, c.recipients),
            c.rejected.to_string(),
            c.unknown.to_string(),
            with(c.delivered, c.accepted),
            with(c.read, c.accepted),
            with(c.completed, c.accepted),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == 0 {
                    format!("{cell:<w$}", w = widths[i])
                } else {
                    format!("{cell:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str("rates: accepted of recipients; delivered, read, completed of accepted\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_table_is_aligned_with_rates() {
        let mut counts = BTreeMap::new();
        counts.insert(
            "course_signup".to_string(),
            LedgerCounts {
                recipients: 4,
                accepted: 3,
                rejected: 1,
                unknown: 0,
                delivered: 3,
                read: 2,
                completed: 1,
            },
        );
        counts.insert("empty".to_string(), LedgerCounts::default());
        let text = render_text(&counts);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("SEND "), "{text}");
        assert!(lines[1].contains("3 (75.0%)"), "{text}");
        assert!(lines[1].contains("2 (66.7%)"), "{text}");
        assert!(lines[2].contains("0 (-)"), "{text}");
        // Right-aligned columns: every table line ends at the same column.
        assert!(
            lines[..3].iter().all(|l| l.len() == lines[0].len()),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&render_json(&counts)).expect("json");
        assert_eq!(json["sends"]["course_signup"]["read"], 2);
    }
}
