//! [`Singles`]: a host's peers with exactly one flow time, 8 bytes each for an IPv4 peer (20
//! for IPv6), instead of a 56-byte [`Pair`](super::Pair) and a slot in the host's pair
//! index.
//!
//! Most peers of a busy host are contacted once (background traffic); they cost most of the
//! state when the horizon is short. A single needs no more than its peer and its time: it is
//! never periodic (the engine keeps singles only for algorithms that judge no pair of one
//! time), its evaluated count follows from its time and the host's last tick, and it has no
//! drift. Times are kept as `u32` offsets from a base shared by the host's singles, so they
//! must lie within 2³² ms (49.7 days) of each other; the base moves when the singles allow
//! it, and a time that cannot share it stays a [`Pair`](super::Pair).
//!
//! Layout: per address family one vector, a prefix sorted by address (binary search) and a
//! short unsorted tail of recent inserts (scanned), merged into the prefix when it exceeds
//! [`TAIL`] entries. A peer removed from the prefix (it got a second flow) leaves a
//! tombstone until the next merge or evaluation. No hash table: a table's empty buckets
//! cost as much again as its entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::budget::heap_cost;

/// Offsets are `u32` below [`TOMB`]: times in `[base, base + SPAN)`.
const SPAN: i64 = u32::MAX as i64;
/// The offset of a removed entry.
const TOMB: u32 = u32::MAX;
/// Most unsorted entries before a merge.
const TAIL: usize = 32;

/// An address as a run stores it.
trait Key: Copy + Ord {
    fn addr(self) -> IpAddr;
}

impl Key for u32 {
    fn addr(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from_bits(self))
    }
}

impl Key for [u8; 16] {
    fn addr(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
}

/// One family's singles: `entries[..sorted]` ascending by key (unique, tombstones among
/// them), `entries[sorted..]` unsorted, without tombstones.
#[derive(Debug, Clone, Default)]
struct Run<K> {
    entries: Vec<(K, u32)>,
    sorted: u32,
    live: u32,
}

impl<K: Key> Run<K> {
    fn find(&self, k: K) -> Option<usize> {
        let sorted = self.sorted as usize;
        if let Ok(i) = self.entries[..sorted].binary_search_by(|e| e.0.cmp(&k)) {
            if self.entries[i].1 != TOMB {
                return Some(i);
            }
        }
        self.entries[sorted..]
            .iter()
            .position(|e| e.0 == k)
            .map(|j| sorted + j)
    }

    fn get(&self, k: K) -> Option<u32> {
        self.find(k).map(|i| self.entries[i].1)
    }

    fn remove(&mut self, k: K) -> Option<u32> {
        let i = self.find(k)?;
        let off = self.entries[i].1;
        if i < self.sorted as usize {
            self.entries[i].1 = TOMB;
        } else {
            self.entries.swap_remove(i);
        }
        self.live -= 1;
        Some(off)
    }

    /// Adds `k`, which must not be live.
    fn insert(&mut self, k: K, off: u32) {
        let n = self.entries.len();
        if n == self.entries.capacity() {
            // Grow by an eighth: singles are most of the state on short horizons.
            self.entries.reserve_exact((n / 8).max(4));
        }
        self.entries.push((k, off));
        self.live += 1;
        if self.entries.len() - self.sorted as usize > TAIL {
            self.merge();
        }
    }

    /// Sorts the tail into the prefix and drops the tombstones; O(entries).
    fn merge(&mut self) {
        let mut tail = self.entries.split_off(self.sorted as usize);
        tail.sort_unstable_by_key(|e| e.0);
        self.entries.retain(|e| e.1 != TOMB);
        let Some(&filler) = tail.first() else {
            self.sorted = self.entries.len() as u32;
            return;
        };
        // Merge from the back, in place (no reallocation: tombstones and the tail were
        // in the vector before).
        let (mut i, mut j) = (self.entries.len(), tail.len());
        let total = i + j;
        self.entries.resize(total, filler);
        for k in (0..total).rev() {
            if j == 0 {
                break;
            }
            if i > 0 && self.entries[i - 1].0 > tail[j - 1].0 {
                self.entries[k] = self.entries[i - 1];
                i -= 1;
            } else {
                self.entries[k] = tail[j - 1];
                j -= 1;
            }
        }
        self.sorted = total as u32;
    }

    fn retain(&mut self, mut keep: impl FnMut(K, u32) -> bool) {
        let sorted = self.sorted as usize;
        let (mut w, mut kept_sorted) = (0, 0);
        for r in 0..self.entries.len() {
            let e = self.entries[r];
            if e.1 != TOMB && keep(e.0, e.1) {
                self.entries[w] = e;
                w += 1;
                kept_sorted += usize::from(r < sorted);
            }
        }
        self.entries.truncate(w);
        self.sorted = kept_sorted as u32;
        self.live = w as u32;
    }

