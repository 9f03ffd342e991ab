//! Writing simulated flows in the formats `relbot analyze` reads: nfdump-fmt and triples
//! text, and IPFIX files (RFC 5655, messages built with `relbot_flow::netflow::build`).

use std::io::{self, Write};
use std::net::IpAddr;

use relbot_flow::netflow::build::{flow_fields, MessageBuilder, FLOW_TEMPLATE_V4};
use relbot_flow::netflow::template::Protocol;
use relbot_flow::FlowRecord;

use super::SimFlow;

/// Output formats of `relbot simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimFormat {
    /// `nfdump -6 -q -N -o "fmt:%ts %sa %sp %da %dp %byt"` lines, nfdump's column widths.
    NfdumpFmt,
    /// `EPOCH_MS SRC DST` lines.
    Triples,
    /// An IPFIX file: IPFIX messages one after another, the template first.
    IpfixFile,
}

/// Records per IPFIX message (keeps messages well under 64 KiB).
pub const RECORDS_PER_MESSAGE: usize = 200;

/// Writes `flows` in `format`.
pub fn write_flows(flows: &[SimFlow], format: SimFormat, out: &mut dyn Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    match format {
        SimFormat::IpfixFile => write_ipfix(flows, &mut out)?,
        SimFormat::Triples => {
            for f in flows {
                writeln!(out, "{} {} {}", f.start_ms, f.src, f.dst)?;
            }
        }
        SimFormat::NfdumpFmt => {
            for f in flows {
                writeln!(
                    out,
                    "{} {:>39} {:>6} {:>39} {:>6} {:>8}",
                    utc_text(f.start_ms),
                    f.src.to_string(),
                    f.src_port,
                    f.dst.to_string(),
                    f.dst_port,
                    f.bytes
                )?;
            }
        }
    }
    out.flush()
}

/// The flow as a [`FlowRecord`].
pub fn record(f: &SimFlow) -> FlowRecord {
    let mut r = FlowRecord::from_triple(f.start_ms, IpAddr::V4(f.src), IpAddr::V4(f.dst));
    r.end_ms = f.start_ms + i64::from(f.duration_ms);
    r.src_port = f.src_port;
    r.dst_port = f.dst_port;
    r.protocol = f.protocol;
    r.bytes = u64::from(f.bytes);
    r.packets = u64::from(f.bytes / 500 + 1);
    r
}

/// IPFIX messages of `flows` (templates in every message, so that any message can be read
/// alone: what a UDP exporter does), exported at each chunk's last start time.
pub fn ipfix_messages(flows: &[SimFlow], protocol: Protocol) -> impl Iterator<Item = Vec<u8>> + '_ {
    let fields = flow_fields(protocol, false);
    flows
        .chunks(RECORDS_PER_MESSAGE)
        .enumerate()
        .map(move |(i, chunk)| {
            let records: Vec<FlowRecord> = chunk.iter().map(record).collect();
            let export = chunk
                .iter()
                .map(|f| f.start_ms + i64::from(f.duration_ms))
                .max()
                .unwrap_or(0);
            let builder = match protocol {
                Protocol::V9 => MessageBuilder::v9(export, 3_600_000, 1),
                Protocol::Ipfix => MessageBuilder::ipfix(export, 1),
            };
            builder
                .sequence(i as u32)
                .template(FLOW_TEMPLATE_V4, &fields)
                .flows(FLOW_TEMPLATE_V4, &fields, &records)
                .build()
        })
}

fn write_ipfix(flows: &[SimFlow], out: &mut dyn Write) -> io::Result<()> {
    for message in ipfix_messages(flows, Protocol::Ipfix) {
        out.write_all(&message)?;
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC, as nfdump prints `%ts`.
pub fn utc_text(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
