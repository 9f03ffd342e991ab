//! Merging the pieces of long connections that an exporter split by its active timeout.
//!
//! An exporter reports a connection that lasts longer than its active timeout as several
//! records of the same 5-tuple, each starting where the previous one ended. To the detector
//! these look like a host contacting a peer with the period of the active timeout, a false
//! periodicity. [`SplitMerge`] holds each record (bounded, for `hold` of wall-clock time);
//! a record of the same exporter and 5-tuple whose start is within `tolerance` of the held
//! record's end is folded into it (end extended, counters summed, flagged
//! [`FlowRecord::FLAG_MERGED`]). A TCP piece with FIN or RST closes the connection and is sent
//! at once. Pure: the caller passes the wall-clock time.

use std::net::IpAddr;
use std::time::Duration;

use relbot_flow::FlowRecord;

use crate::hold::HoldMap;

const TCP: u8 = 6;
const FIN_OR_RST: u8 = 0x01 | 0x04;

/// Exporter, observation domain and the 5-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    exporter: Option<IpAddr>,
    domain: u32,
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
}

impl Key {
    fn of(r: &FlowRecord) -> Self {
        Self {
            exporter: r.exporter,
            domain: r.observation_domain,
            src: r.src,
            dst: r.dst,
            src_port: r.src_port,
            dst_port: r.dst_port,
            protocol: r.protocol,
        }
    }
}

/// What [`SplitMerge`] did since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Pieces folded into an earlier piece.
    pub merged: u64,
    /// Held records sent because their hold ended (or a non-continuation replaced them).
    pub flushed_hold: u64,
    /// Held records sent early to stay within `max_open`.
    pub flushed_capacity: u64,
    /// Held records sent by [`SplitMerge::drain`].
    pub flushed_drain: u64,
}

/// The split-merge stage. See the [module docs](self).
#[derive(Debug)]
pub struct SplitMerge {
    tolerance_ms: i64,
    hold_ms: i64,
    open: HoldMap<Key>,
    stats: MergeStats,
}

impl SplitMerge {
    /// A stage that merges pieces `tolerance` apart, holding each up to `hold`, at most
    /// `max_open` at a time.
    pub fn new(tolerance: Duration, hold: Duration, max_open: usize) -> Self {
        Self {
            tolerance_ms: ms(tolerance),
            hold_ms: ms(hold),
            open: HoldMap::new(max_open),
            stats: MergeStats::default(),
        }
    }

    /// Takes in one record at wall-clock `now_ms`; records that are complete go to `out`.
    pub fn push(&mut self, record: FlowRecord, now_ms: i64, out: &mut Vec<FlowRecord>) {
        let key = Key::of(&record);
        let closes = record.protocol == TCP && record.tcp_flags & FIN_OR_RST != 0;
        let deadline = now_ms.saturating_add(self.hold_ms);
        if let Some(held) = self.open.get_mut(&key) {
            let h = &mut held.record;
            let gap = record.start_ms - h.end_ms;
            if record.start_ms >= h.start_ms && gap.abs() <= self.tolerance_ms {
                h.end_ms = h.end_ms.max(record.end_ms);
                h.bytes = h.bytes.saturating_add(record.bytes);
                h.packets = h.packets.saturating_add(record.packets);
                h.tcp_flags |= record.tcp_flags;
                h.flags |= FlowRecord::FLAG_MERGED | record.flags;
                self.stats.merged += 1;
                if closes {
                    if let Some(done) = self.open.remove(&key) {
                        out.push(done);
                    }
                } else {
                    self.open.refresh(key, deadline);
                }
                return;
            }
            // Another connection on the same 5-tuple: the held one is complete.
            if let Some(done) = self.open.remove(&key) {
                out.push(done);
                self.stats.flushed_hold += 1;
            }
        }
        if closes {
            out.push(record);
            return;
        }
        let before = out.len();
        self.open.insert(key, record, deadline, out);
        self.stats.flushed_capacity += (out.len() - before) as u64;
    }

