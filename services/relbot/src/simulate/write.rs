//! Writing simulated flows as text in the formats `relbot analyze` reads.

use std::io::{self, Write};

use super::SimFlow;

/// Output formats of `relbot simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimFormat {
    /// `nfdump -6 -q -N -o "fmt:%ts %sa %sp %da %dp %byt"` lines, nfdump's column widths.
    NfdumpFmt,
    /// `EPOCH_MS SRC DST` lines.
    Triples,
}

/// Writes `flows` in `format`.
pub fn write_flows(flows: &[SimFlow], format: SimFormat, out: &mut dyn Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    for f in flows {
        match format {
            SimFormat::Triples => writeln!(out, "{} {} {}", f.start_ms, f.src, f.dst)?,
            SimFormat::NfdumpFmt => writeln!(
                out,
                "{} {:>39} {:>6} {:>39} {:>6} {:>8}",
                utc_text(f.start_ms),
                f.src.to_string(),
                f.src_port,
                f.dst.to_string(),
                f.dst_port,
                f.bytes
            )?,
        }
    }
    out.flush()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfdump_time_text() {
        assert_eq!(utc_text(1_416_316_505_734), "2014-11-18 13:15:05.734");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00:00.000");
        assert_eq!(utc_text(0), "1970-01-01 00:00:00.000");
    }

    #[test]
    fn nfdump_column_widths() {
        let f = SimFlow {
            start_ms: 1_416_316_505_734,
            src: "10.0.1.5".parse().unwrap(),
            dst: "83.242.167.77".parse().unwrap(),
            src_port: 49126,
            dst_port: 80,
            bytes: 697,
        };
        let mut out = Vec::new();
        write_flows(&[f], SimFormat::NfdumpFmt, &mut out).unwrap();
        // The first line of the seed's nfdump-fmt fixture, byte for byte.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2014-11-18 13:15:05.734                                10.0.1.5  49126                           83.242.167.77     80      697\n"
        );
    }
}
