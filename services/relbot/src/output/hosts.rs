//! `--output hosts`: the addresses of the hosts the reporter would report at its default
//! threshold ([`crate::rule`]), one per line, in the order of the other outputs — for
//! scripts and for comparing with other tools.

use std::io::{self, Write};

use crate::analyze::Analysis;
use crate::rule;

/// Writes the reported hosts of `analysis`, one address per line.
pub fn write_hosts(analysis: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    for host in &analysis.hosts {
        if rule::check_default(&analysis.judge, host).is_ok() {
            writeln!(out, "{}", host.host)?;
        }
    }
    Ok(())
}
