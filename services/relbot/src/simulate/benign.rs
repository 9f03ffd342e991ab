//! Benign periodic services: what makes single-peer (and some multi-peer) periodicity common
//! in real networks. NTP clients poll a few servers with one interval, many hosts keep a
//! heartbeat to one popular service, some run hourly jobs against an update server.

use std::net::Ipv4Addr;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{ephemeral, host_addr, random_public, Scenario, SimFlow};

/// Parameters of the benign periodic services.
#[derive(Debug, Clone, PartialEq)]
pub struct BenignModel {
    /// Share of hosts running an NTP client.
    pub ntp_share: f64,
    /// NTP servers (public); each client polls 1 to 4 of them.
    pub ntp_servers: u32,
    /// NTP poll interval, ms (ntpd's longest default: 1 024 s).
    pub ntp_poll_ms: i64,
    /// Share of hosts with a heartbeat to the popular service.
    pub heartbeat_share: f64,
    /// Addresses of the popular service (each host uses one).
    pub heartbeat_servers: u32,
    /// Heartbeat interval, ms.
    pub heartbeat_ms: i64,
    /// Share of hosts running an hourly job.
    pub hourly_share: f64,
    /// Update servers of the hourly jobs (each host uses one).
    pub hourly_servers: u32,
}

impl Default for BenignModel {
    fn default() -> Self {
        Self {
            ntp_share: 0.3,
            ntp_servers: 4,
            ntp_poll_ms: 1_024_000,
            heartbeat_share: 0.3,
            heartbeat_servers: 2,
            heartbeat_ms: 300_000,
            hourly_share: 0.1,
            hourly_servers: 3,
        }
    }
}

/// One host's periodic service: `interval_ms` with `jitter_ms`, from a random phase.
#[allow(clippy::too_many_arguments)]
fn service(
    s: &Scenario,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<SimFlow>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    (dst_port, protocol): (u16, u8),
    interval_ms: i64,
    jitter_ms: i64,
) {
    let mut t = s.start_ms + rng.random_range(0..interval_ms.max(1));
    let src_port = ephemeral(rng);
    while t < s.end_ms() {
        out.push(SimFlow {
            start_ms: t + rng.random_range(-jitter_ms..=jitter_ms),
            src,
            dst,
            src_port,
            dst_port,
            bytes: rng.random_range(76..400),
            duration_ms: rng.random_range(0..100),
            protocol,
        });
        t += interval_ms;
    }
}

/// Appends the flows of every benign service; returns the number of hosts running one.
pub fn generate(s: &Scenario, rng: &mut ChaCha8Rng, out: &mut Vec<SimFlow>) -> u32 {
    let m = &s.benign;
    let ntp: Vec<Ipv4Addr> = (0..m.ntp_servers).map(|_| random_public(rng)).collect();
    let beat: Vec<Ipv4Addr> = (0..m.heartbeat_servers)
        .map(|_| random_public(rng))
        .collect();
    let updates: Vec<Ipv4Addr> = (0..m.hourly_servers).map(|_| random_public(rng)).collect();
    let mut hosts = 0;
    for i in 0..s.hosts {
        let src = host_addr(i);
        let mut any = false;
        if !ntp.is_empty() && rng.random_bool(m.ntp_share.clamp(0.0, 1.0)) {
            let mut servers = ntp.clone();
            servers.shuffle(rng);
            let n = rng.random_range(1..=servers.len().min(4));
            for &dst in &servers[..n] {
                service(s, rng, out, src, dst, (123, 17), m.ntp_poll_ms, 500);
            }
            any = true;
        }
        if !beat.is_empty() && rng.random_bool(m.heartbeat_share.clamp(0.0, 1.0)) {
            let dst = beat[rng.random_range(0..beat.len())];
            service(s, rng, out, src, dst, (443, 6), m.heartbeat_ms, 2_000);
            any = true;
        }
        if !updates.is_empty() && rng.random_bool(m.hourly_share.clamp(0.0, 1.0)) {
            let dst = updates[rng.random_range(0..updates.len())];
            service(s, rng, out, src, dst, (443, 6), 3_600_000, 30_000);
            any = true;
        }
        hosts += u32::from(any);
    }
    hosts
}
