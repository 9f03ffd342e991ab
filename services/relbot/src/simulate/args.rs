//! Arguments of `relbot simulate` and how they make a [`Scenario`]: a preset
//! (`--scenario NAME`), then the override flags.

use std::path::PathBuf;

use clap::Args;

use super::{preset, Scenario, SimFormat, PRESETS};

/// NetFlow protocols of the load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SendProtocol {
    /// NetFlow v9.
    V9,
    /// IPFIX.
    Ipfix,
}

/// Arguments of `relbot simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario preset (see --list-scenarios); the flags below override it.
    #[arg(long, default_value = "realistic", value_name = "NAME")]
    pub scenario: String,
    /// List the scenario presets and exit.
    #[arg(long)]
    pub list_scenarios: bool,
    /// Monitored hosts.
    #[arg(long, default_value_t = 2000)]
    pub hosts: u32,
    /// Window length, hours.
    #[arg(long, default_value_t = 24.0)]
    pub hours: f64,
    /// Total flows, about (sets the background's flows per host and hour).
    #[arg(long)]
    pub flows: Option<u64>,
    /// Share of hosts that are bots, 0..1.
    #[arg(long)]
    pub bot_share: Option<f64>,
    /// Jitter of each beat, ± milliseconds.
    #[arg(long)]
    pub jitter_ms: Option<i64>,
    /// Clock drift of the bots: every period this many ms longer than nominal.
    #[arg(long)]
    pub drift_ms: Option<i64>,
    /// Peers of every bot (overrides the families' peer counts).
    #[arg(long)]
    pub peers: Option<u32>,
    /// Share of the window each bot spends offline, 0..1.
    #[arg(long)]
    pub offline: Option<f64>,
    /// Bots resume their old schedule after an offline spell instead of restarting the timer.
    #[arg(long)]
    pub no_restart: bool,
    /// Probability that one beat is lost, 0..1.
    #[arg(long)]
    pub loss: Option<f64>,
    /// The peers' (and servers') reply flows appear as separate flows B→A.
    #[arg(long)]
    pub replies: bool,
    /// The exporter's active timeout, seconds: long connections are split into back-to-back
    /// flows this long (0: not split).
    #[arg(long)]
    pub active_timeout_s: Option<u32>,
    /// PRNG seed: the same seed gives the same workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "nfdump-fmt")]
    pub format: SimFormat,
    /// Write the flows here instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write the ground truth (planted bots and peers) as JSON here.
    #[arg(long, value_name = "PATH")]
    pub truth: Option<PathBuf>,
    /// Send the flows to a collector instead of writing them: `udp://HOST:PORT`.
    #[arg(long, value_name = "URL")]
    pub send: Option<String>,
    /// Flows per second when sending (0: as fast as possible).
    #[arg(long, default_value_t = 10_000.0, value_name = "FLOWS_PER_S")]
    pub rate: f64,
    /// Protocol when sending.
    #[arg(long, value_enum, default_value = "ipfix")]
    pub protocol: SendProtocol,
}

impl SimulateArgs {
    /// The scenario the arguments describe, or what is wrong with them.
    pub fn scenario(&self) -> Result<Scenario, String> {
        let mut s = preset(&self.scenario).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            format!(
                "--scenario: unknown preset {:?} (one of {})",
                self.scenario,
                names.join(", ")
            )
        })?;
        let share = |name: &str, v: Option<f64>| match v {
            Some(x) if !(0.0..=1.0).contains(&x) => Err(format!("{name} must be within 0..1")),
            _ => Ok(v),
        };
        if self.hours.is_nan() || self.hours <= 0.0 || self.hours > 24.0 * 366.0 {
            return Err("--hours must be positive (at most a year)".into());
        }
        s.hosts = self.hosts.max(1);
        s.duration_ms = (self.hours * 3_600_000.0) as i64;
        s.seed = self.seed;
        if let Some(flows) = self.flows {
            s.background.flows_per_host_hour = flows as f64 / f64::from(s.hosts) / self.hours;
        }
        if let Some(v) = share("--bot-share", self.bot_share)? {
            s.bots.share = v;
        }
        if let Some(v) = self.jitter_ms {
            s.bots.jitter_ms = v.abs();
        }
        if let Some(v) = self.drift_ms {
            s.bots.drift_ms = v;
        }
        if let Some(v) = self.peers {
            s.bots.peers = Some((v.max(1), v.max(1)));
        }
        if let Some(v) = share("--offline", self.offline)? {
            s.bots.offline = v;
        }
        if self.no_restart {
            s.bots.restart = false;
        }
        if let Some(v) = share("--loss", self.loss)? {
            s.bots.loss = v;
        }
        if self.replies {
            s.replies = true;
        }
        if let Some(v) = self.active_timeout_s {
            s.background.active_timeout_ms = i64::from(v) * 1000;
        }
        if s.bots
            .families
            .iter()
            .any(|f| f.period_ms + s.bots.drift_ms <= 0)
        {
            return Err("--drift-ms makes a period non-positive".into());
        }
        Ok(s)
    }
}
