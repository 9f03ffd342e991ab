//! Pairing the two directions of a connection into one record keyed by the initiator, as the
//! original's `netflowaggr` did.
//!
//! Unidirectional exporters report A→B and B→A separately. [`Pairing`] holds each record up
//! to `window` of wall-clock time; when the other direction of the same protocol and address/
//! port pair arrives, starting within `window` of it, the two become one record: oriented as
//! the direction that started first (the initiator; on a tie, the one seen first), counters
//! summed, flags ORed, end the later end, flagged [`FlowRecord::FLAG_BIDIRECTIONAL`]. Records
//! whose other direction does not come are sent as they are when their window ends, or
//! earlier when more than `max_open` wait (counted). Pure: the caller passes the time.

use std::net::IpAddr;
use std::time::Duration;

use relbot_flow::FlowRecord;

use crate::hold::HoldMap;
use crate::split_merge::ms;

/// Protocol and the two endpoints, the lower endpoint first, so both directions share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    protocol: u8,
    low: (IpAddr, u16),
    high: (IpAddr, u16),
}

impl Key {
    fn of(r: &FlowRecord) -> Self {
        let a = (r.src, r.src_port);
        let b = (r.dst, r.dst_port);
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        Self {
            protocol: r.protocol,
            low,
            high,
        }
    }
}

/// What [`Pairing`] did since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairStats {
    /// Pairs made (each from two records).
    pub paired: u64,
    /// Records sent unpaired when their window ended (or the same direction came again).
    pub unpaired_window: u64,
    /// Records sent unpaired early to stay within `max_open`.
    pub unpaired_capacity: u64,
    /// Records sent unpaired by [`Pairing::drain`].
    pub unpaired_drain: u64,
}

/// The pairing stage. See the [module docs](self).
#[derive(Debug)]
pub struct Pairing {
    window_ms: i64,
    open: HoldMap<Key>,
    stats: PairStats,
}

impl Pairing {
    /// A stage pairing directions within `window`, holding at most `max_open` records.
    pub fn new(window: Duration, max_open: usize) -> Self {
        Self {
            window_ms: ms(window),
            open: HoldMap::new(max_open),
            stats: PairStats::default(),
        }
    }

    /// Takes in one record at wall-clock `now_ms`; finished records go to `out`.
    pub fn push(&mut self, record: FlowRecord, now_ms: i64, out: &mut Vec<FlowRecord>) {
        let key = Key::of(&record);
        if let Some(held) = self.open.get_mut(&key) {
            let h = held.record;
            let reverse = h.src == record.dst
                && h.src_port == record.dst_port
                && h.dst == record.src
                && h.dst_port == record.src_port
                && (h.src != h.dst || h.src_port != h.dst_port);
            if reverse && (record.start_ms - h.start_ms).abs() <= self.window_ms {
                self.open.remove(&key);
                out.push(pair(h, record));
                self.stats.paired += 1;
                return;
            }
            // The same direction again (or too far apart): the held one stays unpaired.
            if let Some(done) = self.open.remove(&key) {
                out.push(done);
                self.stats.unpaired_window += 1;
            }
        }
        let before = out.len();
        self.open
            .insert(key, record, now_ms.saturating_add(self.window_ms), out);
        self.stats.unpaired_capacity += (out.len() - before) as u64;
    }

    /// Sends the records whose window ended at `now_ms` to `out`, unpaired.
    pub fn expire(&mut self, now_ms: i64, out: &mut Vec<FlowRecord>) {
        self.stats.unpaired_window += self.open.expire(now_ms, out) as u64;
    }

    /// Sends every waiting record to `out`, unpaired (shutdown).
    pub fn drain(&mut self, out: &mut Vec<FlowRecord>) {
        self.stats.unpaired_drain += self.open.drain(out) as u64;
    }

    /// Records waiting for their other direction.
    pub fn open(&self) -> usize {
        self.open.len()
    }

    /// Counters since creation.
    pub fn stats(&self) -> PairStats {
        self.stats
    }
}

/// One record from `first` (held) and `second` (its reply or its request).
fn pair(first: FlowRecord, second: FlowRecord) -> FlowRecord {
    let (mut init, other) = if second.start_ms < first.start_ms {
        (second, first)
    } else {
        (first, second)
    };
    init.end_ms = init.end_ms.max(other.end_ms);
    init.bytes = init.bytes.saturating_add(other.bytes);
    init.packets = init.packets.saturating_add(other.packets);
    init.tcp_flags |= other.tcp_flags;
    init.flags |= FlowRecord::FLAG_BIDIRECTIONAL | (other.flags & FlowRecord::FLAG_MERGED);
    init
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn flow(src: &str, sp: u16, dst: &str, dp: u16, start_ms: i64, bytes: u64) -> FlowRecord {
        FlowRecord {
            start_ms,
            end_ms: start_ms + 500,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: sp,
            dst_port: dp,
            protocol: 17,
            bytes,
            packets: 1,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn reply_is_folded_into_the_initiator() {
        let mut p = Pairing::new(Duration::from_secs(60), 100);
        let mut out = Vec::new();
        // The reply is exported first, but the request started first: A is the initiator.
        p.push(
            flow("192.0.2.5", 53, "10.0.0.1", 5353, 1_010, 300),
            0,
            &mut out,
        );
        p.push(
            flow("10.0.0.1", 5353, "192.0.2.5", 53, 1_000, 60),
            5,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let r = out[0];
        assert_eq!(r.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((r.src_port, r.dst_port), (5353, 53));
        assert_eq!((r.start_ms, r.end_ms), (1_000, 1_510));
        assert_eq!((r.bytes, r.packets), (360, 2));
        assert_ne!(r.flags & FlowRecord::FLAG_BIDIRECTIONAL, 0);
        assert_eq!(p.stats().paired, 1);
        assert_eq!(p.open(), 0);
    }

    #[test]
    fn unpaired_records_leave_when_the_window_ends() {
        let mut p = Pairing::new(Duration::from_secs(60), 100);
        let mut out = Vec::new();
        p.push(flow("10.0.0.1", 1, "192.0.2.5", 80, 0, 10), 1_000, &mut out);
        // Another port: not the reply.
        p.push(flow("192.0.2.5", 80, "10.0.0.1", 2, 0, 10), 1_000, &mut out);
        p.expire(60_999, &mut out);
        assert!(out.is_empty());
        p.expire(61_000, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|r| r.flags & FlowRecord::FLAG_BIDIRECTIONAL == 0));
        assert_eq!(p.stats().unpaired_window, 2);
        // A reply starting beyond the window is not paired either.
        out.clear();
        p.push(
            flow("10.0.0.1", 1, "192.0.2.5", 80, 0, 10),
            70_000,
            &mut out,
        );
        p.push(
            flow("192.0.2.5", 80, "10.0.0.1", 1, 61_000, 10),
            70_001,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].start_ms, 0);
        p.drain(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(p.stats().unpaired_drain, 1);
    }

    #[test]
    fn memory_is_bounded_and_evictions_counted() {
        let mut p = Pairing::new(Duration::from_secs(60), 4);
        let mut out = Vec::new();
        for port in 0..10 {
            p.push(flow("10.0.0.1", port, "192.0.2.5", 80, 0, 1), 0, &mut out);
        }
        assert_eq!(p.open(), 4);
        assert_eq!(out.len(), 6);
        assert_eq!(p.stats().unpaired_capacity, 6);
    }
}
