//! Per-sink retry policy: exponential backoff with jitter on transient failures (timeouts,
//! connection errors, HTTP 5xx, 408 and 429, honouring `Retry-After`); permanent failures
//! (other 4xx, a report its receiver can never take) end at once with their reason.

use std::time::{Duration, Instant};

use rand::Rng;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::sink::Prepared;
use serde::{Deserialize, Serialize};

/// Retry settings of one sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Wait before the first retry, e.g. "500ms".
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest wait between two attempts, e.g. "60s".
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Factor between two consecutive waits, >= 1.0.
    pub multiplier: f64,
    /// Share of each wait drawn at random, 0.0..=1.0: the wait is
    /// `backoff * (1 - jitter * u)`, `u` uniform in [0, 1).
    pub jitter: f64,
    /// Most attempts in total before the report is dead-lettered; 0 for no limit (then only
    /// `max_elapsed` ends the retries).
    pub max_attempts: u32,
    /// Longest time from the first attempt until the report is dead-lettered, e.g. "6h".
    #[serde(with = "humantime_serde")]
    pub max_elapsed: Duration,
    /// Cap on a receiver's `Retry-After`, e.g. "5m".
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: 0,
            max_elapsed: Duration::from_secs(6 * 3600),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Problems, naming keys under `at` (e.g. `sinks.cch.retry`).
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.initial_backoff.is_zero() {
            problems.push(format!("`{at}.initial_backoff` must be above 0"));
        }
        if self.max_backoff < self.initial_backoff {
            problems.push(format!(
                "`{at}.max_backoff` must be at least `{at}.initial_backoff`"
            ));
        }
        if !(self.multiplier >= 1.0 && self.multiplier <= 100.0) {
            problems.push(format!("`{at}.multiplier` must be within 1.0..=100.0"));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            problems.push(format!("`{at}.jitter` must be within 0.0..=1.0"));
        }
        problems
    }

    /// The wait before retry number `retry` (1 for the first retry), jitter applied, or the
    /// receiver's `Retry-After` (capped) when it gave one.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_retry_after);
        }
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let backoff = self.initial_backoff.as_secs_f64() * self.multiplier.powi(exponent);
        let backoff = backoff.min(self.max_backoff.as_secs_f64());
        let u: f64 = rand::rng().random();
        Duration::from_secs_f64((backoff * (1.0 - self.jitter * u)).max(0.0))
    }
}

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Timeouts, connection errors, 5xx, 408, 429: retry.
    Transient,
    /// Other 4xx, invalid reports: dead-letter at once.
    Permanent,
}

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    /// Transient or permanent.
    pub failure: Failure,
    /// What happened, for logs and the dead-letter record (never a secret).
    pub reason: String,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// The request may have been processed (a timeout after sending): a sink that can look
    /// reports up checks before sending again.
    pub ambiguous: bool,
}

