//! The detector's typed configuration (`config/default.toml`, then `--config`, then
//! `RELBOT_DETECTOR__SECTION__KEY`); see docs/DETECTOR.md for every key.

use std::path::PathBuf;
use std::time::Duration;

use relbot_codec::RegistryConfig;
use relbot_engine::{EmitRule, EngineConfig, FilterConfig, Networks, PeerFilter};
use relbot_kafka::KafkaConfig;
use relbot_periodicity::{Algorithm, BeaconParams, ClassicParams};
use relbot_service::{RuntimeSettings, ServiceConfig};
use serde::{Deserialize, Serialize};

use crate::error::DetectorError;

/// The longest `detector.checkpoint_interval` (10m).
pub const MAX_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(600);

/// The compiled-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Configuration of `relbot-detector`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Listen address, logging, drain timeout.
    pub runtime: RuntimeSettings,
    /// Brokers, consumer group (`consumer.group_id`, optional static
    /// `consumer.group_instance_id`), topics (`topics.flows`, `topics.detections`,
    /// `topics.detector_state`, `topics.partitions`), TLS/SASL.
    pub kafka: KafkaConfig,
    /// Confluent schema registry for the detections (Confluent wire format); absent: Avro
    /// single-object encoding.
    #[serde(default)]
    pub registry: Option<RegistryConfig>,
    /// The service's own settings.
    pub detector: DetectorSettings,
    /// The engine of each partition.
    pub engine: EngineSettings,
    /// The detection algorithm.
    pub algorithm: AlgorithmSettings,
    /// False-positive control (allow-lists, prevalence, minimum peers), shared with
    /// `relbot analyze`; see docs/DETECTION.md.
    #[serde(default)]
    pub filter: FilterConfig,
}

impl DetectorConfig {
    /// The configured false-positive control, its allow-list file read.
    pub fn peer_filter(&self) -> Result<PeerFilter, DetectorError> {
        PeerFilter::new(&self.filter).map_err(|e| DetectorError::Config(e.to_string()))
    }
}

/// The `[detector]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSettings {
    /// Create the flows, detections and (compacted) state topics when missing, with
    /// `kafka.topics.partitions` partitions each.
    pub create_topics: bool,
    /// Most flow records handled per poll batch, records.
    pub max_batch: usize,
    /// How often each partition's changed host states are written to the changelog and its
    /// offsets stored (Kafka Streams' `commit.interval.ms`), e.g. "5s"; "0s": after every
    /// batch. Detections are produced after every batch whatever this is; a crash replays
    /// at most this much input, which gives the same detections again.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Longest wait for more records once a batch has its first one, e.g. "50ms".
    #[serde(with = "humantime_serde")]
    pub batch_wait: Duration,
    /// Wall-clock idle time after which a partition is flushed (every window closed, as at
    /// the end of input), e.g. "30s"; "0s": never. For bounded inputs (replays, tests): flows
    /// older than the flushed end that arrive later are late.
    #[serde(with = "humantime_serde")]
    pub idle_flush: Duration,
    /// Flows starting more than this after the wall clock are dropped and counted (a broken
    /// exporter clock would otherwise close every window), e.g. "1h".
    #[serde(with = "humantime_serde")]
    pub max_future_skew: Duration,
    /// Longest wait for the next record while restoring a partition from the changelog.
    #[serde(with = "humantime_serde")]
    pub restore_timeout: Duration,
    /// Threads that ingest and evaluate the partitions of a batch in parallel (each
    /// partition has its own engine); 0: one per CPU core.
    pub parallelism: usize,
    /// How often the consumer lag per partition (`consumer_lag` metric) is refreshed from
    /// the client's cached high watermarks, e.g. "5s".
    #[serde(with = "humantime_serde")]
    pub lag_interval: Duration,
}

