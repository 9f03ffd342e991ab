//! The sinks, as an enum: `cch` (ACDC CCH API v2), `jsonl` (JSON lines to a file or stdout),
//! `webhook` (signed JSON POST), `syslog` (RFC 5424 with CEF over UDP, TCP or TLS).
//!
//! A [`Sink`] turns a detection into a [`Prepared`] report (its own format, addresses
//! protected as configured), makes one delivery [`attempt`](Sink::attempt), and
//! [`deliver`](Sink::deliver)s with its retry policy. In a service's TOML, sinks are a table
//! keyed by name:
//!
//! ```toml
//! [sinks.cch]
//! kind = "cch"
//! url = "https://cch.example.org"
//! api_key_file = "/run/secrets/cch-key"
//!
//! [sinks.audit]
//! kind = "jsonl"
//! path = "/var/lib/relbot/reports.jsonl"
//! ```

pub mod cch;
pub mod jsonl;
pub mod syslog;
pub mod webhook;

use relbot_codec::{Detection, DetectionId, ReportId, SrcMode};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::ReportError;
use crate::protect::{ProtectionConfig, Protector};
use crate::retry::{AttemptError, RetryPolicy};

pub use cch::{CchConfig, CchSink};
pub use jsonl::{JsonlConfig, JsonlSink};
pub use syslog::{SyslogConfig, SyslogSink, Transport};
pub use webhook::{WebhookConfig, WebhookSink};

/// One sink's settings, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SinkConfig {
    /// ACDC CCH API v2.
    Cch(CchConfig),
    /// JSON lines to a file (rotated by size) or stdout.
    Jsonl(JsonlConfig),
    /// JSON POST with an HMAC-SHA256 signature.
    Webhook(WebhookConfig),
    /// RFC 5424 syslog with a CEF payload.
    Syslog(SyslogConfig),
}

impl SinkConfig {
    /// Problems of the sink named `name`, each naming its key (`sinks.<name>.…`), secrets
    /// and files checked.
    pub fn problems(&self, name: &str) -> Vec<String> {
        let at = format!("sinks.{name}");
        let (protection, retry, mut problems) = match self {
            Self::Cch(c) => (&c.protection, &c.retry, c.problems(&at)),
            Self::Jsonl(c) => (&c.protection, &c.retry, c.problems(&at)),
            Self::Webhook(c) => (&c.protection, &c.retry, c.problems(&at)),
            Self::Syslog(c) => (&c.protection, &c.retry, c.problems(&at)),
        };
        problems.extend(protection.problems(&format!("{at}.protection")));
        problems.extend(retry.problems(&format!("{at}.retry")));
        problems
    }

    /// The address protection of this sink.
    pub fn protection(&self) -> &ProtectionConfig {
        match self {
            Self::Cch(c) => &c.protection,
            Self::Jsonl(c) => &c.protection,
            Self::Webhook(c) => &c.protection,
            Self::Syslog(c) => &c.protection,
        }
    }

    /// Builds the sink named `name` (reads its secrets, opens nothing remote yet).
    pub fn build(&self, name: &str) -> Result<Sink, ReportError> {
        let at = format!("sinks.{name}");
        let protector = self.protection().build(&format!("{at}.protection"))?;
        let (retry, target) = match self {
            Self::Cch(c) => (c.retry.clone(), Target::Cch(CchSink::new(name, c)?)),
            Self::Jsonl(c) => (c.retry.clone(), Target::Jsonl(JsonlSink::new(name, c)?)),
            Self::Webhook(c) => (c.retry.clone(), Target::Webhook(WebhookSink::new(name, c)?)),
            Self::Syslog(c) => (c.retry.clone(), Target::Syslog(SyslogSink::new(name, c)?)),
        };
        Ok(Sink {
            name: name.to_owned(),
            protector,
            retry,
            target,
        })
    }
}

/// A report built for one sink, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// [`ReportId::derive`] of the detection and the sink's name.
    pub report_id: ReportId,
    /// The detection reported.
    pub detection_id: DetectionId,
    /// The host as disclosed to the sink.
    pub host: String,
    /// How it was disclosed.
    pub src_mode: SrcMode,
    /// The bytes sent (JSON, or the syslog message without framing).
    pub body: Vec<u8>,
}

