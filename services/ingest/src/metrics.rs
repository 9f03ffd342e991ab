//! The ingest service's metrics, one function per metric. Labels are exporters (routers and
//! probes: a bounded set, capped at [`MAX_EXPORTER_LABELS`], beyond which `other` is used),
//! listeners and bounded reason enums; never a host address.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use relbot_service::Metrics;

/// Distinct exporter labels; datagrams from further sources count under `exporter="other"`
/// (a spoofed flood must not grow the registry without bound).
pub const MAX_EXPORTER_LABELS: usize = 1024;

/// Label of per-exporter metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExporterLabel {
    /// The exporter's address (or `other`, or `file` for file inputs).
    pub exporter: String,
}

/// Label of decode errors.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecodeErrorLabel {
    /// The exporter's address (or `other`).
    pub exporter: String,
    /// [`relbot_flow::netflow::DecodeError::reason`], e.g. `truncated`, `bad_version`.
    pub reason: &'static str,
}

/// Label of per-listener metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    /// The configured listen address, e.g. `0.0.0.0:2055`.
    pub listener: String,
}

/// Label of bounded reasons and outcomes.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason or outcome.
    pub reason: &'static str,
}

/// The counters a worker bumps for every datagram of one exporter, resolved once.
#[derive(Debug, Clone)]
pub struct ExporterCounters {
    /// The label value, for decode errors.
    pub label: String,
    /// Datagrams received.
    pub packets: Counter,
    /// Flow records decoded.
    pub records: Counter,
    /// Data sets whose template was unknown (buffered or dropped).
    pub template_misses: Counter,
    /// Data sets held until their template arrives.
    pub buffered: Counter,
    /// Records decoded from held sets once their template came.
    pub released: Counter,
}

/// Every metric of the ingest service.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    exporters: Arc<Mutex<HashSet<IpAddr>>>,
    packets: Family<ExporterLabel, Counter>,
    records: Family<ExporterLabel, Counter>,
    decode_errors: Family<DecodeErrorLabel, Counter>,
    template_misses: Family<ExporterLabel, Counter>,
    buffered: Family<ExporterLabel, Counter>,
    released: Family<ExporterLabel, Counter>,
    kernel_drops: Family<ListenerLabel, Counter>,
    outcomes: Family<ReasonLabel, Counter>,
    produce_errors: Family<ReasonLabel, Counter>,
    queue_depth: Gauge,
    queue_full: Counter,
    templates: Gauge,
    pairing_open: Gauge,
    merge_open: Gauge,
    paired: Counter,
    unpaired: Family<ReasonLabel, Counter>,
    merged: Counter,
    merge_flushed: Family<ReasonLabel, Counter>,
    file_errors: Family<ReasonLabel, Counter>,
    template_saves: Family<ReasonLabel, Counter>,
}

