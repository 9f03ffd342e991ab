//! False-positive control, shared by the detector's engine and `relbot analyze`: which
//! periodic peers count towards a host's score.
//!
//! - **Allow-lists**: peers in allow-listed networks and flows to allow-listed destination
//!   ports are never evidence (ports are dropped at ingest, networks at evaluation so that a
//!   changed list applies at the next tick). The lists come from the configuration and from
//!   an optional allow-list file, re-read when its modification time changes
//!   ([`AllowFile`], the only part of this crate that touches the file system).
//! - **Prevalence**: a peer found periodic for more than
//!   `max(prevalence_max_hosts, prevalence_max_share × hosts with a periodic peer)` hosts is
//!   infrastructure (NTP pools, update servers, a popular service's heartbeat), not a botnet
//!   peer, and is excluded for every host ([`Prevalence`]).
//! - **Minimum peers**: a host is reported only when at least `min_peers` peers share one of
//!   its periods.
//! - **Replies** ([`fold_replies`]): when both `A→B` and `B→A` are periodic, the later
//!   direction is the reply of the earlier one and is not evidence against `B`.
//!
//! Exporter active-timeout splits are handled by the beacon algorithm itself (flows that
//! continue a contact back to back are one contact; see `BeaconParams::split_timeouts_ms`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::{Cidr, EngineError, Networks};

/// The `[filter]` section of the detector and `relbot analyze` configurations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Peers never counted as evidence: CIDRs or addresses.
    pub allow_peers: Vec<String>,
    /// Destination ports whose flows are ignored.
    pub allow_ports: Vec<u16>,
    /// A file of further allow-list entries, one per line (`# comments`; a CIDR or address, or
    /// `port N`), re-read when its modification time changes.
    pub allow_file: Option<PathBuf>,
    /// A peer periodic for at most this many hosts is never infrastructure (count; 0 turns
    /// prevalence off together with `prevalence_max_share = 1`).
    pub prevalence_max_hosts: u32,
    /// A peer periodic for more than this share of the hosts that have any periodic peer
    /// (and for more than `prevalence_max_hosts`) is infrastructure (0..1).
    pub prevalence_max_share: f64,
    /// Fewest peers sharing a period for a host to be reported (≥ 1).
    pub min_peers: u32,
    /// Whether the reply direction of a periodic conversation is discarded (see
    /// [`fold_replies`]; `relbot analyze` only: a detector partition sees one direction).
    pub fold_replies: bool,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            allow_peers: Vec::new(),
            allow_ports: Vec::new(),
            allow_file: None,
            prevalence_max_hosts: 5,
            prevalence_max_share: 0.01,
            min_peers: 1,
            fold_replies: true,
        }
    }
}

impl FilterConfig {
    /// No filtering at all: every periodic peer counts (the original's behaviour).
    pub fn off() -> Self {
        Self {
            prevalence_max_hosts: u32::MAX,
            prevalence_max_share: 1.0,
            fold_replies: false,
            ..Self::default()
        }
    }
}

/// The allow-lists and rules in force, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerFilter {
    peers: Networks,
    ports: Vec<u16>,
    prevalence_max_hosts: u32,
    prevalence_max_share: f64,
    min_peers: usize,
    fold_replies: bool,
}

impl Default for PeerFilter {
    fn default() -> Self {
        Self::off()
    }
}

impl PeerFilter {
    /// A filter that lets everything through.
    pub fn off() -> Self {
        Self {
            peers: Networks::new(Vec::new()),
            ports: Vec::new(),
            prevalence_max_hosts: u32::MAX,
            prevalence_max_share: 1.0,
            min_peers: 1,
            fold_replies: false,
        }
    }

    /// The filter of `config` plus the entries of its allow-list file (read now, if any).
    pub fn new(config: &FilterConfig) -> Result<Self, EngineError> {
        if !(0.0..=1.0).contains(&config.prevalence_max_share) {
            return Err(EngineError::config(
                "filter.prevalence_max_share",
                "must be within 0..1",
            ));
        }
        if config.min_peers == 0 {
            return Err(EngineError::config(
                "filter.min_peers",
                "must be at least 1",
            ));
        }
        let mut peers: Vec<Cidr> = Vec::new();
        for p in &config.allow_peers {
            peers.push(
                p.parse().map_err(|e| {
                    EngineError::config("filter.allow_peers", format!("{p:?}: {e}"))
                })?,
            );
        }
        let mut ports = config.allow_ports.clone();
        if let Some(path) = &config.allow_file {
            let (more_peers, more_ports) = AllowFile::read(path)?;
            peers.extend(more_peers);
            ports.extend(more_ports);
        }
        ports.sort_unstable();
        ports.dedup();
        Ok(Self {
            peers: Networks::new(peers),
            ports,
            prevalence_max_hosts: config.prevalence_max_hosts,
            prevalence_max_share: config.prevalence_max_share,
            min_peers: config.min_peers as usize,
            fold_replies: config.fold_replies,
        })
    }

