//! Building clients: the fixed settings first, then the typed ones, then the pass-through map.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::admin::AdminClient;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseProducer, DeliveryResult, FutureProducer, Producer as _, ProducerContext,
};
use tracing::{debug, error, info, warn};

use crate::config::{millis, KafkaConfig, OffsetReset};
use crate::error::KafkaError;

/// The producer every relbot service uses.
pub type Producer = FutureProducer<ClientLog>;

/// Client context that sends librdkafka's log lines and errors to `tracing` (target
/// `librdkafka`) and remembers errors, so that a failed request can say why (wrong password,
/// unknown CA, nobody listening).
#[derive(Debug, Default)]
pub struct ClientLog {
    // std Mutexes: written from librdkafka's threads, held for a copy, never across an await.
    last_error: Mutex<Option<(RDKafkaErrorCode, String)>>,
    // Kept apart because the disconnect that follows a failed handshake would hide it.
    security_error: Mutex<Option<(RDKafkaErrorCode, String)>>,
}

impl ClientLog {
    /// The last error librdkafka reported to this client, if any.
    pub fn last_error(&self) -> Option<(RDKafkaErrorCode, String)> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last authentication or TLS error librdkafka reported, if any.
    pub fn security_error(&self) -> Option<(RDKafkaErrorCode, String)> {
        self.security_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn is_security_error(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::SSL
    )
}

impl ClientContext for ClientLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => error!(target: "librdkafka", fac, "{message}"),
            RDKafkaLogLevel::Warning => warn!(target: "librdkafka", fac, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                info!(target: "librdkafka", fac, "{message}")
            }
            RDKafkaLogLevel::Debug => debug!(target: "librdkafka", fac, "{message}"),
        }
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        let code = error
            .rdkafka_error_code()
            .unwrap_or(RDKafkaErrorCode::Unknown);
        // Transport errors repeat while a broker is away; librdkafka reconnects by itself.
        warn!(target: "librdkafka", %error, reason, "Kafka client error.");
        let error = Some((code, reason.to_owned()));
        if is_security_error(code) {
            *self
                .security_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = error.clone();
        }
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }
}

impl ConsumerContext for ClientLog {}

/// Only for [`probe`]'s plain client, which sends nothing; the service's producer is a
/// `FutureProducer`, whose own context reports deliveries.
impl ProducerContext for ClientLog {
    type DeliveryOpaque = ();

    fn delivery(&self, _result: &DeliveryResult<'_>, _opaque: ()) {}
}

/// Settings common to every client: brokers, client id, log level.
fn common(config: &KafkaConfig) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.brokers)
        .set("client.id", &config.client_id)
        .set_log_level(if config.librdkafka.contains_key("debug") {
            RDKafkaLogLevel::Debug
        } else {
            RDKafkaLogLevel::Info
        });
    cc
}

/// The pass-through map goes last so that it can tune anything relbot does not fix;
/// `validate()` has rejected the keys relbot fixes. The SASL password from a file or an
/// environment variable is set here, when the client is made, so it is in no config.
fn pass_through(cc: &mut ClientConfig, config: &KafkaConfig) {
    for (key, value) in &config.librdkafka {
        cc.set(key, value);
    }
    // `validate()` ran first and reported an unreadable source; a file that vanished since
    // leaves the password unset and the broker rejects the login, which probe() explains.
    if let Ok(Some(password)) = config.sasl_password() {
        cc.set("sasl.password", password);
    }
}

fn create_error(
    role: &'static str,
    config: &KafkaConfig,
) -> impl FnOnce(RdKafkaError) -> KafkaError {
    let brokers = config.brokers.clone();
    move |source| KafkaError::CreateClient {
        role,
        brokers,
        source,
    }
}

/// The librdkafka settings of relbot's producer, before the pass-through map.
pub(crate) fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let p = &config.producer;
    let mut cc = common(config);
    cc
        // Contract: every write is on all in-sync replicas, retries cannot duplicate or
        // reorder, and a key lands where the Java client would put it.
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", millis(p.linger))
        .set("batch.size", p.batch_size_bytes.to_string())
        .set("compression.type", p.compression.as_librdkafka())
        .set("message.timeout.ms", millis(p.message_timeout))
        .set(
            "queue.buffering.max.messages",
            p.queue_max_records.to_string(),
        );
    pass_through(&mut cc, config);
    cc
}

