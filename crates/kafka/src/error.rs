//! The crate's error type: what failed, where (brokers, topic, partition, offset), and whether
//! a service can go on.

use std::time::Duration;

use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};

/// Everything that can go wrong between relbot and Kafka.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// The settings are inconsistent; every problem found is listed.
    #[error("invalid Kafka settings: {}", problems.join("; "))]
    InvalidConfig {
        /// One sentence per problem, naming the field.
        problems: Vec<String>,
    },

    /// librdkafka refused to create a client (usually a bad pass-through setting).
    #[error("cannot create the Kafka {role} for {brokers}: {source}")]
    CreateClient {
        /// "producer", "consumer" or "admin client".
        role: &'static str,
        /// The bootstrap brokers.
        brokers: String,
        /// librdkafka's reason.
        source: RdKafkaError,
    },

    /// No broker answered a metadata request in time.
    #[error("no Kafka broker at {brokers} answered within {timeout:?}: {reason}")]
    Unreachable {
        /// The bootstrap brokers.
        brokers: String,
        /// How long we waited.
        timeout: Duration,
        /// The last error librdkafka reported.
        reason: String,
    },

    /// The broker rejected our SASL credentials (wrong user or password, or mechanism).
    #[error("Kafka at {brokers} rejected the SASL credentials: {reason}")]
    Authentication {
        /// The bootstrap brokers.
        brokers: String,
        /// librdkafka's reason, e.g. "SASL authentication error: Authentication failed…".
        reason: String,
    },

    /// The TLS handshake failed (unknown CA, wrong host name, TLS on a plaintext port…).
    #[error("TLS handshake with Kafka at {brokers} failed: {reason}")]
    Tls {
        /// The bootstrap brokers.
        brokers: String,
        /// librdkafka's reason.
        reason: String,
    },

    /// Creating a topic failed for a reason other than "already exists".
    #[error("cannot create topic {topic} ({partitions} partitions, replication {replication_factor}): {code}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// Partitions asked for.
        partitions: i32,
        /// Replication factor asked for.
        replication_factor: i32,
        /// The broker's error.
        code: RDKafkaErrorCode,
    },

    /// A topic exists with another partition count than relbot's contract needs.
    #[error("topic {topic} has {actual} partitions, but relbot is configured for {expected}")]
    PartitionMismatch {
        /// The topic.
        topic: String,
        /// Partitions the configuration asks for.
        expected: i32,
        /// Partitions the topic has.
        actual: i32,
    },

    /// An admin or metadata request failed as a whole.
    #[error("Kafka admin request ({what}) to {brokers} failed: {source}")]
    Admin {
        /// What we asked for.
        what: &'static str,
        /// The bootstrap brokers.
        brokers: String,
        /// librdkafka's error.
        source: RdKafkaError,
    },

    /// A record is larger than the producer or broker allows (`message.max.bytes`); fatal.
    #[error("record of {bytes} bytes for {topic} is too large for Kafka: {code}")]
    MessageTooLarge {
        /// The topic.
        topic: String,
        /// Key plus payload size in bytes.
        bytes: usize,
        /// The error code (local or from the broker).
        code: RDKafkaErrorCode,
    },

    /// The credentials may not write to the topic (ACLs); fatal.
    #[error("not authorised to produce to {topic}: {code}")]
    NotAuthorized {
        /// The topic.
        topic: String,
        /// The broker's error.
        code: RDKafkaErrorCode,
    },

    /// The topic does not exist (and relbot does not auto-create topics); fatal.
    #[error("topic {topic} does not exist: {code}")]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// The error code.
        code: RDKafkaErrorCode,
    },

    /// The idempotent producer hit a fatal error and must be recreated; fatal.
    #[error("the producer for {topic} failed fatally: {reason}")]
    ProducerFatal {
        /// The topic of the record that revealed it.
        topic: String,
        /// librdkafka's reason.
        reason: String,
    },

    /// A record could not be delivered within `message.timeout` (retries included), or the
    /// producer was closed before its delivery report; the record was dropped.
    #[error("record for {topic} was not delivered: {reason}")]
    Delivery {
        /// The topic.
        topic: String,
        /// The partition it was headed for, when known.
        partition: Option<i32>,
        /// Why.
        reason: String,
    },

    /// Subscribing to topics failed.
    #[error("cannot subscribe to {topics:?}: {source}")]
    Subscribe {
        /// The topics.
        topics: Vec<String>,
        /// librdkafka's error.
        source: RdKafkaError,
    },

    /// Storing a consumed offset failed (e.g. the partition was revoked meanwhile).
    #[error("cannot store offset {offset} of {topic}[{partition}]: {source}")]
    StoreOffset {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset of the processed record.
        offset: i64,
        /// librdkafka's error.
        source: RdKafkaError,
    },
}

impl KafkaError {
    /// True when retrying or going on cannot help: the service should stop and an operator
    /// must act (configuration, ACLs, credentials, record size).
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::InvalidConfig { .. }
            | Self::CreateClient { .. }
            | Self::Authentication { .. }
            | Self::Tls { .. }
            | Self::CreateTopic { .. }
            | Self::PartitionMismatch { .. }
            | Self::MessageTooLarge { .. }
            | Self::NotAuthorized { .. }
            | Self::UnknownTopic { .. }
            | Self::ProducerFatal { .. }
            | Self::Subscribe { .. } => true,
            Self::Unreachable { .. }
            | Self::Admin { .. }
            | Self::Delivery { .. }
            | Self::StoreOffset { .. } => false,
        }
    }
}
