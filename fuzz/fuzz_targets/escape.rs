//! Any bytes logged: nothing that forges or disguises a record comes out raw, and
//! the escapes decode back to the bytes.
#![no_main]

#[path = "../../tests/models/mod.rs"]
mod models;

libfuzzer_sys::fuzz_target!(|data: &[u8]| models::check_escape(data));
