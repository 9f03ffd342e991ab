//! The original `timedetector` output: for each host with a periodic peer, a separator line,
//! the address, then `PERIOD -> COUNT` per period ascending.

use std::io::{self, Write};

use crate::analyze::Analysis;

/// Writes `analysis` exactly as the original printed it (for `classic`, every candidate
/// period is listed, zero counts included).
pub fn write_relbot(analysis: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    for host in &analysis.hosts {
        writeln!(out, "=============================")?;
        writeln!(out, "{}", host.host)?;
        for period in &host.periods {
            writeln!(out, "{} -> {}", period.period_ms, period.count())?;
        }
    }
    Ok(())
}
