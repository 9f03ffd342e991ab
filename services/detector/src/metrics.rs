//! The detector's metrics, one function per metric. Labels are bounded enums (outcome,
//! eviction kind), never an address or a partition-independent unbounded value.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use relbot_engine::{EngineStats, Evictions};
use relbot_service::Metrics;

/// Label of consumed flows.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `accepted`, `late`, `filtered`, `duplicate`, `peer_capped`, `future`, `undecodable`
    /// or `revoked` (read just before its partition was taken away; the next owner reads it).
    pub outcome: &'static str,
}

/// Label of evictions.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EvictionLabel {
    /// What was evicted and why, e.g. `times_expired`, `hosts_budget`.
    pub kind: &'static str,
}

/// Label of per-partition gauges (bounded by the topic's partition count).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    /// Partition of the flows topic.
    pub partition: i32,
}

/// Every metric of the detector.
#[derive(Debug, Clone)]
pub struct DetectorMetrics {
    consumed: Counter,
    flows: Family<OutcomeLabel, Counter>,
    evictions: Family<EvictionLabel, Counter>,
    evaluations: Counter,
    detections: Counter,
    changelog_records: Counter,
    flushes: Counter,
    hosts: Gauge,
    pairs: Gauge,
    times: Gauge,
    state_bytes: Gauge,
    partitions: Gauge,
    restored_hosts: Counter,
    restore_seconds: Histogram,
    lag: Family<PartitionLabel, Gauge>,
}

impl DetectorMetrics {
    /// Creates the metrics and registers them in `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            consumed: Counter::default(),
            flows: Family::default(),
            evictions: Family::default(),
            evaluations: Counter::default(),
            detections: Counter::default(),
            changelog_records: Counter::default(),
            flushes: Counter::default(),
            hosts: Gauge::default(),
            pairs: Gauge::default(),
            times: Gauge::default(),
            state_bytes: Gauge::default(),
            partitions: Gauge::default(),
            restored_hosts: Counter::default(),
            // 1 ms .. ~9 min
            restore_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            lag: Family::default(),
        };
        metrics.register(|r| {
            r.register(
                "flows_consumed",
                "Flow records consumed",
                this.consumed.clone(),
            );
            r.register("flows", "Flow records by outcome", this.flows.clone());
            r.register(
                "evictions",
                "State evicted to keep memory bounded, by kind",
                this.evictions.clone(),
            );
            r.register(
                "host_evaluations",
                "Evaluations of one host at one tick",
                this.evaluations.clone(),
            );
            r.register(
                "detections_emitted",
                "Detections delivered to the detections topic",
                this.detections.clone(),
            );
            r.register(
                "changelog_records",
                "Records delivered to the state changelog (hosts, tombstones, clocks)",
                this.changelog_records.clone(),
            );
            r.register(
                "idle_flushes",
                "Partitions flushed after `detector.idle_flush` without input",
                this.flushes.clone(),
            );
            r.register("state_hosts", "Hosts with state", this.hosts.clone());
            r.register(
                "state_pairs",
                "Host-peer pairs with state",
                this.pairs.clone(),
            );
            r.register(
                "state_flow_times",
                "Flow start times retained",
                this.times.clone(),
            );
            r.register(
                "state_bytes",
                "Estimated bytes of engine state",
                this.state_bytes.clone(),
            );
            r.register(
                "partitions_assigned",
                "Flow partitions this replica owns (restored)",
                this.partitions.clone(),
            );
            r.register(
                "restored_hosts",
                "Host states restored from the changelog",
                this.restored_hosts.clone(),
            );
            r.register(
                "restore_duration_seconds",
                "Time to restore one partition from the changelog",
                this.restore_seconds.clone(),
            );
            r.register(
                "consumer_lag",
                "Records of the flows topic not yet consumed, per owned partition (high \
                 watermark minus position, refreshed every `detector.lag_interval`)",
                this.lag.clone(),
            );
        });
        this
    }

    /// `n` records were read from the flows topic.
    pub fn consumed(&self, n: u64) {
        self.consumed.inc_by(n);
    }

    /// `n` flows had `outcome`.
    pub fn flows(&self, outcome: &'static str, n: u64) {
        self.flows
            .get_or_create(&OutcomeLabel { outcome })
            .inc_by(n);
    }

    /// `n` detections were delivered.
    pub fn detections(&self, n: u64) {
        self.detections.inc_by(n);
    }

    /// `n` changelog records were delivered.
    pub fn changelog(&self, n: u64) {
        self.changelog_records.inc_by(n);
    }

    /// A partition was flushed for idleness.
    pub fn flushed(&self) {
        self.flushes.inc();
    }

    /// A partition was restored: `hosts` host states in `seconds`.
    pub fn restored(&self, hosts: u64, seconds: f64) {
        self.restored_hosts.inc_by(hosts);
        self.restore_seconds.observe(seconds);
    }

    /// The consumer lag of `partition`, records.
    pub fn lag(&self, partition: i32, records: i64) {
        self.lag
            .get_or_create(&PartitionLabel { partition })
            .set(records);
    }

    /// `partition` is no longer owned: its lag is no longer reported.
    pub fn forget_partition(&self, partition: i32) {
        self.lag.remove(&PartitionLabel { partition });
    }

    /// Adds what an engine did between two of its stats (counters only grow).
    pub fn engine_delta(&self, before: &EngineStats, after: &EngineStats) {
        self.evaluations.inc_by(
            after
                .host_evaluations
                .saturating_sub(before.host_evaluations),
        );
        for (kind, b, a) in eviction_kinds(&before.evictions, &after.evictions) {
            if a > b {
                self.evictions
                    .get_or_create(&EvictionLabel { kind })
                    .inc_by(a - b);
            }
        }
    }

    /// Sets the state gauges to the sums over the engines of this replica.
    pub fn state(&self, partitions: usize, totals: &EngineStats) {
        self.partitions.set(clamp(partitions as u64));
        self.hosts.set(clamp(totals.hosts));
        self.pairs.set(clamp(totals.pairs));
        self.times.set(clamp(totals.retained_times));
        self.state_bytes.set(clamp(totals.state_bytes));
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn eviction_kinds(b: &Evictions, a: &Evictions) -> [(&'static str, u64, u64); 9] {
    [
        ("times_expired", b.times_expired, a.times_expired),
        ("times_pair_cap", b.times_pair_cap, a.times_pair_cap),
        ("pairs_expired", b.pairs_expired, a.pairs_expired),
        ("pairs_sparse", b.pairs_sparse, a.pairs_sparse),
        ("times_sparse", b.times_sparse, a.times_sparse),
        ("hosts_expired", b.hosts_expired, a.hosts_expired),
        ("hosts_budget", b.hosts_budget, a.hosts_budget),
        ("pairs_budget", b.pairs_budget, a.pairs_budget),
        ("times_budget", b.times_budget, a.times_budget),
    ]
}
