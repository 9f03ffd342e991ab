//! Typed Kafka settings shared by every service, with defaults and validation.
//!
//! In a service's TOML the section looks like this (every key optional):
//!
//! ```toml
//! [kafka]
//! brokers = "kafka-0:9092,kafka-1:9092"
//! client_id = "relbot-ingest"
//!
//! [kafka.producer]
//! linger = "5ms"
//! compression = "lz4"
//!
//! [kafka.consumer]
//! group_id = "relbot-detector"
//! group_instance_id = "detector-0"   # static membership (a StatefulSet pod name)
//!
//! [kafka.topics]
//! partitions = 12
//!
//! [kafka.librdkafka]                 # raw librdkafka settings, applied last
//! "security.protocol" = "SASL_SSL"
//! "sasl.mechanisms" = "SCRAM-SHA-512"
//! "sasl.username" = "relbot"
//! "ssl.ca.location" = "/etc/relbot/kafka-ca.pem"
//! ```
//!
//! The SASL password never has to be written into a config file: `sasl_password_file` (a
//! mounted Kubernetes secret) or `sasl_password_env` names where it is, and it is read when a
//! client is made (`librdkafka."sasl.password"` still works, and is redacted by `--check`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::KafkaError;

/// Settings relbot fixes for every client; the pass-through map may not set them, and the
/// typed fields are the only way to set the others listed here.
pub(crate) const RESERVED_KEYS: &[(&str, &str)] = &[
    ("acks", "relbot always produces with acks=all"),
    (
        "request.required.acks",
        "relbot always produces with acks=all",
    ),
    (
        "enable.idempotence",
        "relbot producers are always idempotent",
    ),
    (
        "partitioner",
        "the partitioner is a contract: murmur2_random, as the Java client",
    ),
    (
        "partition.assignment.strategy",
        "relbot consumers use cooperative-sticky",
    ),
    (
        "enable.auto.offset.store",
        "offsets are stored by the service after effects are durable",
    ),
    (
        "enable.auto.commit",
        "relbot commits stored offsets automatically",
    ),
    (
        "group.protocol",
        "relbot uses the classic group protocol with cooperative-sticky",
    ),
    ("bootstrap.servers", "use `brokers`"),
    ("metadata.broker.list", "use `brokers`"),
    ("client.id", "use `client_id`"),
    ("group.id", "use `consumer.group_id`"),
    ("group.instance.id", "use `consumer.group_instance_id`"),
];

/// Kafka settings of one relbot service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma-separated `host:port` list.
    pub brokers: String,
    /// Client id sent to the brokers (shows up in broker logs and quotas).
    pub client_id: String,
    /// Producer settings.
    pub producer: ProducerSettings,
    /// Consumer settings.
    pub consumer: ConsumerSettings,
    /// Topic names and the partitioning used when relbot creates them.
    pub topics: TopicsConfig,
    /// Raw librdkafka settings (TLS, SASL, tuning) applied last to every client, e.g.
    /// `"security.protocol" = "SASL_SSL"`; may not set the settings relbot fixes.
    pub librdkafka: BTreeMap<String, String>,
    /// A file holding the SASL password (e.g. a mounted secret); trailing line breaks are
    /// ignored. Read each time a client is made.
    pub sasl_password_file: Option<PathBuf>,
    /// An environment variable holding the SASL password.
    pub sasl_password_env: Option<String>,
}

/// Producer settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProducerSettings {
    /// How long the producer waits to fill a batch (librdkafka `linger.ms`), e.g. "5ms".
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    /// Maximum size of one batch in bytes (`batch.size`).
    pub batch_size_bytes: u32,
    /// Compression of batches on the wire and on the broker's disk.
    pub compression: Compression,
    /// How long a record may wait for delivery, retries included, before it is reported as
    /// failed and counted as dropped (`message.timeout.ms`), e.g. "60s".
    #[serde(with = "humantime_serde")]
    pub message_timeout: Duration,
    /// Records the producer may queue before sends wait for room (backpressure), in records
    /// (`queue.buffering.max.messages`).
    pub queue_max_records: u32,
}

/// Compression codec for produced batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    None,
    /// LZ4: cheap on CPU, the default.
    Lz4,
    /// Zstandard: smaller on disk and wire, more CPU.
    Zstd,
}

