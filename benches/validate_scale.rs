//! Validate at scale: a generated config with 1,000 templates × 3 languages
//! and a send of 100,000 recipients from CSV. Prints wall time and peak RSS.
//!
//! `cargo bench --bench validate_scale`

#[path = "support/scale.rs"]
mod scale;

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
    let yaml = scale::config(1000);
    std::fs::write(dir.path().join("waform.yaml"), yaml).expect("write");
    let csv = scale::people(100_000);
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
