//! relbot-report: everything about reports that does not need Kafka, shared by the
//! `relbot-reporter` service and `relbot analyze --report`.
//!
//! - [`rule`]: the reporting rule (`min_idx`, `min_confidence`);
//! - [`protect`] and [`cryptopan`]: address protection per sink (`plain`, `anon`, `pseudo`);
//! - [`format`]: the CCH API v2 report (schema-validated) and relbot's JSON document;
//! - [`cef`]: CEF in RFC 5424 syslog messages;
//! - [`sink`]: the sinks (an enum: `cch`, `jsonl`, `webhook`, `syslog`) and delivery with
//!   retries ([`Sink::deliver`]);
//! - [`retry`]: the retry policy and the classification of failures;
//! - [`secret`], [`tls`]: where keys come from, and TLS settings;
//! - [`error`]: the error type, [`ReportError`];
//! - [`testing`]: detections for tests and benchmarks.
//!
//! Embedded use (what `relbot analyze --report` does):
//!
//! ```no_run
//! # async fn demo(detections: Vec<relbot_codec::Detection>) -> Result<(), relbot_report::ReportError> {
//! use relbot_report::{deliver_all, ReportingRule, SinkConfig, JsonlConfig};
//! let sinks = vec![SinkConfig::Jsonl(JsonlConfig::new("-")).build("stdout")?];
//! let rule = ReportingRule::default();
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! for detection in detections.iter().filter(|d| rule.check(d).is_ok()) {
//!     for done in deliver_all(&sinks, detection, &shutdown).await {
//!         println!("{}: {:?}", done.sink, done.outcome);
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod cef;
pub mod cryptopan;
pub mod error;
pub mod format;
pub mod protect;
pub mod retry;
pub mod rule;
pub mod secret;
pub mod sink;
pub mod testing;
pub mod tls;

use futures_util::future::join_all;
use relbot_codec::{Detection, ReportId};
use tokio_util::sync::CancellationToken;

pub use error::ReportError;
pub use format::{CchReport, ReportDoc};
pub use protect::{ProtectionConfig, Protector};
pub use retry::{AttemptError, Deliver, Failure, Outcome, RetryObserver, RetryPolicy};
pub use rule::{BelowRule, ReportingRule};
pub use sink::{
    CchConfig, JsonlConfig, Prepared, Sink, SinkConfig, SyslogConfig, Transport, WebhookConfig,
};

/// What happened to one detection at one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkOutcome {
    /// The sink's name.
    pub sink: String,
    /// The report's id.
    pub report_id: ReportId,
    /// The outcome; a report that could not be built is dead-lettered with the reason.
    pub outcome: Outcome,
}

/// Delivers `detection` to every sink at once (no de-duplication, no state: the service
/// adds those), each with its retry policy.
pub async fn deliver_all(
    sinks: &[Sink],
    detection: &Detection,
    shutdown: &CancellationToken,
) -> Vec<SinkOutcome> {
    join_all(sinks.iter().map(|sink| async move {
        let report_id = ReportId::derive(&detection.detection_id, sink.name());
        let outcome = match sink.prepare(detection) {
            Ok(prepared) => sink.deliver(&prepared, false, shutdown, &()).await,
            Err(e) => Outcome::DeadLetter {
                attempts: 0,
                reason: e.to_string(),
            },
        };
        SinkOutcome {
            sink: sink.name().to_owned(),
            report_id,
            outcome,
        }
    }))
    .await
}