impl Compression {
    /// The librdkafka `compression.type` value.
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// Where a consumer group starts on a partition that has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// The oldest record still retained (nothing is skipped on a group's first start).
    Earliest,
    /// Only records produced after the group joined.
    Latest,
}

/// Consumer settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerSettings {
    /// Consumer group id; all replicas of one service share it.
    pub group_id: String,
    /// Static membership id (`group.instance.id`), e.g. the pod name of a StatefulSet: a
    /// restart within `session_timeout` keeps the partitions and causes no rebalance.
    pub group_instance_id: Option<String>,
    /// How long the group coordinator waits for heartbeats before it gives a member's
    /// partitions away (`session.timeout.ms`), e.g. "45s".
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// How often stored offsets are committed (`auto.commit.interval.ms`), e.g. "5s". Offsets
    /// of revoked partitions and at close are committed at once.
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// Where to start without a committed offset (`auto.offset.reset`).
    pub offset_reset: OffsetReset,
}

/// Topic names (see ARCHITECTURE.md) and how relbot creates them when missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    /// Normalised flows, keyed by the initiator's address.
    pub flows: String,
    /// Detections, keyed by the host's address.
    pub detections: String,
    /// Detector state changelog, compacted, keyed like the flows.
    pub detector_state: String,
    /// Reports that could not be delivered to any sink.
    pub reports_dlq: String,
    /// Partitions of every topic relbot creates. One number on purpose: flows, detections and
    /// the state changelog are co-partitioned by host, so they must have the same count. It
    /// also caps the number of detector replicas that get work.
    pub partitions: i32,
    /// Replication factor of created topics; -1 takes the broker's `default.replication.factor`.
    pub replication_factor: i32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".to_owned(),
            client_id: "relbot".to_owned(),
            producer: ProducerSettings::default(),
            consumer: ConsumerSettings::default(),
            topics: TopicsConfig::default(),
            librdkafka: BTreeMap::new(),
            sasl_password_file: None,
            sasl_password_env: None,
        }
    }
}

impl Default for ProducerSettings {
    fn default() -> Self {
        Self {
            linger: Duration::from_millis(5),
            batch_size_bytes: 1_000_000,
            compression: Compression::Lz4,
            message_timeout: Duration::from_secs(60),
            queue_max_records: 100_000,
        }
    }
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            group_id: "relbot".to_owned(),
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            commit_interval: Duration::from_secs(5),
            offset_reset: OffsetReset::Earliest,
        }
    }
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            flows: "relbot.flows.v1".to_owned(),
            detections: "relbot.detections.v1".to_owned(),
            detector_state: "relbot.detector-state.v1".to_owned(),
            reports_dlq: "relbot.reports-dlq.v1".to_owned(),
            partitions: 12,
            replication_factor: -1,
        }
    }
}

