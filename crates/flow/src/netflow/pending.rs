//! Data sets that arrived before their template, held (bounded in bytes and age) until the
//! template comes, then decoded as if they had just arrived.
//!
//! Exporters send templates every few seconds or packets; a collector that starts (or
//! restarts without saved templates) in between would otherwise drop everything until then.

use std::collections::VecDeque;
use std::time::Duration;

use super::template::TemplateKey;
use super::time::{Clock, Origin};

/// Fixed cost counted per held set besides its bytes, so that many tiny sets are bounded too.
const SET_OVERHEAD_BYTES: usize = 64;

/// Limits of the pending buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingConfig {
    /// Bytes of held data sets across all exporters (0 disables buffering).
    pub max_bytes: usize,
    /// How long a set is held before it is dropped.
    pub max_age: Duration,
}

impl Default for PendingConfig {
    /// 4 MiB for 30 s.
    fn default() -> Self {
        Self {
            max_bytes: 4 << 20,
            max_age: Duration::from_secs(30),
        }
    }
}

/// One held data set and the context of the message it came in.
#[derive(Debug, Clone)]
pub(crate) struct PendingSet {
    pub key: TemplateKey,
    pub clock: Clock,
    pub origin: Origin,
    pub body: Vec<u8>,
    pub arrived_ms: i64,
}

impl PendingSet {
    fn cost(&self) -> usize {
        self.body.len() + SET_OVERHEAD_BYTES
    }
}

/// The buffer, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    sets: VecDeque<PendingSet>,
    bytes: usize,
}

impl Pending {
    /// Holds a set. Returns `Err(set)` when it can never fit; otherwise the template ids of the
    /// older sets dropped to make room.
    pub(crate) fn push(
        &mut self,
        set: PendingSet,
        config: &PendingConfig,
    ) -> Result<Vec<u16>, PendingSet> {
        if set.cost() > config.max_bytes {
            return Err(set);
        }
        let mut dropped = Vec::new();
        while self.bytes + set.cost() > config.max_bytes {
            let Some(old) = self.sets.pop_front() else {
                break;
            };
            self.bytes -= old.cost();
            dropped.push(old.key.template_id);
        }
        self.bytes += set.cost();
        self.sets.push_back(set);
        Ok(dropped)
    }

    /// Removes and returns the sets waiting for `key`, oldest first.
    pub(crate) fn take(&mut self, key: &TemplateKey) -> Vec<PendingSet> {
        if !self.sets.iter().any(|s| s.key == *key) {
            return Vec::new();
        }
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.sets.len());
        for set in self.sets.drain(..) {
            if set.key == *key {
                self.bytes -= set.cost();
                taken.push(set);
            } else {
                kept.push_back(set);
            }
        }
        self.sets = kept;
        taken
    }

    /// Drops sets that arrived before `cutoff_ms`. Returns how many.
    pub(crate) fn expire(&mut self, cutoff_ms: i64) -> usize {
        let before = self.sets.len();
        let mut bytes = self.bytes;
        self.sets.retain(|s| {
            let keep = s.arrived_ms >= cutoff_ms;
            if !keep {
                bytes -= s.cost();
            }
            keep
        });
        self.bytes = bytes;
        before - self.sets.len()
    }

    /// Held sets.
    pub(crate) fn len(&self) -> usize {
        self.sets.len()
    }

    /// Bytes counted against [`PendingConfig::max_bytes`].
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netflow::template::{DomainKey, Protocol};

    fn set(template_id: u16, len: usize, arrived_ms: i64) -> PendingSet {
        PendingSet {
            key: TemplateKey {
                domain: DomainKey {
                    exporter: [127, 0, 0, 1].into(),
                    port: 0,
                    protocol: Protocol::V9,
                    domain: 0,
                },
                template_id,
            },
            clock: Clock {
                export_ms: 0,
                uptime_ms: None,
            },
            origin: Origin {
                exporter: None,
                domain: 0,
            },
            body: vec![0; len],
            arrived_ms,
        }
    }

    #[test]
    fn bounded_by_bytes_and_age() {
        let config = PendingConfig {
            max_bytes: 3 * (100 + SET_OVERHEAD_BYTES),
            max_age: Duration::from_millis(10),
        };
        let mut pending = Pending::default();
        assert!(pending.push(set(256, 10_000, 0), &config).is_err());
        for (i, id) in [256, 257, 256].into_iter().enumerate() {
            assert!(pending
                .push(set(id, 100, i as i64), &config)
                .unwrap()
                .is_empty());
        }
        assert_eq!(pending.push(set(258, 100, 5), &config).unwrap(), [256]);
        let taken = pending.take(&set(256, 0, 0).key);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].arrived_ms, 2);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.expire(3), 1);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending.bytes(), 100 + SET_OVERHEAD_BYTES);
    }
}
