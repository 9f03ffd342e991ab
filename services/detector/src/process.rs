//! One replica's partitions: a poll batch → engines → detections, delivered after every
//! batch; changelog records and offsets at most once per `checkpoint_interval` per
//! partition (and on revoke, flush and shutdown), in the order that makes a crash safe: the
//! offsets of a partition are stored only after the changelog records that reflect every
//! flow up to them are acknowledged (a crash replays records the restored state skips as
//! duplicates, and the records after the checkpoint give the same detections again).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
use crate::checkpoint::{write_checkpoints, Checkpoint, Checkpointer};
use crate::error::DetectorError;
use crate::metrics::DetectorMetrics;

/// One record of a poll batch: its partition, offset and decoded flow.
pub type Polled = (i32, i64, Result<FlowRecord, relbot_codec::CodecError>);

/// The engine of one assigned partition and its bookkeeping.
#[derive(Debug)]
pub(crate) struct Owned {
    engine: Engine,
    /// Engine stats when metrics were last updated.
    seen: EngineStats,
    /// Wall-clock time of the last record.
    last_input: Instant,
    /// Records were ingested since the last flush.
    unflushed: bool,
    /// The highest offset processed whose effects are not in the changelog yet: stored at
    /// the partition's next checkpoint.
    pub(crate) pending: Option<i64>,
    /// When the partition's state was last written to the changelog.
    checkpointed: Instant,
}

impl Owned {
    /// Whether the partition has processed records since its last checkpoint, and that
    /// checkpoint is at least `interval` old.
    pub(crate) fn checkpoint_due(&self, interval: Duration) -> bool {
        self.pending.is_some() && self.checkpointed.elapsed() >= interval
    }

    /// Takes the changes since the last checkpoint and the offset they cover; the partition
    /// counts as checkpointed from now on (if writing them fails, the service stops without
    /// storing the offset).
    pub(crate) fn checkpoint(&mut self) -> (ChangeSet, Option<i64>) {
        self.checkpointed = Instant::now();
        (self.engine.take_changed(), self.pending.take())
    }
}

/// The partitions of this replica, shared between the poll loop and the revoke hook (which
/// runs inside the consumer's poll, never while the loop holds the lock).
pub(crate) type Partitions = Arc<Mutex<HashMap<i32, Owned>>>;

/// The partitions, locked (a panic elsewhere does not make them unusable).
pub(crate) fn lock(partitions: &Partitions) -> MutexGuard<'_, HashMap<i32, Owned>> {
    partitions.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One partition's output of a step: its detections, and its checkpoint when one was taken
