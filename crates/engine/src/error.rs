//! [`EngineError`]: the one error type of the engine crate.

/// A configuration the engine cannot run with, or bytes of a state snapshot it cannot decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A configuration value is out of range or inconsistent with another.
    #[error("engine config: `{field}` {problem}")]
    Config {
        /// The field, as named in [`EngineConfig`](crate::EngineConfig).
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A monitored network is not an address or `ADDRESS/PREFIX`.
    #[error("monitored network {text:?}: {problem}")]
    Network {
        /// The text as given (at most 64 characters of it).
        text: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A snapshot ended before its last field.
    #[error("{what} snapshot truncated at byte {at}")]
    SnapshotTruncated {
        /// `host` or `clock`.
        what: &'static str,
        /// Offset at which more bytes were needed.
        at: usize,
    },
    /// A snapshot was written by an unknown (newer) format version.
    #[error("{what} snapshot: unsupported format version {found} (this build reads {supported})")]
    SnapshotVersion {
        /// `host` or `clock`.
        what: &'static str,
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// A snapshot's bytes are well framed but describe an impossible state.
    #[error("{what} snapshot invalid at byte {at}: {problem}")]
    SnapshotInvalid {
        /// `host` or `clock`.
        what: &'static str,
        /// Offset of the offending field.
        at: usize,
        /// What is wrong.
        problem: &'static str,
    },
}

impl EngineError {
    pub(crate) fn config(field: &'static str, problem: impl Into<String>) -> Self {
        Self::Config {
            field,
            problem: problem.into(),
        }
    }
}

impl From<relbot_flow::networks::NetworkError> for EngineError {
    fn from(e: relbot_flow::networks::NetworkError) -> Self {
        EngineError::Network {
            text: e.text,
            problem: e.problem,
        }
    }
}
