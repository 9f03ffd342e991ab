//! The producer stage: one task that takes batches off the [`queue`](crate::queue), merges
//! split connections, pairs directions, keeps the records whose initiator is monitored, and
//! produces them to the flows topic keyed by the initiator's address (text, as every relbot
//! producer; placed by murmur2 as `relbot_kafka` configures it).
//!
//! When librdkafka's queue is full the stage waits (backpressure), the queue fills and the
//! UDP workers stop reading. Delivery reports are awaited by a second task, so the stage
//! keeps many records in flight; failed deliveries are counted by reason. A fatal producer
//! error (record too large, not authorised, unknown topic) stops the service.

use std::time::Duration;

use relbot_codec::FlowCodec;
use relbot_flow::networks::Networks;
use relbot_flow::FlowRecord;
use relbot_kafka::rdkafka::producer::FutureRecord;
use relbot_kafka::{enqueue_with_backpressure, KafkaError, PendingDelivery, ProduceStats};
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::warn;

use crate::config::IngestSettings;
use crate::error::IngestError;
use crate::metrics::IngestMetrics;
use crate::pairing::{PairStats, Pairing};
use crate::queue::QueueReceiver;
use crate::split_merge::{MergeStats, SplitMerge};
use crate::udp::now_ms;

/// How often held records are checked for expiry.
const TICK: Duration = Duration::from_millis(250);
/// Delivery reports awaited at once; beyond, the stage waits (librdkafka's own queue is
/// the real bound).
const IN_FLIGHT: usize = 1 << 17;

/// The stage's state. See the [module docs](self).
#[derive(Debug)]
pub struct Stage {
    merge: Option<SplitMerge>,
    pairing: Option<Pairing>,
    networks: Networks,
    metrics: IngestMetrics,
    merge_seen: MergeStats,
    pair_seen: PairStats,
}

/// Where the stage's records go.
pub struct Output {
    /// The producer.
    pub producer: relbot_kafka::Producer,
    /// The flows topic.
    pub topic: String,
    /// Avro framing.
    pub codec: FlowCodec,
    /// Counters shared with the producer helpers.
    pub stats: Arc<ProduceStats>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Stage {
    /// The stage for `settings`.
    pub fn new(settings: &IngestSettings, networks: Networks, metrics: IngestMetrics) -> Self {
        let sm = &settings.split_merge;
        let p = &settings.pairing;
        Self {
            merge: sm
                .enabled
                .then(|| SplitMerge::new(sm.tolerance, sm.hold, sm.max_open)),
            pairing: p.enabled.then(|| Pairing::new(p.window, p.max_open)),
            networks,
            metrics,
            merge_seen: MergeStats::default(),
            pair_seen: PairStats::default(),
        }
    }

    /// Passes records through merge and pairing; what is complete is appended to `out`.
    pub fn push(&mut self, records: Vec<FlowRecord>, now_ms: i64, out: &mut Vec<FlowRecord>) {
        let merged = match &mut self.merge {
            Some(merge) => {
                let mut done = Vec::with_capacity(records.len());
                for r in records {
                    merge.push(r, now_ms, &mut done);
                }
                done
            }
            None => records,
        };
        match &mut self.pairing {
            Some(pairing) => {
                for r in merged {
                    pairing.push(r, now_ms, out);
                }
            }
            None => out.extend(merged),
        }
    }

    /// Sends what is due at `now_ms` (or everything, when `drain`) to `out`.
    pub fn flush(&mut self, now_ms: i64, drain: bool, out: &mut Vec<FlowRecord>) {
        if let Some(merge) = &mut self.merge {
            let mut done = Vec::new();
            if drain {
                merge.drain(&mut done);
            } else {
                merge.expire(now_ms, &mut done);
            }
            match &mut self.pairing {
                Some(pairing) => {
                    for r in done {
                        pairing.push(r, now_ms, out);
                    }
                }
                None => out.extend(done),
            }
        }
        if let Some(pairing) = &mut self.pairing {
            if drain {
                pairing.drain(out);
            } else {
                pairing.expire(now_ms, out);
            }
        }
        self.count();
    }

    /// Whether a record becomes a Kafka record: its initiator is monitored.
    pub fn keep(&self, record: &FlowRecord) -> bool {
        self.networks.contains(record.src)
    }

    /// Adds what merge and pairing did since the last call to the metrics.
    fn count(&mut self) {
        let m = &self.metrics;
        if let Some(merge) = &self.merge {
            let (now, was) = (merge.stats(), self.merge_seen);
            m.merged(now.merged - was.merged);
            m.merge_flushed("hold", now.flushed_hold - was.flushed_hold);
            m.merge_flushed("capacity", now.flushed_capacity - was.flushed_capacity);
            m.merge_flushed("drain", now.flushed_drain - was.flushed_drain);
            self.merge_seen = now;
        }
        if let Some(pairing) = &self.pairing {
            let (now, was) = (pairing.stats(), self.pair_seen);
            m.paired(now.paired - was.paired);
            m.unpaired("window", now.unpaired_window - was.unpaired_window);
            m.unpaired("capacity", now.unpaired_capacity - was.unpaired_capacity);
            m.unpaired("drain", now.unpaired_drain - was.unpaired_drain);
            self.pair_seen = now;
        }
        m.open(
            self.pairing.as_ref().map_or(0, Pairing::open),
            self.merge.as_ref().map_or(0, SplitMerge::open),
        );
    }

    /// Runs the stage until every queue sender is gone, then drains what is held and waits
    /// for the delivery reports.
    pub async fn run(
        mut self,
        mut queue: QueueReceiver,
        output: Output,
    ) -> Result<(), IngestError> {
        let (pending_tx, mut pending_rx) = mpsc::channel::<PendingDelivery>(IN_FLIGHT);
        let metrics = self.metrics.clone();
        let deliveries = tokio::spawn(async move {
            while let Some(pending) = pending_rx.recv().await {
                match pending.wait().await {
                    Ok(_) => metrics.outcome("produced", 1),
                    Err(e) => {
                        metrics.outcome("undeliverable", 1);
                        metrics.produce_error(reason(&e));
                        warn!(error = %e, "Flow record not delivered.");
                    }
                }
            }
        });
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ready = Vec::new();
        let mut payload = Vec::with_capacity(256);
        let result = loop {
            tokio::select! {
                batch = queue.recv() => match batch {
                    Some(batch) => self.push(batch, now_ms(), &mut ready),
                    None => break Ok(()),
                },
                _ = tick.tick() => {
                    self.flush(now_ms(), false, &mut ready);
                    self.metrics.queue_depth(queue.depth());
                }
            }
            if let Err(e) = self
                .produce(&mut ready, &mut payload, &output, &pending_tx)
                .await
            {
                break Err(e);
            }
        };
        if result.is_ok() {
            self.flush(now_ms(), true, &mut ready);
            self.produce(&mut ready, &mut payload, &output, &pending_tx)
                .await?;
        }
        drop(pending_tx);
        let _ = deliveries.await;
        self.metrics.queue_depth(queue.depth());
        result
    }

    async fn produce(
        &self,
        ready: &mut Vec<FlowRecord>,
        payload: &mut Vec<u8>,
        output: &Output,
        pending: &mpsc::Sender<PendingDelivery>,
    ) -> Result<(), IngestError> {
        let mut filtered = 0;
        for record in ready.drain(..) {
            if !self.keep(&record) {
                filtered += 1;
                continue;
            }
            payload.clear();
            output.codec.encode(&record, payload)?;
            let key = record.src.to_string();
            let message = FutureRecord::to(&output.topic)
                .key(key.as_bytes())
                .payload(payload.as_slice());
            match enqueue_with_backpressure(&output.producer, message, &output.stats).await {
                Ok(delivery) => {
                    if pending.send(delivery).await.is_err() {
                        break;
                    }
                }
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => {
                    self.metrics.outcome("produce_error", 1);
                    self.metrics.produce_error(reason(&e));
                    warn!(error = %e, "Flow record not produced.");
                }
            }
        }
        if filtered > 0 {
            self.metrics.outcome("filtered", filtered);
        }
        Ok(())
    }
}

/// A metric label for a produce error.
fn reason(e: &KafkaError) -> &'static str {
    match e {
        KafkaError::MessageTooLarge { .. } => "too_large",
        KafkaError::NotAuthorized { .. } => "not_authorized",
        KafkaError::UnknownTopic { .. } => "unknown_topic",
        KafkaError::ProducerFatal { .. } => "fatal",
        KafkaError::Delivery { .. } => "delivery",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::IngestConfig;

    fn settings(toml: &str) -> IngestSettings {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).unwrap();
        let config: IngestConfig = relbot_service::load(Some(&path)).unwrap();
        config.ingest
    }

