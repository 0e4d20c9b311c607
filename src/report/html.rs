//! The funnel as one self-contained HTML page: inline CSS and SVG, no
//! script, font or request of any kind, so it can be mailed, archived as a
//! CI artifact, printed, or opened on a phone.
//!
//! Each send is a `<section data-send="NAME">`; each funnel stage a
//! `<tr data-stage="STAGE" data-count="N">`, so tools (and the tests) read
//! the numbers without scraping text.

use std::fmt::Write as _;

use super::{rate, Bucket, Funnel};

/// Text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How a bucket is labelled: `2026-11-25` or `2026-11-25 14:00`.
pub(crate) fn bucket_label(b: &Bucket) -> String {
    if b.width == "hour" {
        b.start.format("%Y-%m-%d %H:00").to_string()
    } else {
        b.start.format("%Y-%m-%d").to_string()
    }
}

const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 52rem; padding: 1rem; color: #1f2328; background: #fff; }
h1 { font-size: 1.35rem; margin: .2rem 0; }
.meta { color: #59636e; margin: 0 0 1rem; overflow-wrap: anywhere; }
section { border: 1px solid #d1d9e0; border-radius: 10px; padding: .9rem 1rem; margin: 0 0 1rem;
          break-inside: avoid; page-break-inside: avoid; }
h2 { font-size: 1.1rem; margin: 0 0 .6rem; overflow-wrap: anywhere; }
h3 { font-size: .95rem; margin: 1rem 0 .4rem; color: #393f46; }
table { border-collapse: collapse; width: 100%; }
.funnel th { text-align: left; font-weight: 600; width: 6.2rem; padding: .2rem .5rem .2rem 0;
             white-space: nowrap; }
.funnel td { padding: .2rem 0; }
.funnel td.n { text-align: right; white-space: nowrap; width: 8.5rem; padding-left: .6rem;
               font-variant-numeric: tabular-nums; }
.rate { color: #59636e; display: inline-block; min-width: 3.8rem; }
.track { background: #eef1f4; border-radius: 5px; height: 1.35rem; overflow: hidden; }
.fill { background: #1f6feb; height: 100%; border-radius: 5px;
        -webkit-print-color-adjust: exact; print-color-adjust: exact; }
tr[data-stage="completed"] .fill { background: #1a7f37; }
.note { color: #59636e; font-size: .85rem; margin: .4rem 0 0; }
.issues { display: flex; gap: .5rem; flex-wrap: wrap; margin: .8rem 0 .3rem; }
.pill { border-radius: 999px; padding: .1rem .7rem; background: #f6f8fa; border: 1px solid #d1d9e0; }
.pill.bad { background: #ffebe9; border-color: #ffcecb; }
.pill.warn { background: #fff8c5; border-color: #eed888; }
.reasons td, .reasons th { border-top: 1px solid #e6eaef; padding: .25rem .4rem .25rem 0;
                           text-align: left; vertical-align: top; }
.reasons td:last-child, .reasons th:last-child { text-align: right; width: 4rem; }
.reasons td:nth-child(2) { overflow-wrap: anywhere; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; fill: #59636e; }
svg rect.bar { fill: #1a7f37; }
@media (max-width: 30rem) {
  body { padding: .6rem; font-size: 14px; }
  .funnel th { width: 5.2rem; }
  .funnel td.n { width: 6.6rem; }
  .rate { min-width: 3.2rem; }
  svg text { font-size: 20px; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  section { border-color: #999; }
}
"#;

/// The whole page. `source` says where the numbers come from (the ledger).
pub fn render(funnels: &[Funnel], source: &str) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>waform status</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<h1>waform status</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} send(s) · from {}</p>",
        funnels.len(),
        esc(source)
    );
    if funnels.is_empty() {
        out.push_str("<p>No sends recorded.</p>\n");
    }
    for f in funnels {
        section(&mut out, f);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn section(out: &mut String, f: &Funnel) {
    let _ = writeln!(out, "<section data-send=\"{}\">", esc(&f.name));
    let _ = writeln!(out, "<h2>{}</h2>", esc(&f.name));
    out.push_str("<table class=\"funnel\" aria-label=\"funnel\">\n");
    let planned = f.counts.recipients;
    for stage in f.stages() {
        let width = if planned == 0 {
            0.0
        } else {
            stage.count.min(planned) as f64 * 100.0 / planned as f64
        };
        let shown_rate = stage.of.map(|of| rate(stage.count, of)).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr data-stage=\"{label}\" data-count=\"{count}\"><th>{label}</th>\
             <td><div class=\"track\"><div class=\"fill\" style=\"width:{width:.1}%\"></div></div></td>\
             <td class=\"n\"><b>{count}</b> <span class=\"rate\">{shown_rate}</span></td></tr>",
            label = stage.label,
            count = stage.count,
        );
    }
    out.push_str("</table>\n");
    out.push_str(
        "<p class=\"note\">Bars are shares of planned; rates: accepted of planned, \
         delivered, read and completed of accepted.</p>\n",
    );
    if let Some(note) = super::no_acks_note(f) {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(&note));
    }
    let c = &f.counts;
    let _ = writeln!(
        out,
        "<div class=\"issues\"><span class=\"pill{}\" data-outcome=\"rejected\" data-count=\"{}\">\
         Rejected: <b>{}</b></span><span class=\"pill{}\" data-outcome=\"unknown\" data-count=\"{}\">\
         Unknown outcome: <b>{}</b></span></div>",
        if c.rejected > 0 { " bad" } else { "" },
        c.rejected,
        c.rejected,
        if c.unknown > 0 { " warn" } else { "" },
        c.unknown,
        c.unknown
    );
    if !f.reasons.is_empty() {
        out.push_str(
            "<table class=\"reasons\"><tr><th>outcome</th><th>reason</th><th>count</th></tr>\n",
        );
        for r in &f.reasons {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.outcome,
                esc(&r.reason),
                r.count
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h3>Completed forms over time</h3>\n");
    if f.completions.is_empty() {
        out.push_str("<p class=\"note\">No completed forms yet.</p>\n");
    } else {
        chart(out, &f.completions);
    }
    out.push_str("</section>\n");
}

/// A bar chart of completions per bucket as inline SVG (scales with the
/// page width; every bar carries its exact number as a tooltip).
fn chart(out: &mut String, buckets: &[Bucket]) {
    let (w, h) = (600.0_f64, 170.0_f64);
    let (left, right, top, bottom) = (34.0, 8.0, 18.0, 34.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    let slot = plot_w / buckets.len() as f64;
    let bar_w = (slot * 0.8).max(1.0);
    let width = buckets.first().map_or("day", |b| b.width);
    let _ = writeln!(
        out,
        "<svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{total} completed forms per {width}\" \
         data-total=\"{total}\">"
    );
    let base = top + plot_h;
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#d1d9e0\"/>",
        w - right
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>",
        left - 6.0,
        top + 9.0,
        left - 6.0
    );
    for (i, b) in buckets.iter().enumerate() {
        let bh = b.count as f64 / max as f64 * plot_h;
        let x = left + i as f64 * slot + (slot - bar_w) / 2.0;
        let _ = writeln!(
            out,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\" \
             data-count=\"{}\"><title>{}: {}</title></rect>",
            base - bh,
            b.count,
            bucket_label(b),
            b.count
        );
        // Numbers on the bars too, for paper (no tooltips there).
        if b.count > 0 && buckets.len() <= 31 {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bar_w / 2.0,
                (base - bh - 3.0).max(top - 2.0),
                b.count
            );
        }
    }
    let suffix = if width == "hour" { " UTC" } else { "" };
    if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
        let _ = writeln!(
            out,
            "<text x=\"{left}\" y=\"{}\">{}{suffix}</text>",
            h - 10.0,
            bucket_label(first)
        );
        if buckets.len() > 1 {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}{suffix}</text>",
                w - right,
                h - 10.0,
                bucket_label(last)
            );
        }
    }
    out.push_str("</svg>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">{total} completed form(s), per {width}{}.</p>",
        if width == "hour" {
            " (UTC)"
        } else {
            " (UTC days)"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Reason;
    use crate::state::LedgerCounts;

    #[test]
    fn page_is_self_contained_and_escapes_what_it_shows() {
        let f = Funnel {
            name: "<script>x</script>".into(),
            counts: LedgerCounts {
                recipients: 4,
                accepted: 3,
                rejected: 1,
                delivered: 3,
                read: 2,
                completed: 1,
                ..LedgerCounts::default()
            },
            completions: crate::report::bucket(&[chrono::Utc::now()]),
            reasons: vec![Reason {
                outcome: "rejected",
                reason: "template \"x\" <paused>".into(),
                count: 1,
            }],
        };
        let html = render(&[f], "ledger & co");
        assert!(!html.contains("<script"), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("template &quot;x&quot; &lt;paused&gt;"));
        assert!(html.contains("data-stage=\"accepted\" data-count=\"3\""));
        assert!(html.contains("width:75.0%"));
        assert!(html.contains("<svg viewBox"));
        assert!(html.contains("ledger &amp; co"));
    }
}
