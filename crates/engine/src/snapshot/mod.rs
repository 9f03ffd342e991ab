//! State snapshots for the detector's changelog: one record per host (or a tombstone), plus
//! the engine's clock.
//!
//! # Host format, version 2
//! All integers are LEB128 varints (`v`), signed ones zigzag-encoded (`z`); an address is a
//! family byte (4 or 6) and 4 or 16 bytes; `f64` is 8 bytes little-endian.
//!
//! ```text
//! u8  format version (2; version 1 is still read)
//! u8  flags: 1 = position present, 2 = latest finding present, 4 = emitted finding present,
//!            8 = emitted finding equals the latest one (and is not repeated)
//! v   flows accepted for the host (the "no flow counted twice" counter)
//! v   input position of the last flow accepted            (flag 1)
//! z   newest flow start, z due time, z last evaluation tick (i64::MIN: never)
//! v+  algorithm version string (findings are dropped on restore when it differs)
//! ... latest finding (flag 2), emitted finding (flag 4)
//! v   pair count, then per pair: address, v time count (≥ 1), v evaluated count,
//!     v drift (flow times in or out of the window since the algorithm last ran; not in
//!     version 1), z first time, then (count − 1) × v gaps to the next time (ascending, so
//!     gaps ≥ 0). Pairs of one time that the engine can hold as singles (no drift, an
//!     evaluated count of 1 exactly when the time is before the last tick, no saved
//!     verdict) come last, ascending by address, so the bytes do not depend on how the
//!     host held them.
//! v   periodic pairs of the last evaluation (not in version 1), ascending by address, each:
//!     address, v period count, per period v period_ms, f64 confidence, f64 chance
//! ```
//! A finding is `z window start, z window end, z first flow, z last flow, v flows, v peers,
//! v period count`, then per period `v period_ms, v peer count` and per peer
//! `address, v flows, f64 confidence`, peers in ascending address order.
//!
//! Gaps of periodic flows take 3–4 bytes, so snapshots are about as compact as the state.
//! Decoding checks every count against the bytes left before allocating, and every
//! invariant the engine relies on; bad bytes give an [`EngineError`], never a panic.
//!
//! The verdicts of the periodic pairs are saved, so that a restored host goes on exactly as
//! the replica that wrote it would have (lazy re-estimation included) and its periodic peers
//! count towards prevalence at once. A version 1 record has no verdicts: the host
//! re-evaluates all its pairs once.

mod wire;

use std::net::IpAddr;

use hashbrown::DefaultHashBuilder;

use relbot_periodicity::{PairVerdict, PeriodicFor};

use crate::result::{Finding, PeerFinding, PeriodFinding};
use crate::state::{Host, Memo, Pair, Times, MAX_TIMES};
use crate::EngineError;
use wire::{Reader, Writer};

/// Version of the host snapshot format written by this build.
pub const HOST_FORMAT: u8 = 2;
/// The oldest host format this build reads.
const OLDEST_HOST_FORMAT: u8 = 1;
/// Version of the clock snapshot format written by this build.
pub const CLOCK_FORMAT: u8 = 1;

const HAS_POSITION: u8 = 1;
const HAS_LATEST: u8 = 2;
const HAS_EMITTED: u8 = 4;
const EMITTED_IS_LATEST: u8 = 8;
const KNOWN_FLAGS: u8 = 15;
const MAX_VERSION_LEN: usize = 64;

/// The engine's event-time clock and input position, saved with each batch of host
/// snapshots (under a partition-level key of the service's choosing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockState {
    /// Newest flow start seen, ms.
    pub max_event_ms: Option<i64>,
    /// End of the window closed by the last flush, ms.
    pub flushed_through_ms: Option<i64>,
    /// Highest input position given to [`Engine::ingest_at`](crate::Engine::ingest_at).
    /// After [`Engine::restore_clock`](crate::Engine::restore_clock), flows at or below it
    /// are skipped as already reflected in the state.
    pub position: Option<u64>,
}

