//! The batch store of `relbot analyze`: each host's flows as 8-byte rows (peer, start-time
//! offset), sorted per host at the end so that each (host, peer) pair's times are one run.
//!
//! Why rows and not a map of pairs: real traffic has about one distinct pair per two flows
//! (browsing, CDNs, scans), and a hash-map entry per pair costs more than the flows it holds.
//! Rows cost 8 bytes a flow and sort as plain `u64`s, hosts in parallel. Sources are interned
//! (monitored hosts are few); an IPv4 peer is stored as its 32 bits, an IPv6 peer as an
//! interned id. Times are `u32` offsets from a base near the first flow (±24.8 days); a flow
//! outside that span is kept with its full `i64` time in a side list of its host.

use std::net::{IpAddr, Ipv6Addr};

use hashbrown::HashMap;
use rayon::prelude::*;
use relbot_flow::FlowRecord;

/// Interns values to dense `u32` ids.
#[derive(Debug)]
struct Interner<T> {
    ids: HashMap<T, u32>,
    values: Vec<T>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            ids: HashMap::new(),
            values: Vec::new(),
        }
    }
}

impl<T: std::hash::Hash + Eq + Copy> Interner<T> {
    fn id(&mut self, value: T) -> u32 {
        let next = self.values.len() as u32;
        let id = *self.ids.entry(value).or_insert(next);
        if id == next {
            self.values.push(value);
        }
        id
    }
}

/// A peer as stored in a row: IPv4 bits or an IPv6 id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    V4(u32),
    V6(u32),
}

/// One host's flows.
#[derive(Debug, Default)]
struct HostRows {
    /// `ipv4 << 32 | offset`.
    v4: Vec<u64>,
    /// `ipv6 id << 32 | offset`.
    v6: Vec<u64>,
    /// Flows too far from the base for a `u32` offset.
    wide: Vec<(Peer, i64)>,
}

/// All flows of a run, as rows per host.
#[derive(Debug, Default)]
pub struct FlowRows {
    sources: Interner<IpAddr>,
    hosts: Vec<HostRows>,
    v6_peers: Interner<Ipv6Addr>,
    base: Option<i64>,
    flows: u64,
}

/// Appends, growing by half rather than doubling: rows are most of the memory of a run, and
/// this keeps the unused tail at a third of a host's rows at worst instead of a half.
fn push(rows: &mut Vec<u64>, row: u64) {
    if rows.len() == rows.capacity() {
        rows.reserve_exact((rows.len() / 2).max(8));
    }
    rows.push(row);
}

/// Half the span a `u32` offset covers: the base sits this far before the first flow.
const HALF_SPAN: i64 = 1 << 31;

impl FlowRows {
    /// Adds one flow.
    pub fn add(&mut self, flow: &FlowRecord) {
        self.flows += 1;
        let src = self.sources.id(flow.src) as usize;
        if src == self.hosts.len() {
            self.hosts.push(HostRows::default());
        }
        let peer = match flow.dst {
            IpAddr::V4(a) => Peer::V4(u32::from(a)),
            IpAddr::V6(a) => Peer::V6(self.v6_peers.id(a)),
        };
        let base = *self
            .base
            .get_or_insert(flow.start_ms.saturating_sub(HALF_SPAN));
        let offset = flow
            .start_ms
            .checked_sub(base)
            .and_then(|d| u32::try_from(d).ok());
        let host = &mut self.hosts[src];
        match (peer, offset) {
            (Peer::V4(a), Some(t)) => push(&mut host.v4, u64::from(a) << 32 | u64::from(t)),
            (Peer::V6(id), Some(t)) => push(&mut host.v6, u64::from(id) << 32 | u64::from(t)),
            (peer, None) => host.wide.push((peer, flow.start_ms)),
        }
    }

    /// Flows added.
    pub fn flows(&self) -> u64 {
        self.flows
    }

    /// Distinct sources.
    pub fn hosts(&self) -> usize {
        self.sources.values.len()
    }

