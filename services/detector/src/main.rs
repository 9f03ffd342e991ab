//! `relbot-detector`: see the library's documentation and docs/DETECTOR.md.

use std::process::ExitCode;

fn main() -> ExitCode {
    relbot_service::run_main::<relbot_detector::DetectorConfig, _, _, _>(relbot_detector::run)
}
