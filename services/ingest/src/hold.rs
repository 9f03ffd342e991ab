//! [`HoldMap`]: flow records held by key until a wall-clock deadline, bounded in number; the
//! common part of [`crate::pairing`] and [`crate::split_merge`].
//!
//! Deadlines are `now + hold` with one fixed `hold`, so they arrive in insertion order: a
//! queue of (deadline, key, generation) finds the due entries; a refreshed entry gets a new
//! generation and its older queue items are skipped when they come up.

use std::collections::VecDeque;
use std::hash::Hash;

use hashbrown::HashMap;
use relbot_flow::FlowRecord;

/// One held record.
#[derive(Debug, Clone)]
pub struct Held {
    /// The record as it stands.
    pub record: FlowRecord,
    deadline_ms: i64,
    generation: u64,
}

/// Records held by key, at most `max_open`, each until its deadline.
#[derive(Debug)]
pub struct HoldMap<K> {
    map: HashMap<K, Held>,
    order: VecDeque<(i64, K, u64)>,
    max_open: usize,
    next_generation: u64,
}

impl<K: Hash + Eq + Copy> HoldMap<K> {
    /// An empty map holding at most `max_open` records.
    pub fn new(max_open: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            max_open: max_open.max(1),
            next_generation: 0,
        }
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The record held under `key`.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut Held> {
        self.map.get_mut(key)
    }

    /// Takes the record held under `key` out.
    pub fn remove(&mut self, key: &K) -> Option<FlowRecord> {
        self.map.remove(key).map(|h| h.record)
    }

    /// Holds `record` under `key` until `deadline_ms` (replacing what was held there, which
    /// is returned first). When this makes more than `max_open`, the entry due first is
    /// evicted and appended to `evicted`.
    pub fn insert(
        &mut self,
        key: K,
        record: FlowRecord,
        deadline_ms: i64,
        evicted: &mut Vec<FlowRecord>,
    ) -> Option<FlowRecord> {
        let generation = self.bump();
        let old = self.map.insert(
            key,
            Held {
                record,
                deadline_ms,
                generation,
            },
        );
        self.order.push_back((deadline_ms, key, generation));
        while self.map.len() > self.max_open {
            match self.pop_front_live() {
                Some(r) => evicted.push(r),
                None => break,
            }
        }
        self.compact();
        old.map(|h| h.record)
    }

    /// Moves the deadline of the record under `key` to `deadline_ms`.
    pub fn refresh(&mut self, key: K, deadline_ms: i64) {
        let generation = self.bump();
        if let Some(held) = self.map.get_mut(&key) {
            held.deadline_ms = deadline_ms;
            held.generation = generation;
            self.order.push_back((deadline_ms, key, generation));
            self.compact();
        }
    }

    /// Appends the records due at `now_ms` to `out`; returns how many.
    pub fn expire(&mut self, now_ms: i64, out: &mut Vec<FlowRecord>) -> usize {
        let mut n = 0;
        while let Some(&(deadline, key, generation)) = self.order.front() {
            if deadline > now_ms {
                break;
            }
            self.order.pop_front();
            if self
                .map
                .get(&key)
                .is_some_and(|h| h.generation == generation)
            {
                if let Some(h) = self.map.remove(&key) {
                    out.push(h.record);
                    n += 1;
                }
            }
        }
        n
    }

    /// Appends every held record to `out` (ordered by start time); returns how many.
    pub fn drain(&mut self, out: &mut Vec<FlowRecord>) -> usize {
        let mut all: Vec<FlowRecord> = self.map.drain().map(|(_, h)| h.record).collect();
        self.order.clear();
        all.sort_by_key(|r| r.start_ms);
        let n = all.len();
        out.extend(all);
        n
    }

    fn bump(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn pop_front_live(&mut self) -> Option<FlowRecord> {
        while let Some((_, key, generation)) = self.order.pop_front() {
            if self
                .map
                .get(&key)
                .is_some_and(|h| h.generation == generation)
            {
                return self.map.remove(&key).map(|h| h.record);
            }
        }
        None
    }

    /// Drops stale queue items once they outnumber the live entries (refreshes add items).
    fn compact(&mut self) {
        if self.order.len() > 2 * self.map.len() + 1024 {
            let map = &self.map;
            self.order
                .retain(|(_, key, g)| map.get(key).is_some_and(|h| h.generation == *g));
        }
    }
}
