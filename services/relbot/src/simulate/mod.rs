//! `relbot simulate`: synthetic flow workloads with ground truth, for benchmarks and for
//! evaluating detection.
//!
//! The model: monitored hosts `10.x.y.z` with heavy-tailed background traffic to popular
//! servers and random addresses over the whole window, and a share of P2P bots that contact
//! each of their peers once per period with jitter. Deterministic for a seed.

mod write;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Zipf};
use serde::Serialize;

pub use write::{write_flows, SimFormat};

/// Parameters of a simulated workload.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Monitored hosts.
    pub hosts: u32,
    /// Window length, ms.
    pub duration_ms: i64,
    /// Window start, ms since the epoch.
    pub start_ms: i64,
    /// Total flows to produce, about (background fills what bots leave).
    pub flows: u64,
    /// Share of hosts that are bots, 0..1.
    pub bot_share: f64,
    /// Peers per bot (inclusive range).
    pub peers: (u32, u32),
    /// Candidate bot periods, ms; each bot takes one.
    pub periods_ms: Vec<i64>,
    /// Uniform jitter of each beat, ± ms.
    pub jitter_ms: i64,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            hosts: 2000,
            duration_ms: 24 * 3_600_000,
            start_ms: 1_416_268_800_000, // 2014-11-18T00:00:00Z
            flows: 2_300_000,
            bot_share: 0.02,
            peers: (8, 20),
            periods_ms: vec![600_000, 900_000, 1_800_000, 2_400_000],
            jitter_ms: 1000,
            seed: 1,
        }
    }
}

/// One simulated flow: start time, source, destination, destination port, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SimFlow {
    /// Start, ms since the epoch.
    pub start_ms: i64,
    /// Initiator.
    pub src: Ipv4Addr,
    /// Responder.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Bytes.
    pub bytes: u32,
}

/// What was planted: the bots and their peers.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    /// Every planted bot.
    pub bots: Vec<BotTruth>,
    /// Monitored hosts in all.
    pub hosts: u32,
}

/// One planted bot.
#[derive(Debug, Clone, Serialize)]
pub struct BotTruth {
    /// The bot's address.
    pub host: IpAddr,
    /// Its beat period, ms.
    pub period_ms: i64,
    /// Its peers.
    pub peers: Vec<IpAddr>,
}

/// Monitored host number `i` as `10.x.y.z`.
pub fn host_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | (i + 1))
}

/// Generates the workload, sorted by start time.
pub fn generate(s: &Scenario) -> (Vec<SimFlow>, GroundTruth) {
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut flows = Vec::with_capacity(s.flows as usize + 1024);
    let mut truth = GroundTruth {
        bots: Vec::new(),
        hosts: s.hosts,
    };
    let n_bots = ((s.hosts as f64) * s.bot_share).round() as u32;
    for b in 0..n_bots.min(s.hosts) {
        let host = host_addr(b * (s.hosts / n_bots.max(1)).max(1));
        let period = s.periods_ms[rng.random_range(0..s.periods_ms.len().max(1))];
        let n_peers = rng.random_range(s.peers.0..=s.peers.1.max(s.peers.0));
        let mut peers = Vec::new();
        for _ in 0..n_peers {
            let peer = random_public(&mut rng);
            peers.push(IpAddr::V4(peer));
            let phase = rng.random_range(0..period);
            let port = rng.random_range(1024..65535);
            let mut t = s.start_ms + phase;
            while t < s.start_ms + s.duration_ms {
                let jitter = if s.jitter_ms > 0 {
                    rng.random_range(-s.jitter_ms..=s.jitter_ms)
                } else {
                    0
                };
                flows.push(SimFlow {
                    start_ms: t + jitter,
                    src: host,
                    dst: peer,
                    src_port: rng.random_range(1024..65535),
                    dst_port: port,
                    bytes: rng.random_range(60..400),
                });
                t += period;
            }
        }
        truth.bots.push(BotTruth {
            host: IpAddr::V4(host),
            period_ms: period,
            peers,
        });
    }

    // Background: heavy-tailed activity per host, popular servers by Zipf, random others.
    let remaining = s.flows.saturating_sub(flows.len() as u64);
    let activity = LogNormal::new(0.0, 1.0).ok();
    let weights: Vec<f64> = (0..s.hosts)
        .map(|_| activity.map_or(1.0, |d| d.sample(&mut rng)))
        .collect();
    let total: f64 = weights.iter().sum();
    let servers: Vec<Ipv4Addr> = (0..5000).map(|_| random_public(&mut rng)).collect();
    let popular = Zipf::new(servers.len() as f64, 1.1).ok();
    for (i, w) in weights.iter().enumerate() {
        let n = ((remaining as f64) * w / total).round() as u64;
        let src = host_addr(i as u32);
        for _ in 0..n {
            let dst = match (&popular, rng.random_bool(0.7)) {
                (Some(z), true) => {
                    servers[(z.sample(&mut rng) as usize - 1).min(servers.len() - 1)]
                }
                _ => random_public(&mut rng),
            };
            flows.push(SimFlow {
                start_ms: s.start_ms + rng.random_range(0..s.duration_ms),
                src,
                dst,
                src_port: rng.random_range(1024..65535),
                dst_port: [80, 443, 443, 53, 25, 8080][rng.random_range(0..6)],
                bytes: rng.random_range(40..200_000),
            });
        }
    }
    flows.sort_unstable();
    (flows, truth)
}

/// A random address outside the monitored `10/8`.
fn random_public(rng: &mut ChaCha8Rng) -> Ipv4Addr {
    loop {
        let a: u32 = rng.random();
        let first = a >> 24;
        if (11..=223).contains(&first) && first != 127 {
            return Ipv4Addr::from(a);
        }
    }
}

/// Generates and writes a workload; returns the ground truth.
pub fn run(s: &Scenario, format: SimFormat, out: &mut dyn Write) -> io::Result<GroundTruth> {
    let (flows, truth) = generate(s);
    write_flows(&flows, format, out)?;
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let s = Scenario {
            hosts: 50,
            flows: 20_000,
            duration_ms: 6 * 3_600_000,
            bot_share: 0.1,
            ..Scenario::default()
        };
        let (a, truth) = generate(&s);
        let (b, _) = generate(&s);
        assert_eq!(a, b);
        assert_eq!(truth.bots.len(), 5);
        let n = a.len() as f64;
        assert!((n - 20_000.0).abs() / 20_000.0 < 0.05, "{n} flows");
        assert!(a.windows(2).all(|w| w[0].start_ms <= w[1].start_ms));
    }
}
