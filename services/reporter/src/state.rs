//! Per-host state that survives restarts: when the host was last reported (for suppression)
//! and which of its reports were delivered or dead-lettered (so that a replayed detection is
//! not delivered twice). Kept in a compacted topic keyed by host, co-partitioned with the
//! detections: record `k` of detections partition `p` has its state in state partition `p`,
//! written with an explicit partition. A partition's state is read back in full the first
//! time one of its detections arrives after an assignment.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use relbot_codec::{Detection, DetectionId, ReportId};
use relbot_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use relbot_kafka::rdkafka::message::Message;
use relbot_kafka::rdkafka::producer::FutureRecord;
use relbot_kafka::rdkafka::{Offset, TopicPartitionList};
use relbot_kafka::{enqueue_with_backpressure, ClientLog, KafkaConfig, ProduceStats, Producer};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::ReporterError;

/// Most report marks kept per host (oldest dropped first).
const MAX_MARKS_PER_HOST: usize = 512;

/// What is known about a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkStatus {
    /// An attempt was about to start: the receiver may have it (look it up before resending).
    Pending,
    /// The sink acknowledged it.
    Delivered,
    /// It went to the dead-letter topic.
    DeadLettered,
}

/// A report's status and when it was reached (wall clock, ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Status.
    pub status: MarkStatus,
    /// When.
    pub at_ms: i64,
}

/// The last detection of a host that was reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastReport {
    /// Its detection id.
    pub detection_id: DetectionId,
    /// Its window end (event time), ms.
    pub window_end_ms: i64,
    /// Its score.
    pub score: f64,
    /// Its largest peer count.
    pub max_count: u32,
    /// Its per-period counts, by period (ms).
    pub counts: BTreeMap<i64, u32>,
}

impl LastReport {
    /// The summary of `detection`.
    pub fn of(detection: &Detection) -> Self {
        Self {
            detection_id: detection.detection_id,
            window_end_ms: detection.window_end_ms,
            score: detection.score,
            max_count: relbot_report::rule::max_count(detection),
            counts: detection
                .periods
                .iter()
                .map(|p| (p.period_ms, p.count))
                .collect(),
        }
    }
}

/// The state of one host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    /// The last reported detection.
    #[serde(default)]
    pub last: Option<LastReport>,
    /// Reports by id (hex).
    #[serde(default)]
    pub reports: BTreeMap<String, Mark>,
}

impl HostState {
    /// The mark of a report.
    pub fn mark(&self, id: &ReportId) -> Option<Mark> {
        self.reports.get(&id.to_string()).copied()
    }

    /// Sets a report's mark, dropping the oldest marks beyond the per-host bound.
    pub fn set_mark(&mut self, id: &ReportId, status: MarkStatus) {
        self.reports.insert(
            id.to_string(),
            Mark {
                status,
                at_ms: now_ms(),
            },
        );
        while self.reports.len() > MAX_MARKS_PER_HOST {
            let oldest = self
                .reports
                .iter()
                .min_by_key(|(_, m)| m.at_ms)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.reports.remove(&k),
                None => break,
            };
        }
    }

    /// Drops marks older than `retention`; true when nothing worth keeping is left: no mark
    /// within the retention. The last report is written together with (after) the marks of
    /// its own reports, so when every mark is older than the retention, so is the last report,
    /// and the host is forgotten entirely (the caller writes a tombstone).
    pub fn prune(&mut self, retention: Duration) -> bool {
        let horizon =
            now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        self.reports.retain(|_, m| m.at_ms >= horizon);
        if self.reports.is_empty() {
            self.last = None;
        }
        self.reports.is_empty()
    }
}

/// Wall clock, ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads and writes the state topic.
pub struct StateStore {
    topic: String,
    producer: Producer,
    stats: Arc<ProduceStats>,
    restore: Arc<StreamConsumer<ClientLog>>,
    retention: Duration,
    partitions: HashMap<i32, HashMap<IpAddr, HostState>>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("topic", &self.topic)
            .field("partitions", &self.partitions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What [`StateStore::restore`] read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Hosts whose state was restored.
    pub hosts: usize,
    /// Hosts dropped because every mark was older than the retention; a tombstone was
    /// written for each.
    pub pruned: usize,
}

/// How long one read of the state topic may wait for records.
const RESTORE_POLL: Duration = Duration::from_secs(10);

impl StateStore {
    /// A store on `topic`, writing with `producer`; reads with its own consumer (group
    /// `<group>-state-restore`, manual assignment, never commits).
    pub fn new(
        kafka: &KafkaConfig,
        topic: &str,
        producer: Producer,
        stats: Arc<ProduceStats>,
        retention: Duration,
    ) -> Result<Self, ReporterError> {
        let mut config = kafka.clone();
        config.consumer.group_id = format!("{}-state-restore", kafka.consumer.group_id);
        config.consumer.group_instance_id = None;
        let restore = relbot_kafka::consumer(&config, ClientLog::default())?;
        Ok(Self {
            topic: topic.to_owned(),
            producer,
            stats,
            restore: Arc::new(restore),
            retention,
            partitions: HashMap::new(),
        })
    }

