//! Baseline: tokio current-thread runtime, one task per connection.
fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime")
        .block_on(tp0_bench::tokio_serve());
}
