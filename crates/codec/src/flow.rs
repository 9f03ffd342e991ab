//! [`FlowRecord`] on the wire: a hand-written datum encoder and decoder for the fixed
//! `FlowRecord` schema (the hot path: the ingest writes hundreds of thousands per second),
//! and the apache-avro generic mapping they are tested against.

use apache_avro::types::Value;
use relbot_flow::FlowRecord;

use crate::{
    datum::{ip_octets, put_int, put_long, Cursor, MAX_INT_LEN, MAX_LONG_LEN},
    error::CodecError,
    schema::{self, SchemaKind},
    value::{ip_value, u64_to_long, Fields},
    wire::{sealed::Sealed, AvroRecord},
};

const KIND: SchemaKind = SchemaKind::Flow;

/// Upper bound of one encoded flow datum, reserved once per record.
const MAX_DATUM_LEN: usize = 8 * MAX_LONG_LEN + 5 * MAX_INT_LEN + 3 * 16 + 1;

impl Sealed for FlowRecord {}

impl AvroRecord for FlowRecord {
    const KIND: SchemaKind = KIND;

    #[inline]
    fn encode_datum(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        encode_flow_datum(self, out)
    }

    #[inline]
    fn decode_datum(datum: &[u8]) -> Result<Self, CodecError> {
        decode_flow_datum(datum)
    }

    fn to_value(&self) -> Result<Value, CodecError> {
        flow_to_value(self)
    }

    fn from_value(value: Value) -> Result<Self, CodecError> {
        flow_from_value(value)
    }
}

/// Appends the Avro datum of `flow` (current `FlowRecord` schema, no framing) to `out`.
///
/// Fails only when `bytes` or `packets` exceed `i64::MAX` (Avro `long`).
#[inline]
pub fn encode_flow_datum(flow: &FlowRecord, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let bytes = u64_to_long(KIND, "bytes", flow.bytes)?;
    let packets = u64_to_long(KIND, "packets", flow.packets)?;
    out.reserve(MAX_DATUM_LEN);
    put_long(out, flow.start_ms);
    put_long(out, flow.end_ms);
    out.extend_from_slice(&ip_octets(flow.src));
    out.extend_from_slice(&ip_octets(flow.dst));
    put_int(out, i32::from(flow.src_port));
    put_int(out, i32::from(flow.dst_port));
    put_int(out, i32::from(flow.protocol));
    put_int(out, i32::from(flow.tcp_flags));
    put_long(out, bytes);
    put_long(out, packets);
    match flow.exporter {
        None => out.push(0),
        Some(ip) => {
            // Union branch 1 (IpAddress), zig-zag encoded.
            out.push(2);
            out.extend_from_slice(&ip_octets(ip));
        }
    }
    put_long(out, i64::from(flow.observation_domain));
    put_long(out, i64::from(flow.sampling_rate));
    put_long(out, i64::from(flow.input_if));
    put_long(out, i64::from(flow.output_if));
    put_int(out, i32::from(flow.flags));
    Ok(())
}

/// Decodes one datum written with the current `FlowRecord` schema; every byte must be used.
#[inline]
pub fn decode_flow_datum(datum: &[u8]) -> Result<FlowRecord, CodecError> {
    let mut c = Cursor::new(KIND, datum);
    let flow = FlowRecord {
        start_ms: c.long("start_ms")?,
        end_ms: c.long("end_ms")?,
        src: c.ip("src")?,
        dst: c.ip("dst")?,
        src_port: c.int_in("src_port", u16::MAX.into())? as u16,
        dst_port: c.int_in("dst_port", u16::MAX.into())? as u16,
        protocol: c.int_in("protocol", u8::MAX.into())? as u8,
        tcp_flags: c.int_in("tcp_flags", u8::MAX.into())? as u8,
        bytes: c.long_in("bytes", i64::MAX as u64)?,
        packets: c.long_in("packets", i64::MAX as u64)?,
        exporter: match c.long("exporter")? {
            0 => None,
            1 => Some(c.ip("exporter")?),
            i => {
                return Err(CodecError::invalid(
                    KIND,
                    "exporter",
                    format!("union index {i} out of range"),
                ))
            }
        },
        observation_domain: c.long_in("observation_domain", u32::MAX.into())? as u32,
        sampling_rate: c.long_in("sampling_rate", u32::MAX.into())? as u32,
        input_if: c.long_in("input_if", u32::MAX.into())? as u32,
        output_if: c.long_in("output_if", u32::MAX.into())? as u32,
        flags: c.int_in("flags", u8::MAX.into())? as u8,
    };
    c.finish()?;
    Ok(flow)
}

