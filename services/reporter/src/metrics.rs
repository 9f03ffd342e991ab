//! The reporter's metrics, one function per metric, labelled by sink name (bounded by the
//! configuration) and never by address.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use relbot_report::{AttemptError, RetryObserver};
use relbot_service::Metrics;

/// Label of per-sink metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    /// The sink's configured name.
    pub sink: String,
}

/// Label of suppressed reports.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SuppressedLabel {
    /// The sink's configured name.
    pub sink: String,
    /// `quiet_time` (host reported recently, result not worse) or `already_done` (the
    /// report was delivered or dead-lettered before, e.g. before a restart).
    pub reason: String,
}

/// Label of consumed detections.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `reported`, `below_rule`, `suppressed` or `invalid`.
    pub outcome: String,
}

/// Every metric of the reporter.
#[derive(Debug, Clone)]
pub struct ReporterMetrics {
    built: Family<SinkLabel, Counter>,
    delivered: Family<SinkLabel, Counter>,
    retried: Family<SinkLabel, Counter>,
    dead_lettered: Family<SinkLabel, Counter>,
    suppressed: Family<SuppressedLabel, Counter>,
    detections: Family<OutcomeLabel, Counter>,
    latency: Family<SinkLabel, Histogram>,
    state_writes: Counter,
    restored_hosts: Counter,
    pruned_hosts: Counter,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~9 min
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

impl ReporterMetrics {
    /// Creates the metrics and registers them in `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            built: Family::default(),
            delivered: Family::default(),
            retried: Family::default(),
            dead_lettered: Family::default(),
            suppressed: Family::default(),
            detections: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            state_writes: Counter::default(),
            restored_hosts: Counter::default(),
            pruned_hosts: Counter::default(),
        };
        metrics.register(|r| {
            r.register("reports_built", "Reports built, by sink", this.built.clone());
            r.register(
                "reports_delivered",
                "Reports acknowledged by their sink",
                this.delivered.clone(),
            );
            r.register(
                "reports_retried",
                "Delivery retries after a transient failure",
                this.retried.clone(),
            );
            r.register(
                "reports_dead_lettered",
                "Reports sent to the dead-letter topic",
                this.dead_lettered.clone(),
            );
            r.register(
                "reports_suppressed",
                "Reports not sent on purpose, by sink and reason",
                this.suppressed.clone(),
            );
            r.register(
                "detections",
                "Detections consumed, by outcome",
                this.detections.clone(),
            );
            r.register(
                "delivery_latency_seconds",
                "Time from the first attempt until the sink acknowledged a report, retries included",
                this.latency.clone(),
            );
            r.register(
                "state_writes",
                "Records written to the state topic",
                this.state_writes.clone(),
            );
            r.register(
                "state_restored_hosts",
                "Host states restored from the state topic",
                this.restored_hosts.clone(),
            );
            r.register(
                "state_pruned_hosts",
                "Host states dropped on restore (every mark older than the retention), tombstoned",
                this.pruned_hosts.clone(),
            );
        });
        this
    }

    fn sink(sink: &str) -> SinkLabel {
        SinkLabel {
            sink: sink.to_owned(),
        }
    }

    /// A report was built for `sink`.
    pub fn built(&self, sink: &str) {
        self.built.get_or_create(&Self::sink(sink)).inc();
    }

    /// `sink` acknowledged a report after `seconds`.
    pub fn delivered(&self, sink: &str, seconds: f64) {
        self.delivered.get_or_create(&Self::sink(sink)).inc();
        self.latency
            .get_or_create(&Self::sink(sink))
            .observe(seconds);
    }

    /// A report for `sink` was dead-lettered.
    pub fn dead_lettered(&self, sink: &str) {
        self.dead_lettered.get_or_create(&Self::sink(sink)).inc();
    }

    /// A report for `sink` was suppressed for `reason`.
    pub fn suppressed(&self, sink: &str, reason: &str) {
        self.suppressed
            .get_or_create(&SuppressedLabel {
                sink: sink.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A detection was consumed with `outcome`.
    pub fn detection(&self, outcome: &str) {
        self.detections
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A state record was written.
    pub fn state_written(&self) {
        self.state_writes.inc();
    }

    /// `hosts` host states were restored, `pruned` dropped and tombstoned.
    pub fn restored(&self, hosts: u64, pruned: u64) {
        self.restored_hosts.inc_by(hosts);
        self.pruned_hosts.inc_by(pruned);
    }
}

impl RetryObserver for ReporterMetrics {
    fn retrying(&self, sink: &str, error: &AttemptError, wait: std::time::Duration) {
        self.retried.get_or_create(&Self::sink(sink)).inc();
        tracing::info!(sink, reason = %error, wait = ?wait, "Delivery failed; retrying.");
    }
}