/// The librdkafka settings of relbot's consumer, before the pass-through map.
pub(crate) fn consumer_config(config: &KafkaConfig) -> ClientConfig {
    let c = &config.consumer;
    let mut cc = common(config);
    cc.set("group.id", &c.group_id)
        .set("partition.assignment.strategy", "cooperative-sticky")
        // At-least-once: the service stores an offset once the record's effects are durable;
        // librdkafka commits only stored offsets, every `commit_interval`, on revoke and close.
        .set("enable.auto.offset.store", "false")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", millis(c.commit_interval))
        .set("session.timeout.ms", millis(c.session_timeout))
        .set("enable.partition.eof", "false")
        .set(
            "auto.offset.reset",
            match c.offset_reset {
                OffsetReset::Earliest => "earliest",
                OffsetReset::Latest => "latest",
            },
        );
    if let Some(id) = &c.group_instance_id {
        cc.set("group.instance.id", id);
    }
    pass_through(&mut cc, config);
    cc
}

fn plain_config(config: &KafkaConfig) -> ClientConfig {
    let mut cc = common(config);
    pass_through(&mut cc, config);
    cc
}

/// Makes relbot's producer: idempotent, `acks=all`, `murmur2_random` partitioner.
pub fn producer(config: &KafkaConfig) -> Result<Producer, KafkaError> {
    config.validate()?;
    producer_config(config)
        .create_with_context(ClientLog::default())
        .map_err(create_error("producer", config))
}

/// Makes a consumer in `consumer.group_id` with cooperative-sticky assignment and
/// at-least-once offsets (see [`crate::rebalance::RebalanceContext`] for a ready context).
///
/// Offsets: `enable.auto.offset.store=false` and `enable.auto.commit=true`. The service calls
/// `store_offset`/`store_offset_from_message` after a record's effects are durable; librdkafka
/// commits the stored offsets every `commit_interval`, for revoked partitions right after the
/// revoke callback, and at close. Nothing unstored is ever committed.
pub fn consumer<C>(config: &KafkaConfig, context: C) -> Result<StreamConsumer<C>, KafkaError>
where
    C: ConsumerContext + 'static,
{
    config.validate()?;
    consumer_config(config)
        .create_with_context(context)
        .map_err(create_error("consumer", config))
}

/// Makes an admin client (topic bootstrap) with the same brokers and security settings.
pub(crate) fn admin(config: &KafkaConfig) -> Result<AdminClient<ClientLog>, KafkaError> {
    config.validate()?;
    plain_config(config)
        .create_with_context(ClientLog::default())
        .map_err(create_error("admin client", config))
}

/// What a successful [`probe`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// Brokers in the cluster metadata.
    pub brokers: usize,
    /// Topics visible to these credentials.
    pub topics: usize,
}

/// Connects with `config`'s settings and asks for cluster metadata, for start-up checks and
/// readiness: wrong credentials or certificates fail fast with [`KafkaError::Authentication`]
/// or [`KafkaError::Tls`]; silence fails with [`KafkaError::Unreachable`] after `timeout`.
pub async fn probe(config: &KafkaConfig, timeout: Duration) -> Result<ClusterInfo, KafkaError> {
    config.validate()?;
    let client: BaseProducer<ClientLog> = plain_config(config)
        .create_with_context(ClientLog::default())
        .map_err(create_error("producer", config))?;
    let brokers = config.brokers.clone();
    let blocking = tokio::task::spawn_blocking(move || probe_blocking(&client, brokers, timeout));
    match blocking.await {
        Ok(result) => result,
        Err(join) => Err(KafkaError::Unreachable {
            brokers: config.brokers.clone(),
            timeout,
            reason: format!("probe task failed: {join}"),
        }),
    }
}

