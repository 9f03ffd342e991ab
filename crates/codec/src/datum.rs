//! Avro binary encoding primitives (zig-zag varints, fixed, strings) over byte slices, and a
//! bounded structural check of a datum against a schema.
//!
//! The check exists because apache-avro reserves memory from length prefixes it reads: a ten
//! byte message could ask it for gigabytes. Every datum that goes to apache-avro's decoder is
//! first walked here, which rejects any length larger than the bytes that remain.

use std::net::{IpAddr, Ipv6Addr};

use apache_avro::Schema;

use crate::{error::CodecError, schema::SchemaKind, schema::SchemaVersion};

/// Upper bound of an encoded Avro `long`.
pub(crate) const MAX_LONG_LEN: usize = 10;
/// Upper bound of an encoded Avro `int`.
pub(crate) const MAX_INT_LEN: usize = 5;

/// Appends `v` as an Avro `long` (zig-zag varint).
#[inline]
pub(crate) fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends `v` as an Avro `int` (same varint; at most five bytes for 32-bit values).
#[inline]
pub(crate) fn put_int(out: &mut Vec<u8>, v: i32) {
    put_long(out, i64::from(v));
}

/// The 16-byte `IpAddress` form: IPv6 as is, IPv4 mapped as `::ffff:a.b.c.d`.
#[inline]
pub(crate) fn ip_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The inverse of [`ip_octets`]: `::ffff:0:0/96` becomes IPv4, everything else IPv6.
#[inline]
pub(crate) fn ip_from_octets(octets: [u8; 16]) -> IpAddr {
    Ipv6Addr::from(octets).to_canonical()
}

/// A read cursor over one datum that turns every malformation into a [`CodecError`].
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    kind: SchemaKind,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(kind: SchemaKind, buf: &'a [u8]) -> Self {
        Self { kind, buf, pos: 0 }
    }

    pub(crate) fn kind(&self) -> SchemaKind {
        self.kind
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn truncated(&self, field: &'static str) -> CodecError {
        CodecError::Truncated {
            schema: self.kind,
            field,
        }
    }

    /// Reads an Avro `long`. Overlong encodings (redundant continuation bytes) are accepted
    /// as other Avro implementations accept them; values beyond 64 bits are not.
    #[inline]
    pub(crate) fn long(&mut self, field: &'static str) -> Result<i64, CodecError> {
        let mut z: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.truncated(field));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(CodecError::invalid(
                    self.kind,
                    field,
                    "varint overflows 64 bits",
                ));
            }
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// Reads an Avro `int`: a `long` that must fit 32 bits.
    #[inline]
    pub(crate) fn int(&mut self, field: &'static str) -> Result<i32, CodecError> {
        let v = self.long(field)?;
        i32::try_from(v).map_err(|_| CodecError::invalid(self.kind, field, "int overflows 32 bits"))
    }

    /// Reads an `int` and checks it against `0..=max`.
    #[inline]
    pub(crate) fn int_in(&mut self, field: &'static str, max: u32) -> Result<u32, CodecError> {
        let v = self.int(field)?;
        match u32::try_from(v) {
            Ok(u) if u <= max => Ok(u),
            _ => Err(CodecError::OutOfRange {
                schema: self.kind,
                field,
                value: i128::from(v),
            }),
        }
    }

    /// Reads a `long` and checks it against `0..=max`.
    #[inline]
    pub(crate) fn long_in(&mut self, field: &'static str, max: u64) -> Result<u64, CodecError> {
        let v = self.long(field)?;
        match u64::try_from(v) {
            Ok(u) if u <= max => Ok(u),
            _ => Err(CodecError::OutOfRange {
                schema: self.kind,
                field,
                value: i128::from(v),
            }),
        }
    }

    /// Reads `N` raw bytes (an Avro `fixed`).
    #[inline]
    pub(crate) fn fixed<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], CodecError> {
        let end = self
            .pos
            .checked_add(N)
            .ok_or_else(|| self.truncated(field))?;
        let Some(bytes) = self.buf.get(self.pos..end) else {
            return Err(self.truncated(field));
        };
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        self.pos = end;
        Ok(out)
    }

    /// Reads `len` raw bytes.
    pub(crate) fn take(&mut self, field: &'static str, len: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or_else(|| self.truncated(field))?;
        let Some(bytes) = self.buf.get(self.pos..end) else {
            return Err(self.truncated(field));
        };
        self.pos = end;
        Ok(bytes)
    }

    /// Reads a length prefix and checks that at least that many bytes remain.
    pub(crate) fn len_prefix(&mut self, field: &'static str) -> Result<usize, CodecError> {
        let len = self.long(field)?;
        match usize::try_from(len) {
            Ok(n) if n <= self.remaining() => Ok(n),
            Ok(_) => Err(self.truncated(field)),
            Err(_) => Err(CodecError::invalid(
                self.kind,
                field,
                format!("negative length {len}"),
            )),
        }
    }

    /// Reads an Avro `bytes`.
    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], CodecError> {
        let len = self.len_prefix(field)?;
        self.take(field, len)
    }

    /// Reads an Avro `string` (UTF-8 checked).
    pub(crate) fn string(&mut self, field: &'static str) -> Result<&'a str, CodecError> {
        let bytes = self.bytes(field)?;
        std::str::from_utf8(bytes).map_err(|e| CodecError::invalid(self.kind, field, e.to_string()))
    }

    /// Reads an `IpAddress` (16-byte fixed).
    #[inline]
    pub(crate) fn ip(&mut self, field: &'static str) -> Result<IpAddr, CodecError> {
        Ok(ip_from_octets(self.fixed::<16>(field)?))
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(CodecError::TrailingBytes {
                schema: self.kind,
                count,
            }),
        }
    }
}

