//! `relbot-reporter`: see the library's documentation and docs/REPORTER.md.

use std::process::ExitCode;

fn main() -> ExitCode {
    relbot_service::run_main::<relbot_reporter::ReporterConfig, _, _, _>(relbot_reporter::run)
}