impl ClockState {
    /// The versioned binary form: `u8 version, u8 flags (1 max event, 2 flushed, 4 position)`,
    /// then the present fields (`z`, `z`, `v`).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(CLOCK_FORMAT);
        let flags = u8::from(self.max_event_ms.is_some())
            | u8::from(self.flushed_through_ms.is_some()) << 1
            | u8::from(self.position.is_some()) << 2;
        w.u8(flags);
        if let Some(v) = self.max_event_ms {
            w.zigzag(v);
        }
        if let Some(v) = self.flushed_through_ms {
            w.zigzag(v);
        }
        if let Some(v) = self.position {
            w.varint(v);
        }
        w.buf
    }

    /// Reads [`ClockState::encode`]'s form.
    pub fn decode(bytes: &[u8]) -> Result<Self, EngineError> {
        let mut r = Reader::new(bytes, "clock");
        version(&mut r, "clock", CLOCK_FORMAT)?;
        let at = r.pos();
        let flags = r.u8()?;
        if flags & !7 != 0 {
            return Err(r.invalid_at(at, "unknown flags"));
        }
        let max_event_ms = (flags & 1 != 0).then(|| r.zigzag()).transpose()?;
        let flushed_through_ms = (flags & 2 != 0).then(|| r.zigzag()).transpose()?;
        let position = (flags & 4 != 0).then(|| r.varint()).transpose()?;
        r.finish()?;
        Ok(Self {
            max_event_ms,
            flushed_through_ms,
            position,
        })
    }
}

/// What changed since the last [`Engine::take_changed`](crate::Engine::take_changed): write
/// the hosts, then the clock, then commit the input offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// The clock after these changes.
    pub clock: ClockState,
    /// Changed hosts in ascending address order.
    pub hosts: Vec<HostChange>,
}

/// The new state of one host, or its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostChange {
    /// The host (the changelog key).
    pub host: IpAddr,
    /// Its encoded state; `None` is a tombstone (the host was evicted or expired).
    pub state: Option<Vec<u8>>,
}

fn version(r: &mut Reader<'_>, what: &'static str, supported: u8) -> Result<(), EngineError> {
    versions(r, what, supported..=supported).map(drop)
}

/// Reads the format version byte; one of `supported`, or an error naming the newest.
fn versions(
    r: &mut Reader<'_>,
    what: &'static str,
    supported: std::ops::RangeInclusive<u8>,
) -> Result<u8, EngineError> {
    let found = r.u8()?;
    if !supported.contains(&found) {
        return Err(EngineError::SnapshotVersion {
            what,
            found,
            supported: *supported.end(),
        });
    }
    Ok(found)
}

/// Encodes one host's state.
pub(crate) fn encode_host(host: &Host, algorithm_version: &str) -> Vec<u8> {
    let mut w = Writer::default();
    w.buf.reserve(32 + host.pairs.len() * 24 + host.times * 3);
    w.u8(HOST_FORMAT);
    let memo = host.memo();
    let latest = memo.and_then(|m| m.latest.as_deref());
    let emitted = memo.and_then(|m| m.emitted.as_deref());
    let same = latest.is_some() && latest == emitted;
    let flags = if host.position().is_some() {
        HAS_POSITION
    } else {
        0
    } | if latest.is_some() { HAS_LATEST } else { 0 }
        | if emitted.is_some() && !same {
            HAS_EMITTED
        } else {
            0
        }
        | if same { EMITTED_IS_LATEST } else { 0 };
    w.u8(flags);
    w.varint(host.flows);
    if let Some(p) = host.position() {
        w.varint(p);
    }
    w.zigzag(host.newest_ms);
    w.zigzag(host.due_ms);
    w.zigzag(host.last_tick);
    w.str(algorithm_version);
    if let Some(f) = latest {
        encode_finding(&mut w, f);
    }
    if let (Some(f), false) = (emitted, same) {
        encode_finding(&mut w, f);
    }
    // Pairs in their order, then every peer of one time that is or could be a single,
    // ascending by address: the same bytes whichever way the host holds it.
    let mut singles: Vec<(IpAddr, i64)> = host.singles.iter().collect();
    w.varint(host.peers() as u64);
    for pair in &host.pairs {
        if host.could_be_single(pair) {
            singles.push((pair.peer, pair.times.first()));
            continue;
        }
        w.ip(pair.peer);
        w.varint(pair.times.len() as u64);
        w.varint(u64::from(pair.evaluated));
        w.varint(u64::from(pair.drift));
        let mut prev = pair.times.first();
        w.zigzag(prev);
        for t in pair.times.iter().skip(1) {
            // Ascending, so the gap is non-negative; as u64 it is exact even across i64's range.
            w.varint(t.wrapping_sub(prev) as u64);
            prev = t;
        }
    }
    singles.sort_unstable_by_key(|s| s.0);
    for (peer, t) in singles {
        w.ip(peer);
        w.varint(1);
        w.varint(u64::from(t < host.last_tick));
        w.varint(0);
        w.zigzag(t);
    }
    let verdicts = memo.map_or(&[][..], |m| &m.verdicts[..]);
    w.varint(verdicts.len() as u64);
    for (peer, verdict) in verdicts {
        w.ip(*peer);
        w.varint(verdict.periods().len() as u64);
        for p in verdict.periods() {
            w.varint(p.period_ms);
            w.f64(p.confidence);
            w.f64(p.chance);
        }
    }
    w.buf
}