fn probe_blocking(
    client: &BaseProducer<ClientLog>,
    brokers: String,
    timeout: Duration,
) -> Result<ClusterInfo, KafkaError> {
    let started = Instant::now();
    loop {
        let step = timeout
            .saturating_sub(started.elapsed())
            .min(Duration::from_millis(200));
        let attempt = client
            .client()
            .fetch_metadata(None, step.max(Duration::from_millis(50)));
        if let Ok(metadata) = attempt {
            return Ok(ClusterInfo {
                brokers: metadata.brokers().len(),
                topics: metadata.topics().len(),
            });
        }
        // Serve the queued error callbacks (one event per poll) so that the context knows why.
        for _ in 0..32 {
            client.poll(Duration::ZERO);
        }
        match client.context().security_error() {
            Some((
                RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed,
                reason,
            )) => return Err(KafkaError::Authentication { brokers, reason }),
            Some((_, reason)) => return Err(KafkaError::Tls { brokers, reason }),
            None => {}
        }
        if started.elapsed() >= timeout {
            let reason = match (client.context().last_error(), attempt) {
                (Some((_, reason)), _) => reason,
                (None, Err(e)) => e.to_string(),
                (None, Ok(_)) => String::new(),
            };
            return Err(KafkaError::Unreachable {
                brokers,
                timeout,
                reason,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(cc: &ClientConfig, key: &str) -> Option<String> {
        cc.get(key).map(str::to_owned)
    }

    #[test]
    fn producer_fixes_the_contract_and_passes_the_rest_through() {
        let mut config = KafkaConfig::default();
        config
            .librdkafka
            .insert("security.protocol".into(), "SASL_SSL".into());
        config.librdkafka.insert("linger.ms".into(), "50".into());
        let cc = producer_config(&config);
        assert_eq!(value(&cc, "acks").as_deref(), Some("all"));
        assert_eq!(value(&cc, "enable.idempotence").as_deref(), Some("true"));
        assert_eq!(value(&cc, "partitioner").as_deref(), Some("murmur2_random"));
        assert_eq!(value(&cc, "compression.type").as_deref(), Some("lz4"));
        assert_eq!(value(&cc, "security.protocol").as_deref(), Some("SASL_SSL"));
        // Applied last: tuning beats the typed default.
        assert_eq!(value(&cc, "linger.ms").as_deref(), Some("50"));
    }

    #[test]
    fn consumer_is_at_least_once_and_cooperative() {
        let mut config = KafkaConfig::default();
        config.consumer.group_instance_id = Some("detector-0".into());
        let cc = consumer_config(&config);
        assert_eq!(
            value(&cc, "partition.assignment.strategy").as_deref(),
            Some("cooperative-sticky")
        );
        assert_eq!(
            value(&cc, "enable.auto.offset.store").as_deref(),
            Some("false")
        );
        assert_eq!(value(&cc, "enable.auto.commit").as_deref(), Some("true"));
        assert_eq!(
            value(&cc, "group.instance.id").as_deref(),
            Some("detector-0")
        );
        assert_eq!(value(&cc, "session.timeout.ms").as_deref(), Some("45000"));
    }

    #[test]
    fn sasl_password_file_reaches_librdkafka() {
        let file = std::env::temp_dir().join(format!("relbot-client-pw-{}", std::process::id()));
        std::fs::write(&file, "from-a-secret\n").unwrap();
        let config = KafkaConfig {
            sasl_password_file: Some(file.clone()),
            ..KafkaConfig::default()
        };
        let cc = consumer_config(&config);
        assert_eq!(
            value(&cc, "sasl.password").as_deref(),
            Some("from-a-secret")
        );
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn reserved_pass_through_is_refused_when_making_a_client() {
        let mut config = KafkaConfig::default();
        config.librdkafka.insert("acks".into(), "1".into());
        let Err(err) = producer(&config) else {
            panic!("a reserved key was accepted")
        };
        assert!(matches!(err, KafkaError::InvalidConfig { .. }), "{err}");
        assert!(err.to_string().contains("acks=all"), "{err}");
    }

    #[test]
    fn producer_is_created_without_a_broker() {
        // librdkafka connects lazily: making a client must not need a running broker.
        assert!(producer(&KafkaConfig::default()).is_ok());
    }
}
