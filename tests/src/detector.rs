//! Running `relbot-detector` for end-to-end tests (in-process through its library, or the
//! real binary as a child process), producing flows, reading detections, and the reference
//! results they are compared with.
//!
//! The binary is `RELBOT_DETECTOR_BIN`, else `relbot-detector` in the target folder of the
//! running test (`cargo test --workspace` builds it, because the detector package has an
//! integration test); when it is missing, it is built with `cargo build -p relbot-detector`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::FutureRecord;
use relbot_codec::{Detection, DetectionCodec, FlowCodec};
use relbot_detector::DetectorConfig;

use crate::service_process::{service_binary, ServiceProcess};
use relbot_engine::{Engine, EngineConfig};
use relbot_flow::FlowRecord;
use relbot_kafka::testing::{unique_name, TestBroker};
use relbot_kafka::{enqueue_with_backpressure, ClientLog, KafkaConfig, ProduceStats};
use relbot_periodicity::{Algorithm, ClassicParams};
use relbot_service::CancellationToken;

/// Final result of one host: (period ms, count) per candidate period.
pub type Counts = BTreeMap<IpAddr, Vec<(i64, u32)>>;

/// Path of the `relbot-detector` binary (built once if needed).
pub fn binary() -> anyhow::Result<PathBuf> {
    service_binary("relbot-detector", "RELBOT_DETECTOR_BIN")
}

/// Topics and group of one detector test on the real broker.
#[derive(Debug, Clone)]
pub struct DetectorTopics {
    /// Flows topic.
    pub flows: String,
    /// Detections topic.
    pub detections: String,
    /// State changelog (compacted).
    pub state: String,
    /// Consumer group.
    pub group: String,
    /// Partitions of the three.
    pub partitions: i32,
}

impl DetectorTopics {
    /// Unique names for `test`, topics created with `partitions` partitions.
    pub async fn create(broker: &TestBroker, test: &str, partitions: i32) -> anyhow::Result<Self> {
        let topics = Self {
            flows: unique_name(&format!("{test}-flows")),
            detections: unique_name(&format!("{test}-detections")),
            state: unique_name(&format!("{test}-state")),
            group: unique_name(&format!("{test}-group")),
            partitions,
        };
        crate::create_topics(
            broker,
            test,
            partitions,
            &[
                (&topics.flows, false),
                (&topics.detections, false),
                (&topics.state, true),
            ],
        )
        .await?;
        Ok(topics)
    }

    /// A complete detector TOML for these topics, listening on `listen`, with quick group
    /// timings; `engine` is the body of the `[engine]` section, `algorithm` of
    /// `[algorithm]` (after `kind = "classic"`).
    pub fn toml(&self, brokers: &str, listen: &str, engine: &str, algorithm: &str) -> String {
        format!(
            r#"
[runtime]
listen = "{listen}"
log_level = "info"
drain_timeout = "15s"

[kafka]
brokers = "{brokers}"
client_id = "relbot-detector-test"
[kafka.consumer]
group_id = "{group}"
session_timeout = "6s"
commit_interval = "300ms"
offset_reset = "earliest"
[kafka.producer]
linger = "5ms"
[kafka.topics]
flows = "{flows}"
detections = "{detections}"
detector_state = "{state}"
partitions = {partitions}
replication_factor = 1
[kafka.librdkafka]
"heartbeat.interval.ms" = "500"

[detector]
create_topics = false
idle_flush = "4s"

[engine]
{engine}

[algorithm]
kind = "classic"
{algorithm}

# The reference engines of the tests run without false-positive control.
[filter]
prevalence_max_hosts = 4294967295
prevalence_max_share = 1.0
"#,
            group = self.group,
            flows = self.flows,
            detections = self.detections,
            state = self.state,
            partitions = self.partitions,
        )
    }

    /// Deletes the topics.
    pub async fn delete(&self, broker: &TestBroker) {
        for t in [&self.flows, &self.detections, &self.state] {
            broker.delete_topic(t).await;
        }
    }
}

/// `[engine]` settings whose horizon covers any test input, that evict nothing and emit
/// every change (so that a host's last detection is its final result), with `lateness`.
pub fn covering_engine(lateness: &str) -> String {
    format!(
        r#"horizon = "400days"
eval_interval = "5m"
allowed_lateness = "{lateness}"
max_peers_per_host = 1000000000
max_times_per_pair = 1000000000
sparse_idle_periods = 0
budget_bytes = 0
emit = "any_change"
max_listed_peers = 1000000"#
    )
}

/// Loads a detector configuration from `toml` (defaults, then `toml`, then environment).
pub fn load_config(dir: &Path, name: &str, toml: &str) -> anyhow::Result<DetectorConfig> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml)?;
    let config: DetectorConfig = relbot_service::load(Some(&path))?;
    let problems = relbot_service::ServiceConfig::validate(&config);
    ensure!(problems.is_empty(), "invalid config: {problems:?}");
    Ok(config)
}

