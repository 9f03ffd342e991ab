//! The ingest service's typed configuration (`config/default.toml`, then `--config`, then
//! `RELBOT_INGEST__SECTION__KEY`); see docs/INGEST.md for every key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use relbot_flow::netflow::{CollectorConfig, PendingConfig, SamplingMode};
use relbot_flow::networks::Networks;
use relbot_flow::text::TextFormat;
use relbot_kafka::KafkaConfig;
use relbot_service::{RuntimeSettings, ServiceConfig};
use serde::{Deserialize, Serialize};

/// The compiled-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Configuration of `relbot-ingest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Listen address, logging, drain timeout.
    pub runtime: RuntimeSettings,
    /// Brokers, `topics.flows`, `topics.partitions`, producer tuning, TLS/SASL.
    pub kafka: KafkaConfig,
    /// The service's own settings.
    pub ingest: IngestSettings,
}

/// The `[ingest]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// Create the flows topic when missing.
    pub create_topics: bool,
    /// Monitored networks as CIDRs; only flows whose initiator is inside become records.
    /// Empty: every initiator.
    pub monitored: Vec<String>,
    /// Template cache file, loaded at start and saved periodically and at shutdown; empty:
    /// no persistence.
    pub template_cache: PathBuf,
    /// How often the template cache is saved while running, e.g. "30s".
    #[serde(with = "humantime_serde")]
    pub template_save_interval: Duration,
    /// Decoded records waiting for the producer before the UDP workers stop reading, records.
    pub queue_capacity: usize,
    /// Records per hand-off from a worker to the producer stage, records.
    pub batch_records: usize,
    /// How often kernel drops and gauges are refreshed, e.g. "1s".
    #[serde(with = "humantime_serde")]
    pub stats_interval: Duration,
    /// UDP listeners (`[[ingest.udp]]`), zero or more.
    #[serde(default)]
    pub udp: Vec<UdpListener>,
    /// File and directory inputs, read once at start.
    pub files: FileInputs,
    /// The NetFlow/IPFIX decoder.
    pub netflow: NetflowSettings,
    /// Pairing of the two directions of a connection.
    pub pairing: PairingSettings,
    /// Merging of connections split by the exporter's active timeout.
    pub split_merge: SplitMergeSettings,
}

/// One `[[ingest.udp]]` listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpListener {
    /// Address and port, e.g. "0.0.0.0:2055" (port 0: any free port, for tests).
    pub listen: SocketAddr,
    /// SO_REUSEPORT sockets on this address, each read by its own thread.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Socket receive buffer (SO_RCVBUF), bytes; capped by the kernel's `net.core.rmem_max`.
    #[serde(default = "default_recv_buffer")]
    pub recv_buffer_bytes: usize,
}

fn default_workers() -> usize {
    2
}

fn default_recv_buffer() -> usize {
    32 << 20
}

/// File formats of `[ingest.files] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileFormat {
    /// Sniffed per file: nfcapd, IPFIX file, or one of the text formats.
    Auto,
    /// nfdump's binary files (directories: every nfcapd file in time order).
    Nfcapd,
    /// IPFIX files (RFC 5655).
    IpfixFile,
    /// `nfdump -o fmt:` lines.
    NfdumpFmt,
    /// `nfdump -o csv` output.
    NfdumpCsv,
    /// `EPOCH_MS SRC DST` lines.
    Triples,
}

impl FileFormat {
    /// The text format this names, if it is one.
    pub fn text(self) -> Option<TextFormat> {
        match self {
            FileFormat::NfdumpFmt => Some(TextFormat::NfdumpFmt),
            FileFormat::NfdumpCsv => Some(TextFormat::NfdumpCsv),
            FileFormat::Triples => Some(TextFormat::Triples),
            _ => None,
        }
    }
}

/// The `[ingest.files]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInputs {
    /// Files or directories.
    pub paths: Vec<PathBuf>,
    /// Their format.
    pub format: FileFormat,
}

/// Sampling setting names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplingSetting {
    /// Counters as exported, rate recorded.
    Record,
    /// Counters multiplied by the rate.
    Scale,
}

/// The `[ingest.netflow]` section, mapped onto [`CollectorConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetflowSettings {
    /// Template lifetime without refresh, e.g. "1h"; "0s": until withdrawn.
    #[serde(with = "humantime_serde")]
    pub template_timeout: Duration,
    /// Key templates by the exporter's source port too.
    pub key_by_source_port: bool,
    /// Most templates held, templates.
    pub max_templates: usize,
    /// Bytes of data sets held for their template (0 disables buffering), bytes.
    pub pending_max_bytes: usize,
    /// How long a data set is held for its template, e.g. "30s".
    #[serde(with = "humantime_serde")]
    pub pending_max_age: Duration,
    /// How sampling rates are applied.
    pub sampling: SamplingSetting,
}

