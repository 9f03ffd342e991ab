//! P2P bots modelled on real families: each bot keeps a list of peers drawn from its
//! family's overlay and contacts every peer once per period. Real-world imperfections:
//! uniform jitter per beat, clock drift (every period `drift_ms` longer than nominal), lost
//! beats, peer churn (a peer replaced by a new one), and offline spells after which the bot
//! either restarts its timer (new phase) or resumes on its old schedule.

use std::net::{IpAddr, Ipv4Addr};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{ephemeral, host_addr, random_public, BotTruth, Scenario, SimFlow};

/// A bot family: its period and its peer list size.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Name, for the ground truth.
    pub name: &'static str,
    /// Period, ms.
    pub period_ms: i64,
    /// Peers per bot, inclusive range.
    pub peers: (u32, u32),
    /// Size of the family's overlay (the peers bots draw from).
    pub overlay: u32,
    /// Destination port and protocol of its keep-alives.
    pub port: (u16, u8),
}

/// The families modelled (public analyses of their P2P keep-alives).
pub fn families() -> Vec<Family> {
    vec![
        Family {
            name: "zeus-p2p",
            period_ms: 1_800_000,
            peers: (10, 30),
            overlay: 2000,
            port: (0, 17),
        },
        Family {
            name: "sality",
            period_ms: 2_400_000,
            peers: (8, 20),
            overlay: 2000,
            port: (0, 17),
        },
        Family {
            name: "kelihos",
            period_ms: 600_000,
            peers: (6, 16),
            overlay: 2000,
            port: (80, 6),
        },
        Family {
            name: "zeroaccess",
            period_ms: 900_000,
            peers: (8, 16),
            overlay: 2000,
            port: (16_471, 17),
        },
    ]
}

/// Parameters of the planted bots.
#[derive(Debug, Clone, PartialEq)]
pub struct BotModel {
    /// Share of monitored hosts that are bots, 0..1.
    pub share: f64,
    /// The families bots are drawn from (uniformly).
    pub families: Vec<Family>,
    /// Overrides every family's peers per bot (inclusive range).
    pub peers: Option<(u32, u32)>,
    /// Uniform jitter of each beat, ± ms.
    pub jitter_ms: i64,
    /// Clock drift: every period is this many ms longer than nominal (negative: shorter).
    pub drift_ms: i64,
    /// Probability that one beat is lost.
    pub loss: f64,
    /// Peers replaced per peer per day.
    pub churn_per_day: f64,
    /// Share of the window each bot spends offline (in spells of 30 min to 3 h).
    pub offline: f64,
    /// Whether a bot restarts its timer (new phase for every peer) when it comes back online.
    pub restart: bool,
}

impl Default for BotModel {
    fn default() -> Self {
        Self {
            share: 0.02,
            families: families(),
            peers: None,
            jitter_ms: 1_000,
            drift_ms: 0,
            loss: 0.02,
            churn_per_day: 0.2,
            offline: 0.0,
            restart: true,
        }
    }
}

/// Online intervals `[from, to)` covering `1 − offline` of the window, about.
fn online_spells(s: &Scenario, offline: f64, rng: &mut ChaCha8Rng) -> Vec<(i64, i64)> {
    if offline <= 0.0 {
        return vec![(s.start_ms, s.end_ms())];
    }
    let off = offline.min(0.95);
    let mut spells = Vec::new();
    // Alternating spells; each online spell and the offline spell after it come as a pair
    // of lengths in the ratio (1 − offline) : offline, the offline one 30 min to 3 h.
    let mut online = rng.random_bool(1.0 - off);
    let mut off_len = rng.random_range(1_800_000..10_800_000i64);
    // Start somewhere inside the first spell.
    let mut t = s.start_ms - rng.random_range(0..off_len);
    while t < s.end_ms() {
        let len = if online {
            (off_len as f64 * (1.0 - off) / off) as i64
        } else {
            off_len
        };
        if online && t + len > s.start_ms {
            spells.push((t.max(s.start_ms), (t + len).min(s.end_ms())));
        }
        t += len.max(1);
        if !online {
            off_len = rng.random_range(1_800_000..10_800_000i64);
        }
        online = !online;
    }
    spells
}

/// Appends the bots' flows; returns the ground truth of each bot.
pub fn generate(s: &Scenario, rng: &mut ChaCha8Rng, out: &mut Vec<SimFlow>) -> Vec<BotTruth> {
    let m = &s.bots;
    if m.families.is_empty() {
        return Vec::new();
    }
    let overlays: Vec<Vec<Ipv4Addr>> = m
        .families
        .iter()
        .map(|f| (0..f.overlay.max(1)).map(|_| random_public(rng)).collect())
        .collect();
    let n_bots = ((f64::from(s.hosts) * m.share).round() as u32).min(s.hosts);
    let stride = (s.hosts / n_bots.max(1)).max(1);
    let mut truth = Vec::new();
    for b in 0..n_bots {
        let host = host_addr(b * stride + rng.random_range(0..stride));
        let fi = rng.random_range(0..m.families.len());
        let family = &m.families[fi];
        let overlay = &overlays[fi];
        let (lo, hi) = m.peers.unwrap_or(family.peers);
        let n_peers = rng.random_range(lo..=hi.max(lo));
        let period = family.period_ms + m.drift_ms;
        let spells = online_spells(s, m.offline, rng);
        let online: i64 = spells.iter().map(|(a, b)| b - a).sum();
        let mut peers: Vec<IpAddr> = Vec::new();
        for _ in 0..n_peers {
            let mut peer = overlay[rng.random_range(0..overlay.len())];
            peers.push(IpAddr::V4(peer));
            let port = match family.port.0 {
                0 => rng.random_range(1024..65535),
                p => p,
            };
            // The peer's schedule: a phase, then one beat per period.
            let mut next = s.start_ms + rng.random_range(0..period.max(1));
            let churn = m.churn_per_day * period as f64 / 86_400_000.0;
            for (k, &(from, to)) in spells.iter().enumerate() {
                if m.restart && (k > 0 || from > s.start_ms) {
                    // The timer restarts at power-on: the first contact within a minute.
                    next = from + rng.random_range(0..60_000);
                }
                while next < from {
                    next += period;
                }
                while next < to {
                    if rng.random_bool(churn.clamp(0.0, 1.0)) {
                        peer = overlay[rng.random_range(0..overlay.len())];
                        peers.push(IpAddr::V4(peer));
                    }
                    if !rng.random_bool(m.loss.clamp(0.0, 1.0)) {
                        let jitter = if m.jitter_ms > 0 {
                            rng.random_range(-m.jitter_ms..=m.jitter_ms)
                        } else {
                            0
                        };
                        out.push(SimFlow {
                            start_ms: next + jitter,
                            src: host,
                            dst: peer,
                            src_port: ephemeral(rng),
                            dst_port: port,
                            bytes: rng.random_range(60..600),
                            duration_ms: rng.random_range(0..2_000),
                            protocol: family.port.1,
                        });
                    }
                    next += period;
                }
            }
        }
        peers.sort();
        peers.dedup();
        truth.push(BotTruth {
            host: IpAddr::V4(host),
            family: family.name.into(),
            period_ms: family.period_ms,
            peers,
            offline_share: 1.0 - online as f64 / s.duration_ms as f64,
        });
    }
    truth
}
