//! Any bytes as a recipient CSV: every row is a row or a diagnostic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waform::config::recipients::{columns, stream};
use waform::config::types::{CsvSource, RecipientSource};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("people.csv"), data).is_err() {
        return;
    }
    let source = RecipientSource::Csv(CsvSource {
        csv: "people.csv".into(),
    });
    let _ = columns(&source, dir.path());
    for item in stream(&source, dir.path(), None) {
        let _ = item;
    }
});
