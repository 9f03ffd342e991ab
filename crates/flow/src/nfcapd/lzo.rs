//! LZO1X decompression, as nfdump's `-z` files need (`lzo1x_decompress_safe` semantics): every
//! offset and length is checked, so damaged input is an error, never a panic or an over-read.
//!
//! Written here rather than taken from a crate: the pure-Rust `lzokay-native` indexes without
//! checks (it panics on damaged input), and `minilzo-rs`/`rust-lzo` are GPL. The format is
//! small: literal runs and back-references (M1–M4) with a two-bit "trailing literals" state.

/// Why an LZO stream could not be decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LzoError {
    /// The input ends inside an instruction or literal run.
    #[error("input overrun")]
    InputOverrun,
    /// The output would exceed the limit given.
    #[error("output overrun")]
    OutputOverrun,
    /// A back-reference points before the start of the output.
    #[error("lookbehind overrun")]
    LookbehindOverrun,
    /// The input ends without the end-of-stream marker.
    #[error("no end-of-stream marker")]
    NoEndMarker,
}

struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    #[inline]
    fn byte(&mut self) -> Result<u8, LzoError> {
        let b = *self.bytes.get(self.at).ok_or(LzoError::InputOverrun)?;
        self.at += 1;
        Ok(b)
    }

    #[inline]
    fn le16(&mut self) -> Result<usize, LzoError> {
        let lo = self.byte()?;
        let hi = self.byte()?;
        Ok(usize::from(lo) | usize::from(hi) << 8)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], LzoError> {
        let end = self.at.checked_add(n).ok_or(LzoError::InputOverrun)?;
        let s = self.bytes.get(self.at..end).ok_or(LzoError::InputOverrun)?;
        self.at = end;
        Ok(s)
    }

    /// A run length extension: zero bytes count 255 each, then a non-zero byte.
    fn extension(&mut self, base: usize) -> Result<usize, LzoError> {
        let mut zeros = 0usize;
        loop {
            let b = self.byte()?;
            if b != 0 {
                return Ok(base + zeros * 255 + usize::from(b));
            }
            zeros += 1;
        }
    }
}