impl DetectorSettings {
    /// Threads for `parallelism` (0: the CPU cores available).
    pub fn threads(&self) -> usize {
        if self.parallelism > 0 {
            self.parallelism
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

/// When an evaluation emits a detection (`[engine] emit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmitSetting {
    /// Only when a host's result escalates (a higher count, a new periodic peer).
    Escalation,
    /// Whenever a host's result changes, including retractions.
    AnyChange,
}

/// The `[engine]` section, mapped onto [`EngineConfig`]. Durations are event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Retention horizon and evaluation window length, e.g. "24h".
    #[serde(with = "humantime_serde")]
    pub horizon: Duration,
    /// Evaluation interval (ticks are multiples of it since the epoch), e.g. "5m".
    #[serde(with = "humantime_serde")]
    pub eval_interval: Duration,
    /// How far behind the newest flow start a flow may arrive and still count, e.g. "5m".
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// Monitored networks as CIDRs (`10.0.0.0/8`, `2001:db8::/32`); empty: every source.
    pub monitored: Vec<String>,
    /// Most peers kept per host.
    pub max_peers_per_host: usize,
    /// Most flow times kept per pair.
    pub max_times_per_pair: usize,
    /// Sparse-pair eviction after this many longest periods idle; 0: never.
    pub sparse_idle_periods: u32,
    /// State budget per partition engine, bytes; 0: unbounded.
    pub budget_bytes: usize,
    /// Share of a long pair's window that must change before its period is estimated again
    /// (lazy re-estimation); 0: on every change.
    pub reevaluate_change: f64,
    /// When evaluations produce detections.
    pub emit: EmitSetting,
    /// Most peers listed per period in a detection.
    pub max_listed_peers: usize,
}

/// The algorithms the detector can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlgorithmKind {
    /// The original RelBot periodicity check.
    Classic,
    /// relbot's own: the period estimated per pair from its gaps (docs/DETECTION.md).
    Beacon,
}

/// The `[algorithm]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlgorithmSettings {
    /// The algorithm.
    pub kind: AlgorithmKind,
    /// The original tool's JSON configuration file (`timedetector.conf`); exclusive with
    /// `classic`.
    #[serde(default)]
    pub seed_config: Option<PathBuf>,
    /// The classic parameters; neither this nor `seed_config`: the shipped seed defaults.
    #[serde(default)]
    pub classic: Option<ClassicParams>,
    /// The beacon parameters (every key optional).
    #[serde(default)]
    pub beacon: BeaconParams,
}

impl AlgorithmSettings {
    /// The classic parameters this section selects (reads `seed_config`).
    pub fn classic_params(&self) -> Result<ClassicParams, DetectorError> {
        match (&self.seed_config, &self.classic) {
            (Some(_), Some(_)) => Err(DetectorError::Config(
                "`algorithm.seed_config` and `algorithm.classic` are exclusive".to_owned(),
            )),
            (Some(path), None) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    DetectorError::Config(format!(
                        "`algorithm.seed_config`: {}: {e}",
                        path.display()
                    ))
                })?;
                ClassicParams::from_seed_json(&text).map_err(|e| {
                    DetectorError::Config(format!(
                        "`algorithm.seed_config`: {}: {e}",
                        path.display()
                    ))
                })
            }
            (None, Some(params)) => Ok(params.clone()),
            (None, None) => Ok(ClassicParams::seed_shipped()),
        }
    }

    /// The algorithm, ready to run.
    pub fn build(&self) -> Result<Algorithm, DetectorError> {
        match self.kind {
            AlgorithmKind::Classic => Algorithm::classic(self.classic_params()?)
                .map_err(|e| DetectorError::Config(format!("`algorithm.classic`: {e}"))),
            AlgorithmKind::Beacon => Algorithm::beacon(self.beacon.clone())
                .map_err(|e| DetectorError::Config(format!("`algorithm.beacon`: {e}"))),
        }
    }
}

impl EngineSettings {
    /// The engine configuration (change tracking on: the changelog needs it).
    pub fn engine_config(&self) -> Result<EngineConfig, DetectorError> {
        let monitored = if self.monitored.is_empty() {
            Networks::all()
        } else {
            Networks::parse(&self.monitored)
                .map_err(|e| DetectorError::Config(format!("`engine.monitored`: {e}")))?
        };
        let config = EngineConfig {
            horizon: Some(self.horizon),
            eval_interval: Some(self.eval_interval),
            allowed_lateness: Some(self.allowed_lateness),
            monitored,
            max_peers_per_host: self.max_peers_per_host,
            max_times_per_pair: self.max_times_per_pair,
            sparse_idle_periods: (self.sparse_idle_periods > 0).then_some(self.sparse_idle_periods),
            budget_bytes: (self.budget_bytes > 0).then_some(self.budget_bytes),
            reevaluate_change: self.reevaluate_change,
            emit: match self.emit {
                EmitSetting::Escalation => EmitRule::Escalation,
                EmitSetting::AnyChange => EmitRule::AnyChange,
            },
            max_listed_peers: self.max_listed_peers,
            track_changes: true,
        };
        config
            .validate()
            .map_err(|e| DetectorError::Config(format!("`engine`: {e}")))?;
        Ok(config)
    }
}