impl NetflowSettings {
    /// The decoder's configuration.
    pub fn collector_config(&self) -> CollectorConfig {
        CollectorConfig {
            key_by_source_port: self.key_by_source_port,
            template_timeout: (!self.template_timeout.is_zero()).then_some(self.template_timeout),
            max_templates: self.max_templates,
            pending: PendingConfig {
                max_bytes: self.pending_max_bytes,
                max_age: self.pending_max_age,
            },
            sampling: match self.sampling {
                SamplingSetting::Record => SamplingMode::Record,
                SamplingSetting::Scale => SamplingMode::Scale,
            },
        }
    }
}

/// The `[ingest.pairing]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingSettings {
    /// Pair the two directions of a connection.
    pub enabled: bool,
    /// How long a record waits for its other direction, e.g. "60s".
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Most records waiting, records.
    pub max_open: usize,
}

/// The `[ingest.split_merge]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitMergeSettings {
    /// Merge pieces of connections split by the exporter's active timeout.
    pub enabled: bool,
    /// Largest gap between a piece's end and the next piece's start, e.g. "2s".
    #[serde(with = "humantime_serde")]
    pub tolerance: Duration,
    /// How long a piece waits for its continuation (wall clock), e.g. "75s".
    #[serde(with = "humantime_serde")]
    pub hold: Duration,
    /// Most connections held, connections.
    pub max_open: usize,
}

impl IngestSettings {
    /// The monitored networks.
    pub fn networks(&self) -> Result<Networks, String> {
        Networks::parse(&self.monitored).map_err(|e| format!("`ingest.monitored`: {e}"))
    }
}

impl ServiceConfig for IngestConfig {
    const NAME: &'static str = "ingest";
    const DEFAULT_TOML: &'static str = DEFAULT_TOML;
    const LIST_KEYS: &'static [&'static str] = &["ingest.monitored", "ingest.files.paths"];

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
        let i = &self.ingest;
        if let Err(e) = i.networks() {
            problems.push(e);
        }
        if i.queue_capacity == 0 {
            problems.push("`ingest.queue_capacity` must be at least 1".to_owned());
        }
        if i.batch_records == 0 || i.batch_records > i.queue_capacity.max(1) {
            problems.push(
                "`ingest.batch_records` must be at least 1 and at most `ingest.queue_capacity`"
                    .to_owned(),
            );
        }
        if i.stats_interval.is_zero() {
            problems.push("`ingest.stats_interval` must be more than 0s".to_owned());
        }
        if i.template_save_interval.is_zero() {
            problems.push("`ingest.template_save_interval` must be more than 0s".to_owned());
        }
        for (n, udp) in i.udp.iter().enumerate() {
            if udp.workers == 0 || udp.workers > 256 {
                problems.push(format!("`ingest.udp[{n}].workers` must be 1..=256"));
            }
        }
        if i.netflow.max_templates == 0 {
            problems.push("`ingest.netflow.max_templates` must be at least 1".to_owned());
        }
        if i.pairing.max_open == 0 {
            problems.push("`ingest.pairing.max_open` must be at least 1".to_owned());
        }
        if i.split_merge.max_open == 0 {
            problems.push("`ingest.split_merge.max_open` must be at least 1".to_owned());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn load(toml: &str) -> Result<IngestConfig, String> {
        let config: IngestConfig = relbot_service::testing::load_str(toml)?;
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.join("; "))
        }
    }

    #[test]
    fn defaults_are_valid() {
        let config = load("").unwrap();
        assert!(config.ingest.udp.is_empty());
        assert_eq!(config.kafka.client_id, "relbot-ingest");
        assert_eq!(config.kafka.topics.flows, "relbot.flows.v1");
        assert_eq!(
            config.ingest.netflow.collector_config(),
            CollectorConfig::default()
        );
    }

    #[test]
    fn listeners_and_sections_parse() {
        let config = load(
            "[ingest]\nmonitored = [\"10.0.0.0/8\"]\n[[ingest.udp]]\nlisten = \"0.0.0.0:2055\"\n\
             workers = 4\n[[ingest.udp]]\nlisten = \"[::]:4739\"\n[ingest.files]\n\
             format = \"ipfix-file\"\n",
        )
        .unwrap();
        assert_eq!(config.ingest.udp.len(), 2);
        assert_eq!(config.ingest.udp[0].workers, 4);
        assert_eq!(config.ingest.udp[1].workers, 2);
        assert_eq!(config.ingest.files.format, FileFormat::IpfixFile);
        assert!(config
            .ingest
            .networks()
            .unwrap()
            .contains("10.9.9.9".parse().unwrap()));
    }

    #[test]
    fn bad_values_are_reported() {
        let err = load("[ingest]\nmonitored = [\"10.0.0.0/40\"]\n").unwrap_err();
        assert!(err.contains("ingest.monitored"), "{err}");
        let err = load("[ingest]\nqueue_capacity = 0\n").unwrap_err();
        assert!(err.contains("queue_capacity"), "{err}");
        let err = load("[[ingest.udp]]\nlisten = \"127.0.0.1:0\"\nworkers = 0\n").unwrap_err();
        assert!(err.contains("workers"), "{err}");
        assert!(load("[ingest.pairing]\nwindow = \"soon\"\n").is_err());
        assert!(load("[ingest]\nunknown = 1\n").is_err());
        assert!(load("[ingest.files]\nformat = \"pcap\"\n").is_err());
    }
}
