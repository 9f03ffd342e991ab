//! The state changelog `relbot.detector-state.v1`: compacted, partition `p` holds the state
//! of flows partition `p`. Host records are keyed by the host's address as text (value: the
//! engine's host snapshot; empty value or tombstone: the host has no state); one record per
//! partition, key [`CLOCK_KEY`], holds the engine's clock and input position. Every record is
//! written to its partition explicitly, so the layout does not depend on the partitioner.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use relbot_engine::{ChangeSet, ClockState, Engine};
use relbot_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use relbot_kafka::rdkafka::message::Message;
use relbot_kafka::rdkafka::producer::FutureRecord;
use relbot_kafka::rdkafka::{Offset, TopicPartitionList};
use relbot_kafka::{enqueue_with_backpressure, ClientLog, KafkaConfig, PendingDelivery};
use relbot_kafka::{ProduceStats, Producer};
use tracing::{info, warn};

use crate::error::DetectorError;

/// Key of a partition's clock record (not an address, so it never collides with a host).
pub const CLOCK_KEY: &str = "~clock";

/// Reads and writes the changelog.
pub struct Changelog {
    topic: String,
    reader: Arc<StreamConsumer<ClientLog>>,
    timeout: Duration,
}

impl std::fmt::Debug for Changelog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changelog")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// What a restore found.
/// One partition's read of the changelog in [`Changelog::restore_all`].
struct PartitionRead {
    /// Records in the partition (high − low watermark).
    records: i64,
    /// Offset of its last record.
    last: i64,
    /// Whether the last record was read (or there is none).
    done: bool,
    /// Each host's last state (`None`: a tombstone).
    hosts: HashMap<IpAddr, Option<Vec<u8>>>,
    /// The last clock record.
    clock: Option<ClockState>,
}

#[derive(Debug, Clone, Copy)]
pub struct Restored {
    /// Host states restored.
    pub hosts: usize,
    /// Changelog records read.
    pub records: i64,
    /// Time taken.
    pub elapsed: Duration,
}

