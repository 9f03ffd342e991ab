//! Byte-level helpers of the snapshot format: LEB128 varints, zigzag integers, addresses,
//! and a bounds-checked reader whose every failure is an [`EngineError`] with an offset.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::EngineError;

/// Appends snapshot fields to a byte vector.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub(crate) fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => {
                self.buf.push(4);
                self.buf.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                self.buf.push(6);
                self.buf.extend_from_slice(&a.octets());
            }
        }
    }
}

/// Reads snapshot fields; never panics, never allocates more than the input can describe.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn invalid_at(&self, at: usize, problem: &'static str) -> EngineError {
        EngineError::SnapshotInvalid {
            what: self.what,
            at,
            problem,
        }
    }

    fn truncated(&self) -> EngineError {
        EngineError::SnapshotTruncated {
            what: self.what,
            at: self.buf.len(),
        }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], EngineError> {
        if n > self.remaining() {
            return Err(self.truncated());
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, EngineError> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn varint(&mut self) -> Result<u64, EngineError> {
        let at = self.pos;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(self.invalid_at(at, "varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.invalid_at(at, "varint longer than 10 bytes"))
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64, EngineError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub(crate) fn f64(&mut self) -> Result<f64, EngineError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// A count of items that take at least `min_bytes` each: larger counts than the rest of
    /// the input can hold are rejected before anything is allocated.
    pub(crate) fn count(&mut self, min_bytes: usize) -> Result<usize, EngineError> {
        let at = self.pos;
        let n = self.varint()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(self.invalid_at(at, "count larger than the remaining bytes"));
        }
        Ok(n as usize)
    }

    pub(crate) fn str(&mut self, max: usize) -> Result<&'a str, EngineError> {
        let at = self.pos;
        let n = self.count(1)?;
        if n > max {
            return Err(self.invalid_at(at, "string too long"));
        }
        std::str::from_utf8(self.bytes(n)?).map_err(|_| self.invalid_at(at, "string not UTF-8"))
    }

    pub(crate) fn ip(&mut self) -> Result<IpAddr, EngineError> {
        let at = self.pos;
        match self.u8()? {
            4 => {
                let b = self.bytes(4)?;
                Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            }
            6 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(self.bytes(16)?);
                Ok(IpAddr::V6(Ipv6Addr::from(a)))
            }
            _ => Err(self.invalid_at(at, "address family is neither 4 nor 6")),
        }
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), EngineError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.invalid_at(self.pos, "trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut w = Writer::default();
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            w.varint(v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            w.zigzag(v);
        }
        w.f64(0.25);
        w.str("classic");
        w.ip("192.0.2.1".parse().unwrap());
        w.ip("2001:db8::1".parse().unwrap());
        let mut r = Reader::new(&w.buf, "test");
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(r.varint().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(r.zigzag().unwrap(), v);
        }
        assert_eq!(r.f64().unwrap(), 0.25);
        assert_eq!(r.str(16).unwrap(), "classic");
        assert_eq!(r.ip().unwrap().to_string(), "192.0.2.1");
        assert_eq!(r.ip().unwrap().to_string(), "2001:db8::1");
        r.finish().unwrap();
    }

    #[test]
    fn malformed_fields_are_errors() {
        let mut r = Reader::new(&[0xff; 11], "test");
        assert!(matches!(
            r.varint(),
            Err(EngineError::SnapshotInvalid { .. })
        ));
        let mut r = Reader::new(&[0x80], "test");
        assert!(matches!(
            r.varint(),
            Err(EngineError::SnapshotTruncated { .. })
        ));
        let mut r = Reader::new(&[5, 1, 2], "test");
        assert!(r.ip().is_err());
        let mut r = Reader::new(&[100, 1, 2], "test");
        assert!(r.count(1).is_err());
        let mut r = Reader::new(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            "t",
        );
        assert!(r.varint().is_err());
    }
}
