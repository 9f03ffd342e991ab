//! The load generator: sends simulated flows as NetFlow v9 or IPFIX datagrams over UDP at a
//! chosen rate (flows per second), paced against the monotonic clock.

use std::io;
use std::net::{ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use relbot_flow::netflow::template::Protocol;

use super::write::{ipfix_messages, RECORDS_PER_MESSAGE};
use super::SimFlow;

/// What [`send`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendReport {
    /// Datagrams sent.
    pub datagrams: u64,
    /// Flows sent.
    pub flows: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// Parses `udp://HOST:PORT`.
pub fn parse_target(target: &str) -> Result<String, String> {
    match target.strip_prefix("udp://") {
        Some(rest) if !rest.is_empty() => Ok(rest.to_string()),
        _ => Err(format!("--send: expected udp://HOST:PORT, got {target:?}")),
    }
}

/// Sends `flows` to `addr` (`HOST:PORT`) as `protocol` datagrams of up to
/// [`RECORDS_PER_MESSAGE`] flows each, at about `rate` flows per second (0: as fast as
/// possible).
pub fn send(
    flows: &[SimFlow],
    addr: &str,
    protocol: Protocol,
    rate: f64,
) -> io::Result<SendReport> {
    let target = addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: no address"))
    })?;
    let bind = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind)?;
    socket.connect(target)?;
    let started = Instant::now();
    let mut report = SendReport {
        datagrams: 0,
        flows: 0,
        seconds: 0.0,
    };
    for (i, message) in ipfix_messages(flows, protocol).enumerate() {
        if rate > 0.0 {
            let due = Duration::from_secs_f64((i * RECORDS_PER_MESSAGE) as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        socket.send(&message)?;
        report.datagrams += 1;
        report.flows += (flows.len() - i * RECORDS_PER_MESSAGE).min(RECORDS_PER_MESSAGE) as u64;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
