//! `relbot analyze --report CONFIG.toml`: the embedded run's findings delivered through the
//! reporter's sinks (the original's `relbot | submitter` pipe, done properly).
//!
//! - CONFIG holds the reporter's `[rule]` and `[sinks.<name>]` sections, the same types
//!   (`relbot_report::ReportingRule`, `relbot_report::SinkConfig`) with the same checks; the
//!   reporter's other sections (`runtime`, `kafka`, `registry`, `reporter`, `suppression`)
//!   may be present and are ignored, so one file serves both. The `kafka` sink needs a broker
//!   and is only available in `relbot-reporter`.
//! - Every flagged host becomes the [`Detection`] the detector's engine emits for the same
//!   flows in a batch run ([`relbot_engine::detection_for`]; window: the host's first flow to
//!   just after the newest flow read), so its id, and every report id derived from it, are
//!   those `relbot-reporter` uses.
//! - The rule applies as in the reporter; suppression does not (one run has one detection
//!   per host, and no state survives it). Delivery retries per each sink's policy; a report
//!   that ends dead-lettered makes `relbot analyze` exit 69 after all others were tried.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use relbot_codec::Detection;
use relbot_engine::{detection_for, EngineConfig};
use relbot_periodicity::Algorithm;
use relbot_report::{deliver_all, Outcome, ReportingRule, Sink, SinkConfig};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::analyze::Analysis;
use crate::error::AnalyzeError;

/// The parts of a reporter configuration `relbot analyze --report` uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// When a detection is reported (`[rule]`, defaults as in the reporter).
    #[serde(default)]
    pub rule: ReportingRule,
    /// The sinks, by name.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkConfig>,
    /// The reporter's `[runtime]`: accepted (one file serves both), not used.
    #[serde(default)]
    pub runtime: Option<toml::Value>,
    /// The reporter's `[kafka]`: accepted, not used.
    #[serde(default)]
    pub kafka: Option<toml::Value>,
    /// The reporter's `[registry]`: accepted, not used.
    #[serde(default)]
    pub registry: Option<toml::Value>,
    /// The reporter's `[reporter]`: accepted, not used.
    #[serde(default)]
    pub reporter: Option<toml::Value>,
    /// The reporter's `[suppression]`: accepted, not used (no state across runs).
    #[serde(default)]
    pub suppression: Option<toml::Value>,
}

impl ReportConfig {
    /// Reads and checks `path`; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Self, AnalyzeError> {
        let at = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| AnalyzeError::Config(format!("{at}: {e}")))?;
        let config: Self = toml::from_str(&text).map_err(|e| {
            let message = e.message().to_owned();
            let hint = if message.contains("unknown variant `kafka`") {
                " (the kafka sink is only available in relbot-reporter)"
            } else {
                ""
            };
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(line) => AnalyzeError::Config(format!("{at}:{line}: {message}{hint}")),
                None => AnalyzeError::Config(format!("{at}: {message}{hint}")),
            }
        })?;
        let mut problems = config.rule.problems("rule");
        if config.sinks.is_empty() {
            problems.push("no sinks: configure at least one under `[sinks.<name>]`".to_owned());
        }
        for (name, sink) in &config.sinks {
            problems.extend(sink.problems(name));
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(AnalyzeError::Config(format!(
                "{at}: {}",
                problems.join("; ")
            )))
        }
    }

    /// Builds the sinks (reads their secrets; contacts nobody yet).
    pub fn build_sinks(&self) -> Result<Vec<Sink>, AnalyzeError> {
        self.sinks
            .iter()
            .map(|(name, config)| {
                config
                    .build(name)
                    .map_err(|e| AnalyzeError::Config(e.to_string()))
            })
            .collect()
    }
}

/// The detections of `analysis`, as the detector's engine builds them in a batch run, in the
/// analysis's host order.
pub fn detections(analysis: &Analysis, algorithm: &Algorithm) -> Vec<Detection> {
    let end = analysis.newest_flow_ms.map(|t| t.saturating_add(1));
    let max_listed = EngineConfig::batch().max_listed_peers;
    analysis
        .hosts
        .iter()
        .map(|host| {
            let mut host = host.clone();
            if let Some(end) = end {
                host.window_end_ms = end;
            }
            detection_for(&host, algorithm, max_listed)
        })
        .collect()
}

