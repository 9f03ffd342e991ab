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

pub use simulate::simulate_command;

use std::io::Write;

use analyze::AnalyzeOptions;
use cli::AnalyzeArgs;
use config::AnalyzeConfig;
use error::AnalyzeError;

/// The configuration file (or the defaults) with the command line's `--algorithm` and
/// `--seed-config` applied.
fn load_config(
    path: Option<&std::path::Path>,
    algorithm: Option<config::Algorithm>,
    seed_config: Option<&std::path::Path>,
) -> Result<AnalyzeConfig, AnalyzeError> {
    let mut config = AnalyzeConfig::load(path)?;
    if let Some(algorithm) = algorithm {
        config.algorithm = algorithm;
    }
    if let Some(seed) = seed_config {
        config.apply_seed_config(seed)?;
    }
    Ok(config)
}

/// Runs `relbot analyze` with `args`, writing results to `out` and diagnostics to `diag`.
pub fn analyze_command(
    args: &AnalyzeArgs,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> Result<(), AnalyzeError> {
    let config = load_config(
        args.config.as_deref(),
        args.algorithm,
        args.seed_config.as_deref(),
    )?;
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
        filter: config.filter()?,
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

/// Runs `relbot explain` with `args`: the explanation to `out`, diagnostics to `diag`.
pub fn explain_command(
    args: &cli::ExplainArgs,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> Result<(), AnalyzeError> {
    let config = load_config(
        args.config.as_deref(),
        args.algorithm,
        args.seed_config.as_deref(),
    )?;
    let opts = AnalyzeOptions {
        inputs: args.inputs.clone(),
        format: args.input_format,
        algorithm: config.algorithm()?,
        filter: config.filter()?,
        strict: args.strict,
        progress: !args.quiet,
        max_reported_errors: args.max_errors,
    };
    explain::run(args, &opts, out, diag)
}
