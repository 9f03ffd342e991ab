//! [`Block`]: a run of whole lines cut from an input, the unit of parallel parsing.

/// A chunk of whole lines of (decompressed) input plus the number of its first line, so that
/// blocks can be parsed independently, on any thread, and still report exact line numbers.
///
/// Every line in `data` ends with `\n`, except possibly the last line of the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    /// 1-based number of the first line in `data`.
    pub first_line: u64,
    /// The bytes of the lines, newlines included.
    pub data: Vec<u8>,
}

impl Block {
    /// A block holding `data`, whose first line is line `first_line` (1-based) of its input.
    pub fn new(first_line: u64, data: Vec<u8>) -> Self {
        Self { first_line, data }
    }

    /// The lines of the block with their 1-based numbers, without the `\n` (a `\r` before it
    /// is kept: the line parsers strip it).
    pub fn lines(&self) -> BlockLines<'_> {
        BlockLines {
            rest: &self.data,
            number: self.first_line,
        }
    }
}

/// Iterator over the numbered lines of a [`Block`], see [`Block::lines`].
#[derive(Debug, Clone)]
pub struct BlockLines<'a> {
    rest: &'a [u8],
    number: u64,
}

impl<'a> Iterator for BlockLines<'a> {
    type Item = (u64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.rest) {
            Some(end) => (&self.rest[..end], &self.rest[end + 1..]),
            None => (self.rest, &[][..]),
        };
        let number = self.number;
        self.rest = rest;
        self.number += 1;
        Some((number, line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lines_from_first_line() {
        let block = Block::new(41, b"a\n\nb\r\nc".to_vec());
        let lines: Vec<(u64, &[u8])> = block.lines().collect();
        assert_eq!(
            lines,
            vec![(41, &b"a"[..]), (42, b""), (43, b"b\r"), (44, b"c")]
        );
    }

    #[test]
    fn final_newline_does_not_make_an_extra_line() {
        assert_eq!(Block::new(1, b"a\nb\n".to_vec()).lines().count(), 2);
        assert_eq!(Block::new(1, Vec::new()).lines().count(), 0);
        assert_eq!(Block::new(1, b"\n".to_vec()).lines().count(), 1);
    }
}