impl IngestMetrics {
    /// Creates the metrics and registers them in `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            exporters: Arc::default(),
            packets: Family::default(),
            records: Family::default(),
            decode_errors: Family::default(),
            template_misses: Family::default(),
            buffered: Family::default(),
            released: Family::default(),
            kernel_drops: Family::default(),
            outcomes: Family::default(),
            produce_errors: Family::default(),
            queue_depth: Gauge::default(),
            queue_full: Counter::default(),
            templates: Gauge::default(),
            pairing_open: Gauge::default(),
            merge_open: Gauge::default(),
            paired: Counter::default(),
            unpaired: Family::default(),
            merged: Counter::default(),
            merge_flushed: Family::default(),
            file_errors: Family::default(),
            template_saves: Family::default(),
        };
        metrics.register(|r| {
            r.register(
                "packets",
                "Datagrams received, by exporter",
                this.packets.clone(),
            );
            r.register(
                "records_decoded",
                "Flow records decoded (UDP by exporter; files as exporter=\"file\")",
                this.records.clone(),
            );
            r.register(
                "decode_errors",
                "Datagrams or sets not decoded, by exporter and reason",
                this.decode_errors.clone(),
            );
            r.register(
                "template_misses",
                "Data sets whose template was not known on arrival, by exporter",
                this.template_misses.clone(),
            );
            r.register(
                "buffered_before_template",
                "Data sets held until their template arrived, by exporter",
                this.buffered.clone(),
            );
            r.register(
                "released_after_template",
                "Records decoded from held data sets once their template arrived",
                this.released.clone(),
            );
            r.register(
                "kernel_drops",
                "Datagrams the kernel dropped on our sockets (/proc/net/udp drops), by listener",
                this.kernel_drops.clone(),
            );
            r.register(
                "records",
                "Records by outcome: produced, filtered (initiator not monitored), \
                 produce_error, undeliverable",
                this.outcomes.clone(),
            );
            r.register(
                "produce_errors",
                "Records Kafka did not take, by reason",
                this.produce_errors.clone(),
            );
            r.register(
                "queue_depth",
                "Decoded records waiting for the producer stage",
                this.queue_depth.clone(),
            );
            r.register(
                "queue_full",
                "Times a worker found the queue full and stopped reading until it had room",
                this.queue_full.clone(),
            );
            r.register("templates", "Templates known", this.templates.clone());
            r.register(
                "pairing_open",
                "Records waiting for their other direction",
                this.pairing_open.clone(),
            );
            r.register(
                "split_merge_open",
                "Connections held for a continuation",
                this.merge_open.clone(),
            );
            r.register(
                "paired",
                "Records folded into their other direction's record",
                this.paired.clone(),
            );
            r.register(
                "unpaired",
                "Records sent without their other direction, by why they were flushed \
                 (window, capacity, drain)",
                this.unpaired.clone(),
            );
            r.register(
                "split_merged",
                "Pieces merged into an earlier piece of the same connection",
                this.merged.clone(),
            );
            r.register(
                "split_merge_flushed",
                "Held connections sent, by why (hold, capacity, drain)",
                this.merge_flushed.clone(),
            );
            r.register(
                "file_errors",
                "Problems reading input files, by reason",
                this.file_errors.clone(),
            );
            r.register(
                "template_cache_saves",
                "Template cache saves by outcome (ok, error)",
                this.template_saves.clone(),
            );
        });
        this
    }

    /// The label for `exporter`: its address, or `other` beyond [`MAX_EXPORTER_LABELS`].
    pub fn exporter_label(&self, exporter: IpAddr) -> String {
        let mut known = self
            .exporters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if known.contains(&exporter) || known.len() < MAX_EXPORTER_LABELS {
            known.insert(exporter);
            exporter.to_string()
        } else {
            "other".to_owned()
        }
    }

    /// The per-datagram counters of `exporter`.
    pub fn exporter(&self, exporter: IpAddr) -> ExporterCounters {
        self.counters_for(self.exporter_label(exporter))
    }

    /// The per-datagram counters under label `label` (e.g. `file`).
    pub fn counters_for(&self, label: String) -> ExporterCounters {
        let l = ExporterLabel {
            exporter: label.clone(),
        };
        ExporterCounters {
            packets: self.packets.get_or_create(&l).clone(),
            records: self.records.get_or_create(&l).clone(),
            template_misses: self.template_misses.get_or_create(&l).clone(),
            buffered: self.buffered.get_or_create(&l).clone(),
            released: self.released.get_or_create(&l).clone(),
            label,
        }
    }

    /// A datagram (or part of one) from the exporter labelled `exporter` was not decoded.
    pub fn decode_error(&self, exporter: &str, reason: &'static str) {
        self.decode_errors
            .get_or_create(&DecodeErrorLabel {
                exporter: exporter.to_owned(),
                reason,
            })
            .inc();
    }

    /// The kernel dropped `n` more datagrams on a socket of `listener`.
    pub fn kernel_drops(&self, listener: &str, n: u64) {
        self.kernel_drops
            .get_or_create(&ListenerLabel {
                listener: listener.to_owned(),
            })
            .inc_by(n);
    }

    /// Makes the listener's kernel-drop series visible from the start (at 0).
    pub fn listener(&self, listener: &str) {
        self.kernel_drops(listener, 0);
    }

    /// `n` records had `outcome`.
    pub fn outcome(&self, outcome: &'static str, n: u64) {
        self.outcomes
            .get_or_create(&ReasonLabel { reason: outcome })
            .inc_by(n);
    }

    /// Kafka refused or failed one record for `reason`.
    pub fn produce_error(&self, reason: &'static str) {
        self.produce_errors
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// The records waiting for the producer stage.
    pub fn queue_depth(&self, records: usize) {
        self.queue_depth
            .set(i64::try_from(records).unwrap_or(i64::MAX));
    }

    /// A worker found the queue full.
    pub fn queue_full(&self) {
        self.queue_full.inc();
    }

    /// Templates known.
    pub fn templates(&self, n: usize) {
        self.templates.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Open pairing and split-merge entries.
    pub fn open(&self, pairing: usize, merge: usize) {
        self.pairing_open
            .set(i64::try_from(pairing).unwrap_or(i64::MAX));
        self.merge_open
            .set(i64::try_from(merge).unwrap_or(i64::MAX));
    }

    /// `n` records were paired.
    pub fn paired(&self, n: u64) {
        self.paired.inc_by(n);
    }

    /// `n` records were flushed unpaired for `reason`.
    pub fn unpaired(&self, reason: &'static str, n: u64) {
        if n > 0 {
            self.unpaired
                .get_or_create(&ReasonLabel { reason })
                .inc_by(n);
        }
    }

    /// `n` pieces were merged.
    pub fn merged(&self, n: u64) {
        self.merged.inc_by(n);
    }

    /// `n` held connections were sent for `reason`.
    pub fn merge_flushed(&self, reason: &'static str, n: u64) {
        if n > 0 {
            self.merge_flushed
                .get_or_create(&ReasonLabel { reason })
                .inc_by(n);
        }
    }

    /// A problem reading input files.
    pub fn file_error(&self, reason: &'static str, n: u64) {
        self.file_errors
            .get_or_create(&ReasonLabel { reason })
            .inc_by(n);
    }

    /// A template cache save had `outcome` (`ok` or `error`).
    pub fn template_save(&self, outcome: &'static str) {
        self.template_saves
            .get_or_create(&ReasonLabel { reason: outcome })
            .inc();
    }
}
