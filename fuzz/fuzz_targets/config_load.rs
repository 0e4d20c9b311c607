//! Any bytes as a config file: loading ends in a config or diagnostics,
//! never a panic, and the diagnostics render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waform::config::{load, Depth};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("waform.yaml");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    // NoRecipients: a fuzzed `csv:` path must not read files outside.
    let result = load(&path, Depth::NoRecipients);
    let _ = result.render(false);
});
