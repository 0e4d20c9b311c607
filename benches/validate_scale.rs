//! Validate at scale: a generated config with 1,000 templates × 3 languages
//! and a send of 100,000 recipients from CSV. Prints wall time and peak RSS.
//!
//! `cargo bench --bench validate_scale`
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed test or bench

#[path = "support/measure.rs"]
mod measure;

#[path = "support/scale.rs"]
mod scale;

use std::time::Instant;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = scale::config(1000);
    std::fs::write(dir.path().join("waform.yaml"), yaml).expect("write");
    let csv = scale::people(100_000);
    std::fs::write(dir.path().join("people.csv"), csv).expect("write");
    let base = measure::peak_rss_mb();
    let start = Instant::now();
    let result = waform::config::load(&dir.path().join("waform.yaml"), waform::config::Depth::Full);
    let elapsed = start.elapsed();
    assert!(!result.diagnostics.has_errors(), "{}", result.render(false));
    println!(
        "validate 1000 templates x 3 languages + 100000 recipients: {:.3} s wall, peak RSS {:.1} MB (process; {:.1} MB before validating, includes the generated inputs)",
        elapsed.as_secs_f64(),
        measure::peak_rss_mb(),
        base
    );
}
