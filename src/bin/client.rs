//! `client [--config PATH]`: the course client. Exit codes: 0 when every message
//! was echoed or a signal stopped it, 1 on a runtime failure, 2 on bad
//! configuration.

fn main() -> std::process::ExitCode {
    tp0::programs::client()
}