pub use crate::retry::{Outcome, RetryObserver};

/// A configured sink.
#[derive(Debug)]
pub struct Sink {
    name: String,
    protector: Protector,
    retry: RetryPolicy,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Cch(CchSink),
    Jsonl(JsonlSink),
    Webhook(WebhookSink),
    Syslog(SyslogSink),
}

impl Sink {
    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind as recorded in `Report.sink_kind`: `cch`, `json_lines`, `webhook`, `syslog`.
    pub fn kind(&self) -> &'static str {
        match self.target {
            Target::Cch(_) => "cch",
            Target::Jsonl(_) => "json_lines",
            Target::Webhook(_) => "webhook",
            Target::Syslog(_) => "syslog",
        }
    }

    /// How this sink discloses addresses.
    pub fn src_mode(&self) -> SrcMode {
        self.protector.mode()
    }

    /// The address protection of this sink.
    pub fn protector(&self) -> &Protector {
        &self.protector
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// True when the sink can tell whether it already has a report ([`Sink::lookup`]); the
    /// CCH sink can (`GET /api/v2/reports`).
    pub fn can_look_up(&self) -> bool {
        matches!(self.target, Target::Cch(_))
    }

    /// The report for `detection` in this sink's format; an error (e.g. a schema violation)
    /// means the report can never be sent and belongs in the dead-letter topic.
    pub fn prepare(&self, detection: &Detection) -> Result<Prepared, ReportError> {
        let report_id = ReportId::derive(&detection.detection_id, &self.name);
        let body = match &self.target {
            Target::Cch(s) => s.body(detection, &self.protector)?,
            Target::Jsonl(_) | Target::Webhook(_) => {
                crate::format::to_json(&crate::format::ReportDoc::build(
                    detection,
                    &self.name,
                    &self.protector,
                    crate::format::DEFAULT_REPORT_TYPE,
                ))?
            }
            Target::Syslog(s) => s.message(detection, &report_id, &self.protector),
        };
        Ok(Prepared {
            report_id,
            detection_id: detection.detection_id,
            host: self.protector.apply(detection.host).to_string(),
            src_mode: self.protector.mode(),
            body,
        })
    }

    /// One delivery attempt.
    pub async fn attempt(&self, report: &Prepared) -> Result<(), AttemptError> {
        match &self.target {
            Target::Cch(s) => s.post(report).await,
            Target::Jsonl(s) => s.write(report).await,
            Target::Webhook(s) => s.post(report).await,
            Target::Syslog(s) => s.send(report).await,
        }
    }

    /// Whether the receiver already has `report` (only sinks that [`can_look_up`](Self::can_look_up);
    /// the others answer `false`).
    pub async fn lookup(&self, report: &Prepared) -> Result<bool, AttemptError> {
        match &self.target {
            Target::Cch(s) => s.lookup(report).await,
            _ => Ok(false),
        }
    }

    /// Delivers `report` with this sink's retry policy: see [`crate::retry::deliver`].
    pub async fn deliver(
        &self,
        report: &Prepared,
        look_up_first: bool,
        shutdown: &CancellationToken,
        observer: &dyn RetryObserver,
    ) -> Outcome {
        crate::retry::deliver(self, report, look_up_first, shutdown, observer).await
    }
}

impl crate::retry::Deliver for Sink {
    fn name(&self) -> &str {
        &self.name
    }

    fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    fn can_look_up(&self) -> bool {
        Sink::can_look_up(self)
    }

    async fn attempt(&self, report: &Prepared) -> Result<(), AttemptError> {
        Sink::attempt(self, report).await
    }

    async fn lookup(&self, report: &Prepared) -> Result<bool, AttemptError> {
        Sink::lookup(self, report).await
    }
}

/// Checks a `timeout` setting.
pub(crate) fn timeout_problem(at: &str, timeout: std::time::Duration) -> Option<String> {
    timeout
        .is_zero()
        .then(|| format!("`{at}.timeout` must be above 0"))
}

/// Checks a URL setting: absolute `http(s)` with a host.
pub(crate) fn url_problem(at: &str, url: &str) -> Option<String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => None,
        Ok(_) => Some(format!("`{at}.url` must be an http(s) URL with a host")),
        Err(e) => Some(format!("`{at}.url` {url:?}: {e}")),
    }
}
