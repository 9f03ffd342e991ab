//! The Avro *parsing canonical form* and its CRC-64-AVRO fingerprint, written from the
//! specification ("Transforming into Parsing Canonical Form", "Schema Fingerprints").
//!
//! apache-avro 0.21 has both, but its canonical form keeps `{"type":"long"}` for a `long`
//! carrying a `logicalType` instead of reducing it to `"long"` ([PRIMITIVES] is applied before
//! [STRIP]), so its fingerprints of our schemas (which use `timestamp-millis`) differ from
//! those of Java, Python and fastavro. Single-object headers must agree with those, hence this
//! module; the tests pin fingerprints computed independently with fastavro.

use std::collections::HashSet;

use serde_json::{Map, Value};

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The parsing canonical form of a schema given as JSON.
pub(crate) fn parsing_canonical_form(schema: &Value) -> Result<String, String> {
    let mut out = String::new();
    write(schema, None, &mut HashSet::new(), &mut out)?;
    Ok(out)
}

fn write(
    schema: &Value,
    namespace: Option<&str>,
    seen: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), String> {
    match schema {
        Value::String(name) => {
            if PRIMITIVES.contains(&name.as_str()) {
                quote(name, out);
            } else {
                quote(&full_name(name, namespace), out);
            }
            Ok(())
        }
        Value::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(branch, namespace, seen, out)?;
            }
            out.push(']');
            Ok(())
        }
        Value::Object(map) => write_object(map, namespace, seen, out),
        other => Err(format!("not a schema: {other}")),
    }
}

fn write_object(
    map: &Map<String, Value>,
    namespace: Option<&str>,
    seen: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), String> {
    let Some(ty) = map.get("type") else {
        return Err("schema object without \"type\"".into());
    };
    let ty = match ty {
        // {"type": {...}} or {"type": [...]}: the attributes of the outer object are dropped.
        Value::String(t) => t.as_str(),
        other => return write(other, namespace, seen, out),
    };
    match ty {
        t if PRIMITIVES.contains(&t) => {
            quote(t, out);
            Ok(())
        }
        "array" => {
            out.push_str(r#"{"type":"array","items":"#);
            write(
                map.get("items").ok_or("array without items")?,
                namespace,
                seen,
                out,
            )?;
            out.push('}');
            Ok(())
        }
        "map" => {
            out.push_str(r#"{"type":"map","values":"#);
            write(
                map.get("values").ok_or("map without values")?,
                namespace,
                seen,
                out,
            )?;
            out.push('}');
            Ok(())
        }
        "record" | "error" | "enum" | "fixed" => {
            let name = map
                .get("name")
                .and_then(Value::as_str)
                .ok_or("named type without name")?;
            let own_ns = map.get("namespace").and_then(Value::as_str).or(namespace);
            let full = full_name(name, own_ns);
            if !seen.insert(full.clone()) {
                // Already defined: referenced by name.
                quote(&full, out);
                return Ok(());
            }
            let inner_ns = full.rsplit_once('.').map(|(ns, _)| ns.to_owned());
            out.push_str(r#"{"name":"#);
            quote(&full, out);
            out.push_str(r#","type":"#);
            quote(ty, out);
            match ty {
                "enum" => {
                    out.push_str(r#","symbols":["#);
                    let symbols = map
                        .get("symbols")
                        .and_then(Value::as_array)
                        .ok_or("enum without symbols")?;
                    for (i, s) in symbols.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        quote(s.as_str().ok_or("enum symbol is not a string")?, out);
                    }
                    out.push(']');
                }
                "fixed" => {
                    let size = match map.get("size") {
                        Some(Value::Number(n)) => n.as_u64(),
                        Some(Value::String(s)) => s.trim().parse().ok(),
                        _ => None,
                    }
                    .ok_or("fixed without a valid size")?;
                    out.push_str(&format!(r#","size":{size}"#));
                }
                _ => {
                    out.push_str(r#","fields":["#);
                    let fields = map
                        .get("fields")
                        .and_then(Value::as_array)
                        .ok_or("record without fields")?;
                    for (i, field) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let fname = field
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or("field without name")?;
                        out.push_str(r#"{"name":"#);
                        quote(fname, out);
                        out.push_str(r#","type":"#);
                        write(
                            field.get("type").ok_or("field without type")?,
                            inner_ns.as_deref(),
                            seen,
                            out,
                        )?;
                        out.push('}');
                    }
                    out.push(']');
                }
            }
            out.push('}');
            Ok(())
        }
        // A reference written as {"type": "Name"}.
        name => {
            quote(&full_name(name, namespace), out);
            Ok(())
        }
    }
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

fn quote(s: &str, out: &mut String) {
    // serde_json escapes only what JSON requires and keeps other UTF-8 as is ([STRINGS]).
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// CRC-64-AVRO (the specification's Rabin fingerprint) of `bytes`.
pub(crate) fn crc64_avro(bytes: &[u8]) -> u64 {
    bytes.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}

const EMPTY: u64 = 0xc15d_213a_a4d7_a795;

static TABLE: [u64; 256] = table();

const fn table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut fp = i as u64;
        let mut j = 0;
        while j < 8 {
            fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            j += 1;
        }
        table[i] = fp;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::rabin::Rabin;
    use sha2::Digest;

    fn pcf(s: &str) -> String {
        parsing_canonical_form(&serde_json::from_str(s).unwrap()).unwrap()
    }

    #[test]
    fn crc64_matches_apache_avro_rabin_on_the_same_bytes() {
        for input in [
            "",
            "\"int\"",
            "{\"name\":\"a.B\",\"type\":\"fixed\",\"size\":16}",
        ] {
            let theirs = Rabin::digest(input.as_bytes());
            assert_eq!(
                crc64_avro(input.as_bytes()).to_le_bytes().as_slice(),
                theirs.as_slice()
            );
        }
    }

    #[test]
    fn crc64_of_int_is_the_reference_value() {
        // The fingerprint Java's SchemaNormalization.parsingFingerprint64 gives "int".
        assert_eq!(crc64_avro(br#""int""#), 8_247_732_601_305_521_295);
    }

    #[test]
    fn spec_transformations() {
        assert_eq!(
            pcf(r#"{"type":"long","logicalType":"timestamp-millis"}"#),
            r#""long""#
        );
        assert_eq!(pcf(r#"{"type":"int"}"#), r#""int""#);
        assert_eq!(
            pcf(
                r#"{"type":"record","name":"R","namespace":"n","doc":"x","fields":[
                {"name":"a","type":{"type":"fixed","name":"F","size":"016"},"default":"x","doc":"y"},
                {"name":"b","type":["null","F"]},
                {"name":"c","type":{"type":"array","items":{"type":"enum","name":"o.E","symbols":["A"]}}},
                {"name":"d","type":{"type":"map","values":"E"}}]}"#
            ),
            r#"{"name":"n.R","type":"record","fields":[{"name":"a","type":{"name":"n.F","type":"fixed","size":16}},{"name":"b","type":["null","n.F"]},{"name":"c","type":{"type":"array","items":{"name":"o.E","type":"enum","symbols":["A"]}}},{"name":"d","type":{"type":"map","values":"n.E"}}]}"#
        );
    }
}
