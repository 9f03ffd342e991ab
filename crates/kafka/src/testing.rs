//! Helpers for tests against a real broker (feature `testing`; used by the `relbot-e2e` crate).
//!
//! - The broker is `RELBOT_KAFKA_BROKERS` (default `127.0.0.1:9092`, what `scripts/kafka start`
//!   runs); the SASL_SSL listener and its CA come from `RELBOT_KAFKA_SECURE_BROKERS`,
//!   `RELBOT_KAFKA_CA`, `RELBOT_KAFKA_SCRAM_USER` and `RELBOT_KAFKA_SCRAM_PASSWORD`, with the
//!   defaults of `scripts/kafka` (`eval "$(scripts/kafka env)"` sets them all).
//! - [`TestBroker::connect`] is the guard: without a broker a test prints
//!   "skipped: no broker" and returns, unless `CI=true` or `RELBOT_REQUIRE_KAFKA=1`, where it
//!   fails.
//! - Each test works on its own topic and group: [`unique_name`] adds a random suffix.

use std::collections::hash_map::RandomState;
use std::env;
use std::hash::{BuildHasher, Hasher};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::client::probe;
use crate::config::KafkaConfig;
use crate::error::KafkaError;
use crate::topics::{delete_topics, ensure_topics, TopicSpec};

/// Broker address when `RELBOT_KAFKA_BROKERS` is not set.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `RELBOT_KAFKA_BROKERS` or [`DEFAULT_BROKERS`].
pub fn brokers() -> String {
    env::var("RELBOT_KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_BROKERS.to_owned())
}

/// True when a missing broker must fail the test: `CI=true` or `RELBOT_REQUIRE_KAFKA=1`.
pub fn required() -> bool {
    env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
        || env::var("RELBOT_REQUIRE_KAFKA")
            .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Fails the test when a broker is required, else prints why it is skipped; returns `None`
/// so the caller can `return`.
#[allow(
    clippy::panic,
    reason = "failing the test is the point when CI asks for Kafka"
)]
pub fn skip_or_fail<T>(test: &str, why: &str) -> Option<T> {
    if required() {
        panic!(
            "{test}: a Kafka broker is required (CI=true or RELBOT_REQUIRE_KAFKA=1) but {why}; \
             start one with `scripts/kafka start`"
        );
    }
    eprintln!("{test}: skipped: no broker ({why})");
    None
}

/// `relbot-test.<test>.<random hex>`: a topic or group name no other test run uses.
pub fn unique_name(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let test: String = test
        .chars()
        // '-' only: Kafka treats '.' and '_' alike in metric names and refuses look-alikes.
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(120)
        .collect();
    format!("relbot-test.{test}.{:016x}", hasher.finish())
}

/// A broker that answered.
#[derive(Debug, Clone)]
pub struct TestBroker {
    /// Its bootstrap address.
    pub brokers: String,
}

impl TestBroker {
    /// The guard: `Some` when the broker answers a metadata request, else skips (`None`) or
    /// fails the test (see [`required`]).
    pub async fn connect(test: &str) -> Option<Self> {
        let brokers = brokers();
        let config = KafkaConfig {
            brokers: brokers.clone(),
            ..KafkaConfig::default()
        };
        match probe(&config, PROBE_TIMEOUT).await {
            Ok(_) => Some(Self { brokers }),
            Err(e) => skip_or_fail(test, &e.to_string()),
        }
    }

    /// Settings for a test: its own client id and consumer group, quick group protocol
    /// timings (the broker's minimum session timeout is 6 s), frequent commits.
    pub fn config(&self, test: &str) -> KafkaConfig {
        let mut config = KafkaConfig {
            brokers: self.brokers.clone(),
            ..KafkaConfig::default()
        };
        config.client_id = format!("relbot-test-{test}");
        config.consumer.group_id = unique_name(test);
        config.consumer.session_timeout = Duration::from_secs(6);
        config.consumer.commit_interval = Duration::from_millis(500);
        config.producer.message_timeout = Duration::from_secs(30);
        config
            .librdkafka
            .insert("heartbeat.interval.ms".to_owned(), "500".to_owned());
        config
    }

