//! Running the real `relbot-reporter` binary as a child process for end-to-end tests, and
//! producing detections / reading dead letters on a real broker.
//!
//! The binary is `RELBOT_REPORTER_BIN`, else `relbot-reporter` in the target folder of the
//! running test (`cargo test --workspace` builds it, because the reporter package has an
//! integration test); when it is missing, it is built with `cargo build -p relbot-reporter`.

use std::net::TcpListener;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::FutureRecord;
use relbot_codec::{Detection, DetectionCodec, Report, ReportCodec};

pub use crate::service_process::http_get;
use crate::service_process::{service_binary, ServiceProcess};
use relbot_kafka::testing::{unique_name, TestBroker};
use relbot_kafka::{send_with_backpressure, ClientLog, KafkaConfig, ProduceStats};

/// Path of the `relbot-reporter` binary (built once if needed).
pub fn binary() -> anyhow::Result<PathBuf> {
    service_binary("relbot-reporter", "RELBOT_REPORTER_BIN")
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Topics, group and settings of one reporter test on the real broker.
#[derive(Debug, Clone)]
pub struct ReporterTopics {
    /// Detections topic.
    pub detections: String,
    /// Dead-letter topic.
    pub dlq: String,
    /// State topic.
    pub state: String,
    /// Consumer group.
    pub group: String,
    /// Partitions of the three.
    pub partitions: i32,
}

impl ReporterTopics {
    /// Unique names for `test`, topics created with `partitions` partitions.
    pub async fn create(broker: &TestBroker, test: &str, partitions: i32) -> anyhow::Result<Self> {
        let topics = Self {
            detections: unique_name(&format!("{test}-detections")),
            dlq: unique_name(&format!("{test}-dlq")),
            state: unique_name(&format!("{test}-state")),
            group: unique_name(&format!("{test}-group")),
            partitions,
        };
        crate::create_topics(
            broker,
            test,
            partitions,
            &[
                (&topics.detections, false),
                (&topics.dlq, false),
                (&topics.state, true),
            ],
        )
        .await?;
        Ok(topics)
    }

    /// The `[kafka]`, `[reporter]` and `[runtime]` TOML for these topics (listen on
    /// `http_port`), with quick group timings; append `[sinks.…]` to it.
    pub fn base_toml(&self, brokers: &str, http_port: u16) -> String {
        format!(
            r#"
[runtime]
listen = "127.0.0.1:{http_port}"
log_level = "info"
drain_timeout = "10s"

[kafka]
brokers = "{brokers}"
client_id = "relbot-reporter-test"
[kafka.consumer]
group_id = "{group}"
group_instance_id = "reporter-0"
session_timeout = "6s"
commit_interval = "300ms"
[kafka.producer]
linger = "1ms"
[kafka.topics]
detections = "{detections}"
reports_dlq = "{dlq}"
partitions = {partitions}
replication_factor = 1
[kafka.librdkafka]
"heartbeat.interval.ms" = "500"

[reporter]
state_topic = "{state}"
create_topics = true

[suppression]
quiet_time = "6h"
"#,
            group = self.group,
            detections = self.detections,
            dlq = self.dlq,
            state = self.state,
            partitions = self.partitions,
        )
    }

    /// Deletes the topics.
    pub async fn delete(&self, broker: &TestBroker) {
        for t in [&self.detections, &self.dlq, &self.state] {
            broker.delete_topic(t).await;
        }
    }
}

/// Produces detections (Avro single-object, key = host address) and waits for each.
pub async fn produce_detections(
    config: &KafkaConfig,
    topic: &str,
    detections: &[Detection],
) -> anyhow::Result<()> {
    let producer = relbot_kafka::producer(config)?;
    let stats = Arc::new(ProduceStats::default());
    let codec = DetectionCodec::single_object();
    for d in detections {
        let payload = codec.to_vec(d)?;
        let key = d.host.to_string();
        send_with_backpressure(
            &producer,
            FutureRecord::to(topic).key(&key).payload(&payload),
            &stats,
        )
        .await?;
    }
    Ok(())
}

/// Reads `Report`s from `topic` from the beginning until `want` arrived or `timeout` passed.
pub async fn read_reports(
    config: &KafkaConfig,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Report>> {
    let mut config = config.clone();
    config.consumer.group_id = unique_name("read-reports");
    let consumer: StreamConsumer<ClientLog> =
        relbot_kafka::consumer(&config, ClientLog::default())?;
    consumer.subscribe(&[topic])?;
    let codec = ReportCodec::single_object();
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    while out.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(m)) => out.push(codec.decode(m.payload().unwrap_or_default())?),
            Ok(Err(e)) => bail!("reading {topic}: {e}"),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// A running `relbot-reporter` process; killed when dropped.
#[derive(Debug)]
pub struct ReporterProcess(ServiceProcess);

impl ReporterProcess {
    /// Starts the binary with `--config <dir>/reporter.toml` (written from `toml`) and the
    /// extra environment `env`; output goes to `<dir>/reporter.log` (appended, so restarts
    /// keep the earlier output).
    pub fn start(
        dir: &Path,
        toml: &str,
        http_port: u16,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let bin = binary()?;
        ServiceProcess::start("reporter", &bin, dir, "reporter", toml, http_port, env).map(Self)
    }
}

impl Deref for ReporterProcess {
    type Target = ServiceProcess;
    fn deref(&self) -> &ServiceProcess {
        &self.0
    }
}

impl DerefMut for ReporterProcess {
    fn deref_mut(&mut self) -> &mut ServiceProcess {
        &mut self.0
    }
}

/// Waits until `done()` holds, polling every 100 ms, or fails after `timeout` with `what`.
pub async fn wait_for(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