    /// Calls `visit(host, pairs)` once per source, sources in parallel; `pairs` yields each of
    /// the host's peers with its start times, ascending.
    pub fn for_each_host<R: Send>(
        self,
        visit: impl Fn(IpAddr, &mut PairCursor<'_>) -> R + Sync,
    ) -> Vec<R> {
        self.for_each_host_with(|| (), |_, host, pairs| visit(host, pairs))
    }

    /// [`for_each_host`](Self::for_each_host) with a state made by `init` for each batch of
    /// hosts a thread takes on (a few per thread), passed to every `visit` of that batch.
    pub fn for_each_host_with<T, R: Send>(
        self,
        init: impl Fn() -> T + Sync + Send,
        visit: impl Fn(&mut T, IpAddr, &mut PairCursor<'_>) -> R + Sync + Send,
    ) -> Vec<R> {
        let Self {
            sources,
            hosts,
            v6_peers,
            base,
            ..
        } = self;
        let base = base.unwrap_or(0);
        let v6_peers = &v6_peers.values;
        hosts
            .into_par_iter()
            .zip(sources.values.into_par_iter())
            .map_init(init, |state, (rows, host)| {
                let rows = HostWalk::new(rows, base);
                let mut at = 0usize;
                let mut cursor = PairCursor {
                    fill: Box::new(|times: &mut Vec<i64>| {
                        let peer = rows.pair(&mut at, times)?;
                        Some(match peer {
                            Peer::V4(a) => IpAddr::V4(a.into()),
                            Peer::V6(id) => IpAddr::V6(v6_peers[id as usize]),
                        })
                    }),
                    times: Vec::new(),
                };
                visit(state, host, &mut cursor)
            })
            .collect()
    }
}

/// One host's rows, sorted for walking pair by pair.
enum HostWalk {
    /// The common case: IPv4 rows, then IPv6 rows, each sorted by (peer, offset).
    Narrow {
        rows: Vec<u64>,
        v6_from: usize,
        base: i64,
    },
    /// The host has flows outside the offset span: every row with its full time.
    Wide(Vec<(Peer, i64)>),
}

impl HostWalk {
    fn new(rows: HostRows, base: i64) -> Self {
        let HostRows {
            mut v4,
            mut v6,
            wide,
        } = rows;
        if wide.is_empty() {
            v4.sort_unstable();
            v6.sort_unstable();
            let v6_from = v4.len();
            v4.append(&mut v6);
            return Self::Narrow {
                rows: v4,
                v6_from,
                base,
            };
        }
        let mut all = wide;
        all.extend(
            v4.iter()
                .map(|&r| (Peer::V4((r >> 32) as u32), base + (r & 0xffff_ffff) as i64)),
        );
        all.extend(
            v6.iter()
                .map(|&r| (Peer::V6((r >> 32) as u32), base + (r & 0xffff_ffff) as i64)),
        );
        all.sort_unstable();
        Self::Wide(all)
    }

    /// Fills `times` with the pair starting at row `at`, advances `at`, returns its peer.
    fn pair(&self, at: &mut usize, times: &mut Vec<i64>) -> Option<Peer> {
        times.clear();
        match self {
            Self::Narrow {
                rows,
                v6_from,
                base,
            } => {
                let first = *rows.get(*at)?;
                let peer_bits = first >> 32;
                // Search within the family's own sorted region only.
                let region_end = if *at < *v6_from { *v6_from } else { rows.len() };
                let len = rows[*at..region_end].partition_point(|&r| r >> 32 == peer_bits);
                let end = *at + len;
                times.extend(
                    rows[*at..end]
                        .iter()
                        .map(|&r| base + (r & 0xffff_ffff) as i64),
                );
                let peer = if *at < *v6_from {
                    Peer::V4(peer_bits as u32)
                } else {
                    Peer::V6(peer_bits as u32)
                };
                *at = end;
                Some(peer)
            }
            Self::Wide(rows) => {
                let (peer, _) = *rows.get(*at)?;
                let len = rows[*at..].partition_point(|r| r.0 == peer);
                times.extend(rows[*at..*at + len].iter().map(|r| r.1));
                *at += len;
                Some(peer)
            }
        }
    }
}

/// Fills the buffer with the next pair's times and returns its peer.
type FillPair<'a> = dyn FnMut(&mut Vec<i64>) -> Option<IpAddr> + 'a;

/// Walks one host's peers: each call to [`PairCursor::next`] yields the next peer and its
/// start times, ascending, in a buffer reused from peer to peer.
pub struct PairCursor<'a> {
    fill: Box<FillPair<'a>>,
    times: Vec<i64>,
}

impl std::fmt::Debug for PairCursor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairCursor").finish_non_exhaustive()
    }
}