/// Deepest nesting [`check_datum`] follows (our schemas nest three levels).
const MAX_DEPTH: usize = 32;

/// Walks one datum written with `writer` and checks that it is well formed: every varint in
/// range, every length within the bytes that remain, union and enum indexes valid, strings
/// UTF-8, and nothing after the datum. Passing this bounds what apache-avro will allocate by
/// a small multiple of the input length.
pub(crate) fn check_datum(writer: &SchemaVersion, datum: &[u8]) -> Result<(), CodecError> {
    let mut cursor = Cursor::new(writer.kind(), datum);
    check(writer, writer.schema(), &mut cursor, 0)?;
    cursor.finish()
}

fn check(
    writer: &SchemaVersion,
    schema: &Schema,
    c: &mut Cursor<'_>,
    depth: usize,
) -> Result<(), CodecError> {
    const F: &str = "datum";
    let kind = c.kind();
    if depth > MAX_DEPTH {
        return Err(CodecError::invalid(kind, F, "schema nests too deeply"));
    }
    match schema {
        Schema::Null => {}
        Schema::Boolean => {
            if c.fixed::<1>(F)?[0] > 1 {
                return Err(CodecError::invalid(
                    kind,
                    F,
                    "boolean byte is neither 0 nor 1",
                ));
            }
        }
        Schema::Int | Schema::Date | Schema::TimeMillis => {
            c.int(F)?;
        }
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => {
            c.long(F)?;
        }
        Schema::Float => {
            c.fixed::<4>(F)?;
        }
        Schema::Double => {
            c.fixed::<8>(F)?;
        }
        Schema::Bytes => {
            c.bytes(F)?;
        }
        Schema::String => {
            c.string(F)?;
        }
        Schema::Fixed(fixed) => {
            c.take(F, fixed.size)?;
        }
        Schema::Enum(e) => {
            let i = c.int(F)?;
            if usize::try_from(i).map_or(true, |i| i >= e.symbols.len()) {
                return Err(CodecError::invalid(
                    kind,
                    F,
                    format!("enum index {i} out of range"),
                ));
            }
        }
        Schema::Union(u) => {
            let i = c.long(F)?;
            let Some(variant) = usize::try_from(i).ok().and_then(|i| u.variants().get(i)) else {
                return Err(CodecError::invalid(
                    kind,
                    F,
                    format!("union index {i} out of range"),
                ));
            };
            check(writer, variant, c, depth + 1)?;
        }
        Schema::Record(record) => {
            for field in &record.fields {
                check(writer, &field.schema, c, depth + 1)?;
            }
        }
        Schema::Array(array) => {
            check_blocks(writer, c, |w, c| check(w, &array.items, c, depth + 1))?
        }
        Schema::Map(map) => check_blocks(writer, c, |w, c| {
            c.string(F)?;
            check(w, &map.types, c, depth + 1)
        })?,
        Schema::Ref { name } => {
            let full = name.fullname(None);
            let Some(target) = writer.named(&full) else {
                return Err(CodecError::invalid(
                    kind,
                    F,
                    format!("unresolved type {full}"),
                ));
            };
            check(writer, target, c, depth + 1)?;
        }
        other => {
            return Err(CodecError::invalid(
                kind,
                F,
                format!("schema type {other} is not used by relbot"),
            ));
        }
    }
    Ok(())
}

/// Array and map blocks: a count, negative when followed by the block's byte size, then the
/// items; a zero count ends the sequence. Each item must consume at least one byte, which
/// bounds the count by what remains.
fn check_blocks(
    writer: &SchemaVersion,
    c: &mut Cursor<'_>,
    mut item: impl FnMut(&SchemaVersion, &mut Cursor<'_>) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    const F: &str = "datum";
    loop {
        let count = c.long(F)?;
        if count == 0 {
            return Ok(());
        }
        if count < 0 {
            c.len_prefix(F)?;
        }
        let count = count.unsigned_abs();
        if count > c.remaining() as u64 {
            return Err(CodecError::Truncated {
                schema: c.kind(),
                field: F,
            });
        }
        for _ in 0..count {
            let before = c.remaining();
            item(writer, c)?;
            if c.remaining() == before {
                return Err(CodecError::invalid(c.kind(), F, "zero-size array items"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_long(v: i64) -> i64 {
        let mut out = Vec::new();
        put_long(&mut out, v);
        assert!(out.len() <= MAX_LONG_LEN);
        let mut c = Cursor::new(SchemaKind::Flow, &out);
        let back = c.long("x").unwrap();
        c.finish().unwrap();
        back
    }

    #[test]
    fn longs_roundtrip_at_the_edges() {
        for v in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(roundtrip_long(v), v);
        }
    }

    #[test]
    fn zigzag_matches_the_spec_examples() {
        for (v, bytes) in [
            (0i64, vec![0u8]),
            (-1, vec![1]),
            (1, vec![2]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 1]),
        ] {
            let mut out = Vec::new();
            put_long(&mut out, v);
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn overflowing_varints_are_errors() {
        let eleven = [0xffu8; 11];
        assert!(Cursor::new(SchemaKind::Flow, &eleven).long("x").is_err());
        let mut ten = [0xffu8; 10];
        ten[9] = 0x02;
        assert!(Cursor::new(SchemaKind::Flow, &ten).long("x").is_err());
        let mut big = Vec::new();
        put_long(&mut big, i64::from(i32::MAX) + 1);
        assert!(Cursor::new(SchemaKind::Flow, &big).int("x").is_err());
    }

    #[test]
    fn addresses_map_ipv4_into_ipv6() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let o = ip_octets(v4);
        assert_eq!(&o[..12], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(ip_from_octets(o), v4);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_from_octets(ip_octets(v6)), v6);
    }
}