fn encode_finding(w: &mut Writer, f: &Finding) {
    w.zigzag(f.window_start_ms);
    w.zigzag(f.window_end_ms);
    w.zigzag(f.first_flow_ms);
    w.zigzag(f.last_flow_ms);
    w.varint(f.flows);
    w.varint(u64::from(f.peers));
    w.varint(f.periods.len() as u64);
    for p in &f.periods {
        w.varint(p.period_ms);
        w.varint(p.peers.len() as u64);
        for x in &p.peers {
            w.ip(x.peer);
            w.varint(x.flows);
            w.f64(x.confidence);
        }
    }
}

/// Decodes one host's state. Findings made by another algorithm version are dropped (the
/// flow times are kept), so that the host is judged afresh. With `singles`, peers of one
/// time that can be are held as singles.
pub(crate) fn decode_host(
    bytes: &[u8],
    algorithm_version: &str,
    hasher: &DefaultHashBuilder,
    singles: bool,
) -> Result<Host, EngineError> {
    let mut r = Reader::new(bytes, "host");
    let format = versions(&mut r, "host", OLDEST_HOST_FORMAT..=HOST_FORMAT)?;
    let at = r.pos();
    let flags = r.u8()?;
    if flags & !KNOWN_FLAGS != 0 || (flags & EMITTED_IS_LATEST != 0 && flags & HAS_LATEST == 0) {
        return Err(r.invalid_at(at, "unknown or inconsistent flags"));
    }
    let mut host = Host::new();
    host.flows = r.varint()?;
    if flags & HAS_POSITION != 0 {
        host.set_position(Some(r.varint()?));
    }
    host.newest_ms = r.zigzag()?;
    host.due_ms = r.zigzag()?;
    host.last_tick = r.zigzag()?;
    let same_algorithm = r.str(MAX_VERSION_LEN)? == algorithm_version;
    let latest = (flags & HAS_LATEST != 0)
        .then(|| decode_finding(&mut r).map(Box::new))
        .transpose()?;
    let mut emitted = (flags & HAS_EMITTED != 0)
        .then(|| decode_finding(&mut r).map(Box::new))
        .transpose()?;
    if flags & EMITTED_IS_LATEST != 0 {
        emitted.clone_from(&latest);
    }

    let at = r.pos();
    let n_pairs = r.count(4)?;
    if n_pairs == 0 {
        return Err(r.invalid_at(at, "a host without pairs"));
    }
    host.pairs.reserve_exact(n_pairs);
    let mut times = Vec::new();
    for _ in 0..n_pairs {
        let at = r.pos();
        let peer = r.ip()?;
        if host.find(peer, hasher).is_some() {
            return Err(r.invalid_at(at, "the same peer twice"));
        }
        let at = r.pos();
        let n = r.count(1)?;
        if n == 0 || n > MAX_TIMES {
            return Err(r.invalid_at(at, "a pair's time count is 0 or too large"));
        }
        let evaluated = r.varint()?;
        if evaluated > n as u64 {
            return Err(r.invalid_at(at, "more times evaluated than held"));
        }
        let drift = if format >= 2 {
            let at = r.pos();
            u16::try_from(r.varint()?).map_err(|_| r.invalid_at(at, "drift beyond u16"))?
        } else {
            0
        };
        times.clear();
        let mut t = r.zigzag()?;
        times.push(t);
        for _ in 1..n {
            let at = r.pos();
            let gap = r.varint()?;
            t = i64::try_from(gap)
                .ok()
                .and_then(|g| t.checked_add(g))
                .ok_or_else(|| r.invalid_at(at, "time beyond the i64 range"))?;
            times.push(t);
        }
        let times = Times::from_sorted(&times).ok_or_else(|| r.invalid_at(at, "bad times"))?;
        host.push(
            Pair {
                times,
                evaluated: evaluated as u32,
                head_ok: false,
                drift,
                peer,
            },
            hasher,
        );
    }
    let verdicts = if format >= 2 {
        Some(decode_verdicts(&mut r, &host, hasher)?)
    } else {
        None
    };
    r.finish()?;
    host.stale = host.pairs.iter().any(|p| p.drift > 0);
    match (same_algorithm, verdicts) {
        (true, Some(verdicts)) => host.set_memo(Memo {
            verdicts,
            latest,
            emitted,
        }),
        (true, None) => {
            host.cold = host.pairs.iter().any(|p| p.evaluated > 0);
            host.set_memo(Memo {
                verdicts: Vec::new(),
                latest,
                emitted,
            });
        }
        // Another algorithm's verdicts and findings do not count: judged afresh.
        (false, _) => host.cold = host.pairs.iter().any(|p| p.evaluated > 0),
    }
    if singles {
        host.demote_singles(hasher);
    }
    Ok(host)
}

