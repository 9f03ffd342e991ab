//! The service's error type.

use relbot_kafka::KafkaError;
use relbot_report::ReportError;

/// Why the reporter stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReporterError {
    /// Kafka failed in a way retrying cannot fix (or at start).
    #[error(transparent)]
    Kafka(Box<KafkaError>),

    /// A sink could not be built.
    #[error(transparent)]
    Report(#[from] ReportError),

    /// The schema registry or codec failed at start.
    #[error("codec: {0}")]
    Codec(#[from] relbot_codec::CodecError),

    /// Restoring the state of a partition failed.
    #[error("cannot restore {topic}[{partition}]: {reason}")]
    Restore {
        /// The state topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Why.
        reason: String,
    },
}

impl From<KafkaError> for ReporterError {
    fn from(e: KafkaError) -> Self {
        Self::Kafka(Box::new(e))
    }
}
