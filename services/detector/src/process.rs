//! One replica's partitions: a poll batch → engines → detections and changelog, delivered
//! → offsets stored, in the order that makes a crash safe (a crash before the offsets are
//! stored replays records the restored state skips as duplicates).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use relbot_codec::{Detection, DetectionCodec};
use relbot_engine::{
    AllowFile, ChangeSet, Engine, EngineConfig, EngineStats, FilterConfig, Ingest, PeerFilter,
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
    /// See `detector.parallelism`: threads that ingest and evaluate partitions (≥ 1).
    pub parallelism: usize,
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
        parallelism: usize,
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
            parallelism,
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

    /// The partitions owned, ascending.
    pub fn partitions(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.owned.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// True when `partition` is restored and owned.
    pub fn owns(&self, partition: i32) -> bool {
        self.owned.contains_key(&partition)
    }

    /// Takes `partitions` over: a fresh engine each, restored from the changelog in one pass
    /// before any of their flows is processed. Partitions already owned are left alone.
    pub async fn assign(&mut self, partitions: &[i32]) -> Result<(), DetectorError> {
        let mut fresh = Vec::new();
        for &partition in partitions {
            if self.owns(partition) || fresh.iter().any(|(p, _)| *p == partition) {
                continue;
            }
            let mut engine = Engine::new(self.engine_config.clone(), self.algorithm.clone())
                .map_err(|source| DetectorError::Engine { partition, source })?;
            engine.set_filter(self.filter.clone());
            fresh.push((partition, engine));
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let mut targets: Vec<(i32, &mut Engine)> = fresh.iter_mut().map(|(p, e)| (*p, e)).collect();
        let restored = self.changelog.restore_all(&mut targets).await?;
        for r in &restored {
            self.metrics
                .restored(r.hosts as u64, r.elapsed.as_secs_f64());
        }
        for (partition, engine) in fresh {
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
        }
        self.update_gauges();
        Ok(())
    }

    /// Drops the state of partitions taken away. Nothing is pending: every batch was
    /// delivered and its offsets stored before the consumer was polled again (the poll is
    /// where a revocation happens), so the next owner restores exactly this state.
    pub fn revoke(&mut self, partitions: impl IntoIterator<Item = i32>) {
        for p in partitions {
            self.metrics.forget_partition(p);
            if self.owned.remove(&p).is_some() {
                info!(partition = p, "Partition state dropped.");
            }
        }
        self.update_gauges();
    }

    /// Ingests a poll batch, evaluates, delivers detections and changelog records; returns
    /// the highest offset per partition to store. Records of partitions not owned are
    /// skipped (not stored: their next owner reads them).
    ///
    /// The partitions of the batch are independent engines: they ingest and evaluate on up
    /// to `parallelism` threads; delivery is serial, in partition order.
    pub async fn process(
        &mut self,
        batch: Vec<Polled>,
    ) -> Result<BTreeMap<i32, i64>, DetectorError> {
        let horizon_ms = now_ms()
            .saturating_add(i64::try_from(self.max_future_skew.as_millis()).unwrap_or(i64::MAX));
        self.metrics.consumed(batch.len() as u64);
        let mut groups = group_by_partition(batch);
        let mut outcomes = Outcomes::default();
        let now = Instant::now();
        let mut work: Vec<Work<'_>> = Vec::with_capacity(groups.len());
        for (p, owned) in self.owned.iter_mut() {
            if let Some(i) = groups.iter().position(|(q, _)| q == p) {
                let (_, records) = groups.swap_remove(i);
                owned.last_input = now;
                work.push((*p, owned, records));
            }
        }
        for (_, records) in &groups {
            outcomes.add(Outcome::Revoked, records.len() as u64);
        }
        let parallelism = self.parallelism.max(1);
        let results = run_partitions(work, parallelism, |p, owned, records| {
            ingest_partition(p, owned, records, horizon_ms)
        });
        let mut store: BTreeMap<i32, i64> = BTreeMap::new();
        let mut evaluated = Vec::with_capacity(results.len());
        for r in results {
            outcomes.merge(&r.outcomes);
            if let Some(offset) = r.last_offset {
                store.insert(r.partition, offset);
            }
            self.metrics.engine_delta(&r.seen_before, &r.seen_after);
            evaluated.push((r.partition, r.detections, r.changes));
        }
        outcomes.record(&self.metrics);
        evaluated.sort_by_key(|e| e.0);
        self.deliver(evaluated).await?;
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
        let mut evaluated = Vec::new();
        for p in partitions {
            let Some(owned) = self.owned.get_mut(p) else {
                continue;
            };
            let detections = if flush {
                owned.unflushed = false;
                self.metrics.flushed();
                owned.engine.flush()
            } else {
                owned.engine.advance()
            };
            let changes = owned.engine.take_changed();
            let stats = owned.engine.stats();
            self.metrics.engine_delta(&owned.seen, &stats);
            owned.seen = stats;
            evaluated.push((*p, detections, changes));
        }
        self.deliver(evaluated).await
    }

    /// Delivers detections, then each partition's changelog records, and waits until every
    /// one is acknowledged.
    async fn deliver(
        &mut self,
        mut evaluated: Vec<(i32, Vec<Detection>, ChangeSet)>,
    ) -> Result<(), DetectorError> {
        let emitted_at = now_ms();
        let mut pending: Vec<PendingDelivery> = Vec::new();
        let mut payload = Vec::new();
        for (_, detections, _) in &mut evaluated {
            for d in detections.iter_mut() {
                d.emitted_at_ms = emitted_at;
                payload.clear();
                self.codec.encode(d, &mut payload)?;
                let key = d.host.to_string();
                let record = FutureRecord::to(&self.detections_topic)
                    .key(&key)
                    .payload(&payload);
                pending.push(enqueue_with_backpressure(&self.producer, record, &self.stats).await?);
            }
        }
        let n_detections = pending.len();
        for (p, _, change) in &evaluated {
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

/// What happened to a consumed record (the `outcome` label of `flows_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Filtered,
    Late,
    Duplicate,
    PeerCapped,
    Future,
    Undecodable,
    Revoked,
}

impl Outcome {
    const ALL: [Outcome; 8] = [
        Outcome::Accepted,
        Outcome::Filtered,
        Outcome::Late,
        Outcome::Duplicate,
        Outcome::PeerCapped,
        Outcome::Future,
        Outcome::Undecodable,
        Outcome::Revoked,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Filtered => "filtered",
            Outcome::Late => "late",
            Outcome::Duplicate => "duplicate",
            Outcome::PeerCapped => "peer_capped",
            Outcome::Future => "future",
            Outcome::Undecodable => "undecodable",
            Outcome::Revoked => "revoked",
        }
    }
}

impl From<Ingest> for Outcome {
    fn from(i: Ingest) -> Self {
        match i {
            Ingest::Accepted => Outcome::Accepted,
            Ingest::Filtered => Outcome::Filtered,
            Ingest::Late => Outcome::Late,
            Ingest::Duplicate => Outcome::Duplicate,
            Ingest::PeerCapped => Outcome::PeerCapped,
        }
    }
}

/// Outcome counts of a batch, added to the metrics once per batch rather than per record.
#[derive(Debug, Default, Clone, Copy)]
struct Outcomes([u64; 8]);

impl Outcomes {
    fn add(&mut self, o: Outcome, n: u64) {
        self.0[o as usize] += n;
    }

    fn merge(&mut self, other: &Outcomes) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    fn record(&self, metrics: &DetectorMetrics) {
        for o in Outcome::ALL {
            let n = self.0[o as usize];
            if n > 0 {
                metrics.flows(o.label(), n);
            }
        }
    }
}

/// One partition's share of a batch, processed.
struct PartitionResult {
    partition: i32,
    last_offset: Option<i64>,
    outcomes: Outcomes,
    detections: Vec<Detection>,
    changes: ChangeSet,
    seen_before: EngineStats,
    seen_after: EngineStats,
}

/// Splits a batch by partition, each partition's records in their order.
fn group_by_partition(batch: Vec<Polled>) -> Vec<(i32, Vec<Polled>)> {
    let mut groups: Vec<(i32, Vec<Polled>)> = Vec::new();
    let mut last: Option<usize> = None;
    for record in batch {
        let p = record.0;
        let i = match last.filter(|&i| groups[i].0 == p) {
            Some(i) => i,
            None => match groups.iter().position(|(q, _)| *q == p) {
                Some(i) => i,
                None => {
                    groups.push((p, Vec::new()));
                    groups.len() - 1
                }
            },
        };
        groups[i].1.push(record);
        last = Some(i);
    }
    groups
}

/// Ingests one partition's records into its engine and advances it.
fn ingest_partition(
    partition: i32,
    owned: &mut Owned,
    records: Vec<Polled>,
    horizon_ms: i64,
) -> PartitionResult {
    let mut outcomes = Outcomes::default();
    let mut last_offset = None;
    for (_, offset, flow) in records {
        last_offset = Some(offset);
        let flow = match flow {
            Ok(flow) => flow,
            Err(e) => {
                debug!(partition, offset, error = %e, "Undecodable flow skipped.");
                outcomes.add(Outcome::Undecodable, 1);
                continue;
            }
        };
        if flow.start_ms > horizon_ms {
            outcomes.add(Outcome::Future, 1);
            continue;
        }
        owned.unflushed = true;
        let outcome = owned
            .engine
            .ingest_at(&flow, u64::try_from(offset).unwrap_or_default());
        outcomes.add(outcome.into(), 1);
    }
    let detections = owned.engine.advance();
    let changes = owned.engine.take_changed();
    let seen_before = owned.seen;
    owned.seen = owned.engine.stats();
    PartitionResult {
        partition,
        last_offset,
        outcomes,
        detections,
        changes,
        seen_before,
        seen_after: owned.seen,
    }
}

/// One partition's engine and its records of a batch.
type Work<'a> = (i32, &'a mut Owned, Vec<Polled>);

/// Runs `f` over `work` on up to `parallelism` threads (this one included), splitting the
/// partitions into groups of about equal record counts; results in no particular order.
fn run_partitions<'a, F>(mut work: Vec<Work<'a>>, parallelism: usize, f: F) -> Vec<PartitionResult>
where
    F: Fn(i32, &mut Owned, Vec<Polled>) -> PartitionResult + Sync,
{
    let records: usize = work.iter().map(|w| w.2.len()).sum();
    let threads = parallelism.min(work.len());
    if threads <= 1 || records < MIN_PARALLEL_RECORDS {
        return work.into_iter().map(|(p, o, r)| f(p, o, r)).collect();
    }
    // Largest first onto the least loaded group.
    work.sort_by_key(|w| std::cmp::Reverse(w.2.len()));
    let mut groups: Vec<(usize, Vec<Work<'a>>)> = (0..threads).map(|_| (0, Vec::new())).collect();
    for w in work {
        if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
            g.0 += w.2.len();
            g.1.push(w);
        }
    }
    let f = &f;
    let run = move |group: Vec<Work<'a>>| -> Vec<PartitionResult> {
        group.into_iter().map(|(p, o, r)| f(p, o, r)).collect()
    };
    let mut groups = groups.into_iter().map(|g| g.1);
    let mine = groups.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = groups.map(|g| scope.spawn(move || run(g))).collect();
        let mut out = run(mine);
        for h in others {
            match h.join() {
                Ok(results) => out.extend(results),
                // A panic in an engine is a bug; re-raise it where it can be seen.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Below this many records in a batch, threads cost more than they save.
const MIN_PARALLEL_RECORDS: usize = 2_000;
