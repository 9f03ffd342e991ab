//! Command-line interface of `relbot`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::analyze::InputFormat;
use crate::config::Algorithm;
use crate::output::OutputFormat;
pub use crate::simulate::args::SimulateArgs;

/// relbot finds hosts infected by peer-to-peer botnets in NetFlow/IPFIX data: a host that
/// contacts several peers with one fixed period is suspicious.
#[derive(Debug, Parser)]
#[command(name = "relbot", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse flow files embedded (no Kafka): read, detect, print the flagged hosts.
    Analyze(AnalyzeArgs),
    /// Generate a synthetic flow workload with planted P2P bots (and its ground truth).
    Simulate(SimulateArgs),
    /// Explain why a host was (or was not) flagged: per peer the period, confidence and
    /// evidence, and a picture of its flow times wrapped by the period.
    Explain(ExplainArgs),
}

/// Arguments of `relbot explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The host to explain (a flows' source address).
    #[arg(value_name = "HOST")]
    pub host: IpAddr,
    /// Input files or nfcapd directories, as for `relbot analyze`.
    #[arg(required = true, value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
    /// Explain only this peer.
    #[arg(long, value_name = "ADDR")]
    pub peer: Option<IpAddr>,
    /// Wrap the picture by this period (e.g. `10m`, `1800s`, `1h 30m`) instead of the one
    /// the analysis found.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub period: Option<std::time::Duration>,
    /// Draw the picture as SVG into this file.
    #[arg(long, value_name = "PATH", conflicts_with = "png")]
    pub svg: Option<PathBuf>,
    /// Draw the picture as PNG into this file (no text: plain dots on a grid).
    #[arg(long, value_name = "PATH")]
    pub png: Option<PathBuf>,
    /// Picture width, pixels.
    #[arg(long, default_value_t = 900)]
    pub width: u32,
    /// Picture height, pixels.
    #[arg(long, default_value_t = 600)]
    pub height: u32,
    /// List at most this many peers that are not periodic (the periodic ones are all listed).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_peers: usize,
    /// Format of the inputs.
    #[arg(long, value_enum, default_value = "auto")]
    pub input_format: InputFormat,
    /// Detection algorithm.
    #[arg(long, value_enum)]
    pub algorithm: Option<Algorithm>,
    /// relbot configuration file (TOML).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The original RelBot `timedetector.conf` (JSON), for the classic parameters.
    #[arg(long, value_name = "PATH")]
    pub seed_config: Option<PathBuf>,
    /// Stop at the first line that does not parse (exit 65) instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Describe at most this many bad lines on stderr; further ones are only counted.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_errors: u64,
    /// No progress bar on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `relbot analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Input files (text: plain, gzip or zstd; nfcapd; IPFIX files) or directories of nfcapd
    /// files (read in time order, like `nfdump -R`); `-` reads text from standard input.
    #[arg(required = true, value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
    /// Format of the inputs.
    #[arg(long, value_enum, default_value = "auto")]
    pub input_format: InputFormat,
    /// Detection algorithm.
    #[arg(long, value_enum)]
    pub algorithm: Option<Algorithm>,
    /// relbot configuration file (TOML); see `services/relbot/config/default.toml`.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The original RelBot `timedetector.conf` (JSON), read unchanged, for the classic
    /// parameters.
    #[arg(long, value_name = "PATH")]
    pub seed_config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Stop at the first line that does not parse (exit 65) instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Describe at most this many bad lines on stderr; further ones are only counted.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_errors: u64,
    /// No progress bar and no summary line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Validate the configuration, print it, and exit without reading input.
    #[arg(long)]
    pub check: bool,
    /// Deliver the findings through the sinks of this reporter configuration (its `[rule]`
    /// and `[sinks.*]`, as relbot-reporter reads them); exit 69 if a report could not be
    /// delivered.
    #[arg(long, value_name = "CONFIG.toml")]
    pub report: Option<PathBuf>,
}
