//! Byte-level field parsing shared by the line formats: whitespace tokens, unsigned integers,
//! ports (including nfdump's ICMP `type.code`), TCP flags and IP addresses.
//!
//! Everything works on `&[u8]` and returns `Option`: the format parsers know which field they
//! were reading and turn `None` into the right [`LineErrorKind`](super::LineErrorKind). These
//! functions are the hot path of reading a large nfdump dump, so they are hand-written byte
//! loops (IPv4 included) rather than `str::parse`, and none of them allocates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Splits a line into fields separated by runs of spaces and tabs.
#[derive(Debug, Clone)]
pub(crate) struct Whitespace<'a> {
    rest: &'a [u8],
}

impl<'a> Whitespace<'a> {
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Self { rest: line }
    }
}

impl<'a> Iterator for Whitespace<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        // nfdump pads columns with long runs of spaces: skip them eight bytes at a time.
        let mut rest = self.rest;
        while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
            if u64::from_ne_bytes(*chunk) != u64::from_ne_bytes([b' '; 8]) {
                break;
            }
            rest = tail;
        }
        let start = rest.iter().position(|&b| !is_blank(b))?;
        let rest = &rest[start..];
        let len = rest.iter().position(|&b| is_blank(b)).unwrap_or(rest.len());
        let (field, tail) = rest.split_at(len);
        self.rest = tail;
        Some(field)
    }
}

/// Space or tab: the separators of the whitespace formats.
#[inline]
pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Strips one trailing `\r` (files written on Windows) and a UTF-8 byte order mark.
#[inline]
pub(crate) fn strip_line_noise(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}

/// `true` for lines every format skips: empty, only blanks, or a `#` comment.
#[inline]
pub(crate) fn is_blank_or_comment(line: &[u8]) -> bool {
    match line.iter().find(|&&b| !is_blank(b)) {
        None => true,
        Some(&b) => b == b'#',
    }
}

