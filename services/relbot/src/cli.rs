//! Command-line interface of `relbot`.

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
}

/// Arguments of `relbot analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Input files (plain, gzip or zstd); `-` reads standard input.
    #[arg(required = true, value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
    /// Line format of the inputs.
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
}
