//! The webhook sink: the [`ReportDoc`](crate::format::ReportDoc) JSON POSTed to a URL (chat,
//! ticketing, SOAR), signed like GitHub's webhooks: header `X-Relbot-Signature-256:
//! sha256=<hex HMAC-SHA256(secret, body)>`; `X-Relbot-Report-Id` lets the receiver drop
//! repeats (delivery is at-least-once).
//!
//! ```toml
//! [sinks.chat]
//! kind = "webhook"
//! url = "https://hooks.example.org/relbot"
//! secret_env = "RELBOT_WEBHOOK_SECRET"    # or secret_file
//! ```

use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ReportError;
use crate::protect::ProtectionConfig;
use crate::retry::{classify_http, classify_reqwest, AttemptError, RetryPolicy};
use crate::secret::{self, Secret};
use crate::sink::{timeout_problem, url_problem, Prepared};
use crate::tls;

/// Settings of a `webhook` sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL to POST to.
    pub url: String,
    /// Environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the signing secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Name of the signature header.
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    /// PEM bundle of the CAs to trust instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Disables TLS certificate verification (a warning is logged at start).
    #[serde(default)]
    pub insecure: bool,
    /// Timeout of one request, e.g. "10s".
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Address protection.
    #[serde(default)]
    pub protection: ProtectionConfig,
    /// Retry policy.
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_signature_header() -> String {
    "X-Relbot-Signature-256".to_owned()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl WebhookConfig {
    pub(crate) fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(url_problem(at, &self.url));
        problems.extend(timeout_problem(at, self.timeout));
        problems.extend(secret::problems(
            &format!("{at}.secret"),
            self.secret_env.as_deref(),
            self.secret_file.as_deref(),
        ));
        if HeaderName::from_bytes(self.signature_header.as_bytes()).is_err() {
            problems.push(format!("`{at}.signature_header` is not a header name"));
        }
        problems
    }
}

/// A webhook sink.
#[derive(Debug)]
pub struct WebhookSink {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Secret,
    signature_header: HeaderName,
}

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `body`).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl WebhookSink {
    /// Builds the sink named `name`.
    pub fn new(name: &str, config: &WebhookConfig) -> Result<Self, ReportError> {
        let at = format!("sinks.{name}");
        let secret = secret::resolve(
            &format!("{at}.secret"),
            config.secret_env.as_deref(),
            config.secret_file.as_deref(),
        )?;
        Ok(Self {
            client: tls::http_client(
                name,
                config.timeout,
                config.ca_file.as_deref(),
                config.insecure,
            )?,
            url: reqwest::Url::parse(&config.url)
                .map_err(|e| ReportError::config(format!("`{at}.url`: {e}")))?,
            secret,
            signature_header: HeaderName::from_bytes(config.signature_header.as_bytes())
                .map_err(|e| ReportError::config(format!("`{at}.signature_header`: {e}")))?,
        })
    }

    pub(crate) async fn post(&self, report: &Prepared) -> Result<(), AttemptError> {
        let signature = signature(self.secret.expose().as_bytes(), &report.body);
        let response = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                "X-Relbot-Report-Id",
                HeaderValue::from_str(&report.report_id.to_string())
                    .unwrap_or_else(|_| HeaderValue::from_static("invalid")),
            )
            .header(
                self.signature_header.clone(),
                HeaderValue::from_str(&signature)
                    .unwrap_or_else(|_| HeaderValue::from_static("invalid")),
            )
            .body(report.body.clone())
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let body = response.text().await.unwrap_or_default();
        classify_http(status, retry_after.as_ref(), &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
