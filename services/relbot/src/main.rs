//! The `relbot` binary: parses arguments, runs the command, maps the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use relbot_cli::cli::{Cli, Command};
use relbot_cli::error::exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Analyze(args) => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            relbot_cli::analyze_command(args, &mut out, &mut std::io::stderr())
        }
        Command::Explain(args) => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            relbot_cli::explain_command(args, &mut out, &mut std::io::stderr())
        }
        Command::Simulate(args) => {
            let stdout = std::io::stdout();
            relbot_cli::simulate_command(args, &mut stdout.lock(), &mut std::io::stderr())
        }
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("relbot: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
