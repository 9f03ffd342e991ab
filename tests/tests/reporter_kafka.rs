//! The `kafka` sink against the real broker: reports arrive on their topics as relbot's JSON
//! document (`format = "json"`) and as Avro `Report`s (`format = "avro"`, single-object),
//! keyed by the host as the sink discloses it, decodable — and exactly once per report id
//! across a restart of the reporter that is then fed the same detections again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use relbot_codec::{Detection, ReportCodec, ReportId, ReportStatus, SrcMode};
use relbot_e2e::reporter::{
    free_port, produce_detections, read_reports, ReporterProcess, ReporterTopics,
};
use relbot_kafka::testing::{unique_name, TestBroker};
use relbot_kafka::{ClientLog, KafkaConfig};
use relbot_report::format::ReportDoc;
use relbot_report::testing::detection;

const TEST: &str = "reporter-kafka";

fn detections(prefix: u8, n: u8) -> Vec<Detection> {
    (0..n)
        .map(|i| {
            detection(
                &format!("10.{prefix}.{i}.7"),
                &[1 + u32::from(i % 3), 0, 2, 0],
            )
        })
        .collect()
}

/// Every record of `topic` as (key, payload), read from the start until `want` arrived and
/// then `settle` passed without another one (or `timeout` passed).
async fn records(
    config: &KafkaConfig,
    topic: &str,
    want: usize,
    timeout: Duration,
    settle: Duration,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut config = config.clone();
    config.consumer.group_id = unique_name("read-kafka-sink");
    let consumer: StreamConsumer<ClientLog> =
        relbot_kafka::consumer(&config, ClientLog::default())?;
    consumer.subscribe(&[topic])?;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let left = if out.len() >= want {
            settle
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(m)) => out.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                m.payload().unwrap_or_default().to_vec(),
            )),
            Ok(Err(e)) => bail!("reading {topic}: {e}"),
            Err(_) => break,
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_sink_delivers_each_report_once_across_a_restart() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let started = Instant::now();
    let kafka = broker.config(TEST);
    let topics = ReporterTopics::create(&broker, TEST, 2).await?;
    let (json_topic, avro_topic) = (
        unique_name(&format!("{TEST}-json")),
        unique_name(&format!("{TEST}-avro")),
    );
    relbot_e2e::create_topics(
        &broker,
        TEST,
        2,
        &[(&json_topic, false), (&avro_topic, false)],
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let toml = format!(
        r#"{base}
[sinks.siem-json]
kind = "kafka"
topic = "{json_topic}"

[sinks.siem-avro]
kind = "kafka"
topic = "{avro_topic}"
format = "avro"
protection = {{ mode = "anon", ipv4_prefix = 24, ipv6_prefix = 48 }}
retry = {{ initial_backoff = "100ms", max_backoff = "1s" }}
"#,
        base = topics.base_toml(&broker.brokers, port),
    );

    // First run: 8 detections.
    let first = detections(41, 8);
    let mut reporter = ReporterProcess::start(dir.path(), &toml, port, &[])?;
    reporter.wait_ready(Duration::from_secs(30)).await?;
    produce_detections(&kafka, &topics.detections, &first).await?;
    let got = records(
        &kafka,
        &json_topic,
        first.len(),
        Duration::from_secs(60),
        Duration::ZERO,
    )
    .await
    .with_context(|| reporter.logs())?;
    assert_eq!(got.len(), first.len(), "{}", reporter.logs());
    let got = records(
        &kafka,
        &avro_topic,
        first.len(),
        Duration::from_secs(60),
        Duration::ZERO,
    )
    .await?;
    assert_eq!(got.len(), first.len());
    let status = reporter.terminate(Duration::from_secs(15)).await?;
    assert!(status.success(), "SIGTERM exits 0: {status}");

    // Restart; the same detections again (a replay), then 5 new ones.
    let second = detections(42, 5);
    let mut reporter = ReporterProcess::start(dir.path(), &toml, port, &[])?;
    reporter.wait_ready(Duration::from_secs(30)).await?;
    produce_detections(&kafka, &topics.detections, &first).await?;
    produce_detections(&kafka, &topics.detections, &second).await?;
    let all: Vec<&Detection> = first.iter().chain(&second).collect();
    let settle = Duration::from_secs(3);
    let json = records(
        &kafka,
        &json_topic,
        all.len(),
        Duration::from_secs(60),
        settle,
    )
    .await?;
    let avro = records(
        &kafka,
        &avro_topic,
        all.len(),
        Duration::from_secs(60),
        settle,
    )
    .await?;
    let (_, metrics) = reporter.get("/metrics").await?;

    // JSON: relbot's report document, keyed by the plain host, one per report id.
    let by_id: BTreeMap<String, &Detection> = all
        .iter()
        .map(|d| {
            (
                ReportId::derive(&d.detection_id, "siem-json").to_string(),
                *d,
            )
        })
        .collect();
    assert_eq!(json.len(), all.len(), "exactly once: {json:?}");
    let mut seen = BTreeSet::new();
    for (key, payload) in &json {
        let doc: ReportDoc = serde_json::from_slice(payload).context("a JSON report")?;
        let id = doc.report_id.to_string();
        let d = by_id
            .get(&id)
            .with_context(|| format!("unknown report id {id}"))?;
        assert!(seen.insert(id), "report delivered twice");
        assert_eq!(key, &d.host.to_string());
        assert_eq!(doc.host, d.host.to_string());
        assert_eq!(doc.detection_id, d.detection_id);
        assert_eq!(doc.sink, "siem-json");
        assert_eq!(doc.src_mode, SrcMode::Plain);
        assert_eq!(doc.periods.len(), d.periods.len());
    }

    // Avro: `Report`s, keyed and filled with the anonymised host.
    let codec = ReportCodec::single_object();
    let mut seen = BTreeSet::new();
    assert_eq!(avro.len(), all.len(), "exactly once");
    for (key, payload) in &avro {
        let report = codec.decode(payload).context("an Avro Report")?;
        let d = all
            .iter()
            .find(|d| ReportId::derive(&d.detection_id, "siem-avro") == report.report_id)
            .context("unknown report id")?;
        assert!(seen.insert(report.report_id), "report delivered twice");
        let anon = match d.host {
            std::net::IpAddr::V4(a) => {
                let o = a.octets();
                format!("{}.{}.{}.0", o[0], o[1], o[2])
            }
            std::net::IpAddr::V6(_) => unreachable!("IPv4 test hosts"),
        };
        assert_eq!((key, &report.host), (&anon, &anon));
        assert_eq!(report.src_mode, SrcMode::Anon);
        assert_eq!(report.sink_kind, "kafka");
        assert_eq!(report.sink_name, "siem-avro");
        assert_eq!(report.status, ReportStatus::Delivered);
        assert_eq!(report.detection_id, d.detection_id);
    }

    // The replays were recognised as done, nothing went to the dead-letter topic.
    for sink in ["siem-json", "siem-avro"] {
        let line = format!(
            r#"relbot_reporter_reports_suppressed_total{{sink="{sink}",reason="already_done"}} {}"#,
            first.len()
        );
        assert!(metrics.contains(&line), "{line} missing in:\n{metrics}");
    }
    let dead = read_reports(&kafka, &topics.dlq, 1, Duration::from_secs(2)).await?;
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
    eprintln!(
        "{TEST}: {} reports per sink, each once across a restart and a replay; {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    reporter.terminate(Duration::from_secs(15)).await?;
    topics.delete(&broker).await;
    for t in [&json_topic, &avro_topic] {
        broker.delete_topic(t).await;
    }
    Ok(())
}