/// The verdicts of a host's periodic pairs: ascending by peer, each a pair of the host.
fn decode_verdicts(
    r: &mut Reader<'_>,
    host: &Host,
    hasher: &DefaultHashBuilder,
) -> Result<Vec<(IpAddr, PairVerdict)>, EngineError> {
    let n = r.count(6)?;
    let mut verdicts: Vec<(IpAddr, PairVerdict)> = Vec::with_capacity(n);
    for _ in 0..n {
        let at = r.pos();
        let peer = r.ip()?;
        if host.find(peer, hasher).is_none() {
            return Err(r.invalid_at(at, "a verdict for a peer without a pair"));
        }
        if verdicts.last().is_some_and(|(last, _)| *last >= peer) {
            return Err(r.invalid_at(at, "verdicts not in ascending peer order"));
        }
        let at = r.pos();
        let k = r.count(17)?;
        if k == 0 {
            return Err(r.invalid_at(at, "a periodic verdict without a period"));
        }
        let mut periods = Vec::with_capacity(k);
        for _ in 0..k {
            periods.push(PeriodicFor {
                period_ms: r.varint()?,
                confidence: r.f64()?,
                chance: r.f64()?,
            });
        }
        verdicts.push((peer, PairVerdict::new(periods)));
    }
    Ok(verdicts)
}

fn decode_finding(r: &mut Reader<'_>) -> Result<Finding, EngineError> {
    let window_start_ms = r.zigzag()?;
    let window_end_ms = r.zigzag()?;
    let first_flow_ms = r.zigzag()?;
    let last_flow_ms = r.zigzag()?;
    let flows = r.varint()?;
    let at = r.pos();
    let peers = u32::try_from(r.varint()?).map_err(|_| r.invalid_at(at, "peer count"))?;
    let n_periods = r.count(2)?;
    let mut periods = Vec::with_capacity(n_periods);
    for _ in 0..n_periods {
        let at = r.pos();
        let period_ms = r.varint()?;
        if periods
            .last()
            .is_some_and(|p: &PeriodFinding| p.period_ms >= period_ms)
        {
            return Err(r.invalid_at(at, "periods not ascending"));
        }
        let n = r.count(14)?;
        let mut list: Vec<PeerFinding> = Vec::with_capacity(n);
        for _ in 0..n {
            let at = r.pos();
            let peer = r.ip()?;
            if list.last().is_some_and(|x| x.peer >= peer) {
                return Err(r.invalid_at(at, "peers not ascending"));
            }
            let flows = r.varint()?;
            let confidence = r.f64()?;
            if !(0.0..=1.0).contains(&confidence) {
                return Err(r.invalid_at(at, "confidence outside [0, 1]"));
            }
            list.push(PeerFinding {
                peer,
                flows,
                confidence,
            });
        }
        periods.push(PeriodFinding {
            period_ms,
            peers: list,
        });
    }
    Ok(Finding {
        window_start_ms,
        window_end_ms,
        flows,
        peers,
        first_flow_ms,
        last_flow_ms,
        periods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_round_trips_and_rejects_garbage() {
        for c in [
            ClockState::default(),
            ClockState {
                max_event_ms: Some(-5),
                flushed_through_ms: Some(i64::MAX),
                position: Some(u64::MAX),
            },
        ] {
            assert_eq!(ClockState::decode(&c.encode()).unwrap(), c);
        }
        assert!(matches!(
            ClockState::decode(&[9, 0]),
            Err(EngineError::SnapshotVersion { found: 9, .. })
        ));
        assert!(ClockState::decode(&[1, 8]).is_err());
        assert!(ClockState::decode(&[1, 1]).is_err());
        assert!(ClockState::decode(&[1, 0, 0]).is_err());
        assert!(ClockState::decode(&[]).is_err());
    }
}
