//! The original RelBot detector's input: `EPOCH_MS SRC DST`, one flow per line, separated by
//! spaces or tabs (e.g. `1416337885644 10.1.0.116 93.2.16.20`).

use super::fields::{parse_ip, parse_u64, Whitespace};
use super::LineErrorKind;
use crate::FlowRecord;

/// What [`LineErrorKind::BadTime`] says this format expects.
const TIME_SHAPE: &str = "epoch milliseconds";

/// Parses one non-blank, non-comment line.
#[inline]
pub(crate) fn parse_line(line: &[u8]) -> Result<FlowRecord, LineErrorKind> {
    let mut fields = Whitespace::new(line);
    let time = fields.next().ok_or(LineErrorKind::MissingField("time"))?;
    let start_ms = parse_u64(time)
        .and_then(|ms| i64::try_from(ms).ok())
        .ok_or(LineErrorKind::BadTime {
            expected: TIME_SHAPE,
        })?;
    let src = fields
        .next()
        .ok_or(LineErrorKind::MissingField("source address"))?;
    let src = parse_ip(src).ok_or(LineErrorKind::BadSourceAddress)?;
    let dst = fields
        .next()
        .ok_or(LineErrorKind::MissingField("destination address"))?;
    let dst = parse_ip(dst).ok_or(LineErrorKind::BadDestinationAddress)?;
    if fields.next().is_some() {
        return Err(LineErrorKind::TrailingFields {
            last: "destination address",
        });
    }
    Ok(FlowRecord::from_triple(start_ms, src, dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spaces_tabs_and_ipv6() {
        let record = parse_line(b"1416337885644 10.1.0.116 93.2.16.20").unwrap();
        assert_eq!(
            record,
            FlowRecord::from_triple(
                1_416_337_885_644,
                "10.1.0.116".parse().unwrap(),
                "93.2.16.20".parse().unwrap()
            )
        );
        let record = parse_line(b"\t0\t\tfd00::1 \t 2001:db8::2 ").unwrap();
        assert_eq!(record.start_ms, 0);
        assert_eq!(record.end_ms, 0);
        assert_eq!(
            record.dst,
            "2001:db8::2".parse::<std::net::IpAddr>().unwrap()
        );
    }

    #[test]
    fn names_each_problem() {
        let bad_time = LineErrorKind::BadTime {
            expected: TIME_SHAPE,
        };
        assert_eq!(parse_line(b"x 1.2.3.4 5.6.7.8"), Err(bad_time));
        assert_eq!(parse_line(b"-5 1.2.3.4 5.6.7.8"), Err(bad_time));
        assert_eq!(
            parse_line(b"9223372036854775808 1.2.3.4 5.6.7.8"),
            Err(bad_time)
        );
        assert_eq!(
            parse_line(b"1 1.2.3 5.6.7.8"),
            Err(LineErrorKind::BadSourceAddress)
        );
        assert_eq!(
            parse_line(b"1 1.2.3.4 5.6.7.800"),
            Err(LineErrorKind::BadDestinationAddress)
        );
        assert_eq!(
            parse_line(b"1 1.2.3.4"),
            Err(LineErrorKind::MissingField("destination address"))
        );
        assert_eq!(
            parse_line(b"1"),
            Err(LineErrorKind::MissingField("source address"))
        );
        assert_eq!(
            parse_line(b"1 1.2.3.4 5.6.7.8 9"),
            Err(LineErrorKind::TrailingFields {
                last: "destination address"
            })
        );
    }
}
