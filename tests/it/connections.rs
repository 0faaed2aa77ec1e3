//! What a client costs the server before it has sent a whole request: the
//! header and body timeouts, and the connection cap, against clients that
//! send nothing, send a byte at a time, or open connections by the hundred.
//!
//! Each test runs a server with short limits (a second or less) and talks
//! raw TCP to it, like the attacker would.

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::TestServer;

/// Short limits, so each test sees them hit within a second or two.
const TIMEOUT: Duration = Duration::from_millis(1000);
const MAX_CONNECTIONS: usize = 50;

fn server() -> TestServer {
    TestServer::with(|c| {
        c.http.header_timeout = TIMEOUT;
        c.http.body_timeout = TIMEOUT;
        c.http.max_connections = MAX_CONNECTIONS;
    })
}

fn connect(server: &TestServer) -> TcpStream {
    let address = server.base.trim_start_matches("http://");
    let stream = TcpStream::connect(address).expect("connecting");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Reads until the server closes the connection; what it sent, and when it
/// closed.
fn read_until_closed(stream: &mut TcpStream, start: Instant) -> (String, Duration) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!("the server kept the connection open: {error}"),
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), start.elapsed())
}

/// An honest request on a new connection: its status and how long it took.
fn honest_request(server: &TestServer) -> (u16, Duration) {
    let start = Instant::now();
    let mut stream = connect(server);
    stream.write_all(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let (answer, _) = read_until_closed(&mut stream, start);
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, start.elapsed())
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let server = server();
    let start = Instant::now();
    let mut stream = connect(&server);
    let (_, closed_after) = read_until_closed(&mut stream, start);
    assert!(closed_after < Duration::from_secs(3), "closed after {closed_after:?}");
}

#[test]
fn headers_sent_a_byte_at_a_time_are_cut_off() {
    let server = server();
    let start = Instant::now();
    let mut stream = connect(&server);
    let request = b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut_off = false;
    for byte in request {
        if stream.write_all(&[*byte]).is_err() {
            cut_off = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if start.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let (answer, closed_after) = read_until_closed(&mut stream, start);
    assert!(cut_off || closed_after < Duration::from_secs(5), "closed after {closed_after:?}");
    assert!(!answer.contains("200 OK"), "a slow-loris request was served: {answer}");
}

#[test]
fn a_body_that_trickles_in_gets_408_and_the_connection_closes() {
    let server = server();
    let start = Instant::now();
    let mut stream = connect(&server);
    stream.write_all(b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{").unwrap();
    for _ in 0..30 {
        if stream.write_all(b" ").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (answer, closed_after) = read_until_closed(&mut stream, start);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("M_UNKNOWN"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("access-control-allow-origin: *"), "{answer}");
    assert!(closed_after < Duration::from_secs(4), "closed after {closed_after:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = server();
    let mut stream = connect(&server);
    stream.write_all(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    let start = Instant::now();
    let (_, closed_after) = read_until_closed(&mut stream, start);
    assert!(closed_after < Duration::from_secs(3), "idle for {closed_after:?}");
}

#[test]
fn an_idle_flood_beyond_the_cap_does_not_lock_out_honest_clients() {
    let server = server();
    // Four times the cap, all idle: each newcomer past the cap makes the
    // oldest idle one close.
    let flood: Vec<TcpStream> = (0..200).map(|_| connect(&server)).collect();
    for _ in 0..5 {
        let (status, took) = honest_request(&server);
        assert_eq!(status, 200, "an honest request during the flood");
        assert!(took < Duration::from_secs(2), "an honest request took {took:?} during the flood");
    }
    drop(flood);
}
