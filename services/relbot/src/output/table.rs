//! A table for people: one row per flagged host, periodic peer counts per period.

use std::io::{self, Write};

use super::human_period;
use crate::analyze::Analysis;

/// Writes `analysis` as an aligned table, or a sentence when nothing was found.
pub fn write_table(analysis: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    if analysis.hosts.is_empty() {
        writeln!(out, "No host has a periodic peer.")?;
        return Ok(());
    }
    let width = analysis
        .hosts
        .iter()
        .map(|h| h.host.to_string().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let labels: Vec<String> = analysis
        .periods_ms
        .iter()
        .map(|&p| human_period(p))
        .collect();
    write!(out, "{:<width$}", "HOST")?;
    for label in &labels {
        write!(out, " {label:>6}")?;
    }
    writeln!(out, " {:>7} {:>10}", "PEERS", "FLOWS")?;
    for host in &analysis.hosts {
        write!(out, "{:<width$}", host.host.to_string())?;
        for count in host.counts() {
            write!(out, " {count:>6}")?;
        }
        writeln!(out, " {:>7} {:>10}", host.peers, host.flows)?;
    }
    writeln!(
        out,
        "\n{} host(s) with periodic peers (counts: peers contacted with that period).",
        analysis.hosts.len()
    )
}
