//! Any text as a duration: a bounded value or an error, and every value reads back
//! the same from its Go form. The first 8 bytes also pick a value to round-trip.
#![no_main]

#[path = "../../tests/models/mod.rs"]
mod models;

use std::time::Duration;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        models::check_duration_text(text);
    }
    if let Some(first) = data.first_chunk::<8>() {
        let max = tp0::duration::MAX.as_nanos() as u64;
        models::check_duration_value(Duration::from_nanos(u64::from_le_bytes(*first) % (max + 1)));
    }
});
