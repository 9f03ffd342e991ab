//! The service's error type.

use relbot_kafka::KafkaError;

/// Why the detector stopped (or would not start).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectorError {
    /// A configuration problem found while building the engine or algorithm.
    #[error("configuration: {0}")]
    Config(String),

    /// Kafka failed in a way retrying cannot fix (or at start), or a detection or changelog
    /// record could not be delivered: the service stops without storing the offsets of the
    /// records behind it, so that they are processed again.
    #[error(transparent)]
    Kafka(Box<KafkaError>),

    /// The schema registry or codec failed.
    #[error("codec: {0}")]
    Codec(#[from] relbot_codec::CodecError),

    /// The engine refused something (a config or a restored snapshot).
    #[error("engine, partition {partition}: {source}")]
    Engine {
        /// The partition.
        partition: i32,
        /// What the engine said.
        source: relbot_engine::EngineError,
    },

    /// Restoring the state of a partition from the changelog failed.
    #[error("cannot restore {topic}[{partition}]: {reason}")]
    Restore {
        /// The changelog topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Why.
        reason: String,
    },
}

impl From<KafkaError> for DetectorError {
    fn from(e: KafkaError) -> Self {
        Self::Kafka(Box::new(e))
    }
}