/// A decimal unsigned integer made only of ASCII digits (no sign, no blanks), or `None` when
/// it is empty, has another byte or overflows `u64`.
#[inline]
pub(crate) fn parse_u64(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in field {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

/// Like [`parse_u64`] but bounded to `u32`.
#[inline]
pub(crate) fn parse_u32(field: &[u8]) -> Option<u32> {
    parse_u64(field).and_then(|v| u32::try_from(v).ok())
}

/// Like [`parse_u64`] but bounded to `u8`.
#[inline]
pub(crate) fn parse_u8(field: &[u8]) -> Option<u8> {
    parse_u64(field).and_then(|v| u8::try_from(v).ok())
}

/// A transport port: `0..=65535`, or nfdump's ICMP `type.code` (each `0..=255`), which is
/// stored as `type * 256 + code`, the way NetFlow carries it.
#[inline]
pub(crate) fn parse_port(field: &[u8]) -> Option<u16> {
    match memchr::memchr(b'.', field) {
        None => parse_u64(field).and_then(|v| u16::try_from(v).ok()),
        Some(dot) => {
            let icmp_type = parse_u8(&field[..dot])?;
            let icmp_code = parse_u8(&field[dot + 1..])?;
            Some(u16::from(icmp_type) << 8 | u16::from(icmp_code))
        }
    }
}

/// TCP flags as nfdump prints them (`...AP.SF`, `.AP.SF`: a letter per set flag, `.` for a
/// clear one, in any position) or as a number (decimal or `0x` hex).
pub(crate) fn parse_tcp_flags(field: &[u8]) -> Option<u8> {
    if let Some(hex) = field
        .strip_prefix(b"0x")
        .or_else(|| field.strip_prefix(b"0X"))
    {
        let text = std::str::from_utf8(hex).ok()?;
        return u8::from_str_radix(text, 16).ok();
    }
    if field.first().is_some_and(u8::is_ascii_digit) {
        return parse_u8(field);
    }
    if field.is_empty() {
        return None;
    }
    let mut flags = 0u8;
    for &b in field {
        flags |= match b {
            b'.' => 0,
            b'F' => 0x01,
            b'S' => 0x02,
            b'R' => 0x04,
            b'P' => 0x08,
            b'A' => 0x10,
            b'U' => 0x20,
            b'E' => 0x40,
            b'C' => 0x80,
            _ => return None,
        };
    }
    Some(flags)
}

/// An IP protocol: a number, or one of the names nfdump prints (case-insensitive). A name we
/// do not know is "unknown" (0), not an error: the protocol does not matter for detection.
pub(crate) fn parse_protocol(field: &[u8]) -> Option<u8> {
    if field.first().is_some_and(u8::is_ascii_digit) {
        return parse_u8(field);
    }
    if field.is_empty() {
        return None;
    }
    const NAMES: &[(&[u8], u8)] = &[
        (b"TCP", 6),
        (b"UDP", 17),
        (b"ICMP", 1),
        (b"ICMP6", 58),
        (b"IPV6-ICMP", 58),
        (b"IGMP", 2),
        (b"IPIP", 4),
        (b"IPV6", 41),
        (b"RSVP", 46),
        (b"GRE", 47),
        (b"ESP", 50),
        (b"AH", 51),
        (b"EIGRP", 88),
        (b"OSPF", 89),
        (b"PIM", 103),
        (b"VRRP", 112),
        (b"L2TP", 115),
        (b"SCTP", 132),
    ];
    Some(
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(field))
            .map_or(0, |&(_, number)| number),
    )
}

/// An IPv4 or IPv6 address. Dotted-quad IPv4 is parsed by hand (the common case in a dump of
/// millions of lines); anything with a `:` goes to the standard library's IPv6 parser, which
/// borrows the bytes as `&str` without allocating.
#[inline]
pub(crate) fn parse_ip(field: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = parse_ipv4(field) {
        return Some(IpAddr::V4(v4));
    }
    // Only text with a colon can be IPv6; anything else is not an address.
    memchr::memchr(b':', field)?;
    let text = std::str::from_utf8(field).ok()?;
    text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// Dotted-quad IPv4 with the same rules as `std` (four decimal octets `0..=255`, no leading
/// zeros), without going through `str`.
#[inline]
pub(crate) fn parse_ipv4(field: &[u8]) -> Option<Ipv4Addr> {
    if field.len() < 7 || field.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut index = 0;
    let mut value: u16 = 0;
    let mut digits = 0;
    for &b in field {
        if b == b'.' {
            if digits == 0 || index == 3 {
                return None;
            }
            octets[index] = value as u8;
            index += 1;
            value = 0;
            digits = 0;
        } else {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 || (digits == 1 && value == 0) {
                // Not a digit, or a leading zero such as `010`.
                return None;
            }
            value = value * 10 + u16::from(digit);
            digits += 1;
            if value > 255 {
                return None;
            }
        }
    }
    if digits == 0 || index != 3 {
        return None;
    }
    octets[3] = value as u8;
    Some(Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_splits_runs_of_spaces_and_tabs() {
        let fields: Vec<&[u8]> = Whitespace::new(b"  a\t\tbb  c \t").collect();
        assert_eq!(fields, vec![&b"a"[..], b"bb", b"c"]);
        assert_eq!(Whitespace::new(b" \t ").next(), None);
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"1 "), None);
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u8(b"255"), Some(255));
        assert_eq!(parse_u8(b"256"), None);
    }

    #[test]
    fn ports_and_icmp_type_code() {
        assert_eq!(parse_port(b"80"), Some(80));
        assert_eq!(parse_port(b"65535"), Some(65535));
        assert_eq!(parse_port(b"65536"), None);
        assert_eq!(parse_port(b"8.0"), Some(2048));
        assert_eq!(parse_port(b"3.3"), Some(771));
        assert_eq!(parse_port(b"0.0"), Some(0));
        assert_eq!(parse_port(b"255.255"), Some(65535));
        assert_eq!(parse_port(b"256.0"), None);
        assert_eq!(parse_port(b"8."), None);
        assert_eq!(parse_port(b".0"), None);
        assert_eq!(parse_port(b"8.0.1"), None);
        assert_eq!(parse_port(b"http"), None);
    }

    #[test]
    fn tcp_flags() {
        assert_eq!(parse_tcp_flags(b"...AP.SF"), Some(0x1b));
        assert_eq!(parse_tcp_flags(b".AP.SF"), Some(0x1b));
        assert_eq!(parse_tcp_flags(b"...A.RS."), Some(0x16));
        assert_eq!(parse_tcp_flags(b"CEUAPRSF"), Some(0xff));
        assert_eq!(parse_tcp_flags(b"........"), Some(0));
        assert_eq!(parse_tcp_flags(b"27"), Some(27));
        assert_eq!(parse_tcp_flags(b"0x1b"), Some(0x1b));
        assert_eq!(parse_tcp_flags(b"0x1g"), None);
        assert_eq!(parse_tcp_flags(b"..X..."), None);
        assert_eq!(parse_tcp_flags(b""), None);
    }

    #[test]
    fn protocols() {
        assert_eq!(parse_protocol(b"TCP"), Some(6));
        assert_eq!(parse_protocol(b"udp"), Some(17));
        assert_eq!(parse_protocol(b"ICMP"), Some(1));
        assert_eq!(parse_protocol(b"ICMP6"), Some(58));
        assert_eq!(parse_protocol(b"47"), Some(47));
        assert_eq!(parse_protocol(b"300"), None);
        assert_eq!(parse_protocol(b"WHATEVER"), Some(0));
        assert_eq!(parse_protocol(b""), None);
    }

    #[test]
    fn ipv4_matches_std_on_tricky_inputs() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.1.5",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.00",
            "1..2.3",
            "1.2.3.",
            ".1.2.3",
            "1.2.3.4 ",
            "a.b.c.d",
            "1.2.3.-4",
            "999.1.1.1",
        ] {
            assert_eq!(
                parse_ipv4(text.as_bytes()),
                text.parse::<Ipv4Addr>().ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn ipv6_through_std() {
        let v6: IpAddr = "2a09:e931:960c::7099".parse().unwrap();
        assert_eq!(parse_ip(b"2a09:e931:960c::7099"), Some(v6));
        assert_eq!(
            parse_ip(b"::ffff:1.2.3.4"),
            Some("::ffff:1.2.3.4".parse().unwrap())
        );
        assert_eq!(parse_ip(b"2a09:e9..7099"), None, "nfdump's shortened form");
        assert_eq!(parse_ip(b"fd00::108\xff"), None);
        assert_eq!(parse_ip(b"host.example"), None);
    }
}
