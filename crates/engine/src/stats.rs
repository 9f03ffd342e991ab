//! [`EngineStats`]: counters and gauges of an engine, for the service's Prometheus metrics.
//!
//! Plain numbers, no metrics library: the service exports them (never with an address as a
//! label). Counters only grow; gauges describe the state at the time of the call.

/// Counters (since the engine was made) and gauges (now) of one engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Flows whose start time was added to a host's state.
    pub flows_ingested: u64,
    /// Flows dropped because they started before the closed end of the event-time clock.
    pub flows_late: u64,
    /// Flows whose source is not in the monitored networks.
    pub flows_filtered: u64,
    /// Flows skipped because their input position was already reflected in the state.
    pub flows_duplicate: u64,
    /// Flows dropped because their host had `max_peers_per_host` peers and this was a new one.
    pub flows_peer_capped: u64,
    /// What was evicted, by reason.
    pub evictions: Evictions,
    /// Host evaluations (one host at one tick).
    pub host_evaluations: u64,
    /// Pair evaluations that ran the algorithm (cached verdicts and hopeless pairs aside).
    pub pair_evaluations: u64,
    /// Detections emitted.
    pub detections: u64,
    /// Hosts restored from snapshots.
    pub hosts_restored: u64,
    /// Gauge: hosts with state.
    pub hosts: u64,
    /// Gauge: (host, peer) pairs with state.
    pub pairs: u64,
    /// Gauge: flow start times retained.
    pub retained_times: u64,
    /// Gauge: hosts queued for evaluation (their window changes at a future tick).
    pub queued_hosts: u64,
    /// Gauge: estimated bytes of all state (what the budget is compared with).
    pub state_bytes: u64,
    /// Gauge: the newest flow start seen, ms.
    pub max_event_ms: Option<i64>,
    /// Gauge: the watermark, ms.
    pub watermark_ms: Option<i64>,
    /// Gauge: flows starting before this are late, ms.
    pub closed_end_ms: Option<i64>,
}

/// Eviction counters, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evictions {
    /// Flow times that left the horizon.
    pub times_expired: u64,
    /// Flow times dropped (oldest first) because a pair had `max_times_per_pair`.
    pub times_pair_cap: u64,
    /// Pairs removed because all their times left the horizon.
    pub pairs_expired: u64,
    /// Pairs removed because their times were all in sparse sessions: runs of fewer times
    /// than the algorithm needs, idle for `sparse_idle_periods` longest periods.
    pub pairs_sparse: u64,
    /// Flow times removed in such sparse sessions.
    pub times_sparse: u64,
    /// Hosts removed because all their pairs were removed.
    pub hosts_expired: u64,
    /// Hosts evicted whole (least recently active first) to stay within the budget.
    pub hosts_budget: u64,
    /// Pairs removed with those hosts.
    pub pairs_budget: u64,
    /// Flow times removed with those hosts.
    pub times_budget: u64,
}
