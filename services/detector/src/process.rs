//! One replica's partitions: a poll batch → engines → detections and changelog, delivered
//! → offsets stored, in the order that makes a crash safe (a crash before the offsets are
//! stored replays records the restored state skips as duplicates).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use relbot_codec::{Detection, DetectionCodec};
use relbot_engine::{
    AllowFile, Engine, EngineConfig, EngineStats, FilterConfig, Ingest, PeerFilter,
};
use relbot_flow::FlowRecord;
use relbot_kafka::rdkafka::producer::FutureRecord;
use relbot_kafka::{enqueue_with_backpressure, PendingDelivery, ProduceStats, Producer};
use relbot_periodicity::Algorithm;
use tracing::{debug, info, warn};

use crate::changelog::Changelog;
use crate::error::DetectorError;
use crate::metrics::DetectorMetrics;

/// One record of a poll batch: its partition, offset and decoded flow.
pub type Polled = (i32, i64, Result<FlowRecord, relbot_codec::CodecError>);

/// The engine of one assigned partition and its bookkeeping.
#[derive(Debug)]
struct Owned {
    engine: Engine,
    /// Engine stats when metrics were last updated.
    seen: EngineStats,
    /// Wall-clock time of the last record.
    last_input: Instant,
    /// Records were ingested since the last flush.
    unflushed: bool,
}