impl KafkaConfig {
    /// Checks the rules serde cannot: non-empty names, ranges, legal topic names, and that
    /// the pass-through map leaves relbot's fixed settings alone. Reports every problem.
    pub fn validate(&self) -> Result<(), KafkaError> {
        let mut problems = Vec::new();
        if self.brokers.split(',').all(|b| b.trim().is_empty()) {
            problems.push("`brokers` is empty".to_owned());
        }
        if self.client_id.trim().is_empty() {
            problems.push("`client_id` is empty".to_owned());
        }
        if self.consumer.group_id.trim().is_empty() {
            problems.push("`consumer.group_id` is empty".to_owned());
        }
        if self
            .consumer
            .group_instance_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            problems.push("`consumer.group_instance_id` is set but empty".to_owned());
        }
        check_ms(
            &mut problems,
            "producer.linger",
            self.producer.linger,
            0,
            900_000,
        );
        check_ms(
            &mut problems,
            "producer.message_timeout",
            self.producer.message_timeout,
            1,
            2_147_483_647,
        );
        check_ms(
            &mut problems,
            "consumer.session_timeout",
            self.consumer.session_timeout,
            1_000,
            3_600_000,
        );
        check_ms(
            &mut problems,
            "consumer.commit_interval",
            self.consumer.commit_interval,
            1,
            86_400_000,
        );
        if self.producer.batch_size_bytes == 0 || self.producer.batch_size_bytes > 2_147_483_647 {
            problems.push("`producer.batch_size_bytes` must be in 1..=2147483647".to_owned());
        }
        if self.producer.queue_max_records == 0 || self.producer.queue_max_records > 2_147_483_647 {
            problems.push("`producer.queue_max_records` must be in 1..=2147483647".to_owned());
        }
        if self.topics.partitions < 1 {
            problems.push(format!(
                "`topics.partitions` must be at least 1, not {}",
                self.topics.partitions
            ));
        }
        let rf = self.topics.replication_factor;
        if rf == 0 || rf < -1 {
            problems.push(format!(
                "`topics.replication_factor` must be -1 or at least 1, not {rf}"
            ));
        }
        let names = self.topics.names();
        for (field, name) in names {
            if let Some(problem) = topic_name_problem(name) {
                problems.push(format!("`topics.{field}`: {problem}"));
            }
        }
        if names.iter().map(|(_, n)| *n).collect::<BTreeSet<_>>().len() != names.len() {
            problems.push("the four topic names must differ".to_owned());
        }
        for key in self.librdkafka.keys() {
            if let Some((_, why)) = RESERVED_KEYS.iter().find(|(k, _)| k == key) {
                problems.push(format!("`librdkafka.\"{key}\"` may not be set: {why}"));
            }
        }
        let password_sources = [
            self.sasl_password_file.is_some(),
            self.sasl_password_env.is_some(),
            self.librdkafka.contains_key("sasl.password"),
        ];
        if password_sources.iter().filter(|set| **set).count() > 1 {
            problems.push(
                "set only one of `sasl_password_file`, `sasl_password_env` and \
                 `librdkafka.\"sasl.password\"`"
                    .to_owned(),
            );
        }
        if let Err(problem) = self.sasl_password() {
            problems.push(problem);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(KafkaError::InvalidConfig { problems })
        }
    }
}

impl KafkaConfig {
    /// The SASL password from `sasl_password_file` or `sasl_password_env`, if one is set;
    /// an error names the key and says what is wrong, never the password.
    pub fn sasl_password(&self) -> Result<Option<String>, String> {
        if let Some(path) = &self.sasl_password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!("`sasl_password_file`: cannot read {}: {e}", path.display())
            })?;
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(format!("`sasl_password_file`: {} is empty", path.display()));
            }
            return Ok(Some(password.to_owned()));
        }
        if let Some(var) = &self.sasl_password_env {
            return match std::env::var(var) {
                Ok(password) if !password.is_empty() => Ok(Some(password)),
                Ok(_) => Err(format!("`sasl_password_env`: ${var} is empty")),
                Err(_) => Err(format!("`sasl_password_env`: ${var} is not set")),
            };
        }
        Ok(None)
    }
}

impl TopicsConfig {
    /// The four topic names with the name of their field.
    pub fn names(&self) -> [(&'static str, &str); 4] {
        [
            ("flows", &self.flows),
            ("detections", &self.detections),
            ("detector_state", &self.detector_state),
            ("reports_dlq", &self.reports_dlq),
        ]
    }
}

fn check_ms(problems: &mut Vec<String>, field: &str, value: Duration, min_ms: u128, max_ms: u128) {
    let ms = value.as_millis();
    if ms < min_ms || ms > max_ms {
        problems.push(format!(
            "`{field}` must be between {min_ms} ms and {max_ms} ms, not {value:?}"
        ));
    }
}

/// Kafka's rule: 1 to 249 characters of ASCII letters, digits, '.', '_' and '-', not "." or "..".
pub(crate) fn topic_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 249 {
        return Some(format!(
            "topic name must have 1 to 249 characters, not {}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("\"{name}\" is not a legal topic name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "topic name \"{name}\" has the illegal character {c:?}"
        ));
    }
    None
}