/// Appends literals, respecting the output limit.
#[inline]
fn literals(out: &mut Vec<u8>, bytes: &[u8], limit: usize) -> Result<(), LzoError> {
    if out.len() + bytes.len() > limit {
        return Err(LzoError::OutputOverrun);
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// Copies `len` bytes from `dist` bytes back (the ranges may overlap).
#[inline]
fn back_reference(
    out: &mut Vec<u8>,
    dist: usize,
    len: usize,
    limit: usize,
) -> Result<(), LzoError> {
    if dist == 0 || dist > out.len() {
        return Err(LzoError::LookbehindOverrun);
    }
    if out.len() + len > limit {
        return Err(LzoError::OutputOverrun);
    }
    let start = out.len() - dist;
    if dist >= len {
        out.extend_from_within(start..start + len);
    } else {
        for i in 0..len {
            let b = out[start + i];
            out.push(b);
        }
    }
    Ok(())
}

/// Decompresses one LZO1X stream into `out` (cleared first), producing at most `limit` bytes.
pub fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), LzoError> {
    out.clear();
    let mut r = Input {
        bytes: input,
        at: 0,
    };
    // The state: how many literals the last instruction copied (4 = a long run).
    let mut state: usize = 0;
    let first = *input.first().ok_or(LzoError::InputOverrun)?;
    if first > 17 {
        r.at = 1;
        let n = usize::from(first - 17);
        literals(out, r.take(n)?, limit)?;
        state = n.min(4);
    }
    loop {
        let inst = usize::from(r.byte()?);
        let (dist, len);
        if inst >= 64 {
            // M2: 3–8 bytes from up to 2 KiB back.
            len = (inst >> 5) + 1;
            dist = (usize::from(r.byte()?) << 3) + ((inst >> 2) & 7) + 1;
            state = inst & 3;
        } else if inst >= 32 {
            // M3: up to 16 KiB back.
            len = if inst & 31 == 0 {
                r.extension(31)? + 2
            } else {
                (inst & 31) + 2
            };
            let word = r.le16()?;
            dist = (word >> 2) + 1;
            state = word & 3;
        } else if inst >= 16 {
            // M4: 16–48 KiB back; distance 16384 exactly is the end of the stream.
            len = if inst & 7 == 0 {
                r.extension(7)? + 2
            } else {
                (inst & 7) + 2
            };
            let word = r.le16()?;
            let d = ((inst & 8) << 11) + (word >> 2);
            if d == 0 {
                return Ok(());
            }
            dist = d + 16384;
            state = word & 3;
        } else if state == 0 {
            // A literal run of 4 or more.
            let n = if inst == 0 {
                r.extension(15)? + 3
            } else {
                inst + 3
            };
            literals(out, r.take(n)?, limit)?;
            state = 4;
            continue;
        } else if state < 4 {
            // M1 after 1–3 literals: 2 bytes from up to 1 KiB back.
            len = 2;
            dist = (usize::from(r.byte()?) << 2) + (inst >> 2) + 1;
            state = inst & 3;
        } else {
            // M1 after a long literal run: 3 bytes from 2–3 KiB back.
            len = 3;
            dist = (usize::from(r.byte()?) << 2) + (inst >> 2) + 2049;
            state = inst & 3;
        }
        back_reference(out, dist, len, limit)?;
        if state > 0 {
            literals(out, r.take(state)?, limit)?;
        }
        if r.at >= input.len() {
            return Err(LzoError::NoEndMarker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn literal_only_stream() {
        // 17 + 5 = 22: five literals, then the end marker 0x11 0x00 0x00.
        let input = [22, b'h', b'e', b'l', b'l', b'o', 0x11, 0, 0];
        let mut out = Vec::new();
        decompress(&input, &mut out, 100).unwrap();
        assert_eq!(out, b"hello");
    }

    #[test]
    fn end_marker_alone_is_empty() {
        // What liblzo's lzo1x_1_compress writes for empty input.
        let mut out = vec![1, 2, 3];
        decompress(&[0x11, 0, 0], &mut out, 100).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn damaged_streams_are_errors() {
        let mut out = Vec::new();
        assert_eq!(decompress(&[], &mut out, 10), Err(LzoError::InputOverrun));
        assert_eq!(
            decompress(&[22, b'h'], &mut out, 10),
            Err(LzoError::InputOverrun)
        );
        assert_eq!(
            decompress(&[22, 1, 2, 3, 4, 5, 0x11, 0, 0], &mut out, 3),
            Err(LzoError::OutputOverrun)
        );
        // An M2 reference 200 bytes back after 5 literals.
        assert_eq!(
            decompress(&[22, 1, 2, 3, 4, 5, 0x40, 25], &mut out, 100),
            Err(LzoError::LookbehindOverrun)
        );
    }

    #[test]
    fn real_compressor_round_trips() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{} flow {} ", i % 97, i / 7).into_bytes())
            .collect();
        let compressed = lzokay_native::compress(&text).unwrap();
        let mut out = Vec::new();
        decompress(&compressed, &mut out, 1 << 24).unwrap();
        assert_eq!(out, text);
    }

    proptest! {
        #[test]
        // From one byte: `lzokay-native` compresses empty input to nothing at all, not to the
        // end marker alone that liblzo writes (see `end_marker_alone_is_empty`).
        fn round_trips(data in proptest::collection::vec(0u8..8, 1..5000)) {
            let compressed = lzokay_native::compress(&data).unwrap();
            let mut out = Vec::new();
            decompress(&compressed, &mut out, 1 << 20).unwrap();
            prop_assert_eq!(out, data);
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            let _ = decompress(&data, &mut out, 1 << 16);
        }
    }
}