    /// True when `partition`'s state is loaded.
    pub fn has(&self, partition: i32) -> bool {
        self.partitions.contains_key(&partition)
    }

    /// Forgets partitions this member no longer owns (another may change their state).
    pub fn forget(&mut self, partitions: impl IntoIterator<Item = i32>) {
        for p in partitions {
            self.partitions.remove(&p);
        }
    }

    /// The state of `host` in `partition` (default when unknown).
    pub fn get(&self, partition: i32, host: IpAddr) -> HostState {
        self.partitions
            .get(&partition)
            .and_then(|hosts| hosts.get(&host))
            .cloned()
            .unwrap_or_default()
    }

    /// Remembers `state` in memory (after it was written).
    pub fn put(&mut self, partition: i32, host: IpAddr, state: HostState) {
        self.partitions
            .entry(partition)
            .or_default()
            .insert(host, state);
    }

    /// Reads `partition` of the state topic from the start to its end; returns the number of
    /// hosts restored and of hosts pruned (and tombstoned).
    pub async fn restore(&mut self, partition: i32) -> Result<Restored, ReporterError> {
        let consumer = Arc::clone(&self.restore);
        let topic = self.topic.clone();
        let fail = |reason: String| ReporterError::Restore {
            topic: self.topic.clone(),
            partition,
            reason,
        };
        let (low, high) = {
            let (consumer, topic) = (Arc::clone(&consumer), topic.clone());
            tokio::task::spawn_blocking(move || {
                consumer.fetch_watermarks(&topic, partition, Duration::from_secs(30))
            })
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("watermarks: {e}")))?
        };
        let mut hosts: HashMap<IpAddr, HostState> = HashMap::new();
        if high > low {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, partition, Offset::Beginning)
                .map_err(|e| fail(e.to_string()))?;
            consumer
                .assign(&tpl)
                .map_err(|e| fail(format!("assign: {e}")))?;
            loop {
                let message = tokio::time::timeout(RESTORE_POLL, consumer.recv())
                    .await
                    .map_err(|_| fail(format!("no record within {RESTORE_POLL:?}")))?
                    .map_err(|e| fail(e.to_string()))?;
                let offset = message.offset();
                if let Some(Ok(key)) = message.key_view::<str>() {
                    if let Ok(host) = key.parse::<IpAddr>() {
                        match message.payload() {
                            None | Some([]) => {
                                hosts.remove(&host);
                            }
                            Some(bytes) => match serde_json::from_slice::<HostState>(bytes) {
                                Ok(state) => {
                                    hosts.insert(host, state);
                                }
                                Err(e) => {
                                    warn!(topic = %topic, partition, offset, error = %e, "Unreadable state record skipped.")
                                }
                            },
                        }
                    }
                }
                if offset >= high - 1 {
                    break;
                }
            }
            consumer
                .unassign()
                .map_err(|e| fail(format!("unassign: {e}")))?;
        }
        let retention = self.retention;
        let mut forgotten = Vec::new();
        hosts.retain(|host, state| {
            let prune = state.prune(retention);
            if prune {
                forgotten.push(*host);
            }
            !prune
        });
        let n = hosts.len();
        let tombstones = self.write_tombstones(partition, &forgotten).await;
        info!(topic = %topic, partition, hosts = n, records = high - low, pruned = forgotten.len(), tombstones, "State restored.");
        self.partitions.insert(partition, hosts);
        Ok(Restored {
            hosts: n,
            pruned: forgotten.len(),
        })
    }

    /// Writes a tombstone (key, no value) for each host in `partition` whose state was
    /// pruned, so that compaction removes the host from the topic instead of keeping its last
    /// record for ever; returns how many were acknowledged. A tombstone that fails is only
    /// logged: the next restore prunes the host again and retries.
    async fn write_tombstones(&self, partition: i32, hosts: &[IpAddr]) -> usize {
        let pending: Vec<_> = {
            let mut pending = Vec::with_capacity(hosts.len());
            for host in hosts {
                let key = host.to_string();
                let record = FutureRecord::<str, [u8]>::to(&self.topic)
                    .key(&key)
                    .partition(partition);
                match enqueue_with_backpressure(&self.producer, record, &self.stats).await {
                    Ok(delivery) => pending.push(delivery),
                    Err(e) => {
                        warn!(topic = %self.topic, partition, error = %e, "Tombstone not written.");
                    }
                }
            }
            pending
        };
        let mut written = 0;
        for delivery in pending {
            match delivery.wait().await {
                Ok(_) => written += 1,
                Err(e) => {
                    warn!(topic = %self.topic, partition, error = %e, "Tombstone not written.")
                }
            }
        }
        written
    }

    /// Starts writing `state` of `host` to `partition`; await the returned delivery. Waits
    /// (backpressure) and retries transient failures until `shutdown`.
    pub async fn write(
        &self,
        partition: i32,
        host: IpAddr,
        state: &HostState,
        shutdown: &CancellationToken,
    ) -> Result<bool, ReporterError> {
        let payload = serde_json::to_vec(state).map_err(|e| ReporterError::Restore {
            topic: self.topic.clone(),
            partition,
            reason: format!("cannot encode state: {e}"),
        })?;
        let key = host.to_string();
        send_until_acked(
            &self.producer,
            &self.stats,
            &self.topic,
            Some(partition),
            &key,
            &payload,
            shutdown,
        )
        .await
    }
}

