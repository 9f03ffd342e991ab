//! Big-endian reads from byte slices that return `None` instead of panicking when the slice is
//! too short: every length in a datagram is untrusted.

/// The `u16` at `at`, if the slice is long enough.
#[inline]
pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// The `u32` at `at`, if the slice is long enough.
#[inline]
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// An unsigned integer of 1 to 8 bytes (IPFIX reduced-size encoding, RFC 7011 §6.2). Longer
/// values keep their 8 least significant bytes; an empty slice is 0.
#[inline]
pub(crate) fn uint(bytes: &[u8]) -> u64 {
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    tail.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_or_refuses() {
        let b = [1, 2, 3, 4, 5];
        assert_eq!(u16_at(&b, 0), Some(0x0102));
        assert_eq!(u16_at(&b, 4), None);
        assert_eq!(u16_at(&b, usize::MAX), None);
        assert_eq!(u32_at(&b, 1), Some(0x0203_0405));
        assert_eq!(u32_at(&b, 2), None);
        assert_eq!(uint(&[]), 0);
        assert_eq!(uint(&[0xff]), 255);
        assert_eq!(uint(&[1, 0, 0, 0, 0, 0, 0, 0, 2]), 2);
    }
}
