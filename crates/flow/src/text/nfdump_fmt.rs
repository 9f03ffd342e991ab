//! Output of `nfdump -6 -q -N -o "fmt:%ts %sa %sp %da %dp %byt"`: seven whitespace-separated
//! fields per line, padded to columns, e.g.
//!
//! ```text
//! 2014-11-18 13:15:05.734      10.0.1.5  49126      83.242.167.77     80      697
//! ```
//!
//! `-6` prints IPv6 addresses in full (nfdump otherwise shortens them to `2a09:e9..7099`,
//! which is not an address), `-N` prints plain numbers (otherwise bytes read `1.2 M`), `-q`
//! drops the header and the summary. ICMP flows carry `type.code` as destination port.

use super::fields::{parse_ip, parse_port, parse_u64, Whitespace};
use super::time::parse_date_time;
use super::LineErrorKind;
use crate::FlowRecord;

/// What [`LineErrorKind::BadTime`] says this format expects.
const TIME_SHAPE: &str = "YYYY-MM-DD HH:MM:SS[.mmm]";

/// Parses one non-blank, non-comment line.
#[inline]
pub(crate) fn parse_line(line: &[u8]) -> Result<FlowRecord, LineErrorKind> {
    let mut fields = Whitespace::new(line);
    let mut next = |name: &'static str| fields.next().ok_or(LineErrorKind::MissingField(name));
    let bad_time = LineErrorKind::BadTime {
        expected: TIME_SHAPE,
    };

    let date = next("date")?;
    let time = next("time").map_err(|_| bad_time)?;
    let start_ms = parse_date_time(date, time).ok_or(bad_time)?;
    let src = parse_ip(next("source address")?).ok_or(LineErrorKind::BadSourceAddress)?;
    let src_port = parse_port(next("source port")?).ok_or(LineErrorKind::BadPort {
        field: "source port",
    })?;
    let dst = parse_ip(next("destination address")?).ok_or(LineErrorKind::BadDestinationAddress)?;
    let dst_port = parse_port(next("destination port")?).ok_or(LineErrorKind::BadPort {
        field: "destination port",
    })?;
    let bytes = parse_u64(next("bytes")?).ok_or(LineErrorKind::BadNumber { field: "bytes" })?;
    if fields.next().is_some() {
        return Err(LineErrorKind::TrailingFields { last: "bytes" });
    }
    Ok(FlowRecord {
        start_ms,
        end_ms: start_ms,
        src,
        dst,
        src_port,
        dst_port,
        bytes,
        ..FlowRecord::default()
    })
}

/// `true` for the header and summary lines nfdump prints when `-q` is forgotten
/// (`Date first seen …`, `Summary: …`, `Time window: …`, …). Data lines start with a digit,
/// so only lines starting with a letter are compared.
pub(crate) fn is_nfdump_chatter(line: &[u8]) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"Date first seen",
        b"Summary:",
        b"Time window:",
        b"Total flows processed:",
        b"Sys:",
        b"No matching flows",
    ];
    let line = line.trim_ascii_start();
    line.first().is_some_and(u8::is_ascii_alphabetic)
        && PREFIXES.iter().any(|prefix| line.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_the_fixture_layout() {
        let line = b"2014-11-18 13:15:05.734                                10.0.1.5  49126                           83.242.167.77     80      697";
        let record = parse_line(line).unwrap();
        assert_eq!(
            record,
            FlowRecord {
                start_ms: 1_416_316_505_734,
                end_ms: 1_416_316_505_734,
                src: ip("10.0.1.5"),
                dst: ip("83.242.167.77"),
                src_port: 49126,
                dst_port: 80,
                bytes: 697,
                ..FlowRecord::default()
            }
        );
    }

    #[test]
    fn ipv6_and_icmp() {
        let record = parse_line(
            b"2014-11-18 13:15:12.415   fd00::108  0   2a09:e931:960c::7099    3.3   295",
        )
        .unwrap();
        assert_eq!(record.src, ip("fd00::108"));
        assert_eq!(record.dst, ip("2a09:e931:960c::7099"));
        assert_eq!(record.dst_port, 3 * 256 + 3);
        assert_eq!(record.protocol, 0, "protocol is not in this format");
        let echo = parse_line(b"2014-11-18 13:15:12 10.0.0.1 0 10.0.0.2 8.0 84").unwrap();
        assert_eq!(echo.dst_port, 2048);
        assert_eq!(echo.start_ms, 1_416_316_512_000);
    }

    #[test]
    fn names_each_problem() {
        let ok = "2014-11-18 13:15:05.734 10.0.1.5 49126 83.242.167.77 80 697";
        assert!(parse_line(ok.as_bytes()).is_ok());
        let cases: &[(&str, LineErrorKind)] = &[
            (
                "2014-11-31 13:15:05.734 10.0.1.5 49126 83.242.167.77 80 697",
                LineErrorKind::BadTime {
                    expected: TIME_SHAPE,
                },
            ),
            (
                "2014-11-18",
                LineErrorKind::BadTime {
                    expected: TIME_SHAPE,
                },
            ),
            (
                "2014-11-18 13:15:05.734 2a09:e9..7099 49126 83.242.167.77 80 697",
                LineErrorKind::BadSourceAddress,
            ),
            (
                "2014-11-18 13:15:05.734 10.0.1.5 x 83.242.167.77 80 697",
                LineErrorKind::BadPort {
                    field: "source port",
                },
            ),
            (
                "2014-11-18 13:15:05.734 10.0.1.5 49126 83.242.167 80 697",
                LineErrorKind::BadDestinationAddress,
            ),
            (
                "2014-11-18 13:15:05.734 10.0.1.5 49126 83.242.167.77 70000 697",
                LineErrorKind::BadPort {
                    field: "destination port",
                },
            ),
            (
                "2014-11-18 13:15:05.734 10.0.1.5 49126 83.242.167.77 80 1.2",
                LineErrorKind::BadNumber { field: "bytes" },
            ),
            (
                "2014-11-18 13:15:05.734 10.0.1.5 49126 83.242.167.77 80 1.2 M",
                LineErrorKind::BadNumber { field: "bytes" },
            ),
            (
                "2014-11-18 13:15:05.734 10.0.1.5 49126 83.242.167.77 80",
                LineErrorKind::MissingField("bytes"),
            ),
            (
                "2014-11-18 13:15:05.734 10.0.1.5",
                LineErrorKind::MissingField("source port"),
            ),
            (
                "2014-11-18 13:15:05.734 10.0.1.5 49126 83.242.167.77 80 697 12",
                LineErrorKind::TrailingFields { last: "bytes" },
            ),
        ];
        for (line, kind) in cases {
            assert_eq!(parse_line(line.as_bytes()), Err(*kind), "{line}");
        }
    }

    #[test]
    fn recognises_non_quiet_chatter() {
        assert!(is_nfdump_chatter(
            b"Date first seen             Duration     Proto"
        ));
        assert!(is_nfdump_chatter(
            b"Summary: total flows: 7, total bytes: 550"
        ));
        assert!(is_nfdump_chatter(
            b"Time window: 2014-11-18 13:15:04 - 2014-11-18 13:15:12"
        ));
        assert!(!is_nfdump_chatter(b"2014-11-18 13:15:05.734 10.0.1.5"));
        assert!(!is_nfdump_chatter(b"Something else"));
    }
}
