//! Sending records with backpressure, classifying failures, counting drops.
//!
//! A full producer queue is not an error: the send waits and retries the same record, so
//! that a slow cluster slows the collector instead of losing flows. A record that is too
//! large, a topic we may not write or that does not exist, and a fatal idempotence error are
//! fatal: retrying cannot help, an operator must act. Anything else that keeps a record from
//! being delivered within `message.timeout` (librdkafka has retried by then) drops it. Every
//! dropped record is counted in [`ProduceStats`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, ToBytes};
use rdkafka::producer::{DeliveryFuture, FutureRecord};

use crate::client::Producer;
use crate::error::KafkaError;

/// Longest pause between two attempts to enqueue into a full queue.
const MAX_QUEUE_WAIT: Duration = Duration::from_millis(100);

/// Counters of one producer; share them with the service's metrics.
#[derive(Debug, Default)]
pub struct ProduceStats {
    delivered: AtomicU64,
    dropped: AtomicU64,
    queue_full_waits: AtomicU64,
}

impl ProduceStats {
    /// Records acknowledged by the brokers.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Records that were not delivered, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Times a send found the queue full and waited (backpressure).
    pub fn queue_full_waits(&self) -> u64 {
        self.queue_full_waits.load(Ordering::Relaxed)
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where a delivered record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The partition the key was placed in.
    pub partition: i32,
    /// The record's offset in that partition.
    pub offset: i64,
}

/// A record in the producer's queue; [`wait`](Self::wait) for its delivery report.
#[must_use = "a pending delivery must be awaited to learn whether the record was written"]
pub struct PendingDelivery {
    future: DeliveryFuture,
    topic: String,
    bytes: usize,
    stats: Arc<ProduceStats>,
}

impl std::fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("topic", &self.topic)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl PendingDelivery {
    /// Waits for the delivery report and classifies a failure (the record is then counted as
    /// dropped).
    pub async fn wait(self) -> Result<Delivered, KafkaError> {
        match self.future.await {
            Ok(Ok(delivery)) => {
                ProduceStats::count(&self.stats.delivered);
                Ok(Delivered {
                    partition: delivery.partition,
                    offset: delivery.offset,
                })
            }
            Ok(Err((error, message))) => {
                ProduceStats::count(&self.stats.dropped);
                let partition = Some(message.partition()).filter(|p| *p >= 0);
                Err(classify(&self.topic, partition, self.bytes, error))
            }
            Err(_canceled) => {
                ProduceStats::count(&self.stats.dropped);
                Err(KafkaError::Delivery {
                    topic: self.topic,
                    partition: None,
                    reason: "the producer was closed before the delivery report".to_owned(),
                })
            }
        }
    }
}

/// Puts `record` into the producer's queue, waiting while the queue is full, and returns the
/// pending delivery. Use it to keep many records in flight; errors found at enqueue time
/// (too large, unknown topic) are classified and counted like delivery failures.
pub async fn enqueue_with_backpressure<K, P>(
    producer: &Producer,
    record: FutureRecord<'_, K, P>,
    stats: &Arc<ProduceStats>,
) -> Result<PendingDelivery, KafkaError>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    let topic = record.topic.to_owned();
    let bytes = record.key.map_or(0, |k| k.to_bytes().len())
        + record.payload.map_or(0, |p| p.to_bytes().len());
    let mut record = record;
    let mut pause = Duration::from_millis(1);
    loop {
        match producer.send_result(record) {
            Ok(future) => {
                return Ok(PendingDelivery {
                    future,
                    topic,
                    bytes,
                    stats: Arc::clone(stats),
                })
            }
            Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                ProduceStats::count(&stats.queue_full_waits);
                record = returned;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_QUEUE_WAIT);
            }
            Err((error, _)) => {
                ProduceStats::count(&stats.dropped);
                return Err(classify(&topic, None, bytes, error));
            }
        }
    }
}

/// Sends one record and waits for its delivery: waits while the queue is full, returns a
/// fatal error for records that can never be written, and counts every drop.
pub async fn send_with_backpressure<K, P>(
    producer: &Producer,
    record: FutureRecord<'_, K, P>,
    stats: &Arc<ProduceStats>,
) -> Result<Delivered, KafkaError>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    enqueue_with_backpressure(producer, record, stats)
        .await?
        .wait()
        .await
}

/// Turns librdkafka's produce errors into relbot's, fatal ones by name.
fn classify(topic: &str, partition: Option<i32>, bytes: usize, error: RdKafkaError) -> KafkaError {
    let topic = topic.to_owned();
    match error.rdkafka_error_code() {
        Some(
            code @ (RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize),
        ) => KafkaError::MessageTooLarge { topic, bytes, code },
        Some(
            code @ (RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed),
        ) => KafkaError::NotAuthorized { topic, code },
        Some(
            code @ (RDKafkaErrorCode::UnknownTopic | RDKafkaErrorCode::UnknownTopicOrPartition),
        ) => KafkaError::UnknownTopic { topic, code },
        Some(RDKafkaErrorCode::Fatal) => KafkaError::ProducerFatal {
            topic,
            reason: error.to_string(),
        },
        _ => KafkaError::Delivery {
            topic,
            partition,
            reason: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::producer;
    use crate::config::KafkaConfig;

    /// A producer pointed at a closed loopback port: librdkafka accepts records and fails
    /// them after `message_timeout`, which is all these tests need.
    fn offline(queue_max_records: u32) -> Producer {
        let mut config = KafkaConfig {
            brokers: "127.0.0.1:1".to_owned(),
            ..KafkaConfig::default()
        };
        config.producer.message_timeout = Duration::from_millis(300);
        config.producer.queue_max_records = queue_max_records;
        producer(&config).unwrap()
    }

    #[tokio::test]
    async fn too_large_is_fatal_and_counted() {
        let producer = offline(10);
        let stats = Arc::new(ProduceStats::default());
        let payload = vec![0_u8; 2_000_000];
        let record = FutureRecord::to("relbot.flows.v1")
            .key("10.0.0.1")
            .payload(&payload);
        let err = send_with_backpressure(&producer, record, &stats)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                KafkaError::MessageTooLarge {
                    bytes: 2_000_008,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.is_fatal());
        assert!(err.to_string().contains("relbot.flows.v1"), "{err}");
        assert_eq!(stats.dropped(), 1);
    }

    #[tokio::test]
    async fn full_queue_waits_then_undeliverable_records_are_dropped() {
        let producer = offline(1);
        let stats = Arc::new(ProduceStats::default());
        let first = enqueue_with_backpressure(
            &producer,
            FutureRecord::to("t").key("a").payload("1"),
            &stats,
        )
        .await
        .unwrap();
        // The queue holds one record: the second send waits until the first times out.
        let second = enqueue_with_backpressure(
            &producer,
            FutureRecord::to("t").key("b").payload("2"),
            &stats,
        )
        .await
        .unwrap();
        assert!(stats.queue_full_waits() > 0);
        for pending in [first, second] {
            let err = pending.wait().await.unwrap_err();
            assert!(matches!(err, KafkaError::Delivery { .. }), "{err}");
            assert!(!err.is_fatal());
        }
        assert_eq!((stats.dropped(), stats.delivered()), (2, 0));
    }
}
