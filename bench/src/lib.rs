//! Shared pieces of the bench package: the line-echo framing used by the Rust
//! baseline servers, and their command-line handling. The load generator lives
//! in `src/bin/loadgen.rs`; none of this is part of the product.

use std::net::{Ipv4Addr, SocketAddr};

/// Reads the port from the first argument (`0` picks an ephemeral one).
///
/// # Panics
/// Exits the process with status 2 on a missing or malformed port.
pub fn addr_from_args() -> SocketAddr {
    let port = std::env::args().nth(1).and_then(|p| p.parse::<u16>().ok());
    match port {
        Some(port) => SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        None => {
            eprintln!("usage: SERVER PORT");
            std::process::exit(2);
        }
    }
}

/// Line framing for an echo server: feed it what a read returned and it hands
/// back the bytes to write, i.e. every complete line, byte for byte.
///
/// Like the C baseline it keeps only the unterminated tail between reads, so
/// the common case (whole lines per read) copies nothing.
#[derive(Default)]
pub struct LineEcho {
    tail: Vec<u8>,
}

impl LineEcho {
    /// Returns the complete lines contained in `tail + chunk` (possibly empty)
    /// and keeps what follows the last newline for the next call.
    pub fn push<'a>(&'a mut self, chunk: &'a [u8]) -> Echo<'a> {
        let Some(last) = chunk.iter().rposition(|&b| b == b'\n') else {
            self.tail.extend_from_slice(chunk);
            return Echo::Borrowed(&[]);
        };
        let (lines, rest) = chunk.split_at(last + 1);
        if self.tail.is_empty() {
            self.tail.extend_from_slice(rest);
            return Echo::Borrowed(lines);
        }
        let mut out = std::mem::take(&mut self.tail);
        out.extend_from_slice(lines);
        self.tail.extend_from_slice(rest);
        Echo::Owned(out)
    }

    /// The unterminated tail, echoed as it is when the peer sends EOF.
    pub fn take_tail(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.tail)
    }
}

/// Bytes to echo: borrowed from the read buffer when no tail had to be joined.
pub enum Echo<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Echo<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Echo::Borrowed(b) => b,
            Echo::Owned(v) => v,
        }
    }
}

/// One connection of the tokio baselines: read, echo complete lines, and on
/// EOF echo the tail and close.
pub async fn tokio_echo(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut framing = LineEcho::default();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let echo = framing.push(&buf[..n]);
        if !echo.bytes().is_empty() && stream.write_all(echo.bytes()).await.is_err() {
            return;
        }
    }
    let tail = framing.take_tail();
    let _ = stream.write_all(&tail).await;
}

/// Accept loop of the tokio baselines: one task per connection.
pub async fn tokio_serve() {
    let listener = tokio::net::TcpListener::bind(addr_from_args())
        .await
        .expect("bind");
    println!(
        "ready {}",
        listener.local_addr().expect("local addr").port()
    );
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(tokio_echo(stream));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_split_lines_and_keeps_the_tail() {
        let mut f = LineEcho::default();
        assert_eq!(f.push(b"ab").bytes(), b"");
        assert_eq!(f.push(b"c\nd\ne").bytes(), b"abc\nd\n");
        assert_eq!(f.push(b"\n").bytes(), b"e\n");
        assert_eq!(f.push(b"x").bytes(), b"");
        assert_eq!(f.take_tail(), b"x");
    }
}
