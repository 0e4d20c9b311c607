//! Any bytes as a webhook body: parsed into events or refused as
//! malformed, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = waform::webhook::parse_body(data);
});
