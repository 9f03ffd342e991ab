//! The crate's error type.

use std::net::SocketAddr;

/// What can go wrong in the shared runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The configuration is invalid; one sentence per problem, each naming the key.
    #[error("invalid configuration:\n  - {}", problems.join("\n  - "))]
    Config {
        /// The problems found.
        problems: Vec<String>,
    },

    /// The operations server could not listen.
    #[error("cannot listen on {addr} for /metrics, /healthz, /readyz: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },

    /// The operations server failed while serving.
    #[error("the operations HTTP server failed: {0}")]
    Serve(std::io::Error),

    /// The tracing subscriber could not be installed.
    #[error("cannot initialise logging: {0}")]
    Logging(String),

    /// Installing a signal handler failed.
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        /// SIGTERM or SIGINT.
        signal: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ServiceError {
    /// A configuration error with a single problem.
    pub fn config(problem: impl Into<String>) -> Self {
        Self::Config {
            problems: vec![problem.into()],
        }
    }
}
