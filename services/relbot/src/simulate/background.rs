//! Background traffic of the monitored hosts: heavy-tailed activity per host, a diurnal
//! cycle, DNS to a few resolvers, popular servers (Zipf), random destinations, and long
//! connections that an exporter splits at its active timeout into back-to-back flows.

use std::f64::consts::TAU;
use std::net::Ipv4Addr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Zipf};

use super::{ephemeral, host_addr, random_public, Scenario, SimFlow};

/// Parameters of the background traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundModel {
    /// Flows per monitored host per hour, on average over hosts.
    pub flows_per_host_hour: f64,
    /// σ of the log-normal activity of hosts (larger: heavier tail).
    pub activity_sigma: f64,
    /// Amplitude of the diurnal cycle, 0 (flat) to 1 (nothing at 04:00 UTC).
    pub diurnal: f64,
    /// DNS resolvers (`10.255.255.1…`), and the share of flows that are DNS queries.
    pub resolvers: u32,
    /// Share of background flows that are DNS queries to the resolvers.
    pub dns_share: f64,
    /// Share of background flows that are long connections (10 min to 3 h).
    pub long_share: f64,
    /// The exporter's active timeout, ms: long connections are reported as back-to-back
    /// flows of this length. 0: one flow per connection.
    pub active_timeout_ms: i64,
}

impl Default for BackgroundModel {
    fn default() -> Self {
        Self {
            flows_per_host_hour: 40.0,
            activity_sigma: 1.2,
            diurnal: 0.6,
            resolvers: 3,
            dns_share: 0.25,
            long_share: 0.01,
            active_timeout_ms: 300_000,
        }
    }
}

/// Address of DNS resolver `i`.
pub fn resolver_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, 255, (i % 250 + 1) as u8)
}

/// Appends the background flows of every host to `out` (replies too when the scenario
/// unfolds them).
pub fn generate(s: &Scenario, rng: &mut ChaCha8Rng, out: &mut Vec<SimFlow>) {
    let m = &s.background;
    let hours = s.duration_ms as f64 / 3_600_000.0;
    let activity =
        LogNormal::new(-m.activity_sigma * m.activity_sigma / 2.0, m.activity_sigma).ok();
    let servers: Vec<Ipv4Addr> = (0..5000).map(|_| random_public(rng)).collect();
    let popular = Zipf::new(servers.len() as f64, 1.1).ok();
    for i in 0..s.hosts {
        let src = host_addr(i);
        let weight = activity.map_or(1.0, |d| d.sample(rng)).min(200.0);
        let n = (m.flows_per_host_hour * hours * weight).round() as u64;
        let own_resolver = rng.random_range(0..m.resolvers.max(1));
        for _ in 0..n {
            let start = diurnal_time(s, rng);
            let r: f64 = rng.random();
            let mut flow = SimFlow {
                start_ms: start,
                src,
                dst: random_public(rng),
                src_port: ephemeral(rng),
                dst_port: [80, 443, 443, 443, 25, 8080, 993][rng.random_range(0..7)],
                bytes: rng.random_range(40..200_000),
                duration_ms: rng.random_range(0..20_000),
                protocol: 6,
            };
            if r < m.dns_share && m.resolvers > 0 {
                // Mostly the host's own resolver, sometimes another one.
                let k = if rng.random_bool(0.8) {
                    own_resolver
                } else {
                    rng.random_range(0..m.resolvers)
                };
                flow.dst = resolver_addr(k);
                flow.dst_port = 53;
                flow.protocol = 17;
                flow.bytes = rng.random_range(60..300);
                flow.duration_ms = rng.random_range(0..50);
            } else if r < m.dns_share + m.long_share {
                long_connection(m, &mut flow, rng, out);
                continue;
            } else if let (Some(z), true) = (&popular, rng.random_bool(0.7)) {
                flow.dst = servers[(z.sample(rng) as usize).clamp(1, servers.len()) - 1];
            }
            push(s, flow, rng, out);
        }
    }
}

/// A long connection, split into back-to-back flows at the active timeout.
fn long_connection(
    m: &BackgroundModel,
    first: &mut SimFlow,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<SimFlow>,
) {
    let total = rng.random_range(600_000..10_800_000i64);
    let chunk = if m.active_timeout_ms > 0 {
        m.active_timeout_ms
    } else {
        total
    };
    let mut t = 0;
    while t < total {
        let len = chunk.min(total - t);
        out.push(SimFlow {
            start_ms: first.start_ms + t,
            duration_ms: len as u32,
            bytes: rng.random_range(10_000..5_000_000),
            ..*first
        });
        t += len;
    }
}

fn push(s: &Scenario, flow: SimFlow, rng: &mut ChaCha8Rng, out: &mut Vec<SimFlow>) {
    out.push(flow);
    if s.replies {
        out.push(flow.reply(rng.random_range(1..200), rng.random_range(40..1_000_000)));
    }
}

/// A start time in the window with density `∝ 1 + a·cos(2π(h − 14)/24)` (peak at 14:00 UTC).
fn diurnal_time(s: &Scenario, rng: &mut ChaCha8Rng) -> i64 {
    let a = s.background.diurnal.clamp(0.0, 1.0);
    loop {
        let t = s.start_ms + rng.random_range(0..s.duration_ms.max(1));
        let hour = (t.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
        let density = (1.0 + a * (TAU * (hour - 14.0) / 24.0).cos()) / (1.0 + a);
        if rng.random::<f64>() < density {
            return t;
        }
    }
}
