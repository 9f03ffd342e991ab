//! The original `timedetector` output: for each host with a periodic peer, a separator line,
//! the address, then `PERIOD -> COUNT` per period ascending.

use std::io::{self, Write};

use crate::analyze::Analysis;

/// Writes `analysis` exactly as the original printed it.
pub fn write_relbot(analysis: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    for host in &analysis.hosts {
        writeln!(out, "=============================")?;
        writeln!(out, "{}", host.host)?;
        for (period, count) in analysis.periods_ms.iter().zip(host.counts()) {
            writeln!(out, "{period} -> {count}")?;
        }
    }
    Ok(())
}
