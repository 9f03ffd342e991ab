//! relbot-kafka: the one place relbot makes Kafka clients.
//!
//! Every producer, consumer and admin client of the services is built here from one
//! [`KafkaConfig`], so that the settings relbot's contracts depend on cannot vary between
//! services: records are keyed by host address and placed by `murmur2_random` (the Java
//! client's partitioner, so Java tooling and relbot agree where a key lands), producers are
//! idempotent with `acks=all`, consumers use cooperative-sticky assignment and commit only the
//! offsets the service stored after a record's effects were durable (at-least-once).
//! Raw librdkafka settings (TLS, SASL, tuning) pass through `KafkaConfig::librdkafka`; they are
//! applied last but may not touch the contract settings.
//!
//! Layout:
//! - [`config`]: the typed settings, their defaults and `validate()`;
//! - [`client`]: `producer()`, `consumer()`, `probe()` and the logging client context;
//! - [`rebalance`]: a consumer context that hands assignments and revocations to the service;
//! - [`topics`]: creating missing topics at start (compacted changelog included);
//! - [`produce`]: sending with backpressure and error classification, counting drops;
//! - [`error`]: the crate's error type;
//! - `testing` (feature `testing`): helpers for tests against a real broker.

pub mod client;
pub mod config;
pub mod error;
pub mod produce;
pub mod rebalance;
pub mod topics;

#[cfg(feature = "testing")]
pub mod testing;

pub use client::{consumer, probe, producer, ClientLog, ClusterInfo, Producer};
pub use config::{
    Compression, ConsumerSettings, KafkaConfig, OffsetReset, ProducerSettings, TopicsConfig,
};
pub use error::KafkaError;
pub use produce::{
    enqueue_with_backpressure, send_with_backpressure, Delivered, PendingDelivery, ProduceStats,
};
pub use rebalance::{Partition, RebalanceContext, RebalanceEvent};
pub use topics::{delete_topics, ensure_topics, TopicSpec, TopicStatus};

/// Re-exported so that callers build records and read messages with the same rdkafka version.
pub use rdkafka;
