//! [`Host`]: one monitored host's peers, with a lookup index for hosts with many peers, and
//! the bookkeeping that evaluation, scheduling, eviction and snapshots need.

use std::hash::BuildHasher;
use std::net::IpAddr;

use hashbrown::{DefaultHashBuilder, HashTable};
use relbot_periodicity::PairVerdict;

use super::{Pair, Singles};
use crate::budget::heap_cost;
use crate::result::Finding;

/// "No tick": never evaluated, or not scheduled.
pub(crate) const NEVER: i64 = i64::MIN;

/// Hosts with up to this many peers find a peer by a linear scan and need no index.
const LINEAR_MAX: usize = 12;

/// One monitored host.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// Its peers with more than one flow time (and some with one, see [`Host::singles`]),
    /// in no particular order.
    pub pairs: Vec<Pair>,
    /// Its peers with one flow time, when the algorithm judges no pair of one time. A peer
    /// is in `pairs` or here, never both. A pair left with one time goes here at its host's
    /// next evaluation, unless its time cannot share the singles' base.
    pub singles: Singles,
    /// Peer → index into `pairs`, once there are more than [`LINEAR_MAX`] peers.
    index: Option<Box<HashTable<u32>>>,
    /// Earliest event time at which the host's window content changes (`i64::MAX`: none).
    pub due_ms: i64,
    /// The tick the host is queued for ([`NEVER`]: not queued).
    pub scheduled: i64,
    /// The tick of its last evaluation ([`NEVER`]: none yet).
    pub last_tick: i64,
    /// Newest flow start ever accepted (the LRU order of the budget).
    pub newest_ms: i64,
    /// Flows accepted for this host since its state was created (restored state included).
    pub flows: u64,
    /// Input position of the last flow accepted (see [`Engine::ingest_at`](crate::Engine::ingest_at)),
    /// when `has_position` (an `Option<u64>` would take 16 bytes).
    position: u64,
    /// Flow times retained over all pairs.
    pub times: usize,
    /// Heap bytes of all pairs' time buffers.
    pub times_heap: usize,
    /// Heap bytes of `memo`, kept current by [`Host::set_memo`].
    memo_bytes: u32,
    has_position: bool,
    /// The verdict cache is empty though pairs were evaluated before (restored state): the
    /// next evaluation evaluates every pair.
    pub cold: bool,
    /// Some pair keeps a verdict from before its latest window changes (lazy re-estimation):
    /// a flush evaluates the host again.
    pub stale: bool,
    /// In the engine's set of hosts changed since the last snapshot.
    pub changed: bool,
    memo: Option<Box<Memo>>,
}

/// See [`Host::could_be_single`].
fn could_be_single(pair: &Pair, last_tick: i64, memo: Option<&Memo>) -> bool {
    pair.times.len() == 1
        && pair.drift == 0
        && pair.evaluated == u32::from(pair.times.first() < last_tick)
        && memo.is_none_or(|m| {
            m.verdicts
                .binary_search_by(|(p, _)| p.cmp(&pair.peer))
                .is_err()
        })
}

/// A peer's flow times, as [`Host::times_of`] finds them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PeerTimes<'a> {
    Pair(&'a Pair),
    Single(i64),
}

impl PeerTimes<'_> {
    /// How many of the times are before `limit`.
    pub(crate) fn count_before(&self, limit: i64) -> usize {
        match self {
            Self::Pair(p) => p.times.count_before(limit),
            Self::Single(t) => usize::from(*t < limit),
        }
    }

    /// The earliest time.
    pub(crate) fn first(&self) -> i64 {
        match self {
            Self::Pair(p) => p.times.first(),
            Self::Single(t) => *t,
        }
    }

    /// Appends the times before `limit` to `out`.
    pub(crate) fn copy_before(&self, limit: i64, out: &mut Vec<i64>) {
        match self {
            Self::Pair(p) => {
                p.times.copy_before(limit, out);
            }
            Self::Single(t) => out.extend((*t < limit).then_some(*t)),
        }
    }
}