    fn flow(src: &str, dst: &str) -> FlowRecord {
        FlowRecord {
            start_ms: 1000,
            end_ms: 2000,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: 1234,
            dst_port: 80,
            protocol: 6,
            bytes: 100,
            packets: 2,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn only_monitored_initiators_are_kept() {
        let s = settings("[ingest]\nmonitored = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n");
        let stage = Stage::new(
            &s,
            s.networks().unwrap(),
            IngestMetrics::register(&relbot_service::Metrics::new("t")),
        );
        assert!(stage.keep(&flow("10.1.2.3", "192.0.2.1")));
        assert!(stage.keep(&flow("2001:db8::5", "2001:db9::1")));
        assert!(!stage.keep(&flow("192.0.2.1", "10.1.2.3")));
        let all = settings("");
        let stage = Stage::new(
            &all,
            all.networks().unwrap(),
            IngestMetrics::register(&relbot_service::Metrics::new("t")),
        );
        assert!(stage.keep(&flow("192.0.2.1", "10.1.2.3")));
    }

    #[test]
    fn pairing_decides_the_initiator_before_the_filter() {
        // The reply from outside arrives first; the pair is keyed by the monitored initiator.
        let s = settings(
            "[ingest]\nmonitored = [\"10.0.0.0/8\"]\n[ingest.pairing]\nenabled = true\n\
             [ingest.split_merge]\nenabled = false\n",
        );
        let metrics = relbot_service::Metrics::new("t");
        let mut stage = Stage::new(&s, s.networks().unwrap(), IngestMetrics::register(&metrics));
        let request = flow("10.0.0.1", "192.0.2.1");
        let mut reply = flow("192.0.2.1", "10.0.0.1");
        reply.src_port = 80;
        reply.dst_port = 1234;
        reply.start_ms = 1010;
        let mut out = Vec::new();
        stage.push(vec![reply], 0, &mut out);
        stage.push(vec![request], 1, &mut out);
        stage.flush(2, false, &mut out);
        assert_eq!(out.len(), 1);
        assert!(stage.keep(&out[0]));
        assert_eq!(out[0].bytes, 200);
        assert!(
            metrics.render().contains("t_paired_total 1"),
            "{}",
            metrics.render()
        );
    }
}