impl ServiceConfig for DetectorConfig {
    const NAME: &'static str = "detector";
    const DEFAULT_TOML: &'static str = DEFAULT_TOML;
    const LIST_KEYS: &'static [&'static str] = &[
        "engine.monitored",
        "filter.allow_peers",
        "filter.allow_ports",
    ];

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
        if let Err(e) = self.engine.engine_config() {
            problems.push(e.to_string());
        }
        if let Err(e) = self.algorithm.build() {
            problems.push(e.to_string());
        }
        if let Err(e) = self.peer_filter() {
            problems.push(e.to_string());
        }
        let d = &self.detector;
        if d.max_batch == 0 {
            problems.push("`detector.max_batch` must be at least 1".to_owned());
        }
        if d.checkpoint_interval > MAX_CHECKPOINT_INTERVAL {
            problems.push(
                "`detector.checkpoint_interval` must be at most 10m (a crash replays that much \
                 input)"
                    .to_owned(),
            );
        }
        if d.batch_wait > Duration::from_secs(10) {
            problems.push("`detector.batch_wait` must be at most 10s".to_owned());
        }
        if d.parallelism > 256 {
            problems.push("`detector.parallelism` must be at most 256".to_owned());
        }
        if d.lag_interval < Duration::from_millis(100) {
            problems.push("`detector.lag_interval` must be at least 100ms".to_owned());
        }
        if d.restore_timeout < Duration::from_secs(1) {
            problems.push("`detector.restore_timeout` must be at least 1s".to_owned());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn load(toml: &str) -> Result<DetectorConfig, String> {
        let config: DetectorConfig = relbot_service::testing::load_str(toml)?;
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.join("; "))
        }
    }

    #[test]
    fn defaults_are_valid_and_streaming() {
        let config = load("").unwrap();
        assert_eq!(config.detector.checkpoint_interval, Duration::from_secs(5));
        let every_batch = load("[detector]\ncheckpoint_interval = \"0s\"\n").unwrap();
        assert!(every_batch.detector.checkpoint_interval.is_zero());
        let engine = config.engine.engine_config().unwrap();
        assert_eq!(engine, EngineConfig::streaming());
        assert_eq!(
            config.algorithm.classic_params().unwrap(),
            ClassicParams::seed_shipped()
        );
        assert_eq!(
            config.kafka.topics.detector_state,
            "relbot.detector-state.v1"
        );
    }

    #[test]
    fn seed_config_is_read_and_exclusive() {
        let seed = relbot_service_seed();
        let config = load(&format!(
            "[algorithm]\nkind = \"classic\"\nseed_config = {seed:?}\n"
        ))
        .unwrap();
        assert_eq!(
            config.algorithm.classic_params().unwrap().periods_ms[0],
            600_000
        );
        let both = format!(
            "[algorithm]\nkind = \"classic\"\nseed_config = {seed:?}\n[algorithm.classic]\n\
             periods_ms = [1000]\nunit_ms = 1000\nradius = 3\nmin_val = 4.0\nmax_coef = 0.5\n\
             disp_coef = 0.5\nmean_coef = 0.5\nfree_coef = 0.0\n"
        );
        assert!(load(&both).unwrap_err().contains("exclusive"));
    }

    fn relbot_service_seed() -> String {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/classic/seed-default.conf.json"
        )
        .to_owned()
    }

    #[test]
    fn bad_values_are_reported() {
        let err =
            load("[engine]\nmonitored = [\"10.0.0.0/40\"]\nmax_peers_per_host = 0\n").unwrap_err();
        assert!(err.contains("engine"), "{err}");
        let err = load("[detector]\nmax_batch = 0\n").unwrap_err();
        assert!(err.contains("max_batch"), "{err}");
        let err = load("[engine]\nreevaluate_change = 2.0\n").unwrap_err();
        assert!(err.contains("reevaluate_change"), "{err}");
        let err = load("[detector]\ncheckpoint_interval = \"11m\"\n").unwrap_err();
        assert!(err.contains("checkpoint_interval"), "{err}");
        assert!(load("[detector]\ncheckpoint_interval = \"soon\"\n").is_err());
        assert!(load("[engine]\nhorizon = \"soon\"\n").is_err());
        assert!(load("[detector]\nunknown = 1\n").is_err());
    }
}
