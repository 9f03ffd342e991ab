//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong building reports and sinks (delivery failures are
/// [`AttemptError`](crate::retry::AttemptError)s, not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A sink's settings are invalid; one sentence per problem, naming the key.
    #[error("invalid sink settings: {}", problems.join("; "))]
    Config {
        /// The problems found.
        problems: Vec<String>,
    },

    /// A secret (API key, webhook secret, pseudonymisation key) could not be read. The
    /// message names where it was looked for, never its value.
    #[error("cannot read the {what}: {reason}")]
    Secret {
        /// Which secret, e.g. `sinks.cch.api_key`.
        what: String,
        /// Why, e.g. "environment variable CCH_KEY is not set".
        reason: String,
    },

    /// A built report does not match its schema (a bug, or a detection with values the
    /// receiver cannot take); it goes to the dead-letter topic with this reason.
    #[error("report does not match {schema}: {reason}")]
    Schema {
        /// The schema, e.g. `schemas/cch-report.schema.json`.
        schema: &'static str,
        /// Every violation, with its JSON pointer.
        reason: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// TLS settings could not be built (unreadable CA bundle, no usable root).
    #[error("TLS settings of sink {sink}: {reason}")]
    Tls {
        /// The sink's name.
        sink: String,
        /// Why.
        reason: String,
    },

    /// Serialising a report failed.
    #[error("cannot encode the report: {0}")]
    Encode(String),
}

impl ReportError {
    /// A configuration error with one problem.
    pub fn config(problem: impl Into<String>) -> Self {
        Self::Config {
            problems: vec![problem.into()],
        }
    }
}
