//! What can be wrong with one line of text input, as values the caller can count, print or
//! stop on. A bad line never aborts a block: it becomes a [`LineError`] and parsing goes on.

/// Why a line could not be turned into a [`FlowRecord`](crate::FlowRecord).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum LineErrorKind {
    /// The start or end time is not a time of the expected shape (named in the message).
    #[error("bad time (expected {expected})")]
    BadTime {
        /// The shape the format expects, e.g. `epoch milliseconds`.
        expected: &'static str,
    },
    /// The source address is neither dotted-quad IPv4 nor IPv6.
    #[error("bad source address")]
    BadSourceAddress,
    /// The destination address is neither dotted-quad IPv4 nor IPv6.
    #[error("bad destination address")]
    BadDestinationAddress,
    /// The exporter (router) address, where the format has one, is not an address.
    #[error("bad exporter address")]
    BadExporterAddress,
    /// A port is not `0..=65535` nor an ICMP `type.code`.
    #[error("bad {field}")]
    BadPort {
        /// `source port` or `destination port`.
        field: &'static str,
    },
    /// A numeric field (bytes, packets, interface, protocol, flags…) is not a number in range.
    #[error("bad number in field `{field}`")]
    BadNumber {
        /// The field's name (the CSV column name where there is one).
        field: &'static str,
    },
    /// The line ends before a field the format requires.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// The line has more fields than the format has.
    #[error("unexpected extra field(s) after `{last}`")]
    TrailingFields {
        /// The last field the format expects.
        last: &'static str,
    },
    /// A CSV line has a different number of columns than its header.
    #[error("expected {expected} CSV columns (as in the header), found {found}")]
    ColumnCount {
        /// Columns in the header.
        expected: usize,
        /// Columns on this line.
        found: usize,
    },
    /// A CSV header lacks a column the reader needs.
    #[error("CSV header has no `{0}` column")]
    MissingColumn(&'static str),
    /// The line is not valid UTF-8 (usually: the file is binary, e.g. an nfcapd file given to
    /// a text reader). Reported instead of a field error when the line also failed to parse.
    #[error("invalid UTF-8 (is this a binary file?)")]
    InvalidUtf8,
}

/// A line that could not be parsed: where, why, and what it looked like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}: {excerpt:?}")]
pub struct LineError {
    /// 1-based line number in the (decompressed) input.
    pub line: u64,
    /// What was wrong.
    pub kind: LineErrorKind,
    /// The start of the line (at most [`LineError::EXCERPT_BYTES`] bytes, lossy UTF-8), for
    /// a message an operator can act on.
    pub excerpt: String,
}

impl LineError {
    /// How many bytes of the offending line [`LineError::excerpt`] keeps.
    pub const EXCERPT_BYTES: usize = 80;

    /// Builds the error for `line` (the raw bytes, newline excluded) at `line_number`.
    pub fn new(line_number: u64, kind: LineErrorKind, line: &[u8]) -> Self {
        let mut excerpt_len = line.len().min(Self::EXCERPT_BYTES);
        // Do not cut a multi-byte character in half: back off over continuation bytes.
        let mut backed_off = 0;
        while backed_off < 3
            && excerpt_len > 0
            && excerpt_len < line.len()
            && (line[excerpt_len] & 0xC0) == 0x80
        {
            excerpt_len -= 1;
            backed_off += 1;
        }
        Self {
            line: line_number,
            kind,
            excerpt: String::from_utf8_lossy(&line[..excerpt_len]).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_bounded_and_lossy() {
        let long = vec![b'x'; 500];
        let error = LineError::new(7, LineErrorKind::BadSourceAddress, &long);
        assert_eq!(error.excerpt.len(), LineError::EXCERPT_BYTES);
        assert_eq!(error.line, 7);

        let binary = LineError::new(1, LineErrorKind::InvalidUtf8, b"\xff\xfeab");
        assert_eq!(binary.excerpt, "\u{fffd}\u{fffd}ab");
    }

    #[test]
    fn excerpt_does_not_split_a_character() {
        let mut line = vec![b'a'; 79];
        line.extend_from_slice("é and more".as_bytes());
        let error = LineError::new(1, LineErrorKind::BadTime { expected: "x" }, &line);
        assert_eq!(error.excerpt, "a".repeat(79));
    }

    #[test]
    fn messages_name_the_problem() {
        let error = LineError::new(
            12,
            LineErrorKind::MissingField("destination address"),
            b"1 2",
        );
        assert_eq!(
            error.to_string(),
            "line 12: missing field `destination address`: \"1 2\""
        );
        assert_eq!(
            LineErrorKind::BadPort {
                field: "source port"
            }
            .to_string(),
            "bad source port"
        );
    }
}