/// (the changes and the offset they cover).
type Evaluated = (i32, Vec<Detection>, Option<(ChangeSet, Option<i64>)>);

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
    pub changelog: Arc<Changelog>,
    /// Metrics.
    pub metrics: DetectorMetrics,
    /// See `detector.max_future_skew`.
    pub max_future_skew: Duration,
    /// See `detector.idle_flush`; zero: never.
    pub idle_flush: Duration,
    /// See `detector.parallelism`: threads that ingest and evaluate partitions (≥ 1).
    pub parallelism: usize,
    /// See `detector.checkpoint_interval`; zero: after every batch.
    pub checkpoint_interval: Duration,
    owned: Partitions,
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
            .field("partitions", &self.partitions())
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
        checkpoint_interval: Duration,
    ) -> Self {
        Self {
            engine_config,
            algorithm,
            detections_topic,
            codec,
            producer,
            stats,
            changelog: Arc::new(changelog),
            metrics,
            max_future_skew,
            idle_flush,
            parallelism,
            checkpoint_interval,
            owned: Arc::new(Mutex::new(HashMap::new())),
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
        for owned in lock(&self.owned).values_mut() {
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
                for owned in lock(&self.owned).values_mut() {
                    owned.engine.set_filter(self.filter.clone());
                }
            }
            Err(e) => warn!("allow-list file not reloaded, keeping the previous one: {e}"),
        }
    }

    /// The partitions owned, ascending.
    pub fn partitions(&self) -> Vec<i32> {
        let mut v: Vec<i32> = lock(&self.owned).keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// True when `partition` is restored and owned.
    pub fn owns(&self, partition: i32) -> bool {
        lock(&self.owned).contains_key(&partition)
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
        let mut owned = lock(&self.owned);
        for (partition, engine) in fresh {
            let seen = engine.stats();
            owned.insert(
                partition,
                Owned {
                    engine,
                    seen,
                    last_input: Instant::now(),
                    unflushed: false,
                    pending: None,
                    checkpointed: Instant::now(),
                },
            );
        }
        drop(owned);
        self.update_gauges();
        Ok(())
    }

    /// Drops the state of partitions taken away. Nothing is pending: every batch was
    /// delivered before the consumer was polled again (the poll is where a revocation
    /// happens), and the revoke hook ([`Checkpointer::revoke`]) wrote the partitions'
    /// changelog and stored their offsets, so the next owner restores exactly this state.
    pub fn revoke(&mut self, partitions: impl IntoIterator<Item = i32>) {
        let mut owned = lock(&self.owned);
        for p in partitions {
            self.metrics.forget_partition(p);
            if owned.remove(&p).is_some() {
                info!(partition = p, "Partition state dropped.");
            }
        }
        drop(owned);
        self.update_gauges();
    }

    /// Forgets every partition without writing anything: after a failed delivery, the
    /// engines may hold effects (e.g. a detection counted as emitted) that were not
    /// delivered, so nothing of them may reach the changelog; the next owner replays.
    pub fn abandon(&mut self) {
        lock(&self.owned).clear();
    }

    /// What the revoke hook needs to checkpoint partitions as they are taken away.
    pub fn checkpointer(&self, flows_topic: &str) -> Checkpointer {
        Checkpointer::new(
            Arc::clone(&self.owned),
            self.producer.clone(),
            Arc::clone(&self.stats),
            Arc::clone(&self.changelog),
            self.metrics.clone(),
            flows_topic,
        )
    }

    /// Ingests a poll batch, evaluates, delivers the detections, and writes the changelog
    /// of the partitions whose checkpoint is due; returns the offset to store per
    /// checkpointed partition. Records of partitions not owned are skipped (not stored:
    /// their next owner reads them).
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
        let interval = self.checkpoint_interval;
        let results = {
            let mut owned = lock(&self.owned);
            let mut work: Vec<Work<'_>> = Vec::with_capacity(groups.len());
            for (p, owned) in owned.iter_mut() {
                if let Some(i) = groups.iter().position(|(q, _)| q == p) {
                    let (_, records) = groups.swap_remove(i);
                    owned.last_input = now;
                    work.push((*p, owned, records));
                }
            }
            let parallelism = self.parallelism.max(1);
            run_partitions(work, parallelism, |p, owned, records| {
                ingest_partition(p, owned, records, horizon_ms, interval)
            })
        };
        for (_, records) in &groups {
            outcomes.add(Outcome::Revoked, records.len() as u64);
        }
        let mut evaluated = Vec::with_capacity(results.len());
        for r in results {
            outcomes.merge(&r.outcomes);
            self.metrics.engine_delta(&r.seen_before, &r.seen_after);
            evaluated.push((r.partition, r.detections, r.checkpoint));
        }
        outcomes.record(&self.metrics);
        evaluated.sort_by_key(|e| e.0);
        self.deliver(evaluated).await
    }

    /// Flushes the partitions idle for `idle_flush` (no-op when it is zero) and
    /// checkpoints them; returns the offsets to store.
    pub async fn flush_idle(&mut self) -> Result<BTreeMap<i32, i64>, DetectorError> {
        if self.idle_flush.is_zero() {
            return Ok(BTreeMap::new());
        }
        let idle: Vec<i32> = lock(&self.owned)
            .iter()
            .filter(|(_, o)| o.unflushed && o.last_input.elapsed() >= self.idle_flush)
            .map(|(p, _)| *p)
            .collect();
        if idle.is_empty() {
            return Ok(BTreeMap::new());
        }
        info!(partitions = ?idle, "Flushing idle partitions.");
        self.reload_filter();
        let mut evaluated = Vec::new();
        {
            let mut owned = lock(&self.owned);
            for p in &idle {
                let Some(o) = owned.get_mut(p) else {
                    continue;
                };
                o.unflushed = false;
                self.metrics.flushed();
                let detections = o.engine.flush();
                let (changes, offset) = o.checkpoint();
                let stats = o.engine.stats();
                self.metrics.engine_delta(&o.seen, &stats);
                o.seen = stats;
                evaluated.push((*p, detections, Some((changes, offset))));
            }
        }
        self.deliver(evaluated).await
    }

    /// Checkpoints the partitions that processed records since their last checkpoint:
    /// those whose checkpoint is `checkpoint_interval` old (`all`: every one, e.g. before
    /// shutting down); returns the offsets to store.
    pub async fn checkpoint(&mut self, all: bool) -> Result<BTreeMap<i32, i64>, DetectorError> {
        let interval = if all {
            Duration::ZERO
        } else {
            self.checkpoint_interval
        };
        let mut evaluated = Vec::new();
        {
            let mut owned = lock(&self.owned);
            for (p, o) in owned.iter_mut() {
                if o.checkpoint_due(interval) {
                    evaluated.push((*p, Vec::new(), Some(o.checkpoint())));
                }
            }
        }
        evaluated.sort_by_key(|e| e.0);
        self.deliver(evaluated).await
    }

    /// Delivers the detections and waits until every one is acknowledged; then writes the
    /// checkpoints' changelog records (hosts, then each partition's clock) and waits for
    /// them. Returns the offset to store per checkpointed partition.
    ///
    /// Detections go first: a checkpoint records them as emitted, so it must not be durable
    /// unless they are.
    async fn deliver(
        &mut self,
        mut evaluated: Vec<Evaluated>,
    ) -> Result<BTreeMap<i32, i64>, DetectorError> {
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
        for delivery in pending.drain(..) {
            delivery.wait().await?;
        }
        self.metrics.detections(n_detections as u64);
        let checkpoints: Vec<Checkpoint> = evaluated
            .into_iter()
            .filter_map(|(p, _, c)| c.map(|(changes, offset)| (p, changes, offset)))
            .collect();
        let n_changelog =
            write_checkpoints(&self.changelog, &self.producer, &self.stats, &checkpoints).await?;
        self.metrics.changelog(n_changelog as u64);
        self.update_gauges();
        Ok(checkpoints
            .into_iter()
            .filter_map(|(p, _, offset)| Some((p, offset?)))
            .collect())
    }

    fn update_gauges(&self) {
        let mut totals = EngineStats::default();
        let owned = lock(&self.owned);
        for o in owned.values() {
            totals.hosts += o.seen.hosts;
            totals.pairs += o.seen.pairs;
            totals.retained_times += o.seen.retained_times;
            totals.state_bytes += o.seen.state_bytes;
        }
        self.metrics.state(owned.len(), &totals);
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
    outcomes: Outcomes,
    detections: Vec<Detection>,
    /// The changes and the offset they cover, when the partition's checkpoint was due.
    checkpoint: Option<(ChangeSet, Option<i64>)>,
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

/// Ingests one partition's records into its engine and advances it; takes its checkpoint
/// when the last one is `interval` old.
fn ingest_partition(
    partition: i32,
    owned: &mut Owned,
    records: Vec<Polled>,
    horizon_ms: i64,
    interval: Duration,
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
    owned.pending = owned.pending.max(last_offset);
    let detections = owned.engine.advance();
    let checkpoint = owned.checkpoint_due(interval).then(|| owned.checkpoint());
    let seen_before = owned.seen;
    owned.seen = owned.engine.stats();
    PartitionResult {
        partition,
        outcomes,
        detections,
        checkpoint,
        seen_before,
        seen_after: owned.seen,
    }
}

/// One partition's engine and its records of a batch.
type Work<'a> = (i32, &'a mut Owned, Vec<Polled>);

