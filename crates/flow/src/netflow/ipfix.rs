//! IPFIX (RFC 7011): a 16-byte message header, then sets: templates (id 2), options templates
//! (id 3) and data (id ≥ 256). Field specifiers may carry an enterprise number; fields may be
//! variable-length; a template record with no fields withdraws the template.

use super::be::{u16_at, u32_at};
use super::collector::Decoding;
use super::error::DecodeError;
use super::template::{DomainKey, FieldSpec, Protocol, Template, TemplateKey, TemplateKind};
use super::time::{Clock, Origin};

/// Message header length.
pub const HEADER_LEN: usize = 16;

/// Decodes a buffer of one or more IPFIX messages into the collector's state and output. Only
/// a bad first header is an error; later ones become issues.
pub(crate) fn decode(d: &mut Decoding<'_>, buffer: &[u8]) -> Result<(), DecodeError> {
    let mut at = 0;
    let mut first = true;
    while at < buffer.len() {
        match message_length(&buffer[at..]) {
            Ok(length) => {
                message(d, &buffer[at..at + length]);
                at += length;
            }
            Err(e) if first => return Err(e),
            Err(e) => {
                d.report.issues.push(e);
                break;
            }
        }
        first = false;
    }
    Ok(())
}

/// The length of the message at the start of `bytes`, checked against what is there.
pub(crate) fn message_length(bytes: &[u8]) -> Result<usize, DecodeError> {
    let short = || DecodeError::truncated("IPFIX header", HEADER_LEN, bytes.len());
    let version = u16_at(bytes, 0).ok_or_else(short)?;
    if version != 10 {
        return Err(DecodeError::BadVersion { version });
    }
    let length = usize::from(u16_at(bytes, 2).ok_or_else(short)?);
    if bytes.len() < HEADER_LEN {
        return Err(short());
    }
    if length < HEADER_LEN {
        return Err(DecodeError::BadLength {
            what: "IPFIX message",
            length,
        });
    }
    if length > bytes.len() {
        return Err(DecodeError::truncated("IPFIX message", length, bytes.len()));
    }
    Ok(length)
}

/// One message whose length has been checked.
fn message(d: &mut Decoding<'_>, message: &[u8]) {
    let export_secs = u32_at(message, 4).unwrap_or(0);
    let domain_id = u32_at(message, 12).unwrap_or(0);
    d.report.sequence = u32_at(message, 8).unwrap_or(0);
    d.report.domain = domain_id;
    let clock = Clock {
        export_ms: i64::from(export_secs) * 1000,
        uptime_ms: None,
    };
    let domain = d.domain_key(Protocol::Ipfix, domain_id);
    let origin = Origin {
        exporter: Some(d.exporter),
        domain: domain_id,
    };
    let mut at = HEADER_LEN;
    while message.len() - at >= 4 {
        let set_id = u16_at(message, at).unwrap_or(0);
        let length = usize::from(u16_at(message, at + 2).unwrap_or(0));
        if length < 4 {
            d.report.issues.push(DecodeError::BadLength {
                what: "IPFIX set",
                length,
            });
            return;
        }
        let Some(set) = message.get(at..at + length) else {
            d.report.issues.push(DecodeError::truncated(
                "IPFIX set",
                length,
                message.len() - at,
            ));
            return;
        };
        let body = &set[4..];
        match set_id {
            2 => templates(d, domain, body, false),
            3 => templates(d, domain, body, true),
            0..=255 => d.report.issues.push(DecodeError::ReservedSetId { set_id }),
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
    if at < message.len() {
        d.report.issues.push(DecodeError::BadLength {
            what: "IPFIX set header",
            length: message.len() - at,
        });
    }
}

/// A template (`options == false`) or options template set.
fn templates(d: &mut Decoding<'_>, domain: DomainKey, body: &[u8], options: bool) {
    let header_len = if options { 6 } else { 4 };
    let mut at = 0;
    // Fewer bytes than a template record header are padding (RFC 7011 §3.3.1).
    while body.len() - at >= 4 {
        let template_id = u16_at(body, at).unwrap_or(0);
        let count = usize::from(u16_at(body, at + 2).unwrap_or(0));
        let key = TemplateKey {
            domain,
            template_id,
        };
        if count == 0 {
            d.withdraw(key);
            at += 4;
            continue;
        }
        if body.len() - at < header_len {
            break;
        }
        let scope_fields = if options {
            u16_at(body, at + 4).unwrap_or(0)
        } else {
            0
        };
        at += header_len;
        let mut fields = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let Some(id) = u16_at(body, at) else {
                return truncated(d, body, at);
            };
            let Some(length) = u16_at(body, at + 2) else {
                return truncated(d, body, at);
            };
            at += 4;
            let enterprise = if id & 0x8000 != 0 {
                let Some(number) = u32_at(body, at) else {
                    return truncated(d, body, at);
                };
                at += 4;
                number
            } else {
                0
            };
            fields.push(FieldSpec {
                id: id & 0x7fff,
                length,
                enterprise,
            });
        }
        let template = if options {
            if scope_fields == 0 {
                Err(DecodeError::BadTemplate {
                    template_id,
                    detail: "options template without scope fields",
                })
            } else {
                Template::new(
                    Protocol::Ipfix,
                    template_id,
                    TemplateKind::Options { scope_fields },
                    fields,
                )
            }
        } else {
            Template::new(Protocol::Ipfix, template_id, TemplateKind::Data, fields)
        };
        d.template(key, template);
    }
}

fn truncated(d: &mut Decoding<'_>, body: &[u8], at: usize) {
    d.report
        .issues
        .push(DecodeError::truncated("IPFIX template", at + 4, body.len()));
}