/// What a host remembers of its evaluations; boxed, as most hosts have nothing periodic.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Memo {
    /// Verdicts of the pairs that were periodic at the last evaluation, sorted by peer.
    pub verdicts: Vec<(IpAddr, PairVerdict)>,
    /// The last evaluation, when it found a periodic peer (boxed, as are all findings here:
    /// most memos hold verdicts only).
    pub latest: Option<Box<Finding>>,
    /// The finding of the last detection emitted.
    pub emitted: Option<Box<Finding>>,
}

impl Memo {
    fn heap_bytes(&self) -> usize {
        let verdicts = heap_cost(self.verdicts.capacity() * size_of::<(IpAddr, PairVerdict)>())
            + self
                .verdicts
                .iter()
                .map(|(_, v)| heap_cost(size_of_val(v.periods())))
                .sum::<usize>();
        heap_cost(size_of::<Self>())
            + verdicts
            + [&self.latest, &self.emitted]
                .into_iter()
                .flatten()
                .map(|f| heap_cost(size_of::<Finding>()) + f.heap_bytes())
                .sum::<usize>()
    }

    fn is_empty(&self) -> bool {
        self.verdicts.is_empty() && self.latest.is_none() && self.emitted.is_none()
    }
}

impl Host {
    /// A host with no peers yet.
    pub(crate) fn new() -> Self {
        Self {
            pairs: Vec::new(),
            singles: Singles::default(),
            index: None,
            due_ms: i64::MAX,
            scheduled: NEVER,
            last_tick: NEVER,
            newest_ms: i64::MIN,
            flows: 0,
            position: 0,
            has_position: false,
            times: 0,
            times_heap: 0,
            memo_bytes: 0,
            cold: false,
            stale: false,
            changed: false,
            memo: None,
        }
    }

    /// The index of `peer` in `pairs`.
    pub(crate) fn find(&self, peer: IpAddr, hasher: &DefaultHashBuilder) -> Option<usize> {
        match &self.index {
            None => self.pairs.iter().position(|p| p.peer == peer),
            Some(index) => index
                .find(hasher.hash_one(peer), |&i| {
                    self.pairs[i as usize].peer == peer
                })
                .map(|&i| i as usize),
        }
    }

