//! The ACDC CCH API v2 sink: `POST {url}/api/v2/reports` with `Authorization: Token
//! token="KEY"` and the [`CchReport`] JSON, validated against the schema first; `GET
//! {url}/api/v2/reports?source_value=…&timestamp=…` to learn whether a report whose POST timed
//! out (or was cut short by a crash) arrived after all.
//!
//! ```toml
//! [sinks.cch]
//! kind = "cch"
//! url = "https://cch.example.org"        # base URL; /api/v2/reports is appended
//! api_key_env = "RELBOT_CCH_KEY"          # or api_key_file = "/run/secrets/cch-key"
//! ca_file = "/etc/relbot/cch-ca.pem"      # optional: trust only this CA bundle
//! insecure = false                        # true disables certificate checks (logged)
//! timeout = "10s"                         # per request
//! report_type = "RelBot detected suspicious host activities"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use relbot_codec::Detection;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::format::{validate_cch, CchReport, DEFAULT_REPORT_TYPE};
use crate::protect::{ProtectionConfig, Protector};
use crate::retry::{classify_http, classify_reqwest, AttemptError, RetryPolicy};
use crate::secret;
use crate::sink::{timeout_problem, url_problem, Prepared};
use crate::tls;

/// Settings of a `cch` sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CchConfig {
    /// Base URL of the CCH, e.g. `https://cch.example.org`.
    pub url: String,
    /// Environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding the API key (e.g. a mounted Kubernetes secret).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// PEM bundle of the CAs to trust instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Disables TLS certificate verification (a warning is logged at start).
    #[serde(default)]
    pub insecure: bool,
    /// Timeout of one request, e.g. "10s".
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// The report's `report_type` text.
    #[serde(default = "default_report_type")]
    pub report_type: String,
    /// Address protection.
    #[serde(default)]
    pub protection: ProtectionConfig,
    /// Retry policy.
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_report_type() -> String {
    DEFAULT_REPORT_TYPE.to_owned()
}

impl CchConfig {
    /// A configuration with defaults for `url` and a key in `api_key_env`.
    pub fn new(url: impl Into<String>, api_key_env: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            api_key_env: Some(api_key_env.into()),
            api_key_file: None,
            ca_file: None,
            insecure: false,
            timeout: default_timeout(),
            report_type: default_report_type(),
            protection: ProtectionConfig::Plain,
            retry: RetryPolicy::default(),
        }
    }

    pub(crate) fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(url_problem(at, &self.url));
        problems.extend(timeout_problem(at, self.timeout));
        problems.extend(secret::problems(
            &format!("{at}.api_key"),
            self.api_key_env.as_deref(),
            self.api_key_file.as_deref(),
        ));
        if self.report_type.trim().is_empty() {
            problems.push(format!("`{at}.report_type` is empty"));
        }
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                problems.push(format!("`{at}.ca_file` {}: no such file", ca.display()));
            }
        }
        problems
    }
}

/// A CCH sink.
#[derive(Debug)]
pub struct CchSink {
    client: reqwest::Client,
    reports_url: reqwest::Url,
    authorization: HeaderValue,
    report_type: String,
}

impl CchSink {
    /// Builds the sink named `name`: reads the key, sets up TLS.
    pub fn new(name: &str, config: &CchConfig) -> Result<Self, ReportError> {
        let at = format!("sinks.{name}");
        let key = secret::resolve(
            &format!("{at}.api_key"),
            config.api_key_env.as_deref(),
            config.api_key_file.as_deref(),
        )?;
        let mut authorization = HeaderValue::from_str(&format!("Token token=\"{}\"", key.expose()))
            .map_err(|_| ReportError::Secret {
                what: format!("{at}.api_key"),
                reason: "the key holds characters not allowed in an HTTP header".to_owned(),
            })?;
        authorization.set_sensitive(true);
        let base = config.url.trim_end_matches('/');
        let reports_url = reqwest::Url::parse(&format!("{base}/api/v2/reports"))
            .map_err(|e| ReportError::config(format!("`{at}.url`: {e}")))?;
        if reports_url.scheme() == "http" {
            tracing::warn!(
                sink = name,
                "The CCH URL is plain http: the API key travels unencrypted."
            );
        }
        Ok(Self {
            client: tls::http_client(
                name,
                config.timeout,
                config.ca_file.as_deref(),
                config.insecure,
            )?,
            reports_url,
            authorization,
            report_type: config.report_type.clone(),
        })
    }

    /// The CCH JSON of `detection`, schema-checked.
    pub(crate) fn body(
        &self,
        detection: &Detection,
        protector: &Protector,
    ) -> Result<Vec<u8>, ReportError> {
        let report = CchReport::build(detection, protector, &self.report_type);
        let value =
            serde_json::to_value(&report).map_err(|e| ReportError::Encode(e.to_string()))?;
        validate_cch(&value)?;
        serde_json::to_vec(&value).map_err(|e| ReportError::Encode(e.to_string()))
    }

    pub(crate) async fn post(&self, report: &Prepared) -> Result<(), AttemptError> {
        let response = self
            .client
            .post(self.reports_url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(report.body.clone())
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let body = response.text().await.unwrap_or_default();
        classify_http(status, retry_after.as_ref(), &body)
    }

    /// Asks the CCH whether it holds a report equal to `report` on every field we send.
    pub(crate) async fn lookup(&self, report: &Prepared) -> Result<bool, AttemptError> {
        let sent: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&report.body)
            .map_err(|e| AttemptError::permanent(format!("cannot read back the report: {e}")))?;
        let mut url = self.reports_url.clone();
        {
            let mut query = url.query_pairs_mut();
            for key in ["source_value", "timestamp", "report_category"] {
                if let Some(serde_json::Value::String(v)) = sent.get(key) {
                    query.append_pair(key, v);
                }
            }
        }
        let response = self
            .client
            .get(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .map_err(|e| {
                // A failed look-up changed nothing at the receiver.
                AttemptError {
                    ambiguous: false,
                    ..classify_reqwest(&e)
                }
            })?;
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let text = response.text().await.map_err(|e| AttemptError {
            ambiguous: false,
            ..classify_reqwest(&e)
        })?;
        classify_http(status, retry_after.as_ref(), &text)?;
        let listed: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| AttemptError::transient(format!("look-up answer is not JSON: {e}")))?;
        let items = match &listed {
            serde_json::Value::Array(items) => items.as_slice(),
            serde_json::Value::Object(o) => match o.get("reports") {
                Some(serde_json::Value::Array(items)) => items.as_slice(),
                _ => &[],
            },
            _ => &[],
        };
        Ok(items.iter().any(|item| {
            item.as_object()
                .is_some_and(|o| sent.iter().all(|(k, v)| o.get(k) == Some(v)))
        }))
    }
}
