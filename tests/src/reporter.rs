//! Running the real `relbot-reporter` binary as a child process for end-to-end tests, and
//! producing detections / reading dead letters on a real broker.
//!
//! The binary is `RELBOT_REPORTER_BIN`, else `relbot-reporter` in the target folder of the
//! running test (`cargo test --workspace` builds it, because the reporter package has an
//! integration test); when it is missing, it is built with `cargo build -p relbot-reporter`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::FutureRecord;
use relbot_codec::{Detection, DetectionCodec, Report, ReportCodec};
use relbot_kafka::testing::{unique_name, TestBroker};
use relbot_kafka::{
    ensure_topics, send_with_backpressure, ClientLog, KafkaConfig, ProduceStats, TopicSpec,
};

/// Path of the `relbot-reporter` binary (built once if needed).
pub fn binary() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

fn locate() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("RELBOT_REPORTER_BIN").filter(|v| !v.is_empty()) {
        return Ok(bin.into());
    }
    // <target>/<profile>/deps/<test binary>
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary outside a cargo target folder")?;
    let bin = profile_dir.join("relbot-reporter");
    if bin.is_file() {
        return Ok(bin);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = profile_dir.parent().context("no target folder")?;
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", "relbot-reporter", "--bin", "relbot-reporter"])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(crate::repo_root());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().context("running cargo build")?;
    ensure!(status.success(), "cargo build -p relbot-reporter failed");
    ensure!(bin.is_file(), "{} missing after the build", bin.display());
    Ok(bin)
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
        let spec = |name: &str, compacted| TopicSpec {
            name: name.to_owned(),
            partitions,
            replication_factor: 1,
            compacted,
        };
        ensure_topics(
            &broker.config(test),
            &[
                spec(&topics.detections, false),
                spec(&topics.dlq, false),
                spec(&topics.state, true),
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
pub struct ReporterProcess {
    child: Child,
    /// Its stdout and stderr, appended.
    pub log: PathBuf,
    /// Its operations server.
    pub http: SocketAddr,
}

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
        let config = dir.join("reporter.toml");
        std::fs::write(&config, toml)?;
        let log = dir.join("reporter.log");
        let out = File::options().create(true).append(true).open(&log)?;
        let err = out.try_clone()?;
        let mut command = Command::new(binary()?);
        command
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env_remove("RUST_LOG");
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().context("starting relbot-reporter")?;
        Ok(Self {
            child,
            log,
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
        })
    }

    /// Waits until `/readyz` answers 200, or fails with the log.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("http://{}/readyz", self.http);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("reporter exited with {status}:\n{}", self.logs());
            }
            if let Ok(Some(200)) = http_status(&url).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("reporter not ready within {timeout:?}:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// GET on the operations server: (status, body).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(&format!("http://{}{path}", self.http)).await
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits up to `timeout` for the exit status.
    pub async fn terminate(
        &mut self,
        timeout: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("reporter did not exit within {timeout:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the process wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ReporterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn http_status(url: &str) -> anyhow::Result<Option<u16>> {
    Ok(http_get(url).await.ok().map(|(s, _)| s))
}

/// A minimal HTTP/1.1 GET over loopback (no client library needed for the probes).
pub async fn http_get(url: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("http:// only")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(host))
            .await??;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response)).await??;
    let status = response
        .split_whitespace()
        .nth(1)
        .context("no status line")?
        .parse()?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok((status, body))
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
