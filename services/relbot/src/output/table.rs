//! A table for people: one row per flagged host with its periodic peers per period.

use std::io::{self, Write};

use super::human_period;
use crate::analyze::Analysis;

/// Writes `analysis` as an aligned table, or a sentence when nothing was found.
pub fn write_table(analysis: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    if analysis.hosts.is_empty() {
        writeln!(out, "No host has a periodic peer.")?;
        return Ok(());
    }
    let rows: Vec<(String, usize, String, u32, u64)> = analysis
        .hosts
        .iter()
        .map(|h| {
            let best = h.periods.iter().map(|p| p.count()).max().unwrap_or(0);
            let periods = h
                .periods
                .iter()
                .filter(|p| p.count() > 0)
                .map(|p| format!("{}×{}", human_period(p.period_ms), p.count()))
                .collect::<Vec<_>>()
                .join(" ");
            (h.host.to_string(), best, periods, h.peers, h.flows)
        })
        .collect();
    let host_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    let per_w = rows
        .iter()
        .map(|r| r.2.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    writeln!(
        out,
        "{:<host_w$}  {:>8}  {:<per_w$}  {:>7}  {:>10}",
        "HOST", "PERIODIC", "PERIODS", "PEERS", "FLOWS"
    )?;
    for (host, best, periods, peers, flows) in &rows {
        let pad = per_w - periods.chars().count();
        writeln!(
            out,
            "{host:<host_w$}  {best:>8}  {periods}{:pad$}  {peers:>7}  {flows:>10}",
            ""
        )?;
    }
    writeln!(
        out,
        "\n{} host(s) flagged by `{}`. PERIODIC: most peers sharing one period; \
         PERIODS: period×peers.",
        analysis.hosts.len(),
        analysis.algorithm
    )
}
