//! NetFlow v9 (RFC 3954): a 20-byte header, then flowsets: templates (id 0), options templates
//! (id 1) and data (id ≥ 256). Times in data records are relative to the header's sysUptime.

use super::be::{u16_at, u32_at};
use super::collector::Decoding;
use super::error::DecodeError;
use super::template::{FieldSpec, Protocol, Template, TemplateKey, TemplateKind};
use super::time::{Clock, Origin};

/// Header length.
pub const HEADER_LEN: usize = 20;

/// Decodes a v9 datagram into the collector's state and output.
pub(crate) fn decode(d: &mut Decoding<'_>, datagram: &[u8]) -> Result<(), DecodeError> {
    let header = datagram.get(..HEADER_LEN).ok_or(DecodeError::truncated(
        "v9 header",
        HEADER_LEN,
        datagram.len(),
    ))?;
    let short = || DecodeError::truncated("v9 header", HEADER_LEN, datagram.len());
    let uptime = u32_at(header, 4).ok_or_else(short)?;
    let secs = u32_at(header, 8).ok_or_else(short)?;
    let source_id = u32_at(header, 16).ok_or_else(short)?;
    d.report.sequence = u32_at(header, 12).ok_or_else(short)?;
    d.report.domain = source_id;
    let clock = Clock {
        export_ms: i64::from(secs) * 1000,
        uptime_ms: Some(uptime),
    };
    let domain = d.domain_key(Protocol::V9, source_id);
    let origin = Origin {
        exporter: Some(d.exporter),
        domain: source_id,
    };
    let mut at = HEADER_LEN;
    while datagram.len() - at >= 4 {
        let set_id = u16_at(datagram, at).unwrap_or(0);
        let length = usize::from(u16_at(datagram, at + 2).unwrap_or(0));
        if length < 4 {
            d.report.issues.push(DecodeError::BadLength {
                what: "v9 flowset",
                length,
            });
            return Ok(());
        }
        let Some(set) = datagram.get(at..at + length) else {
            d.report.issues.push(DecodeError::truncated(
                "v9 flowset",
                length,
                datagram.len() - at,
            ));
            return Ok(());
        };
        let body = &set[4..];
        match set_id {
            0 => templates(d, domain, body),
            1 => options_templates(d, domain, body),
            2..=255 => d.report.issues.push(DecodeError::ReservedSetId { set_id }),
            template_id => d.data_set(
                TemplateKey {
                    domain,
                    template_id,
                },
                clock,
                origin,
                body,
            ),
        }
        at += length;
    }
    Ok(())
}

/// Whether the rest of a template flowset is padding (all zero bytes).
fn is_padding(rest: &[u8]) -> bool {
    rest.iter().all(|&b| b == 0)
}

/// A template flowset: one or more `id, count, (type, length) × count`.
fn templates(d: &mut Decoding<'_>, domain: super::DomainKey, body: &[u8]) {
    let mut at = 0;
    while body.len() - at >= 4 && !is_padding(&body[at..]) {
        let template_id = u16_at(body, at).unwrap_or(0);
        let count = usize::from(u16_at(body, at + 2).unwrap_or(0));
        at += 4;
        let Some(fields) = field_specs(body, at, count) else {
            d.report.issues.push(DecodeError::truncated(
                "v9 template",
                count * 4,
                body.len() - at,
            ));
            return;
        };
        at += count * 4;
        let key = TemplateKey {
            domain,
            template_id,
        };
        d.template(
            key,
            Template::new(Protocol::V9, template_id, TemplateKind::Data, fields),
        );
    }
}

/// An options template flowset: `id, scope length, option length`, then scope and option
/// fields (lengths in bytes), then padding.
fn options_templates(d: &mut Decoding<'_>, domain: super::DomainKey, body: &[u8]) {
    let mut at = 0;
    while body.len() - at >= 6 && !is_padding(&body[at..]) {
        let template_id = u16_at(body, at).unwrap_or(0);
        let scope_bytes = usize::from(u16_at(body, at + 2).unwrap_or(0));
        let option_bytes = usize::from(u16_at(body, at + 4).unwrap_or(0));
        at += 6;
        if scope_bytes % 4 != 0 || option_bytes % 4 != 0 {
            d.report.issues.push(DecodeError::BadLength {
                what: "v9 options template",
                length: scope_bytes + option_bytes,
            });
            return;
        }
        let count = (scope_bytes + option_bytes) / 4;
        let Some(fields) = field_specs(body, at, count) else {
            d.report.issues.push(DecodeError::truncated(
                "v9 options template",
                count * 4,
                body.len() - at,
            ));
            return;
        };
        at += count * 4;
        let kind = TemplateKind::Options {
            scope_fields: (scope_bytes / 4) as u16,
        };
        let key = TemplateKey {
            domain,
            template_id,
        };
        d.template(key, Template::new(Protocol::V9, template_id, kind, fields));
    }
}

/// `count` (type, length) pairs from `at`, if the body holds them.
fn field_specs(body: &[u8], at: usize, count: usize) -> Option<Vec<FieldSpec>> {
    let bytes = body.get(at..at.checked_add(count.checked_mul(4)?)?)?;
    Some(
        bytes
            .chunks_exact(4)
            .map(|f| FieldSpec {
                id: u16::from_be_bytes([f[0], f[1]]),
                length: u16::from_be_bytes([f[2], f[3]]),
                enterprise: 0,
            })
            .collect(),
    )
}
