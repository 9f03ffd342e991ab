//! Running `relbot-ingest` as a child process for end-to-end tests, reading what it produced
//! from the flows topic, and reading its metrics.
//!
//! The binary is `RELBOT_INGEST_BIN`, else `relbot-ingest` in the target folder of the running
//! test (built with `cargo build -p relbot-ingest` when missing).

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use relbot_codec::FlowCodec;
use relbot_flow::FlowRecord;
use relbot_kafka::testing::unique_name;
use relbot_kafka::{ClientLog, KafkaConfig};

use crate::service_process::{service_binary, ServiceProcess};

/// Path of the `relbot-ingest` binary (built once if needed).
pub fn binary() -> anyhow::Result<PathBuf> {
    service_binary("relbot-ingest", "RELBOT_INGEST_BIN")
}

/// A free UDP port on 127.0.0.1 (bound and released).
pub fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A complete ingest TOML: flows to `topic` (created with 3 partitions), operations server on
/// `http_port`, one UDP listener on `udp_port` with `workers` sockets, then `extra` (more
/// `[ingest…]` sections; `[ingest]` keys go in `ingest_keys`).
pub fn toml(
    brokers: &str,
    topic: &str,
    http_port: u16,
    udp_port: u16,
    workers: usize,
    ingest_keys: &str,
    extra: &str,
) -> String {
    format!(
        r#"
[runtime]
listen = "127.0.0.1:{http_port}"
log_level = "info"
drain_timeout = "15s"

[kafka]
brokers = "{brokers}"
client_id = "relbot-ingest-test"
[kafka.producer]
linger = "5ms"
[kafka.topics]
flows = "{topic}"
partitions = 3
replication_factor = 1

[ingest]
create_topics = true
stats_interval = "200ms"
{ingest_keys}

[[ingest.udp]]
listen = "127.0.0.1:{udp_port}"
workers = {workers}
recv_buffer_bytes = 4194304

{extra}
"#
    )
}

/// A running `relbot-ingest`.
#[derive(Debug)]
pub struct IngestProcess(pub ServiceProcess);

impl IngestProcess {
    /// Starts the binary with `toml` (written to `<dir>/<name>.toml`).
    pub fn start(dir: &Path, name: &str, toml: &str, http_port: u16) -> anyhow::Result<Self> {
        let bin = binary()?;
        ServiceProcess::start("ingest", &bin, dir, name, toml, http_port, &[]).map(Self)
    }

    /// The value of the metric series `series` (name and labels exactly as rendered, e.g.
    /// `relbot_ingest_packets_total{exporter="127.0.0.1"}`); 0 when absent.
    pub async fn metric(&self, series: &str) -> anyhow::Result<f64> {
        let (status, body) = self.get("/metrics").await?;
        anyhow::ensure!(status == 200, "/metrics answered {status}");
        Ok(metric_value(&body, series))
    }

    /// Waits until `metric(series) >= at_least`, or fails with the metrics and the log.
    pub async fn wait_metric(
        &self,
        series: &str,
        at_least: f64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.metric(series).await? >= at_least {
                return Ok(());
            }
            if Instant::now() > deadline {
                let (_, body) = self.get("/metrics").await?;
                bail!(
                    "{series} did not reach {at_least} within {timeout:?}\n{body}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Deref for IngestProcess {
    type Target = ServiceProcess;
    fn deref(&self) -> &ServiceProcess {
        &self.0
    }
}

impl DerefMut for IngestProcess {
    fn deref_mut(&mut self) -> &mut ServiceProcess {
        &mut self.0
    }
}

/// The value of `series` in a Prometheus text exposition (sum when several lines start
/// with it, 0 when none).
pub fn metric_value(body: &str, series: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// Every series of metric `name` with its labels and value.
pub fn metric_series(body: &str, name: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Reads `topic` from the start until `want` records arrived (then waits `settle` more for
/// any extra) or `timeout` passed. Returns each record with its key.
pub async fn read_flows(
    config: &KafkaConfig,
    topic: &str,
    want: usize,
    timeout: Duration,
    settle: Duration,
) -> anyhow::Result<Vec<(String, FlowRecord)>> {
    let mut config = config.clone();
    config.consumer.group_id = unique_name("read-flows");
    let consumer: StreamConsumer<ClientLog> =
        relbot_kafka::consumer(&config, ClientLog::default())?;
    consumer.subscribe(&[topic])?;
    let codec = FlowCodec::single_object();
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut settle_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if out.len() >= want && settle_until.is_none() {
            settle_until = Some(now + settle);
        }
        let until = settle_until.map_or(deadline, |s| s.min(deadline));
        let left = until.saturating_duration_since(now);
        if left.is_zero() {
            return Ok(out);
        }
        match tokio::time::timeout(left.min(Duration::from_millis(500)), consumer.recv()).await {
            Ok(Ok(m)) => {
                let key = std::str::from_utf8(m.key().context("record without key")?)?.to_owned();
                out.push((key, codec.decode(m.payload().unwrap_or_default())?));
            }
            Ok(Err(e)) => bail!("reading {topic}: {e}"),
            Err(_) => {}
        }
    }
}
