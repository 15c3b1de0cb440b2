//! Baseline: tokio multi-thread runtime (one worker per CPU), one task per connection.
fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()
        .expect("runtime")
        .block_on(tp0_bench::tokio_serve());
}
