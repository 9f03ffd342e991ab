//! The SASL_SSL listener (SCRAM-SHA-512 over TLS, `scripts/kafka`'s port 9094): the right
//! credentials and CA work end to end; a wrong password or an unknown CA fail fast with an
//! error that says so.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context as _};
use rdkafka::consumer::Consumer as _;
use rdkafka::message::Message as _;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use relbot_kafka::testing::{create_topic_with, SecureListener};
use relbot_kafka::{
    consumer, delete_topics, probe, producer, send_with_backpressure, KafkaError, ProduceStats,
    RebalanceContext,
};

const TEST: &str = "secure-listener";
const TIMEOUT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_accepts_the_right_password_only() -> anyhow::Result<()> {
    let Some(listener) = SecureListener::connect(TEST) else {
        return Ok(());
    };
    let good = listener.config(TEST, &listener.password);

    // Right password, right CA: metadata, topic creation, a record there and back.
    let cluster = probe(&good, TIMEOUT).await?;
    ensure!(cluster.brokers == 1, "{cluster:?}");
    let topic = create_topic_with(&good, TEST, 1).await?;
    let producer = producer(&good)?;
    let stats = Arc::new(ProduceStats::default());
    let record = FutureRecord::to(&topic).key("10.0.0.1").payload("over TLS");
    let delivered = send_with_backpressure(&producer, record, &stats).await?;
    let (context, _events) = RebalanceContext::new();
    let consumer = consumer(&good, context)?;
    // Assigned, not subscribed: the group protocol is tested elsewhere, this saves a join.
    let mut partition = TopicPartitionList::new();
    partition.add_partition_offset(&topic, 0, Offset::Beginning)?;
    consumer.assign(&partition)?;
    let message = tokio::time::timeout(TIMEOUT, consumer.recv())
        .await
        .context("nothing came back")??;
    ensure!(message.offset() == delivered.offset);
    ensure!(message.key() == Some(&b"10.0.0.1"[..]) && message.payload() == Some(&b"over TLS"[..]));
    drop(message);
    drop(consumer);
    delete_topics(&good, &[&topic]).await?;

    // The password from a file, as a mounted Kubernetes secret provides it: no config holds it.
    let secret = tempfile::NamedTempFile::new()?;
    std::fs::write(secret.path(), format!("{}\n", listener.password))?;
    let mut from_file = good.clone();
    from_file.librdkafka.remove("sasl.password");
    from_file.sasl_password_file = Some(secret.path().to_owned());
    let cluster = probe(&from_file, TIMEOUT).await?;
    ensure!(cluster.brokers == 1, "{cluster:?}");

    // Wrong password: an authentication error naming the mechanism, well before the timeout.
    let wrong = listener.config(TEST, "not-the-password");
    let started = std::time::Instant::now();
    let err = probe(&wrong, TIMEOUT)
        .await
        .err()
        .context("a wrong password was accepted")?;
    eprintln!("{TEST}: wrong password -> {err}");
    ensure!(
        matches!(err, KafkaError::Authentication { .. }),
        "expected Authentication, got {err:?}"
    );
    ensure!(err.is_fatal());
    let text = err.to_string();
    ensure!(
        text.contains("SCRAM-SHA-512") && text.contains(&listener.brokers),
        "unclear: {text}"
    );
    ensure!(
        started.elapsed() < TIMEOUT,
        "took the whole timeout to fail"
    );

    // The system's CAs do not know the test CA: a TLS error, not a timeout.
    let mut unknown_ca = good.clone();
    unknown_ca.librdkafka.remove("ssl.ca.location");
    let err = probe(&unknown_ca, TIMEOUT)
        .await
        .err()
        .context("an unknown CA was trusted")?;
    eprintln!("{TEST}: unknown CA -> {err}");
    ensure!(
        matches!(err, KafkaError::Tls { .. }),
        "expected Tls, got {err:?}"
    );
    Ok(())
}