    /// The flow times of `peer` (ascending), whether a pair or a single; `None` when it is
    /// not a peer.
    pub(crate) fn times_of(
        &self,
        peer: IpAddr,
        hasher: &DefaultHashBuilder,
    ) -> Option<PeerTimes<'_>> {
        match self.find(peer, hasher) {
            Some(i) => Some(PeerTimes::Pair(&self.pairs[i])),
            None => self.singles.get(peer).map(PeerTimes::Single),
        }
    }

    /// Input position of the last flow accepted, if positions were given.
    pub(crate) fn position(&self) -> Option<u64> {
        self.has_position.then_some(self.position)
    }

    pub(crate) fn set_position(&mut self, position: Option<u64>) {
        self.position = position.unwrap_or(0);
        self.has_position = position.is_some();
    }

    /// Number of peers (pairs and singles).
    pub(crate) fn peers(&self) -> usize {
        self.pairs.len() + self.singles.len()
    }

    /// Whether `pair` can be held as a single without changing what the host does next: one
    /// time, no drift, an evaluated count that its time and the last tick imply, and no
    /// periodic verdict kept for it.
    pub(crate) fn could_be_single(&self, pair: &Pair) -> bool {
        could_be_single(pair, self.last_tick, self.memo.as_deref())
    }

    /// Moves every pair that [could be a single](Host::could_be_single) to `singles` (after
    /// a restore).
    pub(crate) fn demote_singles(&mut self, hasher: &DefaultHashBuilder) {
        let before = self.pairs.len();
        let mut pairs = std::mem::take(&mut self.pairs);
        let (last_tick, memo) = (self.last_tick, self.memo.as_deref());
        pairs.retain(|pair| {
            !(could_be_single(pair, last_tick, memo)
                && self.singles.insert(pair.peer, pair.times.first()))
        });
        self.pairs = pairs;
        if self.pairs.len() != before {
            self.times_heap = self.pairs.iter().map(|p| p.times.heap_bytes()).sum();
            self.rebuild_index(hasher);
        }
    }

    /// Adds a pair for a peer not yet present; returns its index.
    pub(crate) fn push(&mut self, pair: Pair, hasher: &DefaultHashBuilder) -> usize {
        let i = self.pairs.len();
        let hash = hasher.hash_one(pair.peer);
        self.times += pair.times.len();
        self.times_heap += pair.times.heap_bytes();
        if self.pairs.len() == self.pairs.capacity() {
            // Grow by an eighth rather than double: pairs are most of the state.
            self.pairs.reserve_exact((self.pairs.len() / 8).max(2));
        }
        self.pairs.push(pair);
        match &mut self.index {
            Some(index) => {
                let pairs = &self.pairs;
                index.insert_unique(hash, i as u32, |&j| hasher.hash_one(pairs[j as usize].peer));
            }
            None if self.pairs.len() > LINEAR_MAX => self.rebuild_index(hasher),
            None => {}
        }
        i
    }

    /// Rebuilds the peer index after pairs were removed or reordered (or drops it when the
    /// host has few peers), and gives back memory of a mostly empty pair list.
    pub(crate) fn rebuild_index(&mut self, hasher: &DefaultHashBuilder) {
        let len = self.pairs.len();
        if self.pairs.capacity() > len + len / 4 + 4 {
            self.pairs.shrink_to(len + len / 8 + 1);
        }
        if self.pairs.len() <= LINEAR_MAX {
            self.index = None;
            return;
        }
        let mut index = HashTable::with_capacity(self.pairs.len());
        for (i, p) in self.pairs.iter().enumerate() {
            index.insert_unique(hasher.hash_one(p.peer), i as u32, |&j: &u32| {
                hasher.hash_one(self.pairs[j as usize].peer)
            });
        }
        self.index = Some(Box::new(index));
    }

    /// Heap bytes of this host's state (its slot in the engine's host map aside).
    pub(crate) fn heap_bytes(&self) -> usize {
        let index = self.index.as_ref().map_or(0, |t| {
            heap_cost(size_of::<HashTable<u32>>()) + heap_cost(t.allocation_size())
        });
        heap_cost(self.pairs.capacity() * size_of::<Pair>())
            + self.singles.heap_bytes()
            + index
            + self.times_heap
            + self.memo_bytes as usize
    }

    /// What the host remembers of its evaluations, if anything.
    pub(crate) fn memo(&self) -> Option<&Memo> {
        self.memo.as_deref()
    }

    /// The peers found periodic at the last evaluation (the host's share of the prevalence
    /// counts).
    pub(crate) fn periodic_peers(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.memo
            .iter()
            .flat_map(|m| m.verdicts.iter().map(|(peer, _)| *peer))
    }

    /// Takes the memo out (to update it and give it back with [`Host::set_memo`]); its box
    /// stays, empty, for the memo coming back (no allocation per evaluation).
    pub(crate) fn take_memo(&mut self) -> Memo {
        self.memo
            .as_deref_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Stores the memo (nothing when it is empty) and its cost.
    pub(crate) fn set_memo(&mut self, memo: Memo) {
        if memo.is_empty() {
            self.memo = None;
            self.memo_bytes = 0;
        } else {
            self.memo_bytes = u32::try_from(memo.heap_bytes()).unwrap_or(u32::MAX);
            match &mut self.memo {
                Some(boxed) => **boxed = memo,
                None => self.memo = Some(Box::new(memo)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_at_most_160_bytes() {
        // Every host pays for it, and for a slot of the engine's host map.
        assert!(size_of::<Host>() <= 160, "{}", size_of::<Host>());
    }

    #[test]
    fn finds_peers_with_and_without_index() {
        let hasher = DefaultHashBuilder::default();
        let mut h = Host::new();
        let ip = |n: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
        for n in 0..100 {
            assert_eq!(h.find(ip(n), &hasher), None);
            assert_eq!(h.push(Pair::new(ip(n), i64::from(n)), &hasher), n as usize);
            assert_eq!(h.find(ip(n), &hasher), Some(n as usize));
        }
        assert!(h.index.is_some());
        h.pairs.retain(|p| p.peer != ip(3));
        h.rebuild_index(&hasher);
        assert_eq!(h.find(ip(3), &hasher), None);
        assert_eq!(h.pairs[h.find(ip(50), &hasher).unwrap()].peer, ip(50));
        h.pairs.truncate(5);
        h.rebuild_index(&hasher);
        assert!(h.index.is_none());
        assert_eq!(h.find(ip(4), &hasher), Some(3));
    }
}
