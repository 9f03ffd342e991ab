//! `relbot simulate` as a command: scenario from the arguments, then write, or send over
//! UDP, and the ground truth.

use std::io::Write;

use relbot_flow::netflow::template::Protocol;

use super::args::{SendProtocol, SimulateArgs};
use super::{generate, send, write_flows, PRESETS};
use crate::error::AnalyzeError;

/// Runs `relbot simulate` with `args`, writing flows to `out` unless a file is named;
/// reports on `diag` when sending.
pub fn simulate_command(
    args: &SimulateArgs,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> Result<(), AnalyzeError> {
    if args.list_scenarios {
        for (name, what) in PRESETS {
            writeln!(out, "{name:<18} {what}").map_err(|e| AnalyzeError::Output(e.to_string()))?;
        }
        return Ok(());
    }
    let scenario = args.scenario().map_err(AnalyzeError::Usage)?;
    let (flows, mut truth) = generate(&scenario);
    truth.scenario = Some(args.scenario.clone());
    let io_err = |what: &str, e: std::io::Error| AnalyzeError::Output(format!("{what}: {e}"));
    if let Some(target) = &args.send {
        let addr = send::parse_target(target).map_err(AnalyzeError::Usage)?;
        let protocol = match args.protocol {
            SendProtocol::V9 => Protocol::V9,
            SendProtocol::Ipfix => Protocol::Ipfix,
        };
        if args.rate.is_nan() || args.rate < 0.0 {
            return Err(AnalyzeError::Usage("--rate must be 0 or more".into()));
        }
        let r = send::send(&flows, &addr, protocol, args.rate).map_err(|e| io_err(target, e))?;
        let _ = writeln!(
            diag,
            "relbot: sent {} flows in {} datagrams to {addr} in {:.2} s ({:.0} flows/s)",
            r.flows,
            r.datagrams,
            r.seconds,
            r.flows as f64 / r.seconds.max(1e-9)
        );
    } else {
        match &args.output {
            Some(path) => {
                let mut file = std::fs::File::create(path)
                    .map_err(|e| io_err(&path.display().to_string(), e))?;
                write_flows(&flows, args.format, &mut file)
            }
            None => write_flows(&flows, args.format, out),
        }
        .map_err(|e| io_err("flows", e))?;
    }
    if let Some(path) = &args.truth {
        let text = serde_json::to_string_pretty(&truth)
            .map_err(|e| AnalyzeError::Output(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| io_err(&path.display().to_string(), e))?;
    }
    Ok(())
}
