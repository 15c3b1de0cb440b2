//! Any stream cut into any reads frames as the whole stream read at once. Byte 0
//! picks the line limit, bytes 1..9 the split; the rest is the stream.
#![no_main]

#[path = "../../tests/models/mod.rs"]
mod models;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let Some((seed, stream)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let max = 1 + usize::from(limit % 64);
    let expected = models::frame_at_once(stream, max);
    let reads = models::split(stream, u64::from_le_bytes(*seed) | 1);
    assert_eq!(models::frame_in_reads(reads, max), expected);
    assert_eq!(models::frame_in_reads([stream], max), expected);
});
