//! [`Collectors`]: the decoder state of the service, sharded by exporter address.
//!
//! Every datagram of one exporter address is decoded by the same shard, whichever socket or
//! worker received it, so an exporter's templates, options state and held data sets are one
//! consistent state. SO_REUSEPORT hashes an exporter's 4-tuple to one socket, so in practice
//! one worker uses a shard and its lock is uncontended; the shards let workers of different
//! exporters decode in parallel. The template cache file holds the union of the shards and is
//! restored into each of them.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use relbot_flow::netflow::persist::StateError;
use relbot_flow::netflow::{Collector, CollectorConfig};

/// Decoder state sharded by exporter address.
#[derive(Debug)]
pub struct Collectors {
    shards: Vec<Mutex<Collector>>,
}

impl Collectors {
    /// `shards` empty collectors (at least one).
    pub fn new(config: &CollectorConfig, shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Collector::new(config.clone())))
                .collect(),
        }
    }

    /// The collector that decodes everything from `exporter`.
    pub fn shard(&self, exporter: IpAddr) -> MutexGuard<'_, Collector> {
        // A fixed hasher: the shard of an exporter must not change while running.
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(exporter);
        let i = (hash % self.shards.len() as u64) as usize;
        lock(&self.shards[i])
    }

    /// Restores saved state into every shard; returns the templates restored.
    pub fn restore(&self, bytes: &[u8]) -> Result<usize, StateError> {
        let mut n = 0;
        for shard in &self.shards {
            n = lock(shard).restore_state(bytes)?;
        }
        Ok(n)
    }

    /// Everything the shards learned, encoded for the template cache file.
    pub fn save(&self) -> Vec<u8> {
        let guards: Vec<MutexGuard<'_, Collector>> = self.shards.iter().map(lock).collect();
        Collector::save_states(guards.iter().map(|g| &**g))
    }

    /// Distinct templates known across the shards.
    pub fn templates(&self) -> usize {
        let mut keys = HashSet::new();
        for shard in &self.shards {
            keys.extend(lock(shard).templates().iter().map(|(k, _)| *k));
        }
        keys.len()
    }

    /// Expires old templates and held sets in every shard (the decode path does it only for
    /// exporters that keep sending).
    pub fn expire(&self, now_ms: i64) {
        for shard in &self.shards {
            lock(shard).expire(now_ms);
        }
    }
}

// A poisoned shard (a panic while decoding, which the decoders never do) still holds valid
// state: keep using it.
fn lock(m: &Mutex<Collector>) -> MutexGuard<'_, Collector> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
