//! The batch store of `relbot analyze`: every flow as a 12-byte row (source id, destination,
//! start-time offset), sorted once at the end so that each (host, peer) pair's times are one
//! run of rows.
//!
//! Why rows and not a map of pairs: real traffic has about one distinct pair per two flows
//! (browsing, CDNs, scans), and a hash-map entry per pair costs more than the flows it holds.
//! Rows cost 12 bytes a flow, sort in parallel, and leave the time-ordered runs the algorithm
//! needs. Sources are interned (monitored hosts are few); IPv4 destinations are stored as
//! their 32 bits; IPv6 destinations are interned. Times are `u32` offsets from a base near
//! the first flow (±24.8 days); a flow outside that span switches the store to 16-byte rows
//! with full `i64` times.

use std::net::{IpAddr, Ipv6Addr};

use hashbrown::HashMap;
use rayon::prelude::*;
use relbot_flow::FlowRecord;

/// A row: `key` = source id << 1 | destination-is-IPv6, `dst` = IPv4 bits or IPv6 id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Row<T> {
    key: u32,
    dst: u32,
    t: T,
}

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

/// All flows of a run, as rows.
#[derive(Debug, Default)]
pub struct FlowRows {
    sources: Interner<IpAddr>,
    v6_peers: Interner<Ipv6Addr>,
    base: Option<i64>,
    narrow: Vec<Row<u32>>,
    wide: Vec<Row<i64>>,
}

/// Half the span a `u32` offset covers: the base sits this far before the first flow.
const HALF_SPAN: i64 = 1 << 31;

impl FlowRows {
    /// Adds one flow.
    pub fn add(&mut self, flow: &FlowRecord) {
        let src = self.sources.id(flow.src);
        let (v6, dst) = match flow.dst {
            IpAddr::V4(a) => (0, u32::from(a)),
            IpAddr::V6(a) => (1, self.v6_peers.id(a)),
        };
        let key = src << 1 | v6;
        let base = *self
            .base
            .get_or_insert(flow.start_ms.saturating_sub(HALF_SPAN));
        let offset = flow
            .start_ms
            .checked_sub(base)
            .and_then(|d| u32::try_from(d).ok());
        match offset {
            Some(t) if self.wide.is_empty() => self.narrow.push(Row { key, dst, t }),
            _ => self.wide.push(Row {
                key,
                dst,
                t: flow.start_ms,
            }),
        }
    }

    /// Flows added.
    pub fn flows(&self) -> u64 {
        (self.narrow.len() + self.wide.len()) as u64
    }

    /// Distinct sources.
    pub fn hosts(&self) -> usize {
        self.sources.values.len()
    }

    /// Sorts the rows and calls `visit(host, pairs)` once per source, sources in parallel;
    /// `pairs` yields each of the host's peers with its start times, ascending.
    pub fn for_each_host<R: Send>(
        mut self,
        visit: impl Fn(IpAddr, &mut PairCursor<'_>) -> R + Sync,
    ) -> Vec<R> {
        let sources = std::mem::take(&mut self.sources.values);
        let v6_peers = std::mem::take(&mut self.v6_peers.values);
        let peer = |key: u32, dst: u32| -> IpAddr {
            if key & 1 == 0 {
                IpAddr::V4(dst.into())
            } else {
                IpAddr::V6(v6_peers[dst as usize])
            }
        };
        let base = self.base.unwrap_or(0);
        if self.wide.is_empty() {
            let mut rows = self.narrow;
            rows.par_sort_unstable();
            group_by_source(&rows, &sources, &peer, &|t| base + i64::from(t), &visit)
        } else {
            // Rare: a span over ~49 days. Widen everything, then the same walk.
            let mut rows = self.wide;
            rows.extend(self.narrow.iter().map(|r| Row {
                key: r.key,
                dst: r.dst,
                t: base + i64::from(r.t),
            }));
            drop(self.narrow);
            rows.par_sort_unstable();
            group_by_source(&rows, &sources, &peer, &|t| t, &visit)
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

/// Splits sorted rows by source and calls `visit` once per source, sources in parallel.
fn group_by_source<T: Copy + Send + Sync, R: Send>(
    rows: &[Row<T>],
    sources: &[IpAddr],
    peer: &(impl Fn(u32, u32) -> IpAddr + Sync),
    time: &(impl Fn(T) -> i64 + Sync),
    visit: &(impl Fn(IpAddr, &mut PairCursor<'_>) -> R + Sync),
) -> Vec<R> {
    // Source boundaries: both key values of a source (IPv4 and IPv6 peers) form one group.
    let mut starts = Vec::with_capacity(sources.len() + 1);
    let mut i = 0;
    while i < rows.len() {
        starts.push(i);
        let src = rows[i].key >> 1;
        i += rows[i..].partition_point(|r| r.key >> 1 == src);
    }
    starts.push(rows.len());
    starts
        .par_windows(2)
        .map(|w| {
            let host_rows = &rows[w[0]..w[1]];
            let host = sources[(host_rows[0].key >> 1) as usize];
            let mut at = 0;
            let mut cursor = PairCursor {
                fill: Box::new(move |times: &mut Vec<i64>| {
                    let first = *host_rows.get(at)?;
                    let len = host_rows[at..]
                        .partition_point(|r| r.key == first.key && r.dst == first.dst);
                    times.clear();
                    times.extend(host_rows[at..at + len].iter().map(|r| time(r.t)));
                    at += len;
                    Some(peer(first.key, first.dst))
                }),
                times: Vec::new(),
            };
            visit(host, &mut cursor)
        })
        .collect()
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
        ] {
            rows.add(&f);
        }
        assert_eq!((rows.flows(), rows.hosts()), (5, 2));
        let hosts = collect(rows);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            hosts,
            vec![
                (a, vec![(b, vec![20, 30]), (v6, vec![5, 7])]),
                (b, vec![(a, vec![10])])
            ]
        );
    }

    #[test]
    fn spans_beyond_a_u32_offset_keep_exact_times() {
        let mut rows = FlowRows::default();
        let day = 86_400_000i64;
        let times = [
            1_416_000_000_000,
            1_416_000_000_000 + 60 * day,
            1_416_000_000_000 - 30 * day,
        ];
        for t in times {
            rows.add(&flow(t, "10.0.0.1", "10.0.0.2"));
        }
        let hosts = collect(rows);
        let mut expected = times.to_vec();
        expected.sort_unstable();
        assert_eq!(hosts[0].1[0].1, expected);
    }
}
