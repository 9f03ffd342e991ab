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
        let started = Instant::now();
        let fail = |reason: String| DetectorError::Restore {
            topic: self.topic.clone(),
            partition,
            reason,
        };
        let (low, high) = {
            let (reader, topic) = (Arc::clone(&self.reader), self.topic.clone());
            tokio::task::spawn_blocking(move || {
                reader.fetch_watermarks(&topic, partition, Duration::from_secs(30))
            })
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("watermarks: {e}")))?
        };
        let mut hosts: HashMap<IpAddr, Option<Vec<u8>>> = HashMap::new();
        let mut clock: Option<ClockState> = None;
        if high > low {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&self.topic, partition, Offset::Beginning)
                .map_err(|e| fail(e.to_string()))?;
            self.reader
                .assign(&tpl)
                .map_err(|e| fail(format!("assign: {e}")))?;
            loop {
                let message = tokio::time::timeout(self.timeout, self.reader.recv())
                    .await
                    .map_err(|_| fail(format!("no record within {:?}", self.timeout)))?
                    .map_err(|e| fail(e.to_string()))?;
                let offset = message.offset();
                let payload = message.payload().filter(|p| !p.is_empty());
                match message.key_view::<str>() {
                    Some(Ok(CLOCK_KEY)) => match payload.map(ClockState::decode) {
                        Some(Ok(c)) => clock = Some(c),
                        Some(Err(e)) => return Err(fail(format!("clock at offset {offset}: {e}"))),
                        None => clock = None,
                    },
                    Some(Ok(key)) => match key.parse::<IpAddr>() {
                        Ok(host) => {
                            hosts.insert(host, payload.map(<[u8]>::to_vec));
                        }
                        Err(_) => {
                            warn!(topic = %self.topic, partition, offset, "Changelog record with a foreign key skipped.")
                        }
                    },
                    _ => {
                        warn!(topic = %self.topic, partition, offset, "Changelog record without a text key skipped.")
                    }
                }
                if offset >= high - 1 {
                    break;
                }
            }
            self.reader
                .unassign()
                .map_err(|e| fail(format!("unassign: {e}")))?;
        }
        let mut restored = 0;
        for (host, state) in hosts {
            if state.is_some() {
                restored += 1;
            }
            engine
                .restore(host, state.as_deref())
                .map_err(|source| DetectorError::Engine { partition, source })?;
        }
        if let Some(clock) = &clock {
            engine.restore_clock(clock);
        }
        let elapsed = started.elapsed();
        info!(topic = %self.topic, partition, hosts = restored, records = high - low, elapsed_ms = elapsed.as_millis() as u64, "State restored.");
        Ok(Restored {
            hosts: restored,
            records: high - low,
            elapsed,
        })
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
