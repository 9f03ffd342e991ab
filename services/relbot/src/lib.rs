//! relbot CLI: `relbot analyze` runs the whole detection pipeline embedded on flow files, with
//! in-memory hand-offs in place of Kafka.
//!
//! Layout: [`cli`] (arguments), [`config`] (typed configuration and its sources),
//! [`analyze`] (read → parse → group → evaluate), [`output`] (renderers), [`error`] (typed
//! errors and exit codes), [`progress`] (stderr progress bar), [`report`] (`--report`:
//! findings through the reporter's sinks). `main.rs` only wires them.

pub mod analyze;
pub mod cli;
pub mod config;
pub mod error;
pub mod explain;
pub mod output;
pub mod progress;
pub mod report;
pub mod rule;
pub mod simulate;

use std::io::Write;

use analyze::AnalyzeOptions;
use cli::{AnalyzeArgs, SimulateArgs};
use config::AnalyzeConfig;
use error::AnalyzeError;

/// Runs `relbot analyze` with `args`, writing results to `out` and diagnostics to `diag`.
pub fn analyze_command(
    args: &AnalyzeArgs,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> Result<(), AnalyzeError> {
    let mut config = AnalyzeConfig::load(args.config.as_deref())?;
    if let Some(algorithm) = args.algorithm {
        config.algorithm = algorithm;
    }
    if let Some(seed) = &args.seed_config {
        config.apply_seed_config(seed)?;
    }
    let report = match &args.report {
        Some(path) => {
            let config = report::ReportConfig::load(path)?;
            let sinks = config.build_sinks()?;
            Some((config, sinks))
        }
        None => None,
    };
    if args.check {
        let text = toml::to_string_pretty(&config)
            .map_err(|e| AnalyzeError::Config(format!("cannot print configuration: {e}")))?;
        let _ = writeln!(out, "# configuration is valid\n{text}");
        return Ok(());
    }
    let opts = AnalyzeOptions {
        inputs: args.inputs.clone(),
        format: args.input_format,
        algorithm: config.algorithm()?,
        strict: args.strict,
        progress: !args.quiet,
        max_reported_errors: args.max_errors,
    };
    let analysis = analyze::run(&opts, diag)?;
    output::write(args.output, &analysis, out)
        .and_then(|()| out.flush())
        .map_err(|e| AnalyzeError::Output(e.to_string()))?;
    if !args.quiet {
        let _ = writeln!(diag, "{}", analysis.summary.line());
    }
    if let Some((config, sinks)) = &report {
        report::run(config, sinks, &analysis, &opts.algorithm, args.quiet, diag)?;
    }
    Ok(())
}

/// Runs `relbot simulate` with `args`, writing flows to `out` unless a file is named.
pub fn simulate_command(args: &SimulateArgs, out: &mut dyn Write) -> Result<(), AnalyzeError> {
    if !(0.0..=1.0).contains(&args.bot_share) || args.hours.is_nan() || args.hours <= 0.0 {
        return Err(AnalyzeError::Usage(
            "--bot-share must be within 0..1 and --hours positive".into(),
        ));
    }
    let scenario = simulate::Scenario {
        hosts: args.hosts,
        duration_ms: (args.hours * 3_600_000.0) as i64,
        flows: args.flows,
        bot_share: args.bot_share,
        jitter_ms: args.jitter_ms,
        seed: args.seed,
        ..simulate::Scenario::default()
    };
    let io_err = |what: &str, e: std::io::Error| AnalyzeError::Output(format!("{what}: {e}"));
    let truth = match &args.output {
        Some(path) => {
            let mut file =
                std::fs::File::create(path).map_err(|e| io_err(&path.display().to_string(), e))?;
            simulate::run(&scenario, args.format, &mut file)
        }
        None => simulate::run(&scenario, args.format, out),
    }
    .map_err(|e| io_err("flows", e))?;
    if let Some(path) = &args.truth {
        let text = serde_json::to_string_pretty(&truth)
            .map_err(|e| AnalyzeError::Output(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| io_err(&path.display().to_string(), e))?;
    }
    Ok(())
}

/// Runs `relbot explain` with `args`: the explanation to `out`, diagnostics to `diag`.
pub fn explain_command(
    args: &cli::ExplainArgs,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> Result<(), AnalyzeError> {
    let mut config = AnalyzeConfig::load(args.config.as_deref())?;
    if let Some(algorithm) = args.algorithm {
        config.algorithm = algorithm;
    }
    if let Some(seed) = &args.seed_config {
        config.apply_seed_config(seed)?;
    }
    let opts = AnalyzeOptions {
        inputs: args.inputs.clone(),
        format: args.input_format,
        algorithm: config.algorithm()?,
        strict: args.strict,
        progress: !args.quiet,
        max_reported_errors: args.max_errors,
    };
    explain::run(args, &opts, out, diag)
}