impl Changelog {
    /// A changelog on `topic`, read with its own consumer (group `<group>-state-restore`,
    /// manual assignment, never commits).
    pub fn new(kafka: &KafkaConfig, topic: &str, timeout: Duration) -> Result<Self, DetectorError> {
        let mut config = kafka.clone();
        config.consumer.group_id = format!("{}-state-restore", kafka.consumer.group_id);
        config.consumer.group_instance_id = None;
        let reader = relbot_kafka::consumer(&config, ClientLog::default())?;
        Ok(Self {
            topic: topic.to_owned(),
            reader: Arc::new(reader),
            timeout,
        })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Reads `partition` from its start to its end into `engine`: hosts first (last record
    /// per key wins), then the clock.
    pub async fn restore(
        &self,
        partition: i32,
        engine: &mut Engine,
    ) -> Result<Restored, DetectorError> {
        let mut engines = vec![(partition, engine)];
        let mut restored = self.restore_all(&mut engines).await?;
        restored.pop().ok_or_else(|| DetectorError::Restore {
            topic: self.topic.clone(),
            partition,
            reason: "nothing restored".to_owned(),
        })
    }

    /// Reads every partition of `engines` from its start to its end into its engine, all
    /// partitions in one pass of one consumer (a replica taking over several partitions pays
    /// the fetch start-up once, not once per partition): hosts first (last record per key
    /// wins), then the clock. One [`Restored`] per partition, in the order given; `elapsed`
    /// is the whole pass's.
    pub async fn restore_all(
        &self,
        engines: &mut [(i32, &mut Engine)],
    ) -> Result<Vec<Restored>, DetectorError> {
        let started = Instant::now();
        let fail = |partition: i32, reason: String| DetectorError::Restore {
            topic: self.topic.clone(),
            partition,
            reason,
        };
        // Per partition: the offsets to read, and what was read.
        let mut reads: HashMap<i32, PartitionRead> = HashMap::new();
        let mut tpl = TopicPartitionList::new();
        for (partition, _) in engines.iter() {
            let partition = *partition;
            let (reader, topic) = (Arc::clone(&self.reader), self.topic.clone());
            let (low, high) = tokio::task::spawn_blocking(move || {
                reader.fetch_watermarks(&topic, partition, Duration::from_secs(30))
            })
            .await
            .map_err(|e| fail(partition, e.to_string()))?
            .map_err(|e| fail(partition, format!("watermarks: {e}")))?;
            if high > low {
                tpl.add_partition_offset(&self.topic, partition, Offset::Beginning)
                    .map_err(|e| fail(partition, e.to_string()))?;
            }
            reads.insert(
                partition,
                PartitionRead {
                    records: high - low,
                    last: high - 1,
                    done: high <= low,
                    hosts: HashMap::new(),
                    clock: None,
                },
            );
        }
        if tpl.count() > 0 {
            let first = engines.first().map_or(-1, |(p, _)| *p);
            self.reader
                .assign(&tpl)
                .map_err(|e| fail(first, format!("assign: {e}")))?;
            while reads.values().any(|r| !r.done) {
                let message = tokio::time::timeout(self.timeout, self.reader.recv())
                    .await
                    .map_err(|_| fail(first, format!("no record within {:?}", self.timeout)))?
                    .map_err(|e| fail(first, e.to_string()))?;
                let (partition, offset) = (message.partition(), message.offset());
                let Some(read) = reads.get_mut(&partition) else {
                    continue;
                };
                let payload = message.payload().filter(|p| !p.is_empty());
                match message.key_view::<str>() {
                    Some(Ok(CLOCK_KEY)) => match payload.map(ClockState::decode) {
                        Some(Ok(c)) => read.clock = Some(c),
                        Some(Err(e)) => {
                            return Err(fail(partition, format!("clock at offset {offset}: {e}")))
                        }
                        None => read.clock = None,
                    },
                    Some(Ok(key)) => match key.parse::<IpAddr>() {
                        Ok(host) => {
                            read.hosts.insert(host, payload.map(<[u8]>::to_vec));
                        }
                        Err(_) => {
                            warn!(topic = %self.topic, partition, offset, "Changelog record with a foreign key skipped.")
                        }
                    },
                    _ => {
                        warn!(topic = %self.topic, partition, offset, "Changelog record without a text key skipped.")
                    }
                }
                if offset >= read.last {
                    read.done = true;
                }
            }
            self.reader
                .unassign()
                .map_err(|e| fail(first, format!("unassign: {e}")))?;
        }
        let elapsed = started.elapsed();
        let mut out = Vec::with_capacity(engines.len());
        for (partition, engine) in engines.iter_mut() {
            let partition = *partition;
            let Some(read) = reads.remove(&partition) else {
                continue;
            };
            let mut restored = 0;
            for (host, state) in read.hosts {
                if state.is_some() {
                    restored += 1;
                }
                engine
                    .restore(host, state.as_deref())
                    .map_err(|source| DetectorError::Engine { partition, source })?;
            }
            if let Some(clock) = &read.clock {
                engine.restore_clock(clock);
            }
            info!(topic = %self.topic, partition, hosts = restored, records = read.records, elapsed_ms = elapsed.as_millis() as u64, "State restored.");
            out.push(Restored {
                hosts: restored,
                records: read.records,
                elapsed,
            });
        }
        Ok(out)
    }

    /// Enqueues the records of `changes` for `partition`: hosts first, then the clock.
    pub async fn enqueue(
        &self,
        producer: &Producer,
        stats: &Arc<ProduceStats>,
        partition: i32,
        changes: &ChangeSet,
        out: &mut Vec<PendingDelivery>,
    ) -> Result<(), DetectorError> {
        for change in &changes.hosts {
            let key = change.host.to_string();
            let payload: &[u8] = change.state.as_deref().unwrap_or_default();
            let mut record = FutureRecord::to(&self.topic).key(&key).partition(partition);
            if change.state.is_some() {
                record = record.payload(payload);
            }
            out.push(enqueue_with_backpressure(producer, record, stats).await?);
        }
        let clock = changes.clock.encode();
        let record = FutureRecord::to(&self.topic)
            .key(CLOCK_KEY)
            .partition(partition)
            .payload(&clock);
        out.push(enqueue_with_backpressure(producer, record, stats).await?);
        Ok(())
    }
}