    /// Whether flows to `port` are ignored at ingest.
    pub fn ignores_port(&self, port: u16) -> bool {
        self.ports.binary_search(&port).is_ok()
    }

    /// Whether `peer` is allow-listed (never evidence).
    pub fn allows_peer(&self, peer: IpAddr) -> bool {
        !self.peers.list().is_empty() && self.peers.contains(peer)
    }

    /// Most hosts a peer may be periodic for before it counts as infrastructure, with
    /// `periodic_hosts` hosts having any periodic peer.
    pub fn prevalence_limit(&self, periodic_hosts: usize) -> u32 {
        let share = (self.prevalence_max_share * periodic_hosts as f64).floor();
        let share = if share >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            share as u32
        };
        self.prevalence_max_hosts.max(share)
    }

    /// Fewest peers sharing a period for a host to be reported.
    pub fn min_peers(&self) -> usize {
        self.min_peers
    }

    /// Whether replies are folded (see [`fold_replies`]).
    pub fn folds_replies(&self) -> bool {
        self.fold_replies
    }
}

/// How many hosts each peer is periodic for (the prevalence count), and how many hosts have
/// any periodic peer (what the share is taken of: in `relbot analyze` every source is a
/// "host", replies and servers included, so the hosts seen would be the wrong base). Kept up
/// to date with [`replace`](Self::replace) as hosts are evaluated.
#[derive(Debug, Clone, Default)]
pub struct Prevalence {
    hosts_per_peer: HashMap<IpAddr, u32>,
    periodic_hosts: usize,
}

impl Prevalence {
    /// A host's periodic peers change from `old` to `new`.
    pub fn replace(
        &mut self,
        old: impl IntoIterator<Item = IpAddr>,
        new: impl IntoIterator<Item = IpAddr>,
    ) {
        let mut had = false;
        for peer in old {
            self.remove(peer);
            had = true;
        }
        let mut has = false;
        for peer in new {
            self.add(peer);
            has = true;
        }
        self.periodic_hosts =
            (self.periodic_hosts + usize::from(has)).saturating_sub(usize::from(had));
    }

    /// Hosts with at least one periodic peer.
    pub fn periodic_hosts(&self) -> usize {
        self.periodic_hosts
    }

    /// One more host finds `peer` periodic (see also [`replace`](Self::replace)).
    pub fn add(&mut self, peer: IpAddr) {
        *self.hosts_per_peer.entry(peer).or_insert(0) += 1;
    }

    /// One host fewer finds `peer` periodic.
    pub fn remove(&mut self, peer: IpAddr) {
        if let Some(n) = self.hosts_per_peer.get_mut(&peer) {
            *n -= 1;
            if *n == 0 {
                self.hosts_per_peer.remove(&peer);
            }
        }
    }

    /// Hosts that find `peer` periodic.
    pub fn hosts(&self, peer: IpAddr) -> u32 {
        self.hosts_per_peer.get(&peer).copied().unwrap_or(0)
    }

    /// Whether `peer` is periodic for more hosts than `limit`.
    pub fn is_infrastructure(&self, peer: IpAddr, limit: u32) -> bool {
        self.hosts(peer) > limit
    }

    /// Peers with a count (for metrics).
    pub fn len(&self) -> usize {
        self.hosts_per_peer.len()
    }

    /// Whether no peer is periodic for any host.
    pub fn is_empty(&self) -> bool {
        self.hosts_per_peer.is_empty()
    }
}

/// Reply folding: given periodic pairs `(host, peer, first contact ms)`, the indices of those
/// that are replies — `B→A` periodic while `A→B` is periodic too and started no later. An
/// exporter that does not fold a conversation's two directions into one flow reports the
/// peers' replies as flows `B→A` a few milliseconds after each `A→B`; without folding, every
/// peer of a bot would look like a host beaconing to it.
pub fn fold_replies(pairs: &[(IpAddr, IpAddr, i64)]) -> Vec<usize> {
    let first: HashMap<(IpAddr, IpAddr), i64> =
        pairs.iter().map(|&(h, p, t)| ((h, p), t)).collect();
    pairs
        .iter()
        .enumerate()
        .filter(|(_, &(h, p, t))| {
            first
                .get(&(p, h))
                .is_some_and(|&forward| forward < t || (forward == t && p < h))
        })
        .map(|(i, _)| i)
        .collect()
}

/// An allow-list file, re-read when its modification time changes.
#[derive(Debug, Clone)]
pub struct AllowFile {
    config: FilterConfig,
    modified: Option<SystemTime>,
}

impl AllowFile {
    /// Watches `config.allow_file` (if any); [`reload`](Self::reload) gives a new filter when
    /// it changed.
    pub fn new(config: FilterConfig) -> Self {
        let modified = config.allow_file.as_deref().and_then(mtime);
        Self { config, modified }
    }

