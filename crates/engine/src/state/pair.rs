//! [`Pair`]: one (host, peer) pair: the peer, its flow times, and how far it was evaluated.

use std::net::IpAddr;

use super::times::Times;

/// One peer of a host. 56 bytes inline; times beyond the first live in [`Times`]' buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair {
    /// Flow start times, ascending.
    pub times: Times,
    /// How many of the smallest times were in the window of the host's last evaluation.
    ///
    /// Accepted flows are never before the last evaluated tick, so new times always land at
    /// index `evaluated` or later: the pair's window changed since that evaluation exactly
    /// when times were trimmed from the front or the count before the new tick differs.
    pub evaluated: u32,
    /// The leading session of the times is known to be large enough never to be evicted as
    /// sparse (see [`Pair::sparse_head`]). New times only merge sessions, so this holds until
    /// the front of the times changes; whoever drops or prepends times clears it.
    pub head_ok: bool,
    /// Flow times that entered or left the pair's window since the algorithm last ran on it
    /// (saturating; see `EngineConfig::reevaluate_change`).
    pub drift: u16,
    /// The peer's address.
    pub peer: IpAddr,
}

impl Pair {
    /// A pair with one flow time, not yet evaluated.
    pub(crate) fn new(peer: IpAddr, t: i64) -> Self {
        Self {
            times: Times::one(t),
            evaluated: 0,
            head_ok: false,
            drift: 0,
            peer,
        }
    }

    /// The pair of a [single](super::Singles) at `t` of a host last evaluated at
    /// `last_tick`: it has no drift, and its time is evaluated when before that tick.
    pub(crate) fn from_single(peer: IpAddr, t: i64, last_tick: i64) -> Self {
        Self {
            evaluated: u32::from(t < last_tick),
            ..Self::new(peer, t)
        }
    }

    /// The earliest event time at which this pair's window content changes: its first
    /// unevaluated time, its oldest time leaving the horizon, or (for sparse pairs) the moment
    /// it has been idle long enough to be evicted. `i64::MAX` when nothing is pending.
    pub(crate) fn due(&self, horizon_ms: Option<i64>, sparse: Option<(usize, i64)>) -> i64 {
        let n = self.times.len();
        if n == 0 {
            return i64::MAX;
        }
        let mut due = i64::MAX;
        if (self.evaluated as usize) < n {
            due = self.times.get(self.evaluated as usize);
        }
        if let Some(h) = horizon_ms {
            due = due.min(self.times.first().saturating_add(h));
        }
        if let (Some((min_times, idle_ms)), false) = (sparse, self.head_ok) {
            if let Some((_, last)) = self.sparse_head(min_times, idle_ms) {
                due = due.min(last.saturating_add(idle_ms));
            }
        }
        due
    }

    /// The leading *session* of the pair's times (the longest prefix whose consecutive gaps
    /// are at most `idle_ms`), as (number of times, last time), when it has fewer than
    /// `min_times` times: a session that can be evicted once it is `idle_ms` old.
    ///
    /// Sessions are taken over all times held, including those after the tick being
    /// evaluated. That keeps eviction independent of arrival order: a later time either
    /// joins the session (and then the session is not idle at any tick before it), or
    /// follows a gap longer than `idle_ms` (and then the session is dead either way).
    pub(crate) fn sparse_head(&self, min_times: usize, idle_ms: i64) -> Option<(usize, i64)> {
        let n = self.times.len();
        let mut last = self.times.first();
        let mut k = 1;
        while k < n && k < min_times {
            let t = self.times.get(k);
            if t.saturating_sub(last) > idle_ms {
                break;
            }
            last = t;
            k += 1;
        }
        (k < min_times && n > 0).then_some((k, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_is_56_bytes() {
        assert_eq!(size_of::<Pair>(), 56);
    }

    #[test]
    fn due_is_the_earliest_change() {
        let mut p = Pair::new(IpAddr::from([10, 0, 0, 1]), 100);
        p.times.insert(200);
        assert_eq!(p.due(None, None), 100);
        p.evaluated = 1;
        assert_eq!(p.due(None, None), 200);
        assert_eq!(p.due(Some(50), None), 150);
        p.evaluated = 2;
        assert_eq!(p.due(None, None), i64::MAX);
        assert_eq!(p.due(None, Some((4, 1000))), 1200);
        assert_eq!(p.due(None, Some((2, 1000))), i64::MAX);
        // Sessions: 100, 200 | 5000 (gap > 1000) | ...
        p.times.insert(5000);
        p.evaluated = 3;
        assert_eq!(p.sparse_head(4, 1000), Some((2, 200)));
        assert_eq!(p.sparse_head(2, 1000), None);
        assert_eq!(p.sparse_head(4, 10_000), Some((3, 5000)));
        assert_eq!(p.due(None, Some((4, 1000))), 1200);
    }
}
