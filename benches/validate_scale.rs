//! Validate at scale: a generated config with 1,000 templates × 3 languages
//! and a send of 100,000 recipients from CSV. Prints wall time and peak RSS.
//!
//! `cargo bench --bench validate_scale`

use std::fmt::Write as _;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut yaml = String::from("version: 1\nflows:\n  f: { id: \"1\" }\ntemplates:\n");
    for t in 0..1000 {
        let _ = writeln!(yaml, "  t{t}:\n    category: MARKETING\n    languages:");
        for lang in ["en_US", "es_MX", "pt_BR"] {
            let _ = writeln!(
                yaml,
                "      {lang}:\n        body: \"Hello {{{{1}}}}, template {t} says hi.\"\n        body_examples: [\"Anna\"]\n        buttons:\n          - {{ type: flow, text: \"Open\", flow: f, screen: A }}"
            );
        }
    }
    yaml.push_str("sends:\n  big:\n    template: t0\n    language: en_US\n    body_params: [\"${recipient.fname}\"]\n    recipients:\n      - csv: people.csv\n");
    std::fs::write(dir.path().join("waform.yaml"), yaml).expect("write");
    let mut csv = String::from("phone,fname\n");
    for i in 0..100_000u64 {
        let _ = writeln!(csv, "+1555{i:07},Name{i}");
    }
    std::fs::write(dir.path().join("people.csv"), csv).expect("write");
    let base = peak_rss_mb();
    let start = Instant::now();
    let result = waform::config::load(&dir.path().join("waform.yaml"), waform::config::Depth::Full);
    let elapsed = start.elapsed();
    assert!(!result.diagnostics.has_errors(), "{}", result.render(false));
    println!(
        "validate 1000 templates x 3 languages + 100000 recipients: {:.3} s wall, peak RSS {:.1} MB (process; {:.1} MB before validating, includes the generated inputs)",
        elapsed.as_secs_f64(),
        peak_rss_mb(),
        base
    );
}