    /// A new filter when the file's modification time changed since the last look (`Ok(None)`
    /// when unchanged or when there is no file). A file that cannot be read or parsed is an
    /// error and the caller keeps its current filter.
    pub fn reload(&mut self) -> Result<Option<PeerFilter>, EngineError> {
        let Some(path) = self.config.allow_file.as_deref() else {
            return Ok(None);
        };
        let now = mtime(path);
        if now == self.modified {
            return Ok(None);
        }
        self.modified = now;
        PeerFilter::new(&self.config).map(Some)
    }

    /// Reads the entries of an allow-list file: networks and ports.
    pub fn read(path: &Path) -> Result<(Vec<Cidr>, Vec<u16>), EngineError> {
        let key = "filter.allow_file";
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::config(key, format!("{}: {e}", path.display())))?;
        let (mut peers, mut ports) = (Vec::new(), Vec::new());
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let bad = |what: String| {
                EngineError::config(key, format!("{}:{}: {what}", path.display(), i + 1))
            };
            if let Some(port) = entry.strip_prefix("port") {
                let port = port.trim();
                ports.push(
                    port.parse::<u16>()
                        .map_err(|e| bad(format!("port {port:?}: {e}")))?,
                );
            } else {
                peers.push(
                    entry
                        .parse::<Cidr>()
                        .map_err(|e| bad(format!("{entry:?}: {e}")))?,
                );
            }
        }
        Ok((peers, ports))
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allow_lists_and_limits() {
        let f = PeerFilter::new(&FilterConfig {
            allow_peers: vec!["192.0.2.0/24".into()],
            allow_ports: vec![123, 53],
            ..FilterConfig::default()
        })
        .unwrap();
        assert!(f.allows_peer(ip("192.0.2.9")) && !f.allows_peer(ip("198.51.100.1")));
        assert!(f.ignores_port(123) && !f.ignores_port(443));
        assert_eq!(f.prevalence_limit(100), 5);
        assert_eq!(f.prevalence_limit(2000), 20);
        assert!(!PeerFilter::off().allows_peer(ip("192.0.2.9")));
        let e = PeerFilter::new(&FilterConfig {
            allow_peers: vec!["10.0.0.0/40".into()],
            ..FilterConfig::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("filter.allow_peers"), "{e}");
    }

    #[test]
    fn prevalence_counts_hosts() {
        let mut p = Prevalence::default();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        p.replace([], [a, b]);
        p.replace([], [a]);
        assert_eq!((p.periodic_hosts(), p.hosts(a), p.hosts(b)), (2, 2, 1));
        p.replace([a, b], []);
        p.replace([a], [b]);
        assert_eq!((p.periodic_hosts(), p.hosts(a), p.hosts(b)), (1, 0, 1));
        let mut p = Prevalence::default();
        for _ in 0..3 {
            p.add(ip("192.0.2.1"));
        }
        p.remove(ip("192.0.2.1"));
        p.remove(ip("192.0.2.2"));
        assert_eq!(p.hosts(ip("192.0.2.1")), 2);
        assert!(p.is_infrastructure(ip("192.0.2.1"), 1));
        assert!(!p.is_infrastructure(ip("192.0.2.1"), 2));
        p.remove(ip("192.0.2.1"));
        p.remove(ip("192.0.2.1"));
        assert!(p.is_empty());
    }

    #[test]
    fn replies_are_the_later_direction() {
        let (a, b, c) = (ip("10.0.0.1"), ip("192.0.2.1"), ip("192.0.2.2"));
        let pairs = [
            (a, b, 1_000),
            (b, a, 1_050),
            (a, c, 5),
            (c, ip("10.0.0.9"), 7),
        ];
        assert_eq!(fold_replies(&pairs), vec![1]);
    }

    #[test]
    fn allow_file_is_reloaded_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("relbot-allow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("allow.txt");
        std::fs::write(&path, "# infrastructure\n192.0.2.0/24\nport 123\n").unwrap();
        let config = FilterConfig {
            allow_file: Some(path.clone()),
            ..FilterConfig::default()
        };
        let f = PeerFilter::new(&config).unwrap();
        assert!(f.allows_peer(ip("192.0.2.7")) && f.ignores_port(123));
        let mut watch = AllowFile::new(config);
        assert_eq!(watch.reload().unwrap(), None);
        std::fs::write(&path, "198.51.100.7\n").unwrap();
        // Make the change visible even on file systems with coarse timestamps.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let f = watch.reload().unwrap().unwrap();
        assert!(f.allows_peer(ip("198.51.100.7")) && !f.allows_peer(ip("192.0.2.7")));
        assert!(!f.ignores_port(123));
        std::fs::write(&path, "not-an-address\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later + std::time::Duration::from_secs(5))
            .unwrap();
        let e = watch.reload().unwrap_err();
        assert!(e.to_string().contains("allow.txt:1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
