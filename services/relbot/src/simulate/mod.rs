//! `relbot simulate`: synthetic flow workloads with ground truth, for benchmarks and for
//! evaluating detection.
//!
//! The model (each part in its own module):
//! - [`background`]: monitored hosts `10.x.y.z` with heavy-tailed (log-normal) activity, a
//!   diurnal cycle, DNS to a few resolvers, popular servers by Zipf, random others, long
//!   connections split by an exporter's active timeout, and optionally the servers' reply
//!   flows as separate flows;
//! - [`benign`]: periodic services that are not botnets — NTP to a few servers, heartbeats to
//!   a popular service shared by many hosts, hourly jobs;
//! - [`bots`]: P2P bots modelled on real families (period, peer counts, shared overlay),
//!   with jitter, clock drift per cycle, lost beats, peer churn, and offline spells with or
//!   without a timer restart;
//! - [`scenarios`]: the named presets of the quality matrix (`--scenario NAME`);
//! - [`write`]: nfdump-fmt, triples and IPFIX-file output; [`send`]: NetFlow v9/IPFIX over
//!   UDP at a chosen rate.
//!
//! Deterministic for a seed: every part draws from its own PRNG stream derived from it.

pub mod args;
pub mod background;
pub mod benign;
pub mod bots;
mod command;
pub mod scenarios;
pub mod send;
mod write;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use background::BackgroundModel;
pub use benign::BenignModel;
pub use bots::{BotModel, Family};
pub use command::simulate_command;
pub use scenarios::{preset, PRESETS};
pub use write::{ipfix_messages, record, utc_text, write_flows, SimFormat};

/// Parameters of a simulated workload.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Monitored hosts.
    pub hosts: u32,
    /// Window length, ms.
    pub duration_ms: i64,
    /// Window start, ms since the epoch.
    pub start_ms: i64,
    /// Background traffic.
    pub background: BackgroundModel,
    /// Benign periodic services.
    pub benign: BenignModel,
    /// Planted bots.
    pub bots: BotModel,
    /// Whether the peers' reply flows of bots and benign services appear as separate flows
    /// (B→A, a few ms after A→B), as exporters that do not fold replies report them.
    pub replies: bool,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            hosts: 2000,
            duration_ms: 24 * 3_600_000,
            start_ms: 1_416_268_800_000, // 2014-11-18T00:00:00Z
            background: BackgroundModel::default(),
            benign: BenignModel::default(),
            bots: BotModel::default(),
            replies: false,
            seed: 1,
        }
    }
}

impl Scenario {
    /// The end of the window, ms (exclusive).
    pub fn end_ms(&self) -> i64 {
        self.start_ms + self.duration_ms
    }
}

/// One simulated flow.
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
    /// Duration, ms.
    pub duration_ms: u32,
    /// IP protocol (6 TCP, 17 UDP).
    pub protocol: u8,
}

impl SimFlow {
    /// The reply of this flow as a separate flow: B→A, ports swapped, `delay_ms` later.
    pub fn reply(&self, delay_ms: i64, bytes: u32) -> Self {
        Self {
            start_ms: self.start_ms + delay_ms,
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            bytes,
            duration_ms: self.duration_ms,
            protocol: self.protocol,
        }
    }
}

/// What was planted: the bots and their peers, and the benign periodic hosts.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    /// The preset the workload follows, if any.
    pub scenario: Option<String>,
    /// Every planted bot.
    pub bots: Vec<BotTruth>,
    /// Monitored hosts in all.
    pub hosts: u32,
    /// The monitored network (every host of the workload is in it).
    pub monitored: String,
    /// Window start and end, ms.
    pub window_ms: (i64, i64),
    /// Flows written.
    pub flows: u64,
    /// Hosts with at least one benign periodic service (NTP, heartbeat, hourly job).
    pub benign_periodic_hosts: u32,
}

/// One planted bot.
#[derive(Debug, Clone, Serialize)]
pub struct BotTruth {
    /// The bot's address.
    pub host: IpAddr,
    /// Its family.
    pub family: String,
    /// Its nominal beat period, ms (the real one is this plus the drift).
    pub period_ms: i64,
    /// Every peer it contacted (churn included).
    pub peers: Vec<IpAddr>,
    /// Share of the window it was offline.
    pub offline_share: f64,
}

/// Monitored host number `i` as `10.x.y.z`.
pub fn host_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | (i + 1))
}

/// A PRNG stream of its own for one part of the model.
pub(crate) fn stream(seed: u64, part: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(part);
    rng
}

/// Generates the workload, sorted by start time (flows outside the window are dropped).
pub fn generate(s: &Scenario) -> (Vec<SimFlow>, GroundTruth) {
    let mut flows = Vec::new();
    let bots = bots::generate(s, &mut stream(s.seed, 1), &mut flows);
    let benign_hosts = benign::generate(s, &mut stream(s.seed, 2), &mut flows);
    let planted = flows.len();
    if s.replies {
        let mut rng = stream(s.seed, 3);
        let replies: Vec<SimFlow> = flows[..planted]
            .iter()
            .map(|f| f.reply(rng.random_range(5..300), rng.random_range(60..1500)))
            .collect();
        flows.extend(replies);
    }
    background::generate(s, &mut stream(s.seed, 4), &mut flows);
    flows.retain(|f| (s.start_ms..s.end_ms()).contains(&f.start_ms));
    flows.sort_unstable();
    let truth = GroundTruth {
        scenario: None,
        bots,
        hosts: s.hosts,
        monitored: "10.0.0.0/8".into(),
        window_ms: (s.start_ms, s.end_ms()),
        flows: flows.len() as u64,
        benign_periodic_hosts: benign_hosts,
    };
    (flows, truth)
}

/// A random address outside the monitored `10/8` (and outside loopback and multicast).
pub(crate) fn random_public(rng: &mut impl Rng) -> Ipv4Addr {
    loop {
        let a: u32 = rng.random();
        let first = a >> 24;
        if (11..=223).contains(&first) && first != 127 {
            return Ipv4Addr::from(a);
        }
    }
}

/// An ephemeral source port.
pub(crate) fn ephemeral(rng: &mut impl Rng) -> u16 {
    rng.random_range(32_768..61_000)
}

/// Generates and writes a workload; returns the ground truth.
pub fn run(s: &Scenario, format: SimFormat, out: &mut dyn Write) -> io::Result<GroundTruth> {
    let (flows, truth) = generate(s);
    write_flows(&flows, format, out)?;
    Ok(truth)
}

#[cfg(test)]
mod tests;