/// Runs `f` over `work` on up to `parallelism` threads (this one included); results in no
/// particular order.
fn run_partitions<F>(work: Vec<Work<'_>>, parallelism: usize, f: F) -> Vec<PartitionResult>
where
    F: Fn(i32, &mut Owned, Vec<Polled>) -> PartitionResult + Sync,
{
    let records: usize = work.iter().map(|w| w.2.len()).sum();
    let threads = if records < MIN_PARALLEL_RECORDS {
        1
    } else {
        parallelism
    };
    run_parallel(work, threads, |w| w.2.len(), |(p, o, r)| f(p, o, r))
}

/// Runs `f` over `work` on up to `threads` threads (this one included). Items are taken
/// largest first (by `size`), each by whichever thread is free: an engine's cost is not its
/// record count (a batch that crosses an evaluation tick costs far more), so a fixed split
/// would leave a thread idle. Results in no particular order.
fn run_parallel<W, R, S, F>(mut work: Vec<W>, threads: usize, size: S, f: F) -> Vec<R>
where
    W: Send,
    R: Send,
    S: Fn(&W) -> usize,
    F: Fn(W) -> R + Sync,
{
    let threads = threads.min(work.len());
    if threads <= 1 {
        return work.into_iter().map(f).collect();
    }
    work.sort_by_key(|w| std::cmp::Reverse(size(w)));
    let queue = Mutex::new(work.into_iter());
    let run = || -> Vec<R> {
        let mut out = Vec::new();
        loop {
            // The lock is held only to take the next item.
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            match next {
                Some(w) => out.push(f(w)),
                None => return out,
            }
        }
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(run)).collect();
        let mut out = run();
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn every_item_runs_once_on_one_thread_or_several() {
        for threads in [1, 2, 3, 8] {
            let work: Vec<usize> = (0..20).collect();
            let mut out = run_parallel(work, threads, |w| *w, |w| w * 10);
            out.sort_unstable();
            assert_eq!(
                out,
                (0..20).map(|w| w * 10).collect::<Vec<_>>(),
                "{threads}"
            );
        }
        assert!(run_parallel(Vec::<usize>::new(), 2, |w| *w, |w| w).is_empty());
    }

    #[test]
    fn a_free_thread_takes_the_next_item_while_another_is_busy() {
        // The first item waits until all the others are done; the sizes say nothing about
        // that (an engine's cost is not its record count). With items handed to whichever
        // thread is free, the second thread runs all the others meanwhile; with a split fixed
        // in advance, some would wait behind the first one, and it would time out.
        let others = 6;
        let done = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel::<()>();
        let (tx, rx) = (Mutex::new(tx), Mutex::new(rx));
        let work: Vec<usize> = (0..=others).collect();
        let out = run_parallel(
            work,
            2,
            |_| 10,
            |w| {
                if w == 0 {
                    let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
                    return rx.recv_timeout(Duration::from_secs(20)).is_ok();
                }
                if done.fetch_add(1, Ordering::SeqCst) + 1 == others {
                    let tx = tx.lock().unwrap_or_else(PoisonError::into_inner);
                    tx.send(()).ok();
                }
                true
            },
        );
        assert_eq!(out.len(), others + 1);
        assert!(out.iter().all(|ok| *ok), "the first item waited in vain");
    }
}
