//! Baseline: blocking std sockets, one OS thread per connection.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn serve(mut stream: TcpStream) {
    let mut framing = tp0_bench::LineEcho::default();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let echo = framing.push(&buf[..n]);
        if !echo.bytes().is_empty() && stream.write_all(echo.bytes()).is_err() {
            return;
        }
    }
    let _ = stream.write_all(&framing.take_tail());
}

fn main() {
    let listener = TcpListener::bind(tp0_bench::addr_from_args()).expect("bind");
    println!(
        "ready {}",
        listener.local_addr().expect("local addr").port()
    );
    for stream in listener.incoming().flatten() {
        let _ = stream.set_nodelay(true);
        // Small stacks: 10,000 connections means 10,000 threads.
        let spawned = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || serve(stream));
        if let Err(e) = spawned {
            eprintln!("spawn: {e}");
        }
    }
}
