//! [`Singles`]: a host's peers with exactly one flow time, 8 bytes each for an IPv4 peer (20
//! for IPv6) in an open-addressing table, instead of a 56-byte [`Pair`](super::Pair) and a
//! slot in the host's pair index.
//!
//! Most peers of a busy host are contacted once (background traffic); they cost most of the
//! state when the horizon is short. A single needs no more than its peer and its time: it is
//! never periodic (the engine keeps singles only for algorithms that judge no pair of one
//! time), its evaluated count follows from its time and the host's last tick, and it has no
//! drift. Times are kept as `u32` offsets from a base shared by the host's singles, so they
//! must lie within 2³² ms (49.7 days) of each other; the base moves when the singles allow
//! it, and a time that cannot share it stays a [`Pair`](super::Pair).
//!
//! Iteration order follows the table's hashes, i.e. it is arbitrary: whoever needs an order
//! (snapshots) sorts.

use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::budget::heap_cost;

/// Offsets are `u32`: times in `[base, base + SPAN)`.
const SPAN: i64 = 1 << 32;

/// Peers with one flow time each.
#[derive(Debug, Clone, Default)]
pub(crate) struct Singles {
    /// Time of offset 0 (meaningless while empty).
    base: i64,
    v4: HashTable<(u32, u32)>,
    v6: HashTable<([u8; 16], u32)>,
}

impl Singles {
    /// Number of singles.
    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn time(&self, off: u32) -> i64 {
        self.base + i64::from(off)
    }

    fn offset(&self, t: i64) -> Option<u32> {
        u32::try_from(t.checked_sub(self.base)?).ok()
    }

    /// The time of `peer` (`hash`: the engine hasher's hash of `peer`).
    pub(crate) fn get(&self, hash: u64, peer: IpAddr) -> Option<i64> {
        let off = match peer {
            IpAddr::V4(a) => {
                let k = a.to_bits();
                self.v4.find(hash, |e| e.0 == k)?.1
            }
            IpAddr::V6(a) => {
                let k = a.octets();
                self.v6.find(hash, |e| e.0 == k)?.1
            }
        };
        Some(self.time(off))
    }

    /// Removes `peer`, returning its time.
    pub(crate) fn remove(&mut self, hash: u64, peer: IpAddr) -> Option<i64> {
        let off = match peer {
            IpAddr::V4(a) => {
                let k = a.to_bits();
                let entry = self.v4.find_entry(hash, |e| e.0 == k).ok()?;
                entry.remove().0 .1
            }
            IpAddr::V6(a) => {
                let k = a.octets();
                let entry = self.v6.find_entry(hash, |e| e.0 == k).ok()?;
                entry.remove().0 .1
            }
        };
        Some(self.time(off))
    }