/// Produces one record and waits for its acknowledgement, retrying transient failures with
/// backoff until it is written (`true`) or `shutdown` is cancelled (`false`); fatal errors
/// (not authorised, too large, unknown topic) are returned.
#[allow(clippy::too_many_arguments, reason = "a record's parts")]
pub async fn send_until_acked(
    producer: &Producer,
    stats: &Arc<ProduceStats>,
    topic: &str,
    partition: Option<i32>,
    key: &str,
    payload: &[u8],
    shutdown: &CancellationToken,
) -> Result<bool, ReporterError> {
    let mut wait = Duration::from_millis(200);
    loop {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        let result = match enqueue_with_backpressure(producer, record, stats).await {
            Ok(pending) => pending.wait().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => return Ok(true),
            Err(e) if e.is_fatal() => return Err(e.into()),
            Err(e) => warn!(%topic, error = %e, "Write failed; retrying."),
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return Ok(false),
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// Whether a new detection of a host is reported, given the last reported one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Report it.
    Report,
    /// Within the quiet time and not worse: suppress.
    Quiet,
}

/// The suppression rule: report when the host was never reported, when the quiet time (event
/// time, window end to window end) has passed, or when the result is worse: some period's
/// count grew, or the score rose by at least `margin`. The same detection again (a replay)
/// is reported, so that its sinks not yet done are completed; the report ids skip the rest.
pub fn decide(
    last: Option<&LastReport>,
    detection: &Detection,
    quiet: Duration,
    margin: f64,
) -> Decision {
    let Some(last) = last else {
        return Decision::Report;
    };
    if last.detection_id == detection.detection_id {
        return Decision::Report;
    }
    let quiet_ms = i64::try_from(quiet.as_millis()).unwrap_or(i64::MAX);
    if detection.window_end_ms.saturating_sub(last.window_end_ms) >= quiet_ms {
        return Decision::Report;
    }
    let grew = detection
        .periods
        .iter()
        .any(|p| p.count > last.counts.get(&p.period_ms).copied().unwrap_or(0));
    if grew || detection.score >= last.score + margin {
        return Decision::Report;
    }
    Decision::Quiet
}

#[cfg(test)]
mod tests {
    use relbot_report::testing::detection;

    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn quiet_time_and_worsening() {
        let quiet = Duration::from_secs(6 * 3600);
        let first = detection("192.0.2.1", &[2, 0, 0, 0]);
        assert_eq!(decide(None, &first, quiet, 0.1), Decision::Report);
        let last = LastReport::of(&first);
        assert_eq!(
            decide(Some(&last), &first, quiet, 0.1),
            Decision::Report,
            "replay"
        );

        let mut same_later = detection("192.0.2.1", &[2, 0, 0, 0]);
        same_later.window_start_ms += HOUR;
        same_later.window_end_ms += HOUR;
        let same_later = same_later.with_computed_id();
        assert_eq!(
            decide(Some(&last), &same_later, quiet, 0.1),
            Decision::Quiet
        );

        let mut after_quiet = same_later.clone();
        after_quiet.window_end_ms = first.window_end_ms + 6 * HOUR;
        let after_quiet = after_quiet.with_computed_id();
        assert_eq!(
            decide(Some(&last), &after_quiet, quiet, 0.1),
            Decision::Report
        );

        let mut new_period = detection("192.0.2.1", &[1, 1, 0, 0]);
        new_period.window_end_ms += HOUR;
        let new_period = new_period.with_computed_id();
        assert_eq!(
            decide(Some(&last), &new_period, quiet, 0.1),
            Decision::Report
        );

        let mut higher = same_later.clone();
        higher.score = last.score + 0.2;
        assert_eq!(decide(Some(&last), &higher, quiet, 0.1), Decision::Report);
    }

    #[test]
    fn marks_are_bounded_and_pruned() {
        let mut state = HostState::default();
        for i in 0..600u32 {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&i.to_be_bytes());
            state.set_mark(&ReportId::from_bytes(bytes), MarkStatus::Delivered);
        }
        assert_eq!(state.reports.len(), MAX_MARKS_PER_HOST);
        state.last = Some(LastReport::of(&detection("192.0.2.1", &[2])));
        assert!(!state.prune(Duration::from_secs(24 * 3600)), "fresh marks");
        assert_eq!(state.reports.len(), MAX_MARKS_PER_HOST);
        for mark in state.reports.values_mut() {
            mark.at_ms -= 48 * HOUR;
        }
        assert!(state.prune(Duration::from_secs(24 * 3600)));
        assert_eq!(
            state,
            HostState::default(),
            "the last report goes with its marks"
        );
        let json = serde_json::to_string(&HostState::default()).unwrap();
        assert_eq!(
            serde_json::from_str::<HostState>(&json).unwrap(),
            HostState::default()
        );
    }
}
