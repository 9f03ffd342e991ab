//! The reporter's typed configuration (`config/default.toml`, then `--config`, then
//! `RELBOT_REPORTER__SECTION__KEY`); see docs/REPORTER.md for every key.

use std::collections::BTreeMap;
use std::time::Duration;

use relbot_codec::RegistryConfig;
use relbot_kafka::KafkaConfig;
use relbot_report::protect::ProtectionConfig;
use relbot_report::sink::{CchConfig, JsonlConfig, SinkConfig, SyslogConfig, WebhookConfig};
use relbot_report::{ReportingRule, RetryPolicy};
use relbot_service::{RuntimeSettings, ServiceConfig};
use serde::{Deserialize, Serialize};

/// The compiled-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Configuration of `relbot-reporter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReporterConfig {
    /// Listen address, logging, drain timeout.
    pub runtime: RuntimeSettings,
    /// Brokers, consumer group, topics (`topics.detections`, `topics.reports_dlq`), TLS/SASL.
    pub kafka: KafkaConfig,
    /// Confluent schema registry; absent: Avro single-object encoding.
    #[serde(default)]
    pub registry: Option<RegistryConfig>,
    /// The reporter's own settings.
    pub reporter: ReporterSettings,
    /// When a detection is reported.
    pub rule: ReportingRule,
    /// When a host is reported again.
    pub suppression: SuppressionSettings,
    /// The sinks, by name (lowercase letters, digits, `_`, `-`).
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkSettings>,
}

/// The `[reporter]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReporterSettings {
    /// Compacted topic holding per host the suppression state and the ids of reports
    /// delivered or dead-lettered; co-partitioned with the detections (same partition count,
    /// same key).
    pub state_topic: String,
    /// Create the detections, dead-letter and state topics when missing (with
    /// `kafka.topics.partitions` partitions).
    pub create_topics: bool,
    /// How long delivered report ids are remembered, e.g. "14d"; keep it above the
    /// detections topic's retention so that no replay can re-deliver.
    #[serde(with = "humantime_serde")]
    pub state_retention: Duration,
}

/// The `[suppression]` section: a host is reported again only after `quiet_time` (event
/// time, window end to window end) or when its result worsens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionSettings {
    /// Quiet time between two reports of one host, e.g. "24h"; "0s" reports every window.
    #[serde(with = "humantime_serde")]
    pub quiet_time: Duration,
    /// A score at least this much above the last reported one counts as worse (a larger
    /// peer count for some period always does).
    pub worsen_score_margin: f64,
}

/// One sink: the sinks of `relbot-report` plus `kafka`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SinkSettings {
    /// ACDC CCH API v2.
    Cch(CchConfig),
    /// JSON lines to a file or stdout.
    Jsonl(JsonlConfig),
    /// Signed JSON POST.
    Webhook(WebhookConfig),
    /// RFC 5424 syslog with CEF.
    Syslog(SyslogConfig),
    /// A Kafka topic (JSON documents or Avro `Report`s) for SIEM connectors.
    Kafka(KafkaSinkConfig),
}

/// Settings of a `kafka` sink (same cluster and client settings as `[kafka]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Topic to write to (created when missing and `reporter.create_topics`).
    pub topic: String,
    /// `json` (relbot's report document) or `avro` (`schemas/report.avsc`, single-object).
    #[serde(default)]
    pub format: KafkaSinkFormat,
    /// Address protection.
    #[serde(default)]
    pub protection: ProtectionConfig,
    /// Retry policy.
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// Record format of the `kafka` sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KafkaSinkFormat {
    /// relbot's JSON report document.
    #[default]
    Json,
    /// Avro `Report` in single-object encoding.
    Avro,
}

impl SinkSettings {
    /// The `relbot-report` sink configuration, `None` for `kafka`.
    pub fn report_sink(&self) -> Option<SinkConfig> {
        Some(match self {
            Self::Cch(c) => SinkConfig::Cch(c.clone()),
            Self::Jsonl(c) => SinkConfig::Jsonl(c.clone()),
            Self::Webhook(c) => SinkConfig::Webhook(c.clone()),
            Self::Syslog(c) => SinkConfig::Syslog(c.clone()),
            Self::Kafka(_) => return None,
        })
    }
}