    fn live(&self) -> impl Iterator<Item = &(K, u32)> + '_ {
        self.entries.iter().filter(|e| e.1 != TOMB)
    }

    fn shift(&mut self, f: impl Fn(u32) -> u32) {
        for e in self.entries.iter_mut().filter(|e| e.1 != TOMB) {
            e.1 = f(e.1);
        }
    }

    fn shrink(&mut self) {
        let n = self.entries.len();
        if self.entries.capacity() > 2 * n + 8 {
            self.entries.shrink_to(n + n / 8);
        }
    }

    fn heap_bytes(&self) -> usize {
        heap_cost(self.entries.capacity() * size_of::<(K, u32)>())
    }
}

/// Peers with one flow time each.
#[derive(Debug, Clone, Default)]
pub(crate) struct Singles {
    /// Time of offset 0 (meaningless while empty).
    base: i64,
    v4: Run<u32>,
    /// Boxed: most hosts have no IPv6 single, and every host pays for this field.
    v6: Option<Box<Run<[u8; 16]>>>,
}

impl Singles {
    /// Number of singles.
    pub(crate) fn len(&self) -> usize {
        (self.v4.live + self.v6.as_ref().map_or(0, |r| r.live)) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn time(&self, off: u32) -> i64 {
        self.base + i64::from(off)
    }

    fn offset(&self, t: i64) -> Option<u32> {
        u32::try_from(t.checked_sub(self.base)?)
            .ok()
            .filter(|o| *o != TOMB)
    }

    /// The time of `peer`.
    pub(crate) fn get(&self, peer: IpAddr) -> Option<i64> {
        let off = match peer {
            IpAddr::V4(a) => self.v4.get(a.to_bits()),
            IpAddr::V6(a) => self.v6.as_ref()?.get(a.octets()),
        }?;
        Some(self.time(off))
    }

    /// Removes `peer`, returning its time.
    pub(crate) fn remove(&mut self, peer: IpAddr) -> Option<i64> {
        let off = match peer {
            IpAddr::V4(a) => self.v4.remove(a.to_bits()),
            IpAddr::V6(a) => self.v6.as_mut()?.remove(a.octets()),
        }?;
        Some(self.time(off))
    }

    /// Adds `peer`, which must not be present, at `t`. False (and nothing added) when `t`
    /// cannot share a base with the times held: the caller keeps it as a pair.
    pub(crate) fn insert(&mut self, peer: IpAddr, t: i64) -> bool {
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
            IpAddr::V4(a) => self.v4.insert(a.to_bits(), off),
            IpAddr::V6(a) => self.v6.get_or_insert_default().insert(a.octets(), off),
        }
        true
    }

    /// Moves the base so that the times held and `t` are centred in the span; false when they
    /// do not fit in one span.
    fn rebase(&mut self, t: i64) -> bool {
        let offsets = self
            .v4
            .live()
            .map(|e| e.1)
            .chain(self.v6.iter().flat_map(|r| r.live().map(|e| e.1)));
        let (lo, hi) = offsets.fold((u32::MAX, 0), |(lo, hi), o| (lo.min(o), hi.max(o)));
        let (lo, hi) = (self.time(lo).min(t), self.time(hi).max(t));
        let Some(width) = hi.checked_sub(lo).filter(|w| *w < SPAN) else {
            return false;
        };
        let Some(base) = lo.checked_sub((SPAN - 1 - width) / 2) else {
            return false;
        };
        let old = self.base;
        let shift = |off: u32| (old + i64::from(off) - base) as u32;
        self.v4.shift(shift);
        if let Some(v6) = &mut self.v6 {
            v6.shift(shift);
        }
        self.base = base;
        true
    }

