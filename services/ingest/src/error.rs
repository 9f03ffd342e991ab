//! The service's error type.

use std::path::PathBuf;

use relbot_kafka::KafkaError;

/// Why the ingest service stopped (or would not start).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A configuration problem found at start.
    #[error("configuration: {0}")]
    Config(String),

    /// A UDP listener could not be opened.
    #[error("UDP listener {listen}: {source}")]
    Listen {
        /// The configured address.
        listen: std::net::SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },

    /// A worker or reader thread could not be started.
    #[error("cannot start thread {name}: {source}")]
    Thread {
        /// The thread's name.
        name: String,
        /// What the system said.
        source: std::io::Error,
    },

    /// An input file or directory could not be read.
    #[error("{}: {reason}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// Kafka failed in a way retrying cannot fix (or at start).
    #[error(transparent)]
    Kafka(Box<KafkaError>),

    /// A flow record could not be encoded.
    #[error("codec: {0}")]
    Codec(#[from] relbot_codec::CodecError),
}

impl From<KafkaError> for IngestError {
    fn from(e: KafkaError) -> Self {
        Self::Kafka(Box::new(e))
    }
}