    /// Adds `peer`, which must not be present, at `t`. False (and nothing added) when `t`
    /// cannot share a base with the times held: the caller keeps it as a pair.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        peer: IpAddr,
        t: i64,
        hasher: &DefaultHashBuilder,
    ) -> bool {
        if self.is_empty() {
            // Room for times half the span before and after.
            self.base = t.saturating_sub(SPAN / 2);
        }
        let off = match self.offset(t) {
            Some(off) => off,
            None => match self.rebase(t).then(|| self.offset(t)).flatten() {
                Some(off) => off,
                None => return false,
            },
        };
        match peer {
            IpAddr::V4(a) => {
                self.v4.insert_unique(hash, (a.to_bits(), off), |e| {
                    hasher.hash_one(IpAddr::V4(Ipv4Addr::from_bits(e.0)))
                });
            }
            IpAddr::V6(a) => {
                self.v6.insert_unique(hash, (a.octets(), off), |e| {
                    hasher.hash_one(IpAddr::V6(Ipv6Addr::from(e.0)))
                });
            }
        }
        true
    }

    /// Moves the base so that the times held and `t` are centred in the span; false when they
    /// do not fit in one span.
    fn rebase(&mut self, t: i64) -> bool {
        let offsets = self
            .v4
            .iter()
            .map(|e| e.1)
            .chain(self.v6.iter().map(|e| e.1));
        let (lo, hi) = offsets.fold((u32::MAX, 0), |(lo, hi), o| (lo.min(o), hi.max(o)));
        let (lo, hi) = (self.time(lo).min(t), self.time(hi).max(t));
        let Some(width) = hi.checked_sub(lo).filter(|w| *w < SPAN) else {
            return false;
        };
        let Some(base) = lo.checked_sub((SPAN - 1 - width) / 2) else {
            return false;
        };
        let shift = |off: &mut u32, old: i64| *off = (old + i64::from(*off) - base) as u32;
        let old = self.base;
        self.v4.iter_mut().for_each(|e| shift(&mut e.1, old));
        self.v6.iter_mut().for_each(|e| shift(&mut e.1, old));
        self.base = base;
        true
    }

    /// Keeps the singles for which `keep(peer, time)` is true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(IpAddr, i64) -> bool) {
        let base = self.base;
        self.v4
            .retain(|e| keep(IpAddr::V4(Ipv4Addr::from_bits(e.0)), base + i64::from(e.1)));
        self.v6
            .retain(|e| keep(IpAddr::V6(Ipv6Addr::from(e.0)), base + i64::from(e.1)));
    }

    /// Every single as (peer, time), in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpAddr, i64)> + '_ {
        let v4 = self
            .v4
            .iter()
            .map(|e| (IpAddr::V4(Ipv4Addr::from_bits(e.0)), self.time(e.1)));
        let v6 = self
            .v6
            .iter()
            .map(|e| (IpAddr::V6(Ipv6Addr::from(e.0)), self.time(e.1)));
        v4.chain(v6)
    }

    /// Gives memory back when the tables are mostly empty (after evictions).
    pub(crate) fn shrink(&mut self, hasher: &DefaultHashBuilder) {
        if self.v4.capacity() > 4 * self.v4.len() + 8 {
            let n = self.v4.len();
            self.v4.shrink_to(n + n / 4, |e| {
                hasher.hash_one(IpAddr::V4(Ipv4Addr::from_bits(e.0)))
            });
        }
        if self.v6.capacity() > 4 * self.v6.len() + 8 {
            let n = self.v6.len();
            self.v6.shrink_to(n + n / 4, |e| {
                hasher.hash_one(IpAddr::V6(Ipv6Addr::from(e.0)))
            });
        }
    }

    /// Heap bytes of the tables.
    pub(crate) fn heap_bytes(&self) -> usize {
        heap_cost(self.v4.allocation_size()) + heap_cost(self.v6.allocation_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + n))
    }

    fn ip6(n: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n))
    }

    #[test]
    fn holds_removes_and_iterates_both_families() {
        let h = DefaultHashBuilder::default();
        let mut s = Singles::default();
        let t0 = 1_700_000_000_000;
        for n in 0..100u16 {
            assert!(s.insert(
                h.hash_one(ip4(n.into())),
                ip4(n.into()),
                t0 + i64::from(n),
                &h
            ));
            assert!(s.insert(h.hash_one(ip6(n)), ip6(n), t0 - i64::from(n), &h));
        }
        assert_eq!(s.len(), 200);
        assert_eq!(s.get(h.hash_one(ip4(7)), ip4(7)), Some(t0 + 7));
        assert_eq!(s.get(h.hash_one(ip6(7)), ip6(7)), Some(t0 - 7));
        assert_eq!(s.get(h.hash_one(ip4(700)), ip4(700)), None);
        assert_eq!(s.remove(h.hash_one(ip6(9)), ip6(9)), Some(t0 - 9));
        assert_eq!(s.remove(h.hash_one(ip6(9)), ip6(9)), None);
        s.retain(|peer, t| peer.is_ipv6() || t < t0 + 50);
        assert_eq!(s.len(), 50 + 99);
        let mut all: Vec<_> = s.iter().collect();
        all.sort_unstable();
        assert_eq!(all[0], (ip4(0), t0));
        assert_eq!(all[49], (ip4(49), t0 + 49));
        assert_eq!(all[50], (ip6(0), t0));
        assert!(s.heap_bytes() > 0);
        s.retain(|_, _| false);
        s.shrink(&h);
        assert_eq!(s.heap_bytes(), 0);
    }

    #[test]
    fn the_base_moves_with_the_times_and_refuses_what_cannot_fit() {
        let h = DefaultHashBuilder::default();
        let mut s = Singles::default();
        let day = 86_400_000;
        let t0 = 1_700_000_000_000;
        assert!(s.insert(h.hash_one(ip4(0)), ip4(0), t0, &h));
        // 40 days later: beyond half the span from the first base, so the base moves.
        assert!(s.insert(h.hash_one(ip4(1)), ip4(1), t0 + 40 * day, &h));
        assert!(s.insert(h.hash_one(ip4(2)), ip4(2), t0 - 9 * day, &h));
        // 60 days from the oldest: no base can hold both.
        assert!(!s.insert(h.hash_one(ip4(3)), ip4(3), t0 + 51 * day, &h));
        assert!(!s.insert(h.hash_one(ip4(3)), ip4(3), i64::MIN, &h));
        let mut all: Vec<_> = s.iter().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            [
                (ip4(0), t0),
                (ip4(1), t0 + 40 * day),
                (ip4(2), t0 - 9 * day)
            ]
        );
        // Extremes of i64 work while alone.
        let mut s = Singles::default();
        assert!(s.insert(h.hash_one(ip4(0)), ip4(0), i64::MIN, &h));
        assert_eq!(s.get(h.hash_one(ip4(0)), ip4(0)), Some(i64::MIN));
        let mut s = Singles::default();
        assert!(s.insert(h.hash_one(ip4(0)), ip4(0), i64::MAX, &h));
        assert_eq!(s.get(h.hash_one(ip4(0)), ip4(0)), Some(i64::MAX));
    }
}