/// Kafka's topic name rules (1..=249 of `[a-zA-Z0-9._-]`, not `.` or `..`).
fn topic_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 249 || name == "." || name == ".." {
        return Some(format!("{name:?} is not a legal topic name"));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .map(|c| format!("{name:?}: illegal character {c:?}"))
}

fn valid_sink_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl ServiceConfig for ReporterConfig {
    const NAME: &'static str = "reporter";
    const DEFAULT_TOML: &'static str = DEFAULT_TOML;

    fn runtime(&self) -> &RuntimeSettings {
        &self.runtime
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = self.runtime.problems();
        if let Err(relbot_kafka::KafkaError::InvalidConfig { problems: kafka }) =
            self.kafka.validate()
        {
            problems.extend(kafka.into_iter().map(|p| format!("kafka: {p}")));
        }
        if let Some(problem) = topic_name_problem(&self.reporter.state_topic) {
            problems.push(format!("`reporter.state_topic`: {problem}"));
        }
        if self.reporter.state_retention < Duration::from_secs(3600) {
            problems.push("`reporter.state_retention` must be at least 1h".to_owned());
        }
        problems.extend(self.rule.problems("rule"));
        if !(0.0..=1.0).contains(&self.suppression.worsen_score_margin) {
            problems.push("`suppression.worsen_score_margin` must be within 0.0..=1.0".to_owned());
        }
        if self.sinks.is_empty() {
            problems.push("no sinks: configure at least one under `[sinks.<name>]`".to_owned());
        }
        for (name, sink) in &self.sinks {
            if !valid_sink_name(name) {
                problems.push(format!(
                    "sink name {name:?}: use lowercase letters, digits, '_' and '-' (at most 64)"
                ));
            }
            match sink {
                SinkSettings::Kafka(k) => {
                    let at = format!("sinks.{name}");
                    if let Some(problem) = topic_name_problem(&k.topic) {
                        problems.push(format!("`{at}.topic`: {problem}"));
                    }
                    problems.extend(k.protection.problems(&format!("{at}.protection")));
                    problems.extend(k.retry.problems(&format!("{at}.retry")));
                }
                other => {
                    if let Some(config) = other.report_sink() {
                        problems.extend(config.problems(name));
                    }
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use relbot_service::{load_with_env, ServiceError};

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    }

    fn problems(pairs: &[(&str, &str)]) -> String {
        match load_with_env::<ReporterConfig>(None, env(pairs)) {
            Err(ServiceError::Config { problems }) => problems.join("\n"),
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_need_a_sink() {
        assert_eq!(
            problems(&[]),
            "no sinks: configure at least one under `[sinks.<name>]`"
        );
    }

    #[test]
    fn a_sink_from_the_environment() {
        let config: ReporterConfig = load_with_env(
            None,
            env(&[
                ("RELBOT_REPORTER__SINKS__OUT__KIND", "jsonl"),
                ("RELBOT_REPORTER__SINKS__OUT__PATH", "-"),
                ("RELBOT_REPORTER__RULE__MIN_IDX", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(config.rule.min_idx, 2);
        assert!(matches!(config.sinks["out"], SinkSettings::Jsonl(_)));
    }

    #[test]
    fn sink_problems_name_their_keys() {
        let text = problems(&[
            ("RELBOT_REPORTER__SINKS__CCH__KIND", "cch"),
            ("RELBOT_REPORTER__SINKS__CCH__URL", "ftp://x"),
            (
                "RELBOT_REPORTER__SINKS__CCH__API_KEY_ENV",
                "RELBOT_TEST_NOT_SET_42",
            ),
            ("RELBOT_REPORTER__SINKS__CCH__PROTECTION__MODE", "anon"),
            ("RELBOT_REPORTER__SINKS__CCH__PROTECTION__IPV4_PREFIX", "40"),
        ]);
        for needle in [
            "sinks.cch.url",
            "RELBOT_TEST_NOT_SET_42",
            "sinks.cch.protection.ipv4_prefix",
        ] {
            assert!(text.contains(needle), "{needle} missing in:\n{text}");
        }
        let text = problems(&[
            ("RELBOT_REPORTER__SINKS__X__KIND", "jsonl"),
            ("RELBOT_REPORTER__SINKS__X__PATH", "-"),
            ("RELBOT_REPORTER__SINKS__X__COLOUR", "red"),
        ]);
        assert!(text.contains("colour"), "{text}");
    }
}
