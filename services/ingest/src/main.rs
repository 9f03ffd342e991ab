//! `relbot-ingest`: see the library's documentation and docs/INGEST.md.

use std::process::ExitCode;

fn main() -> ExitCode {
    relbot_service::run_main::<relbot_ingest::IngestConfig, _, _, _>(relbot_ingest::run)
}
