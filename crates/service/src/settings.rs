//! The `[runtime]` section every relbot service has.
//!
//! ```toml
//! [runtime]
//! listen = "0.0.0.0:9090"   # /metrics, /healthz, /readyz
//! log_format = "text"       # or "json"
//! log_level = "info"        # a tracing filter, e.g. "info,relbot_reporter=debug"; RUST_LOG wins
//! drain_timeout = "20s"     # how long SIGTERM may take before the process exits anyway
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

/// Settings of the shared runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Address of the operations HTTP server (`/metrics`, `/healthz`, `/readyz`); port 0
    /// picks a free port (tests).
    pub listen: SocketAddr,
    /// Log line format.
    pub log_format: LogFormat,
    /// Default `tracing` filter directive; the `RUST_LOG` environment variable overrides it.
    pub log_level: String,
    /// Longest time between SIGTERM and exit, e.g. "20s": the service stops taking work,
    /// finishes or abandons what is in flight, then exits; past this it exits anyway with
    /// status 1. Keep it below the pod's `terminationGracePeriodSeconds`.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            drain_timeout: Duration::from_secs(20),
        }
    }
}

impl RuntimeSettings {
    /// Problems with these settings, each naming its key under `runtime.`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.drain_timeout.is_zero() {
            problems.push("`runtime.drain_timeout` must be above 0".to_owned());
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            problems.push(format!(
                "`runtime.log_level` {:?} is not a tracing filter: {e}",
                self.log_level
            ));
        }
        problems
    }
}