/// Counters of one `--report` run, per sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkTally {
    /// Reports acknowledged.
    pub delivered: u64,
    /// Reports that could not be delivered.
    pub failed: u64,
}

/// Delivers the reports of `detections` that pass `config`'s rule to `sinks`; failures are
/// described on `diag`. Returns the tally by sink and how many detections were below the
/// rule.
pub fn deliver(
    rule: &ReportingRule,
    sinks: &[Sink],
    detections: &[Detection],
    diag: &mut dyn Write,
) -> Result<(BTreeMap<String, SinkTally>, u64), AnalyzeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AnalyzeError::Output(format!("cannot start the delivery runtime: {e}")))?;
    let never = CancellationToken::new();
    let mut tally: BTreeMap<String, SinkTally> = sinks
        .iter()
        .map(|s| (s.name().to_owned(), SinkTally::default()))
        .collect();
    let mut below = 0u64;
    runtime.block_on(async {
        for detection in detections {
            if rule.check(detection).is_err() {
                below += 1;
                continue;
            }
            for done in deliver_all(sinks, detection, &never).await {
                let entry = tally.entry(done.sink.clone()).or_default();
                match done.outcome {
                    Outcome::Delivered { .. } => entry.delivered += 1,
                    Outcome::DeadLetter { attempts, reason } => {
                        entry.failed += 1;
                        let _ = writeln!(
                            diag,
                            "relbot: report {} (detection {}) not delivered to sink {} after \
                             {attempts} attempt(s): {reason}",
                            done.report_id, detection.detection_id, done.sink
                        );
                    }
                    Outcome::Cancelled { .. } => entry.failed += 1,
                }
            }
        }
    });
    Ok((tally, below))
}

/// Runs `--report` for `analysis`: builds the detections, delivers them, prints one summary
/// line per sink on `diag` (unless `quiet`), and fails with [`AnalyzeError::Undelivered`]
/// when a report could not be delivered.
pub fn run(
    config: &ReportConfig,
    sinks: &[Sink],
    analysis: &Analysis,
    algorithm: &Algorithm,
    quiet: bool,
    diag: &mut dyn Write,
) -> Result<(), AnalyzeError> {
    let detections = detections(analysis, algorithm);
    let (tally, below) = deliver(&config.rule, sinks, &detections, diag)?;
    if !quiet {
        for (sink, t) in &tally {
            let _ = writeln!(
                diag,
                "relbot: sink {sink}: {} report(s) delivered, {} failed ({below} detection(s) \
                 below the rule)",
                t.delivered, t.failed
            );
        }
    }
    let failed: Vec<String> = tally
        .iter()
        .filter(|(_, t)| t.failed > 0)
        .map(|(sink, t)| format!("{sink} ({})", t.failed))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(AnalyzeError::Undelivered(failed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ReportConfig, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("report.toml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        ReportConfig::load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn a_reporter_config_is_accepted() {
        let config = load(
            "[kafka]\nbrokers = \"x:9092\"\n[suppression]\nquiet_time = \"1h\"\n\
             [rule]\nmin_idx = 3\n[sinks.audit]\nkind = \"jsonl\"\npath = \"-\"\n",
        )
        .unwrap();
        assert_eq!(config.rule.min_idx, 3);
        assert!(matches!(config.sinks["audit"], SinkConfig::Jsonl(_)));
        assert_eq!(config.build_sinks().unwrap()[0].name(), "audit");
    }

    #[test]
    fn problems_name_file_line_and_key() {
        let err = load("[sinks.k]\nkind = \"kafka\"\ntopic = \"t\"\n").unwrap_err();
        assert!(err.contains("report.toml:2:"), "{err}");
        assert!(err.contains("only available in relbot-reporter"), "{err}");
        let err = load("[sinks.c]\nkind = \"cch\"\nurl = \"ftp://x\"\napi_key_env = \"K\"\n")
            .unwrap_err();
        assert!(err.contains("sinks.c.url"), "{err}");
        let err = load("[rules]\nmin_idx = 1\n").unwrap_err();
        assert!(err.contains("rules"), "{err}");
        let err = load("[rule]\nmin_idx = 1\n").unwrap_err();
        assert!(err.contains("no sinks"), "{err}");
    }
}
