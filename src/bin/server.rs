//! `server [--config PATH]`: the echo server. Exit codes: 0 after a graceful
//! shutdown, 1 on a runtime failure, 2 on bad configuration.
//! `server --health-check [--config PATH]`: probes a running server.

fn main() -> std::process::ExitCode {
    tp0::programs::server()
}
