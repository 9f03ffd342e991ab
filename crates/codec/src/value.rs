//! Small helpers between apache-avro's generic [`Value`] and our types (the reference path
//! and schema resolution).

use std::net::IpAddr;

use apache_avro::types::Value;

use crate::{
    datum::{ip_from_octets, ip_octets},
    error::CodecError,
    schema::SchemaKind,
};

/// The `IpAddress` fixed value of `ip`.
pub(crate) fn ip_value(ip: IpAddr) -> Value {
    Value::Fixed(16, ip_octets(ip).to_vec())
}

/// A `u64` as an Avro `long`, or an error above `i64::MAX`.
pub(crate) fn u64_to_long(
    kind: SchemaKind,
    field: &'static str,
    v: u64,
) -> Result<i64, CodecError> {
    i64::try_from(v).map_err(|_| CodecError::OutOfRange {
        schema: kind,
        field,
        value: i128::from(v),
    })
}

/// The fields of one record value, taken by name.
#[derive(Debug)]
pub(crate) struct Fields {
    kind: SchemaKind,
    fields: Vec<(String, Value)>,
}

impl Fields {
    pub(crate) fn new(
        kind: SchemaKind,
        what: &'static str,
        value: Value,
    ) -> Result<Self, CodecError> {
        match value {
            Value::Record(fields) => Ok(Self { kind, fields }),
            other => Err(mismatch(kind, what, "record", &other)),
        }
    }

    pub(crate) fn take(&mut self, name: &'static str) -> Result<Value, CodecError> {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(std::mem::replace(v, Value::Null)),
            None => Err(CodecError::invalid(self.kind, name, "missing field")),
        }
    }

    pub(crate) fn long(&mut self, name: &'static str) -> Result<i64, CodecError> {
        as_long(self.kind, name, self.take(name)?)
    }

    pub(crate) fn long_in(&mut self, name: &'static str, max: u64) -> Result<u64, CodecError> {
        let v = self.long(name)?;
        match u64::try_from(v) {
            Ok(u) if u <= max => Ok(u),
            _ => Err(CodecError::OutOfRange {
                schema: self.kind,
                field: name,
                value: i128::from(v),
            }),
        }
    }

    pub(crate) fn int_in(&mut self, name: &'static str, max: u32) -> Result<u32, CodecError> {
        let v = match self.take(name)? {
            Value::Int(i) => i,
            other => return Err(mismatch(self.kind, name, "int", &other)),
        };
        match u32::try_from(v) {
            Ok(u) if u <= max => Ok(u),
            _ => Err(CodecError::OutOfRange {
                schema: self.kind,
                field: name,
                value: i128::from(v),
            }),
        }
    }

    pub(crate) fn double(&mut self, name: &'static str) -> Result<f64, CodecError> {
        match self.take(name)? {
            Value::Double(d) => Ok(d),
            other => Err(mismatch(self.kind, name, "double", &other)),
        }
    }

    pub(crate) fn string(&mut self, name: &'static str) -> Result<String, CodecError> {
        as_string(self.kind, name, self.take(name)?)
    }

    pub(crate) fn ip(&mut self, name: &'static str) -> Result<IpAddr, CodecError> {
        as_ip(self.kind, name, self.take(name)?)
    }

    /// A `["null", T]` union: `None` for null, else the inner value.
    pub(crate) fn nullable(&mut self, name: &'static str) -> Result<Option<Value>, CodecError> {
        match self.take(name)? {
            Value::Union(_, inner) => match *inner {
                Value::Null => Ok(None),
                v => Ok(Some(v)),
            },
            Value::Null => Ok(None),
            other => Err(mismatch(self.kind, name, "union", &other)),
        }
    }

    /// An enum's symbol.
    pub(crate) fn symbol(&mut self, name: &'static str) -> Result<String, CodecError> {
        match self.take(name)? {
            Value::Enum(_, symbol) => Ok(symbol),
            other => Err(mismatch(self.kind, name, "enum", &other)),
        }
    }

    pub(crate) fn array(&mut self, name: &'static str) -> Result<Vec<Value>, CodecError> {
        as_array(self.kind, name, self.take(name)?)
    }
}

pub(crate) fn as_long(kind: SchemaKind, field: &'static str, v: Value) -> Result<i64, CodecError> {
    match v {
        Value::Long(l) | Value::TimestampMillis(l) => Ok(l),
        other => Err(mismatch(kind, field, "long", &other)),
    }
}

pub(crate) fn as_string(
    kind: SchemaKind,
    field: &'static str,
    v: Value,
) -> Result<String, CodecError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(mismatch(kind, field, "string", &other)),
    }
}

pub(crate) fn as_array(
    kind: SchemaKind,
    field: &'static str,
    v: Value,
) -> Result<Vec<Value>, CodecError> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(mismatch(kind, field, "array", &other)),
    }
}

pub(crate) fn as_ip(kind: SchemaKind, field: &'static str, v: Value) -> Result<IpAddr, CodecError> {
    match v {
        Value::Fixed(_, bytes) => match <[u8; 16]>::try_from(bytes.as_slice()) {
            Ok(octets) => Ok(ip_from_octets(octets)),
            Err(_) => Err(CodecError::invalid(
                kind,
                field,
                format!("address is {} bytes, not 16", bytes.len()),
            )),
        },
        other => Err(mismatch(kind, field, "IpAddress", &other)),
    }
}

fn mismatch(kind: SchemaKind, field: &'static str, expected: &str, found: &Value) -> CodecError {
    let found = match found {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) => "int",
        Value::Long(_) => "long",
        Value::Float(_) => "float",
        Value::Double(_) => "double",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "string",
        Value::Fixed(..) => "fixed",
        Value::Enum(..) => "enum",
        Value::Union(..) => "union",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Record(_) => "record",
        Value::TimestampMillis(_) => "timestamp-millis",
        _ => "another type",
    };
    CodecError::invalid(kind, field, format!("expected {expected}, found {found}"))
}