/// Milliseconds as librdkafka wants them, saturating (validation keeps values in range).
pub(crate) fn millis(d: Duration) -> String {
    d.as_millis().min(i32::MAX as u128).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_architecture() {
        let config = KafkaConfig::default();
        config.validate().unwrap();
        assert_eq!(config.topics.flows, "relbot.flows.v1");
        assert_eq!(config.topics.detections, "relbot.detections.v1");
        assert_eq!(config.topics.detector_state, "relbot.detector-state.v1");
        assert_eq!(config.topics.reports_dlq, "relbot.reports-dlq.v1");
    }

    #[test]
    fn toml_with_human_durations_and_pass_through() {
        let config: KafkaConfig = toml::from_str(
            r#"
            brokers = "a:9092,b:9092"
            [producer]
            linger = "20ms"
            compression = "zstd"
            message_timeout = "2m"
            [consumer]
            group_id = "detector"
            group_instance_id = "detector-0"
            session_timeout = "30s"
            [librdkafka]
            "security.protocol" = "SASL_SSL"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.producer.linger, Duration::from_millis(20));
        assert_eq!(config.producer.compression, Compression::Zstd);
        assert_eq!(config.producer.message_timeout, Duration::from_secs(120));
        assert_eq!(
            config.consumer.group_instance_id.as_deref(),
            Some("detector-0")
        );
        assert_eq!(config.consumer.commit_interval, Duration::from_secs(5));
        assert_eq!(config.librdkafka["security.protocol"], "SASL_SSL");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<KafkaConfig>("[producer]\nlinger_ms = 5\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `linger_ms`"),
            "{err}"
        );
        assert!(toml::from_str::<KafkaConfig>("[producer]\ncompression = \"gzip\"\n").is_err());
    }

    #[test]
    fn validate_lists_every_problem() {
        let mut config = KafkaConfig {
            brokers: " ".to_owned(),
            ..KafkaConfig::default()
        };
        config.topics.partitions = 0;
        config.topics.replication_factor = 0;
        config.topics.flows = "relbot flows".to_owned();
        config.topics.detections = config.topics.detector_state.clone();
        config.consumer.session_timeout = Duration::from_millis(10);
        config
            .librdkafka
            .insert("partitioner".to_owned(), "consistent".to_owned());
        config
            .librdkafka
            .insert("enable.idempotence".to_owned(), "false".to_owned());
        config
            .librdkafka
            .insert("ssl.ca.location".to_owned(), "/ca.pem".to_owned());
        let KafkaError::InvalidConfig { problems } = config.validate().unwrap_err() else {
            panic!("expected InvalidConfig");
        };
        let text = problems.join("\n");
        for needle in [
            "`brokers` is empty",
            "`topics.partitions`",
            "`topics.replication_factor`",
            "illegal character ' '",
            "must differ",
            "`consumer.session_timeout`",
            "\"partitioner\"",
            "\"enable.idempotence\"",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert_eq!(problems.len(), 8, "{text}");
    }

    #[test]
    fn sasl_password_comes_from_a_file_or_the_environment_and_only_one_source() {
        let dir = std::env::temp_dir().join(format!("relbot-kafka-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let mut config = KafkaConfig {
            sasl_password_file: Some(file.clone()),
            ..KafkaConfig::default()
        };
        config.validate().unwrap();
        assert_eq!(config.sasl_password().unwrap().as_deref(), Some("s3cret"));

        config
            .librdkafka
            .insert("sasl.password".to_owned(), "inline".to_owned());
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("set only one of `sasl_password_file`"),
            "{err}"
        );

        let missing = KafkaConfig {
            sasl_password_file: Some(dir.join("absent")),
            ..KafkaConfig::default()
        };
        let err = missing.validate().unwrap_err().to_string();
        assert!(err.contains("`sasl_password_file`: cannot read"), "{err}");

        std::fs::write(&file, "\n").unwrap();
        let err = config_with_file(&file).validate().unwrap_err().to_string();
        assert!(err.contains("is empty") && !err.contains("s3cret"), "{err}");

        let var = format!("RELBOT_TEST_SASL_PASSWORD_{}", std::process::id());
        let from_env = KafkaConfig {
            sasl_password_env: Some(var.clone()),
            ..KafkaConfig::default()
        };
        let err = from_env.validate().unwrap_err().to_string();
        assert!(err.contains(&format!("${var} is not set")), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn config_with_file(file: &std::path::Path) -> KafkaConfig {
        KafkaConfig {
            sasl_password_file: Some(file.to_owned()),
            ..KafkaConfig::default()
        }
    }
}