    /// Keeps the singles for which `keep(peer, time)` is true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(IpAddr, i64) -> bool) {
        let base = self.base;
        self.v4
            .retain(|k, off| keep(k.addr(), base + i64::from(off)));
        if let Some(v6) = &mut self.v6 {
            v6.retain(|k, off| keep(k.addr(), base + i64::from(off)));
        }
    }

    /// Every single as (peer, time), in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpAddr, i64)> + '_ {
        let v4 = self.v4.live().map(|e| (e.0.addr(), self.time(e.1)));
        let v6 = self
            .v6
            .iter()
            .flat_map(|r| r.live().map(|e| (e.0.addr(), self.time(e.1))));
        v4.chain(v6)
    }

    /// Gives memory back when the vectors are mostly empty (after evictions).
    pub(crate) fn shrink(&mut self) {
        self.v4.shrink();
        if self.v6.as_ref().is_some_and(|r| r.entries.is_empty()) {
            self.v6 = None;
        } else if let Some(v6) = &mut self.v6 {
            v6.shrink();
        }
    }

    /// Heap bytes of the vectors.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes()
            + self.v6.as_ref().map_or(0, |r| {
                heap_cost(size_of::<Run<[u8; 16]>>()) + r.heap_bytes()
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn ip4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + n))
    }

    fn ip6(n: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n))
    }

    #[test]
    fn holds_removes_and_iterates_both_families() {
        let mut s = Singles::default();
        let t0 = 1_700_000_000_000;
        for n in 0..100u16 {
            assert!(s.insert(ip4(n.into()), t0 + i64::from(n)));
            assert!(s.insert(ip6(n), t0 - i64::from(n)));
        }
        assert_eq!(s.len(), 200);
        assert_eq!(s.get(ip4(7)), Some(t0 + 7));
        assert_eq!(s.get(ip6(7)), Some(t0 - 7));
        assert_eq!(s.get(ip4(700)), None);
        assert_eq!(s.remove(ip6(9)), Some(t0 - 9));
        assert_eq!(s.remove(ip6(9)), None);
        assert_eq!(s.get(ip6(9)), None);
        s.retain(|peer, t| peer.is_ipv6() || t < t0 + 50);
        assert_eq!(s.len(), 50 + 99);
        let mut all: Vec<_> = s.iter().collect();
        all.sort_unstable();
        assert_eq!(all[0], (ip4(0), t0));
        assert_eq!(all[49], (ip4(49), t0 + 49));
        assert_eq!(all[50], (ip6(0), t0));
        assert!(s.heap_bytes() > 0);
        s.retain(|_, _| false);
        s.shrink();
        assert_eq!(s.heap_bytes(), 0);
    }

    #[test]
    fn the_base_moves_with_the_times_and_refuses_what_cannot_fit() {
        let mut s = Singles::default();
        let day = 86_400_000;
        let t0 = 1_700_000_000_000;
        assert!(s.insert(ip4(0), t0));
        // 40 days later: beyond half the span from the first base, so the base moves.
        assert!(s.insert(ip4(1), t0 + 40 * day));
        assert!(s.insert(ip4(2), t0 - 9 * day));
        // 60 days from the oldest: no base can hold both.
        assert!(!s.insert(ip4(3), t0 + 51 * day));
        assert!(!s.insert(ip4(3), i64::MIN));
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
        assert!(s.insert(ip4(0), i64::MIN));
        assert_eq!(s.get(ip4(0)), Some(i64::MIN));
        let mut s = Singles::default();
        assert!(s.insert(ip4(0), i64::MAX - 1));
        assert_eq!(s.get(ip4(0)), Some(i64::MAX - 1));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u16),
        Remove(u16),
        Retain(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u16..300, any::<u16>()).prop_map(|(p, t)| Op::Insert(p, t)),
            3 => (0u16..300).prop_map(Op::Remove),
            1 => (0u16..300).prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// Any sequence of inserts, removals (tombstones in the sorted prefix, swaps in the
        /// tail) and evaluations (retain) holds exactly what a map would, through merges.
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec(op(), 1..400)) {
            let mut s = Singles::default();
            let mut model = BTreeMap::new();
            let peer = |p: u16| if p.is_multiple_of(5) { ip6(p) } else { ip4(p.into()) };
            for op in ops {
                match op {
                    Op::Insert(p, t) => {
                        if let std::collections::btree_map::Entry::Vacant(e) = model.entry(peer(p)) {
                            prop_assert!(s.insert(peer(p), i64::from(t) * 1000));
                            e.insert(i64::from(t) * 1000);
                        }
                    }
                    Op::Remove(p) => prop_assert_eq!(s.remove(peer(p)), model.remove(&peer(p))),
                    Op::Retain(m) => {
                        let keep = |t: i64| t % 7 != i64::from(m % 7);
                        s.retain(|_, t| keep(t));
                        model.retain(|_, t| keep(*t));
                    }
                }
                prop_assert_eq!(s.len(), model.len());
            }
            for p in 0..300u16 {
                prop_assert_eq!(s.get(peer(p)), model.get(&peer(p)).copied());
            }
            let mut all: Vec<_> = s.iter().collect();
            all.sort_unstable();
            prop_assert_eq!(all, model.into_iter().collect::<Vec<_>>());
        }
    }
}