/// The partitions this replica owns and what it needs to process them.
pub struct Detector {
    /// Engine settings for every partition.
    pub engine_config: EngineConfig,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Detections topic.
    pub detections_topic: String,
    /// Detection encoding.
    pub codec: DetectionCodec,
    /// The producer of detections and changelog records.
    pub producer: Producer,
    /// Its counters.
    pub stats: Arc<ProduceStats>,
    /// The state changelog.
    pub changelog: Changelog,
    /// Metrics.
    pub metrics: DetectorMetrics,
    /// See `detector.max_future_skew`.
    pub max_future_skew: Duration,
    /// See `detector.idle_flush`; zero: never.
    pub idle_flush: Duration,
    owned: HashMap<i32, Owned>,
    /// False-positive control given to every engine.
    filter: PeerFilter,
    /// The allow-list file, re-read at evaluations when it changed.
    allow_file: Option<AllowFile>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("detections_topic", &self.detections_topic)
            .field("changelog", &self.changelog)
            .field("partitions", &self.owned.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Detector {
    /// A detector that owns no partition yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine_config: EngineConfig,
        algorithm: Algorithm,
        detections_topic: String,
        codec: DetectionCodec,
        producer: Producer,
        stats: Arc<ProduceStats>,
        changelog: Changelog,
        metrics: DetectorMetrics,
        max_future_skew: Duration,
        idle_flush: Duration,
    ) -> Self {
        Self {
            engine_config,
            algorithm,
            detections_topic,
            codec,
            producer,
            stats,
            changelog,
            metrics,
            max_future_skew,
            idle_flush,
            owned: HashMap::new(),
            filter: PeerFilter::off(),
            allow_file: None,
        }
    }

    /// Sets the false-positive control (`filter` section): every engine gets it, and its
    /// allow-list file is re-read at evaluations when its modification time changes.
    pub fn set_filter(&mut self, config: &FilterConfig) -> Result<(), DetectorError> {
        self.filter = PeerFilter::new(config).map_err(|e| DetectorError::Config(e.to_string()))?;
        self.allow_file = config
            .allow_file
            .is_some()
            .then(|| AllowFile::new(config.clone()));
        for owned in self.owned.values_mut() {
            owned.engine.set_filter(self.filter.clone());
        }
        Ok(())
    }

    /// Re-reads the allow-list file if it changed; a file that no longer parses keeps the
    /// filter in force (and is logged).
    fn reload_filter(&mut self) {
        let Some(watch) = self.allow_file.as_mut() else {
            return;
        };
        match watch.reload() {
            Ok(None) => {}
            Ok(Some(filter)) => {
                info!("allow-list file changed: filter reloaded");
                self.filter = filter;
                for owned in self.owned.values_mut() {
                    owned.engine.set_filter(self.filter.clone());
                }
            }
            Err(e) => warn!("allow-list file not reloaded, keeping the previous one: {e}"),
        }
    }

    /// True when `partition` is restored and owned.
    pub fn owns(&self, partition: i32) -> bool {
        self.owned.contains_key(&partition)
    }

    /// Restores `partition` from the changelog and takes it over.
    pub async fn assign(&mut self, partition: i32) -> Result<(), DetectorError> {
        if self.owns(partition) {
            return Ok(());
        }
        let mut engine = Engine::new(self.engine_config.clone(), self.algorithm.clone())
            .map_err(|source| DetectorError::Engine { partition, source })?;
        engine.set_filter(self.filter.clone());
        let restored = self.changelog.restore(partition, &mut engine).await?;
        self.metrics
            .restored(restored.hosts as u64, restored.elapsed.as_secs_f64());
        let seen = engine.stats();
        self.owned.insert(
            partition,
            Owned {
                engine,
                seen,
                last_input: Instant::now(),
                unflushed: false,
            },
        );
        self.update_gauges();
        Ok(())
    }

    /// Drops the state of partitions taken away. Nothing is pending: every batch was
    /// delivered and its offsets stored before the consumer was polled again (the poll is
    /// where a revocation happens), so the next owner restores exactly this state.
    pub fn revoke(&mut self, partitions: impl IntoIterator<Item = i32>) {
        for p in partitions {
            if self.owned.remove(&p).is_some() {
                info!(partition = p, "Partition state dropped.");
            }
        }
        self.update_gauges();
    }

    /// Ingests a poll batch, evaluates, delivers detections and changelog records; returns
    /// the highest offset per partition to store. Records of partitions not owned are
    /// skipped (not stored: their next owner reads them).
    pub async fn process(
        &mut self,
        batch: Vec<Polled>,
    ) -> Result<BTreeMap<i32, i64>, DetectorError> {
        let horizon_ms = now_ms()
            .saturating_add(i64::try_from(self.max_future_skew.as_millis()).unwrap_or(i64::MAX));
        self.metrics.consumed(batch.len() as u64);
        let mut store: BTreeMap<i32, i64> = BTreeMap::new();
        for (partition, offset, flow) in batch {
            let Some(owned) = self.owned.get_mut(&partition) else {
                self.metrics.flow("revoked");
                continue;
            };
            store.insert(partition, offset);
            owned.last_input = Instant::now();
            let flow = match flow {
                Ok(flow) => flow,
                Err(e) => {
                    debug!(partition, offset, error = %e, "Undecodable flow skipped.");
                    self.metrics.flow("undecodable");
                    continue;
                }
            };
            if flow.start_ms > horizon_ms {
                self.metrics.flow("future");
                continue;
            }
            owned.unflushed = true;
            let outcome = owned
                .engine
                .ingest_at(&flow, u64::try_from(offset).unwrap_or_default());
            self.metrics.flow(match outcome {
                Ingest::Accepted => "accepted",
                Ingest::Filtered => "filtered",
                Ingest::Late => "late",
                Ingest::Duplicate => "duplicate",
                Ingest::PeerCapped => "peer_capped",
            });
        }
        let partitions: Vec<i32> = store.keys().copied().collect();
        self.evaluate(&partitions, false).await?;
        Ok(store)
    }

    /// Flushes the partitions idle for `idle_flush` (no-op when it is zero).
    pub async fn flush_idle(&mut self) -> Result<(), DetectorError> {
        if self.idle_flush.is_zero() {
            return Ok(());
        }
        let idle: Vec<i32> = self
            .owned
            .iter()
            .filter(|(_, o)| o.unflushed && o.last_input.elapsed() >= self.idle_flush)
            .map(|(p, _)| *p)
            .collect();
        if idle.is_empty() {
            return Ok(());
        }
        info!(partitions = ?idle, "Flushing idle partitions.");
        self.evaluate(&idle, true).await
    }

    /// Advances (or flushes) `partitions`, delivers their detections and changelog records
    /// and waits until every one is acknowledged.
    async fn evaluate(&mut self, partitions: &[i32], flush: bool) -> Result<(), DetectorError> {
        self.reload_filter();
        let mut detections: Vec<Detection> = Vec::new();
        let mut changes = Vec::new();
        for p in partitions {
            let Some(owned) = self.owned.get_mut(p) else {
                continue;
            };
            if flush {
                detections.extend(owned.engine.flush());
                owned.unflushed = false;
                self.metrics.flushed();
            } else {
                detections.extend(owned.engine.advance());
            }
            changes.push((*p, owned.engine.take_changed()));
            let stats = owned.engine.stats();
            self.metrics.engine_delta(&owned.seen, &stats);
            owned.seen = stats;
        }
        let emitted_at = now_ms();
        let mut pending: Vec<PendingDelivery> = Vec::new();
        let mut payload = Vec::new();
        for d in &mut detections {
            d.emitted_at_ms = emitted_at;
            payload.clear();
            self.codec.encode(d, &mut payload)?;
            let key = d.host.to_string();
            let record = FutureRecord::to(&self.detections_topic)
                .key(&key)
                .payload(&payload);
            pending.push(enqueue_with_backpressure(&self.producer, record, &self.stats).await?);
        }
        let n_detections = pending.len();
        for (p, change) in &changes {
            self.changelog
                .enqueue(&self.producer, &self.stats, *p, change, &mut pending)
                .await?;
        }
        let n_changelog = pending.len() - n_detections;
        for delivery in pending {
            delivery.wait().await?;
        }
        self.metrics.detections(n_detections as u64);
        self.metrics.changelog(n_changelog as u64);
        self.update_gauges();
        Ok(())
    }

    fn update_gauges(&self) {
        let mut totals = EngineStats::default();
        for o in self.owned.values() {
            totals.hosts += o.seen.hosts;
            totals.pairs += o.seen.pairs;
            totals.retained_times += o.seen.retained_times;
            totals.state_bytes += o.seen.state_bytes;
        }
        self.metrics.state(self.owned.len(), &totals);
    }
}
