//! The evaluation queue: each host with a pending change, keyed by the tick at which its
//! window content changes.
//!
//! One entry per queued host (moving a host to an earlier tick removes its old entry), in a
//! B-tree ordered by (tick, address): evaluation pops whole ticks in order and the hosts of
//! one tick in address order, so detections come out in a deterministic order.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// Hosts waiting for evaluation, by tick.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    queue: BTreeSet<(i64, IpAddr)>,
}

impl Schedule {
    /// Queues `host` for `tick`, removing its entry for `previous` (if any).
    pub(crate) fn push(&mut self, tick: i64, host: IpAddr, previous: Option<i64>) {
        if let Some(p) = previous {
            self.queue.remove(&(p, host));
        }
        self.queue.insert((tick, host));
    }

    /// Forgets `host`'s entry for `tick`.
    pub(crate) fn remove(&mut self, tick: i64, host: IpAddr) {
        self.queue.remove(&(tick, host));
    }

    /// Removes and returns the first entry if its tick is at most `until`.
    pub(crate) fn pop_until(&mut self, until: i64) -> Option<(i64, IpAddr)> {
        let &(tick, _) = self.queue.first()?;
        if tick > until {
            return None;
        }
        self.queue.pop_first()
    }

    /// Number of queued hosts.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Approximate heap bytes (B-tree nodes hold up to 11 entries of 32 bytes, about
    /// two-thirds full, plus their headers).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.queue.len() * 56
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_pop_in_order_with_sorted_hosts() {
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        let mut s = Schedule::default();
        s.push(20, ip(2), None);
        s.push(10, ip(9), None);
        s.push(30, ip(1), None);
        s.push(10, ip(1), Some(30));
        assert_eq!(s.len(), 3);
        assert_eq!(s.pop_until(5), None);
        assert_eq!(s.pop_until(10), Some((10, ip(1))));
        assert_eq!(s.pop_until(10), Some((10, ip(9))));
        assert_eq!(s.pop_until(10), None);
        s.remove(20, ip(2));
        assert_eq!((s.pop_until(i64::MAX), s.len()), (None, 0));
    }
}