impl AttemptError {
    /// A transient failure.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self {
            failure: Failure::Transient,
            reason: reason.into(),
            retry_after: None,
            ambiguous: false,
        }
    }

    /// A transient failure after which the request may have been processed.
    pub fn ambiguous(reason: impl Into<String>) -> Self {
        Self {
            ambiguous: true,
            ..Self::transient(reason)
        }
    }

    /// A permanent failure.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            failure: Failure::Permanent,
            ..Self::transient(reason)
        }
    }

    /// True for permanent failures.
    pub fn is_permanent(&self) -> bool {
        self.failure == Failure::Permanent
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Classifies an HTTP status: `Ok` for 2xx, transient for 5xx, 408 and 429 (with
/// `Retry-After`), permanent for the rest. `body` is quoted (shortened) in the reason.
pub fn classify_http(
    status: reqwest::StatusCode,
    retry_after: Option<&reqwest::header::HeaderValue>,
    body: &str,
) -> Result<(), AttemptError> {
    if status.is_success() {
        return Ok(());
    }
    let snippet: String = body.trim().chars().take(200).collect();
    let reason = if snippet.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {snippet}")
    };
    let code = status.as_u16();
    if status.is_server_error() || code == 408 || code == 429 {
        Err(AttemptError {
            retry_after: retry_after.and_then(parse_retry_after),
            ..AttemptError::transient(reason)
        })
    } else {
        Err(AttemptError::permanent(reason))
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &reqwest::header::HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Classifies a transport error of `reqwest`: connection failures (nothing was sent) and
/// timeouts or broken connections (something may have been processed) are transient.
pub fn classify_reqwest(error: &reqwest::Error) -> AttemptError {
    // Walk the source chain: the TLS and IO causes are the useful part.
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_connect() {
        AttemptError::transient(format!("connection failed: {reason}"))
    } else if error.is_timeout() {
        AttemptError::ambiguous(format!("timed out: {reason}"))
    } else {
        AttemptError::ambiguous(reason)
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The sink acknowledged the report.
    Delivered {
        /// Attempts made (1 when the first one succeeded).
        attempts: u32,
    },
    /// A permanent failure, or retries exhausted: the report goes to the dead-letter topic.
    DeadLetter {
        /// Attempts made.
        attempts: u32,
        /// Why, e.g. "HTTP 401 Unauthorized: …".
        reason: String,
    },
    /// Shutdown came first; the report is neither delivered nor dead-lettered and will be
    /// delivered after the restart.
    Cancelled {
        /// Attempts made.
        attempts: u32,
    },
}

/// Called before each retry with the failure and the wait (for metrics and logs).
pub trait RetryObserver: Send + Sync {
    /// A retry of a report to `sink` is scheduled after `error`.
    fn retrying(&self, sink: &str, error: &AttemptError, wait: Duration);
}

impl RetryObserver for () {
    fn retrying(&self, _sink: &str, _error: &AttemptError, _wait: Duration) {}
}

/// Something a report can be delivered to with retries: the sinks of this crate, and the
/// service's own (e.g. a Kafka topic).
#[allow(async_fn_in_trait, reason = "used with concrete types only")]
pub trait Deliver {
    /// The sink's name.
    fn name(&self) -> &str;
    /// Its retry policy.
    fn retry_policy(&self) -> &RetryPolicy;
    /// Whether [`lookup`](Self::lookup) can tell that the receiver has a report.
    fn can_look_up(&self) -> bool {
        false
    }
    /// One attempt.
    async fn attempt(&self, report: &Prepared) -> Result<(), AttemptError>;
    /// Whether the receiver already holds `report`.
    async fn lookup(&self, _report: &Prepared) -> Result<bool, AttemptError> {
        Ok(false)
    }
}

/// Delivers `report`, retrying transient failures per the sink's policy, until it is
/// delivered, dead-lettered, or `shutdown` is cancelled (no new attempt starts then; the one
/// in flight ends within its timeout). With `look_up_first` (an earlier attempt may have
/// reached the receiver, e.g. before a crash), a sink that can look reports up checks before
/// sending; it also checks after every ambiguous failure (a timeout after sending), so that
/// neither causes a duplicate.
pub async fn deliver<D: Deliver>(
    sink: &D,
    report: &Prepared,
    look_up_first: bool,
    shutdown: &CancellationToken,
    observer: &dyn RetryObserver,
) -> Outcome {
    let policy = sink.retry_policy();
    let started = Instant::now();
    let mut attempts = 0u32;
    let mut look_up = look_up_first && sink.can_look_up();
    loop {
        if shutdown.is_cancelled() {
            return Outcome::Cancelled { attempts };
        }
        attempts = attempts.saturating_add(1);
        let result = if look_up {
            match sink.lookup(report).await {
                Ok(true) => {
                    debug!(sink = sink.name(), report_id = %report.report_id, "Receiver already has the report.");
                    return Outcome::Delivered { attempts };
                }
                Ok(false) => {
                    look_up = false;
                    sink.attempt(report).await
                }
                Err(e) => Err(e),
            }
        } else {
            sink.attempt(report).await
        };
        let error = match result {
            Ok(()) => return Outcome::Delivered { attempts },
            Err(e) => e,
        };
        if error.is_permanent() {
            warn!(sink = sink.name(), report_id = %report.report_id, reason = %error, "Permanent delivery failure.");
            return Outcome::DeadLetter {
                attempts,
                reason: error.reason,
            };
        }
        if error.ambiguous && sink.can_look_up() {
            look_up = true;
        }
        let wait = policy.delay(attempts, error.retry_after);
        let exhausted = (policy.max_attempts > 0 && attempts >= policy.max_attempts)
            || started.elapsed() + wait > policy.max_elapsed;
        if exhausted {
            warn!(sink = sink.name(), report_id = %report.report_id, attempts, reason = %error, "Retries exhausted.");
            return Outcome::DeadLetter {
                attempts,
                reason: format!("{} (gave up after {attempts} attempts)", error.reason),
            };
        }
        observer.retrying(sink.name(), &error, wait);
        debug!(sink = sink.name(), report_id = %report.report_id, attempts, wait = ?wait, reason = %error, "Retrying.");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return Outcome::Cancelled { attempts },
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use reqwest::StatusCode;

    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.5,
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let d1 = policy.delay(1, None);
            assert!(d1 > Duration::from_millis(500) && d1 <= Duration::from_secs(1));
            let d3 = policy.delay(3, None);
            assert!(d3 > Duration::from_secs(2) && d3 <= Duration::from_secs(4));
            let d9 = policy.delay(9, None);
            assert!(d9 > Duration::from_secs(5) && d9 <= Duration::from_secs(10));
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7200))),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn http_statuses() {
        assert!(classify_http(StatusCode::CREATED, None, "").is_ok());
        let e = classify_http(StatusCode::SERVICE_UNAVAILABLE, None, "busy").unwrap_err();
        assert_eq!(e.failure, Failure::Transient);
        assert_eq!(e.reason, "HTTP 503 Service Unavailable: busy");
        let after = HeaderValue::from_static("3");
        let e = classify_http(StatusCode::TOO_MANY_REQUESTS, Some(&after), "").unwrap_err();
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        let e = classify_http(StatusCode::UNAUTHORIZED, None, "bad token").unwrap_err();
        assert!(e.is_permanent());
        assert_eq!(e.reason, "HTTP 401 Unauthorized: bad token");
        assert!(classify_http(StatusCode::BAD_REQUEST, None, "")
            .unwrap_err()
            .is_permanent());
        assert!(!classify_http(StatusCode::REQUEST_TIMEOUT, None, "")
            .unwrap_err()
            .is_permanent());
    }

    #[test]
    fn retry_after_as_a_date() {
        let past = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }

    #[test]
    fn policy_problems_name_keys() {
        let bad = RetryPolicy {
            initial_backoff: Duration::ZERO,
            multiplier: 0.5,
            jitter: 2.0,
            ..RetryPolicy::default()
        };
        let problems = bad.problems("sinks.x.retry").join("\n");
        for key in ["initial_backoff", "multiplier", "jitter"] {
            assert!(
                problems.contains(&format!("sinks.x.retry.{key}")),
                "{problems}"
            );
        }
    }
}
