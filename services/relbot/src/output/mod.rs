//! Renders analysis results: the original's format byte for byte, JSON, and a table.

mod hosts;
mod json;
mod relbot;
mod table;

use std::io::{self, Write};

use crate::analyze::Analysis;

pub use hosts::write_hosts;
pub use json::write_json;
pub use relbot::write_relbot;
pub use table::write_table;

/// Output formats of `relbot analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A readable table for people.
    Text,
    /// The original RelBot `timedetector` output, byte for byte.
    Relbot,
    /// One JSON document with the periodic peers and flow counts per host and period.
    Json,
    /// The addresses of the hosts reported at the reporter's default threshold, one per line.
    Hosts,
}

/// Writes `analysis` in `format`.
pub fn write(format: OutputFormat, analysis: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    match format {
        OutputFormat::Text => write_table(analysis, out),
        OutputFormat::Relbot => write_relbot(analysis, out),
        OutputFormat::Json => write_json(analysis, out),
        OutputFormat::Hosts => write_hosts(analysis, out),
    }
}

/// A period as people say it: `10m`, `90s`, `1h30m`, `1500ms`; estimated periods that are
/// not whole seconds are rounded to the second and marked: `~17m4s`.
pub fn human_period(ms: u64) -> String {
    if !ms.is_multiple_of(1000) {
        if ms < 10_000 {
            return format!("{ms}ms");
        }
        return format!("~{}", human_period((ms + 500) / 1000 * 1000));
    }
    let s = ms / 1000;
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut text = String::new();
    if h > 0 {
        text.push_str(&format!("{h}h"));
    }
    if m > 0 {
        text.push_str(&format!("{m}m"));
    }
    if sec > 0 || text.is_empty() {
        text.push_str(&format!("{sec}s"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::human_period;

    #[test]
    fn periods_read_naturally() {
        assert_eq!(human_period(600_000), "10m");
        assert_eq!(human_period(5_400_000), "1h30m");
        assert_eq!(human_period(90_000), "1m30s");
        assert_eq!(human_period(1500), "1500ms");
        assert_eq!(human_period(1_023_998), "~17m4s");
        assert_eq!(human_period(300_002), "~5m");
        assert_eq!(human_period(0), "0s");
    }
}
