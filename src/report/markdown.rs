//! The funnel as Markdown for a pull request or a chat: per send a table
//! with a bar per stage (plain Unicode blocks, no images), then the
//! rejected and unknown outcomes with their reasons.

use std::fmt::Write as _;

use super::{rate, Funnel};

/// Width of a full bar, in block characters.
const BAR: usize = 20;

/// A bar of `n` out of `full`, eighths included (`█▌`).
fn bar(n: u64, full: u64) -> String {
    if full == 0 || n == 0 {
        return String::new();
    }
    let eighths = ((n.min(full) as f64 / full as f64) * (BAR * 8) as f64).round() as usize;
    let eighths = eighths.max(1);
    let mut s = "█".repeat(eighths / 8);
    const PARTS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    s.push_str(PARTS[eighths % 8]);
    s
}

/// Pipes and line breaks would break a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The per-send funnels as a Markdown table.
pub fn render(funnels: &[Funnel]) -> String {
    let mut out = String::from("## waform status\n");
    if funnels.is_empty() {
        out.push_str("\nNo sends recorded.\n");
        return out;
    }
    for f in funnels {
        let _ = writeln!(out, "\n### `{}`\n", cell(&f.name));
        out.push_str("| stage | count | rate | |\n|---|---:|---:|---|\n");
        for stage in f.stages() {
            let shown_rate = stage.of.map(|of| rate(stage.count, of)).unwrap_or_default();
            let bar = bar(stage.count, f.counts.recipients);
            // An empty code span would show as two backticks.
            let bar = if bar.is_empty() {
                bar
            } else {
                format!("`{bar}`")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {bar} |",
                stage.label, stage.count, shown_rate,
            );
        }
        out.push_str("\nRates: accepted of planned; delivered, read and completed of accepted.\n");
        if let Some(note) = super::no_acks_note(f) {
            let _ = writeln!(out, "\n_{note}_");
        }
        let c = &f.counts;
        let _ = writeln!(
            out,
            "\n**Rejected:** {} · **Unknown outcome:** {}",
            c.rejected, c.unknown
        );
        if !f.reasons.is_empty() {
            out.push_str("\n| outcome | reason | count |\n|---|---|---:|\n");
            for r in &f.reasons {
                let _ = writeln!(out, "| {} | {} | {} |", r.outcome, cell(&r.reason), r.count);
            }
        }
        let total: u64 = f.completions.iter().map(|b| b.count).sum();
        if total > 0 {
            let width = f.completions.first().map_or("day", |b| b.width);
            let peak = f.completions.iter().max_by_key(|b| b.count);
            if let Some(peak) = peak {
                let _ = writeln!(
                    out,
                    "\nCompleted forms: {total} over {} {width}(s); busiest {width} {} with {}.",
                    f.completions.len(),
                    super::html::bucket_label(peak),
                    peak.count
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::LedgerCounts;

    #[test]
    fn bars_scale_to_planned_and_cells_are_escaped() {
        assert_eq!(bar(8, 8).chars().count(), BAR);
        assert_eq!(bar(4, 8).chars().count(), BAR / 2);
        assert_eq!(bar(0, 8), "");
        assert_eq!(bar(1, 1000), "▏");
        let f = Funnel {
            name: "a|b".into(),
            counts: LedgerCounts {
                recipients: 8,
                accepted: 8,
                delivered: 6,
                read: 3,
                completed: 1,
                ..LedgerCounts::default()
            },
            completions: Vec::new(),
            reasons: Vec::new(),
        };
        let md = render(&[f]);
        assert!(md.contains("### `a\\|b`"), "{md}");
        assert!(md.contains("| delivered | 6 | 75.0% |"), "{md}");
        assert!(md.contains("| completed | 1 | 12.5% |"), "{md}");
    }
}
