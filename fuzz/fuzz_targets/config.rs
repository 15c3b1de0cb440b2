//! Any bytes as a server or client config file: a config or an error, never a panic.
#![no_main]

#[path = "../../tests/models/mod.rs"]
mod models;

libfuzzer_sys::fuzz_target!(|data: &[u8]| models::check_config_bytes(data));