/// The apache-avro generic value of `flow` under the current schema.
pub fn flow_to_value(flow: &FlowRecord) -> Result<Value, CodecError> {
    let exporter = match flow.exporter {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(ip) => Value::Union(1, Box::new(ip_value(ip))),
    };
    Ok(Value::Record(vec![
        ("start_ms".into(), Value::TimestampMillis(flow.start_ms)),
        ("end_ms".into(), Value::TimestampMillis(flow.end_ms)),
        ("src".into(), ip_value(flow.src)),
        ("dst".into(), ip_value(flow.dst)),
        ("src_port".into(), Value::Int(flow.src_port.into())),
        ("dst_port".into(), Value::Int(flow.dst_port.into())),
        ("protocol".into(), Value::Int(flow.protocol.into())),
        ("tcp_flags".into(), Value::Int(flow.tcp_flags.into())),
        (
            "bytes".into(),
            Value::Long(u64_to_long(KIND, "bytes", flow.bytes)?),
        ),
        (
            "packets".into(),
            Value::Long(u64_to_long(KIND, "packets", flow.packets)?),
        ),
        ("exporter".into(), exporter),
        (
            "observation_domain".into(),
            Value::Long(flow.observation_domain.into()),
        ),
        (
            "sampling_rate".into(),
            Value::Long(flow.sampling_rate.into()),
        ),
        ("input_if".into(), Value::Long(flow.input_if.into())),
        ("output_if".into(), Value::Long(flow.output_if.into())),
        ("flags".into(), Value::Int(flow.flags.into())),
    ]))
}

/// The [`FlowRecord`] of a generic value under the current schema.
pub fn flow_from_value(value: Value) -> Result<FlowRecord, CodecError> {
    let mut f = Fields::new(KIND, "FlowRecord", value)?;
    Ok(FlowRecord {
        start_ms: f.long("start_ms")?,
        end_ms: f.long("end_ms")?,
        src: f.ip("src")?,
        dst: f.ip("dst")?,
        src_port: f.int_in("src_port", u16::MAX.into())? as u16,
        dst_port: f.int_in("dst_port", u16::MAX.into())? as u16,
        protocol: f.int_in("protocol", u8::MAX.into())? as u8,
        tcp_flags: f.int_in("tcp_flags", u8::MAX.into())? as u8,
        bytes: f.long_in("bytes", i64::MAX as u64)?,
        packets: f.long_in("packets", i64::MAX as u64)?,
        exporter: match f.nullable("exporter")? {
            None => None,
            Some(v) => Some(crate::value::as_ip(KIND, "exporter", v)?),
        },
        observation_domain: f.long_in("observation_domain", u32::MAX.into())? as u32,
        sampling_rate: f.long_in("sampling_rate", u32::MAX.into())? as u32,
        input_if: f.long_in("input_if", u32::MAX.into())? as u32,
        output_if: f.long_in("output_if", u32::MAX.into())? as u32,
        flags: f.int_in("flags", u8::MAX.into())? as u8,
    })
}

/// The reference encoder: [`flow_to_value`] then apache-avro's `to_avro_datum`, which also
/// validates the value against the schema. Slower than [`encode_flow_datum`]; kept to test
/// and benchmark the fast path against.
pub fn encode_flow_datum_generic(flow: &FlowRecord) -> Result<Vec<u8>, CodecError> {
    let value = flow_to_value(flow)?;
    apache_avro::to_avro_datum(schema::current(KIND).schema(), value)
        .map_err(|e| CodecError::avro(KIND, e))
}

/// The reference decoder: apache-avro's `from_avro_datum` then [`flow_from_value`], after
/// the same structural check as for any datum handed to apache-avro.
pub fn decode_flow_datum_generic(datum: &[u8]) -> Result<FlowRecord, CodecError> {
    let current = schema::current(KIND);
    crate::datum::check_datum(current, datum)?;
    let mut rest = datum;
    let value = apache_avro::from_avro_datum(current.schema(), &mut rest, None)
        .map_err(|e| CodecError::avro(KIND, e))?;
    flow_from_value(value)
}
