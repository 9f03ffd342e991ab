//! Event time: the watermark, evaluation ticks, and which flows are late.
//!
//! - The **watermark** is the newest flow start seen minus the allowed lateness. A flow that
//!   respects the lateness (start ≥ newest start seen so far − lateness) is never behind it.
//! - **Ticks** are the multiples of the evaluation interval since the Unix epoch. Tick `T`
//!   evaluates the window `[T − horizon, T)`, and is due once the watermark reaches `T`: by
//!   then every flow that starts before `T` and respects the lateness has arrived, so the
//!   window's content does not depend on arrival order.
//! - A flow is **late**, and dropped, when it starts before the *closed end*: the last tick
//!   the watermark has reached (or the end a [`flush`](crate::Engine::flush) closed). Such a
//!   flow belongs to a window that may already have been evaluated. Flows between the closed
//!   end and the watermark are still accepted: no evaluated window contains them.

/// The engine's event-time clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clock {
    interval_ms: Option<i64>,
    lateness_ms: Option<i64>,
    /// Newest flow start seen.
    max_seen: Option<i64>,
    /// End of the window closed by the last flush ([`i64::MIN`]: none).
    flushed: i64,
    /// Cached [`Clock::closed_end`].
    closed: i64,
}

impl Clock {
    pub(crate) fn new(interval_ms: Option<i64>, lateness_ms: Option<i64>) -> Self {
        Self {
            interval_ms,
            lateness_ms,
            max_seen: None,
            flushed: i64::MIN,
            closed: i64::MIN,
        }
    }

    /// Takes a flow start into account.
    pub(crate) fn observe(&mut self, t: i64) {
        if self.max_seen.is_none_or(|m| t > m) {
            self.max_seen = Some(t);
            self.closed = self.compute_closed();
        }
    }

    /// The newest flow start seen.
    pub(crate) fn max_seen(&self) -> Option<i64> {
        self.max_seen
    }

    /// End of the window closed by the last flush, if any.
    pub(crate) fn flushed(&self) -> Option<i64> {
        (self.flushed != i64::MIN).then_some(self.flushed)
    }

    /// Newest flow start seen minus the allowed lateness (none without a lateness bound).
    pub(crate) fn watermark(&self) -> Option<i64> {
        Some(self.max_seen?.saturating_sub(self.lateness_ms?))
    }

    /// Flows starting before this are late; ticks up to it may be evaluated.
    pub(crate) fn closed_end(&self) -> i64 {
        self.closed
    }

    fn compute_closed(&self) -> i64 {
        let by_watermark = match (self.watermark(), self.interval_ms) {
            (Some(w), Some(iv)) => w.div_euclid(iv).saturating_mul(iv),
            _ => i64::MIN,
        };
        by_watermark.max(self.flushed)
    }

    /// The first tick strictly after `t` ([`i64::MAX`] without an interval: only a flush
    /// evaluates).
    pub(crate) fn tick_after(&self, t: i64) -> i64 {
        match self.interval_ms {
            Some(iv) => t.div_euclid(iv).saturating_add(1).saturating_mul(iv),
            None => i64::MAX,
        }
    }

    /// Whether ticks exist (otherwise only flushes evaluate).
    pub(crate) fn has_ticks(&self) -> bool {
        self.interval_ms.is_some()
    }

    /// Closes everything seen so far: returns the end of the flushed window (the first tick
    /// after the newest flow, or just after the newest flow without ticks).
    pub(crate) fn flush(&mut self) -> Option<i64> {
        let max = self.max_seen?;
        let end = match self.interval_ms {
            Some(_) => self.tick_after(max),
            None => max.saturating_add(1),
        };
        self.flushed = self.flushed.max(end);
        self.closed = self.compute_closed();
        Some(self.flushed)
    }

    /// Merges a restored clock: the newest start and flush end are maxima, so restoring is
    /// idempotent and order-free.
    pub(crate) fn restore(&mut self, max_seen: Option<i64>, flushed: Option<i64>) {
        if let Some(m) = max_seen {
            self.observe(m);
        }
        if let Some(f) = flushed {
            self.flushed = self.flushed.max(f);
            self.closed = self.compute_closed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_watermark_and_closed_end() {
        let mut c = Clock::new(Some(100), Some(30));
        assert_eq!(c.closed_end(), i64::MIN);
        c.observe(250);
        assert_eq!(c.watermark(), Some(220));
        assert_eq!(c.closed_end(), 200);
        c.observe(240); // older: nothing moves
        assert_eq!(c.closed_end(), 200);
        assert_eq!(c.tick_after(200), 300);
        assert_eq!(c.tick_after(199), 200);
        assert_eq!(c.tick_after(-1), 0);
        assert_eq!(c.flush(), Some(300));
        assert_eq!(c.closed_end(), 300);
        assert_eq!(c.tick_after(i64::MAX - 5), i64::MAX);
    }

    #[test]
    fn without_lateness_or_interval_only_flush_closes() {
        let mut c = Clock::new(None, None);
        c.observe(1_000);
        assert_eq!((c.watermark(), c.closed_end()), (None, i64::MIN));
        assert_eq!(c.tick_after(5), i64::MAX);
        assert_eq!(c.flush(), Some(1_001));
        assert_eq!(c.closed_end(), 1_001);
        let mut d = Clock::new(Some(10), None);
        d.restore(Some(55), Some(60));
        assert_eq!(
            (d.max_seen(), d.flushed(), d.closed_end()),
            (Some(55), Some(60), 60)
        );
    }
}