    /// Sends the records whose hold ended at `now_ms` to `out`.
    pub fn expire(&mut self, now_ms: i64, out: &mut Vec<FlowRecord>) {
        self.stats.flushed_hold += self.open.expire(now_ms, out) as u64;
    }

    /// Sends every held record to `out` (shutdown).
    pub fn drain(&mut self, out: &mut Vec<FlowRecord>) {
        self.stats.flushed_drain += self.open.drain(out) as u64;
    }

    /// Records held.
    pub fn open(&self) -> usize {
        self.open.len()
    }

    /// Counters since creation.
    pub fn stats(&self) -> MergeStats {
        self.stats
    }
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn piece(start_s: i64, end_s: i64, bytes: u64) -> FlowRecord {
        FlowRecord {
            start_ms: start_s * 1000,
            end_ms: end_s * 1000,
            src: "10.0.0.1".parse().unwrap(),
            dst: "192.0.2.9".parse().unwrap(),
            src_port: 40000,
            dst_port: 443,
            protocol: TCP,
            tcp_flags: 0x18,
            bytes,
            packets: bytes / 100,
            exporter: Some("198.51.100.1".parse().unwrap()),
            ..FlowRecord::default()
        }
    }

    fn stage() -> SplitMerge {
        SplitMerge::new(Duration::from_secs(2), Duration::from_secs(75), 100)
    }

    #[test]
    fn active_timeout_pieces_become_one_record() {
        let mut s = stage();
        let mut out = Vec::new();
        // Three 60 s pieces, each exported when its active timeout fired.
        s.push(piece(0, 60, 1000), 60_000, &mut out);
        s.push(piece(60, 120, 2000), 120_000, &mut out);
        s.push(piece(121, 150, 500), 150_000, &mut out);
        assert!(out.is_empty());
        s.expire(150_000 + 74_999, &mut out);
        assert!(out.is_empty(), "the hold restarts with each piece");
        s.expire(150_000 + 75_000, &mut out);
        assert_eq!(out.len(), 1);
        let r = out[0];
        assert_eq!((r.start_ms, r.end_ms), (0, 150_000));
        assert_eq!((r.bytes, r.packets), (3500, 35));
        assert_ne!(r.flags & FlowRecord::FLAG_MERGED, 0);
        assert_eq!(s.stats().merged, 2);
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn gaps_beyond_tolerance_and_other_tuples_are_separate() {
        let mut s = stage();
        let mut out = Vec::new();
        s.push(piece(0, 60, 1000), 60_000, &mut out);
        // Starts 3 s after the end: a new connection on the same 5-tuple.
        s.push(piece(63, 70, 100), 70_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flags & FlowRecord::FLAG_MERGED, 0);
        let mut other = piece(70, 80, 100);
        other.src_port = 40001;
        s.push(other, 80_000, &mut out);
        assert_eq!(s.open(), 2);
        s.drain(&mut out);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|r| r.flags & FlowRecord::FLAG_MERGED == 0));
        assert_eq!(s.stats().flushed_drain, 2);
    }

    #[test]
    fn fin_closes_at_once() {
        let mut s = stage();
        let mut out = Vec::new();
        s.push(piece(0, 60, 1000), 60_000, &mut out);
        let mut last = piece(60, 65, 300);
        last.tcp_flags = 0x11;
        s.push(last, 65_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].end_ms, out[0].bytes), (65_000, 1300));
        assert_eq!(out[0].tcp_flags, 0x19);
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let mut s = SplitMerge::new(Duration::from_secs(2), Duration::from_secs(75), 10);
        let mut out = Vec::new();
        for i in 0..25_u16 {
            let mut r = piece(0, 60, 100);
            r.src_port = i;
            s.push(r, 60_000, &mut out);
        }
        assert_eq!(s.open(), 10);
        assert_eq!(out.len(), 15);
        // The oldest went first.
        assert_eq!(out[0].src_port, 0);
        assert_eq!(s.stats().flushed_capacity, 15);
    }
}