    /// Creates a fresh topic named for the test with `partitions` partitions, one replica.
    pub async fn create_topic(&self, test: &str, partitions: i32) -> Result<String, KafkaError> {
        create_topic_with(&self.config(test), test, partitions).await
    }

    /// Deletes a test's topic; failures are printed, not raised (the broker's retention
    /// cleans up anyway).
    pub async fn delete_topic(&self, name: &str) {
        let config = KafkaConfig {
            brokers: self.brokers.clone(),
            ..KafkaConfig::default()
        };
        if let Err(e) = delete_topics(&config, &[name]).await {
            eprintln!("could not delete test topic {name}: {e}");
        }
    }
}

/// Creates a unique topic for `test` with the clients settings of `config` (e.g. over the
/// SASL_SSL listener).
pub async fn create_topic_with(
    config: &KafkaConfig,
    test: &str,
    partitions: i32,
) -> Result<String, KafkaError> {
    let name = unique_name(test);
    let spec = TopicSpec {
        name: name.clone(),
        partitions,
        replication_factor: 1,
        compacted: false,
    };
    ensure_topics(config, &[spec]).await?;
    Ok(name)
}

/// The SASL_SSL (SCRAM-SHA-512) listener of the test broker.
#[derive(Debug, Clone)]
pub struct SecureListener {
    /// Its bootstrap address.
    pub brokers: String,
    /// PEM file of the CA that signed the broker's certificate.
    pub ca_location: PathBuf,
    /// SCRAM user.
    pub user: String,
    /// SCRAM password.
    pub password: String,
}

impl SecureListener {
    /// Reads the environment, with `scripts/kafka`'s defaults: the secure port is the
    /// plaintext port plus 2, the CA is `/tmp/relbot-kafka-<port>/tls/ca.pem`. Checks that the
    /// CA file exists and the port accepts connections; otherwise skips or fails like
    /// [`TestBroker::connect`].
    pub fn connect(test: &str) -> Option<Self> {
        let plain = brokers();
        let (host, port) = plain
            .rsplit_once(':')
            .map_or(("127.0.0.1", 9092), |(h, p)| (h, p.parse().unwrap_or(9092)));
        let var = |name: &str, default: String| {
            env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
        };
        let listener = Self {
            brokers: var(
                "RELBOT_KAFKA_SECURE_BROKERS",
                format!("{host}:{}", port + 2),
            ),
            ca_location: var(
                "RELBOT_KAFKA_CA",
                format!("/tmp/relbot-kafka-{port}/tls/ca.pem"),
            )
            .into(),
            user: var("RELBOT_KAFKA_SCRAM_USER", "relbot".to_owned()),
            password: var("RELBOT_KAFKA_SCRAM_PASSWORD", "relbot-secret".to_owned()),
        };
        if !listener.ca_location.is_file() {
            let why = format!(
                "no CA file at {} (set RELBOT_KAFKA_CA)",
                listener.ca_location.display()
            );
            return skip_or_fail(test, &why);
        }
        let reachable = listener
            .brokers
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
        if !reachable {
            return skip_or_fail(test, &format!("nothing listens on {}", listener.brokers));
        }
        Some(listener)
    }

    /// Client settings for this listener with the given password.
    pub fn config(&self, test: &str, password: &str) -> KafkaConfig {
        let mut config = TestBroker {
            brokers: self.brokers.clone(),
        }
        .config(test);
        let ca = self.ca_location.to_string_lossy();
        for (key, value) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", self.user.as_str()),
            ("sasl.password", password),
            ("ssl.ca.location", ca.as_ref()),
        ] {
            config.librdkafka.insert(key.to_owned(), value.to_owned());
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_legal_and_differ() {
        let a = unique_name("flows round/trip");
        let b = unique_name("flows round/trip");
        assert_ne!(a, b);
        assert!(a.starts_with("relbot-test.flows-round-trip."), "{a}");
        assert_eq!(crate::config::topic_name_problem(&a), None);
    }
}