impl PairCursor<'_> {
    /// The next peer and its start times, or `None` after the last peer.
    #[allow(clippy::should_implement_trait)] // lends its buffer: not an `Iterator`
    pub fn next(&mut self) -> Option<(IpAddr, &[i64])> {
        let peer = (self.fill)(&mut self.times)?;
        Some((peer, &self.times))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(t: i64, src: &str, dst: &str) -> FlowRecord {
        FlowRecord::from_triple(t, src.parse().unwrap(), dst.parse().unwrap())
    }

    type Peers = Vec<(IpAddr, Vec<i64>)>;

    fn collect(rows: FlowRows) -> Vec<(IpAddr, Peers)> {
        let mut hosts = rows.for_each_host(|host, pairs| {
            let mut list = Vec::new();
            while let Some((peer, times)) = pairs.next() {
                list.push((peer, times.to_vec()));
            }
            (host, list)
        });
        hosts.sort();
        hosts
    }

    #[test]
    fn groups_by_ordered_pair_with_sorted_times() {
        let mut rows = FlowRows::default();
        for f in [
            flow(30, "10.0.0.1", "10.0.0.2"),
            flow(10, "10.0.0.2", "10.0.0.1"),
            flow(20, "10.0.0.1", "10.0.0.2"),
            flow(5, "10.0.0.1", "2001:db8::1"),
            flow(7, "10.0.0.1", "2001:db8::1"),
            // IPv4 bits 0 and 1 equal the first IPv6 ids: the families must stay apart.
            flow(6, "10.0.0.1", "0.0.0.1"),
            flow(8, "10.0.0.1", "0.0.0.0"),
            flow(9, "10.0.0.1", "2001:db8::2"),
        ] {
            rows.add(&f);
        }
        assert_eq!((rows.flows(), rows.hosts()), (8, 2));
        let hosts = collect(rows);
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        assert_eq!(
            hosts,
            vec![
                (
                    ip("10.0.0.1"),
                    vec![
                        (ip("0.0.0.0"), vec![8]),
                        (ip("0.0.0.1"), vec![6]),
                        (ip("10.0.0.2"), vec![20, 30]),
                        (ip("2001:db8::1"), vec![5, 7]),
                        (ip("2001:db8::2"), vec![9])
                    ]
                ),
                (ip("10.0.0.2"), vec![(ip("10.0.0.1"), vec![10])])
            ]
        );
    }

    #[test]
    fn spans_beyond_a_u32_offset_keep_exact_times() {
        let mut rows = FlowRows::default();
        let day = 86_400_000i64;
        let t0 = 1_416_000_000_000;
        let times = [t0, t0 + 60 * day, t0 - 30 * day, t0 + day];
        for t in times {
            rows.add(&flow(t, "10.0.0.1", "10.0.0.2"));
        }
        rows.add(&flow(t0, "10.0.0.1", "2001:db8::1"));
        let hosts = collect(rows);
        let mut expected = times.to_vec();
        expected.sort_unstable();
        assert_eq!(hosts[0].1[0].1, expected);
        assert_eq!(hosts[0].1[1].1, vec![t0]);
    }
}