/// Runs the detector in-process (as `run_main` would, without signals) until `shutdown`.
pub fn spawn_in_process(
    config: DetectorConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<ExitCode> {
    tokio::spawn(relbot_service::run_service(
        config,
        shutdown,
        relbot_detector::run,
    ))
}

/// Produces `flows` (Avro single-object, key = source address as text), many in flight,
/// and waits for every acknowledgement.
pub async fn produce_flows(
    config: &KafkaConfig,
    topic: &str,
    flows: &[FlowRecord],
) -> anyhow::Result<()> {
    let producer = relbot_kafka::producer(config)?;
    let stats = Arc::new(ProduceStats::default());
    let codec = FlowCodec::single_object();
    let mut pending = std::collections::VecDeque::new();
    let mut payload = Vec::new();
    for flow in flows {
        payload.clear();
        codec.encode(flow, &mut payload)?;
        let key = flow.src.to_string();
        let record = FutureRecord::to(topic).key(&key).payload(&payload);
        pending.push_back(enqueue_with_backpressure(&producer, record, &stats).await?);
        // Bounded memory for millions of flows; librdkafka batches underneath.
        if pending.len() > 200_000 {
            if let Some(p) = pending.pop_front() {
                p.wait().await?;
            }
        }
    }
    for p in pending {
        p.wait().await?;
    }
    Ok(())
}

/// Reads detections from `topic`, from the start, into `out`; returns once `done(out)` holds
/// or `timeout` passed (then `done` is false).
pub async fn read_detections_until(
    config: &KafkaConfig,
    topic: &str,
    out: &mut Vec<Detection>,
    timeout: Duration,
    done: impl Fn(&[Detection]) -> bool,
) -> anyhow::Result<bool> {
    let mut config = config.clone();
    config.consumer.group_id = unique_name("read-detections");
    let consumer: StreamConsumer<ClientLog> =
        relbot_kafka::consumer(&config, ClientLog::default())?;
    consumer.subscribe(&[topic])?;
    let codec = DetectionCodec::single_object();
    let deadline = Instant::now() + timeout;
    loop {
        if done(out) {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        match tokio::time::timeout(left.min(Duration::from_millis(500)), consumer.recv()).await {
            Ok(Ok(m)) => out.push(codec.decode(m.payload().unwrap_or_default())?),
            Ok(Err(e)) => bail!("reading {topic}: {e}"),
            Err(_) => {}
        }
    }
}

/// The final result per host: the last detection of each host (detections of one host are
/// in one partition, in order), hosts whose counts are all zero left out.
pub fn final_counts(detections: &[Detection]) -> Counts {
    let mut last: HashMap<IpAddr, &Detection> = HashMap::new();
    for d in detections {
        last.insert(d.host, d);
    }
    last.into_iter()
        .map(|(host, d)| {
            let counts = d.periods.iter().map(|p| (p.period_ms, p.count)).collect();
            (host, counts)
        })
        .filter(|(_, c): &(IpAddr, Vec<(i64, u32)>)| c.iter().any(|(_, n)| *n > 0))
        .collect()
}

/// Detection ids emitted with different contents (emission time aside): must be empty.
pub fn conflicting_ids(detections: &[Detection]) -> Vec<String> {
    let mut seen: HashMap<String, Detection> = HashMap::new();
    let mut bad = Vec::new();
    for d in detections {
        let mut d = d.clone();
        d.emitted_at_ms = 0;
        let id = d.detection_id.to_string();
        match seen.get(&id) {
            Some(first) if *first != d => bad.push(id),
            Some(_) => {}
            None => {
                seen.insert(id, d);
            }
        }
    }
    bad
}

/// Parses an original `.expected` file (`=====` line, host, `PERIOD -> COUNT` lines).
pub fn expected_counts(path: &Path) -> anyhow::Result<Counts> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Counts::new();
    let mut host: Option<IpAddr> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('=') {
            host = None;
        } else if let Some((period, count)) = line.split_once(" -> ") {
            let h = host.context("period line before a host")?;
            out.entry(h)
                .or_default()
                .push((period.parse()?, count.parse()?));
        } else {
            host = Some(
                line.parse()
                    .with_context(|| format!("host line {line:?}"))?,
            );
        }
    }
    Ok(out)
}

/// What `relbot analyze --algorithm classic` computes: the batch engine over `flows`.
pub fn batch_counts(flows: &[FlowRecord], params: ClassicParams) -> anyhow::Result<Counts> {
    let mut engine = Engine::new(EngineConfig::batch(), Algorithm::classic(params)?)?;
    for f in flows {
        engine.ingest(f);
    }
    engine.flush();
    Ok(engine
        .host_results()
        .into_iter()
        .map(|r| {
            let periods = r
                .periods
                .iter()
                .map(|p| (p.period_ms as i64, p.count() as u32));
            (r.host, periods.collect())
        })
        .collect())
}

/// A readable difference between two results (empty when equal).
pub fn diff(got: &Counts, want: &Counts) -> String {
    let mut out = String::new();
    for (h, w) in want {
        match got.get(h) {
            Some(g) if g == w => {}
            g => out.push_str(&format!("{h}: got {g:?}, want {w:?}\n")),
        }
    }
    for (h, g) in got {
        if !want.contains_key(h) {
            out.push_str(&format!("{h}: got {g:?}, want nothing\n"));
        }
    }
    out
}

/// A running `relbot-detector` process; killed when dropped.
#[derive(Debug)]
pub struct DetectorProcess(ServiceProcess);

impl DetectorProcess {
    /// Starts the binary with `--config <dir>/<name>.toml` (written from `toml`); output goes
    /// to `<dir>/<name>.log`.
    pub fn start(dir: &Path, name: &str, toml: &str, http_port: u16) -> anyhow::Result<Self> {
        let bin = binary()?;
        ServiceProcess::start("detector", &bin, dir, name, toml, http_port, &[]).map(Self)
    }
}

impl Deref for DetectorProcess {
    type Target = ServiceProcess;
    fn deref(&self) -> &ServiceProcess {
        &self.0
    }
}

impl DerefMut for DetectorProcess {
    fn deref_mut(&mut self) -> &mut ServiceProcess {
        &mut self.0
    }
}
