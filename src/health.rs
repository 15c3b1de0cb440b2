//! `server --health-check`: proves from inside the container (which has no shell)
//! that the server's loop answers, using only the wire protocol of SPEC §2.
//!
//! The probe is the empty message: connect to the configured port on loopback,
//! send nothing, half-close, and wait for the server's own FIN with no bytes before
//! it. The kernel completes a handshake and acknowledges our FIN even when the loop
//! is stuck; only the loop closes its side after echoing the (empty) tail. So the
//! FIN is the answer, and the server logs the probe as one INFO line
//! (`accept_connections … | ip: 127.0.0.1`); the close of an ended connection is a
//! DEBUG line.

use std::ffi::OsString;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::config::ServerConfig;
use crate::startup;

/// The whole probe, connect to close, stays within this bound (Docker's and
/// Kubernetes' probe timeouts are set to 1 s).
pub const BOUND: Duration = Duration::from_millis(900);

/// Runs the probe for the configuration named by the arguments after
/// `--health-check` (`--config PATH`) and the environment; prints the reason of a
/// failure on stderr. Returns the exit code: 0 healthy, 1 unhealthy, 2 bad
/// configuration (non-UTF-8 arguments included, as for the server itself).
pub fn run_from_args() -> u8 {
    let args: Vec<OsString> = std::env::args_os().skip(2).collect();
    let config = match ServerConfig::load(&args, &|name| std::env::var_os(name)) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("server --health-check: configuration error: {error}");
            return startup::USAGE;
        }
    };
    let address = SocketAddr::new(loopback_for(config.bind_ip), config.port);
    match probe(address, BOUND) {
        Ok(()) => startup::SUCCESS,
        Err(error) => {
            eprintln!("server --health-check: {address}: {error}");
            startup::FAILURE
        }
    }
}

/// The address a process in the same network namespace reaches the listener on:
/// loopback when the server binds every interface, else the bound address itself.
pub fn loopback_for(bind_ip: IpAddr) -> IpAddr {
    match bind_ip {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// Sends the empty message to `address` and waits for the server's close, all
/// within `bound`.
///
/// # Errors
/// Refused or timed-out connect, no close within the bound, or bytes in reply to
/// nothing (something other than our echo server holds the port).
pub fn probe(address: SocketAddr, bound: Duration) -> io::Result<()> {
    let deadline = Instant::now() + bound;
    let mut stream = TcpStream::connect_timeout(&address, bound)?;
    stream.shutdown(Shutdown::Write)?;
    let mut buf = [0u8; 64];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {} ms", bound.as_millis()),
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{n} unexpected bytes in reply to an empty message"),
                ));
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {} ms", bound.as_millis()),
                ));
            }
            Err(error) => return Err(error),
        }
    }
}
