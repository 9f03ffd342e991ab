//! Templates and the template cache.
//!
//! A [`Template`] is validated and compiled once, when it arrives: the fields relbot reads
//! become a short list of (offset, length, target) operations, so that decoding a record of a
//! fixed-length template is a few slice reads. The [`TemplateCache`] keys templates by
//! [`TemplateKey`]: exporter address (and, if configured, source port), protocol, observation
//! domain / source id and template id, as RFC 7011 §8 requires, so that two routers using the
//! same template id never mix.

use std::net::IpAddr;

use hashbrown::HashMap;

use super::error::DecodeError;
use super::fields::{is_option_target, target, Fields, Target};

/// The IPFIX field length that announces a variable-length field (RFC 7011 §7).
pub const VARIABLE_LENGTH: u16 = 0xffff;

/// Upper bound on fields in one template: a 64 KiB message cannot carry more than about 16k,
/// and no real template comes near this.
pub const MAX_FIELDS: usize = 1024;

/// One field of a template: information element, length, enterprise number (0 for IANA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    /// Information element id (without the enterprise bit).
    pub id: u16,
    /// Length in bytes, or [`VARIABLE_LENGTH`].
    pub length: u16,
    /// Private enterprise number; 0 for IANA elements. Enterprise fields are skipped.
    pub enterprise: u32,
}

/// Whether a template describes flow records or options records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    /// A data template: its records are flows.
    Data,
    /// An options template: its records describe the exporter (sampling, init time…).
    Options {
        /// How many of the leading fields are scope fields.
        scope_fields: u16,
    },
}

/// The export protocol a template belongs to (v9 and IPFIX templates never share an entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// NetFlow v9 (RFC 3954).
    V9,
    /// IPFIX (RFC 7011).
    Ipfix,
}

/// Where a template came from: exporter, protocol and observation domain (IPFIX) or source id
/// (v9). Sampling and system-init state is kept per domain too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainKey {
    /// The exporter's address.
    pub exporter: IpAddr,
    /// The exporter's UDP source port, or 0 when the cache is not keyed by port.
    pub port: u16,
    /// v9 or IPFIX.
    pub protocol: Protocol,
    /// IPFIX observation domain id or NetFlow v9 source id.
    pub domain: u32,
}

/// The full key of a template in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateKey {
    /// Exporter, protocol and domain.
    pub domain: DomainKey,
    /// The template id (256–65535).
    pub template_id: u16,
}

/// One compiled field read: `value = record[offset..offset + length]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Op {
    offset: usize,
    length: usize,
    target: Target,
}

/// A validated template, compiled for decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    protocol: Protocol,
    id: u16,
    kind: TemplateKind,
    fields: Vec<FieldSpec>,
    /// Length of every record when no field is variable-length.
    fixed_length: Option<usize>,
    /// Smallest possible record (variable-length fields count one byte).
    min_length: usize,
    /// For fixed-length templates: the fields relbot reads, with their offsets.
    ops: Vec<Op>,
    /// For variable-length templates: every field's target, in order.
    targets: Vec<Target>,
}

impl Template {
    /// Validates and compiles a template. Errors: id below 256, no fields, more than
    /// [`MAX_FIELDS`], a zero-length field, more scope fields than fields.
    ///
    /// The protocol matters for options templates: v9 scope fields have their own numbering
    /// (1 = system, 2 = interface…) and are skipped, IPFIX scope fields are information
    /// elements (a selectorId scope names the sampler) and are read.
    pub fn new(
        protocol: Protocol,
        id: u16,
        kind: TemplateKind,
        fields: Vec<FieldSpec>,
    ) -> Result<Self, DecodeError> {
        let bad = |detail| DecodeError::BadTemplate {
            template_id: id,
            detail,
        };
        if id < 256 {
            return Err(bad("template id below 256"));
        }
        if fields.is_empty() {
            return Err(bad("no fields"));
        }
        if fields.len() > MAX_FIELDS {
            return Err(bad("too many fields"));
        }
        if let TemplateKind::Options { scope_fields } = kind {
            if usize::from(scope_fields) > fields.len() {
                return Err(bad("more scope fields than fields"));
            }
        }
        if let Some(field) = fields.iter().find(|f| f.length == 0) {
            return Err(DecodeError::ZeroLengthField {
                template_id: id,
                field_id: field.id,
            });
        }
        let v9_scope = match kind {
            TemplateKind::Options { scope_fields } if protocol == Protocol::V9 => {
                usize::from(scope_fields)
            }
            _ => 0,
        };
        let wanted = |t: Target| match kind {
            TemplateKind::Data => t != Target::Skip,
            TemplateKind::Options { .. } => is_option_target(t),
        };
        let targets: Vec<Target> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let t = target(f.id, f.enterprise, f.length);
                if i >= v9_scope && wanted(t) {
                    t
                } else {
                    Target::Skip
                }
            })
            .collect();
        let variable = fields.iter().any(|f| f.length == VARIABLE_LENGTH);
        let min_length = fields
            .iter()
            .map(|f| {
                if f.length == VARIABLE_LENGTH {
                    1
                } else {
                    usize::from(f.length)
                }
            })
            .sum();
        let mut ops = Vec::new();
        let fixed_length = if variable {
            None
        } else {
            let mut offset = 0;
            for (field, &target) in fields.iter().zip(&targets) {
                let length = usize::from(field.length);
                if target != Target::Skip {
                    ops.push(Op {
                        offset,
                        length,
                        target,
                    });
                }
                offset += length;
            }
            Some(offset)
        };
        Ok(Self {
            protocol,
            id,
            kind,
            fields,
            fixed_length,
            min_length,
            ops,
            targets: if variable { targets } else { Vec::new() },
        })
    }

    /// The protocol the template was announced in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The template id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Data or options template.
    pub fn kind(&self) -> TemplateKind {
        self.kind
    }

    /// The fields as announced.
    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    /// The length of every record, when the template has no variable-length field.
    pub fn record_length(&self) -> Option<usize> {
        self.fixed_length
    }

    /// Reads every record of a data set's body, calling `each` with its fields. Trailing bytes
    /// too short for a record are padding. A variable-length field running past the set is an
    /// error; the records before it have been handed to `each`.
    pub(crate) fn for_each_record(
        &self,
        body: &[u8],
        mut each: impl FnMut(&Fields),
    ) -> Result<usize, DecodeError> {
        let mut count = 0;
        if let Some(length) = self.fixed_length {
            for record in body.chunks_exact(length) {
                let mut fields = Fields::default();
                for op in &self.ops {
                    if let Some(value) = record.get(op.offset..op.offset + op.length) {
                        fields.set(op.target, value);
                    }
                }
                each(&fields);
                count += 1;
            }
            return Ok(count);
        }
        let mut at = 0;
        while body.len() - at >= self.min_length {
            let mut fields = Fields::default();
            for (field, &target) in self.fields.iter().zip(&self.targets) {
                let (start, length) = if field.length == VARIABLE_LENGTH {
                    variable_length(body, at)?
                } else {
                    (at, usize::from(field.length))
                };
                let value = body
                    .get(start..start + length)
                    .ok_or(DecodeError::BadLength {
                        what: "data record",
                        length,
                    })?;
                fields.set(target, value);
                at = start + length;
            }
            each(&fields);
            count += 1;
        }
        Ok(count)
    }
}

/// Where a variable-length field's value starts and how long it is (RFC 7011 §7: one length
/// byte, or 255 followed by a two-byte length).
fn variable_length(body: &[u8], at: usize) -> Result<(usize, usize), DecodeError> {
    let short = || DecodeError::BadLength {
        what: "variable-length field",
        length: body.len().saturating_sub(at),
    };
    let first = *body.get(at).ok_or_else(short)?;
    if first < 255 {
        return Ok((at + 1, usize::from(first)));
    }
    let long = super::be::u16_at(body, at + 1).ok_or_else(short)?;
    Ok((at + 3, usize::from(long)))
}

/// A template and when its exporter last sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedTemplate {
    /// The template.
    pub template: Template,
    /// Wall-clock time of the last (re)announcement, ms since the Unix epoch.
    pub refreshed_ms: i64,
}

/// What [`TemplateCache::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The key was new.
    New,
    /// The same template was announced again (its refresh time was updated).
    Refreshed,
    /// The exporter redefined the template id with different fields.
    Replaced,
}

/// Templates of every exporter, bounded in number. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct TemplateCache {
    map: HashMap<TemplateKey, CachedTemplate>,
}

impl TemplateCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The template for `key`, if known.
    #[inline]
    pub fn get(&self, key: &TemplateKey) -> Option<&Template> {
        self.map.get(key).map(|c| &c.template)
    }

    /// Learns or refreshes a template. When the cache holds `limit` templates and `key` is
    /// new, the template is refused with [`DecodeError::TemplateCacheFull`].
    pub fn insert(
        &mut self,
        key: TemplateKey,
        template: Template,
        now_ms: i64,
        limit: usize,
    ) -> Result<Inserted, DecodeError> {
        if let Some(cached) = self.map.get_mut(&key) {
            cached.refreshed_ms = cached.refreshed_ms.max(now_ms);
            if cached.template == template {
                return Ok(Inserted::Refreshed);
            }
            cached.template = template;
            return Ok(Inserted::Replaced);
        }
        if self.map.len() >= limit {
            return Err(DecodeError::TemplateCacheFull {
                template_id: key.template_id,
                limit,
            });
        }
        self.map.insert(
            key,
            CachedTemplate {
                template,
                refreshed_ms: now_ms,
            },
        );
        Ok(Inserted::New)
    }

    /// Forgets one template (IPFIX withdrawal). Returns whether it was known.
    pub fn withdraw(&mut self, key: &TemplateKey) -> bool {
        self.map.remove(key).is_some()
    }

    /// Forgets every data (`options == false`) or options template of a domain (IPFIX
    /// "withdraw all" with template id 2 or 3). Returns how many were known.
    pub fn withdraw_all(&mut self, domain: &DomainKey, options: bool) -> usize {
        let before = self.map.len();
        self.map.retain(|key, cached| {
            key.domain != *domain
                || matches!(cached.template.kind, TemplateKind::Options { .. }) != options
        });
        before - self.map.len()
    }

    /// Forgets templates not refreshed since `cutoff_ms`. Returns how many.
    pub fn expire(&mut self, cutoff_ms: i64) -> usize {
        let before = self.map.len();
        self.map
            .retain(|_, cached| cached.refreshed_ms >= cutoff_ms);
        before - self.map.len()
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every template with its key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&TemplateKey, &CachedTemplate)> {
        self.map.iter()
    }

    /// When `key` was last (re)announced, if it is known.
    pub(crate) fn refreshed_ms(&self, key: &TemplateKey) -> Option<i64> {
        self.map.get(key).map(|c| c.refreshed_ms)
    }

    /// Restores a template with its original refresh time (used when loading saved state).
    pub(crate) fn restore(&mut self, key: TemplateKey, cached: CachedTemplate) {
        self.map.insert(key, cached);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: u16, length: u16) -> FieldSpec {
        FieldSpec {
            id,
            length,
            enterprise: 0,
        }
    }

    fn key(template_id: u16) -> TemplateKey {
        TemplateKey {
            domain: DomainKey {
                exporter: IpAddr::from([192, 0, 2, 1]),
                port: 0,
                protocol: Protocol::Ipfix,
                domain: 7,
            },
            template_id,
        }
    }

    #[test]
    fn rejects_bad_templates() {
        let err =
            Template::new(Protocol::Ipfix, 255, TemplateKind::Data, vec![field(8, 4)]).unwrap_err();
        assert_eq!(err.reason(), "bad_template");
        let err = Template::new(Protocol::Ipfix, 256, TemplateKind::Data, vec![]).unwrap_err();
        assert_eq!(err.reason(), "bad_template");
        let err = Template::new(
            Protocol::Ipfix,
            256,
            TemplateKind::Data,
            vec![field(8, 4), field(7, 0)],
        );
        assert_eq!(
            err.unwrap_err(),
            DecodeError::ZeroLengthField {
                template_id: 256,
                field_id: 7
            }
        );
        let err = Template::new(
            Protocol::Ipfix,
            256,
            TemplateKind::Options { scope_fields: 2 },
            vec![field(1, 4)],
        );
        assert_eq!(err.unwrap_err().reason(), "bad_template");
    }

    #[test]
    fn fixed_records_and_padding() {
        let t = Template::new(
            Protocol::Ipfix,
            256,
            TemplateKind::Data,
            vec![field(8, 4), field(7, 2)],
        )
        .unwrap();
        assert_eq!(t.record_length(), Some(6));
        let body = [10, 0, 0, 1, 0, 80, 10, 0, 0, 2, 0, 81, 0, 0];
        let mut seen = Vec::new();
        let n = t
            .for_each_record(&body, |f| seen.push((f.src, f.src_port)))
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(seen[1], (Some(IpAddr::from([10, 0, 0, 2])), 81));
    }

    #[test]
    fn variable_length_fields() {
        let t = Template::new(
            Protocol::Ipfix,
            300,
            TemplateKind::Data,
            vec![field(8, 4), field(82, VARIABLE_LENGTH), field(7, 2)],
        )
        .unwrap();
        assert_eq!(t.record_length(), None);
        let mut body = vec![10, 0, 0, 1, 3, b'e', b't', b'h', 0, 80];
        body.extend([10, 0, 0, 2, 255, 0, 2, b'x', b'y', 0, 81]);
        let mut ports = Vec::new();
        t.for_each_record(&body, |f| ports.push(f.src_port))
            .unwrap();
        assert_eq!(ports, [80, 81]);
        // A length running past the set.
        let body = [10, 0, 0, 1, 200, 1, 2];
        let err = t.for_each_record(&body, |_| {}).unwrap_err();
        assert_eq!(err.reason(), "bad_length");
    }

    #[test]
    fn cache_is_keyed_refreshed_withdrawn_and_bounded() {
        let t = Template::new(Protocol::Ipfix, 256, TemplateKind::Data, vec![field(8, 4)]).unwrap();
        let mut cache = TemplateCache::new();
        assert_eq!(cache.insert(key(256), t.clone(), 1, 2), Ok(Inserted::New));
        assert_eq!(
            cache.insert(key(256), t.clone(), 5, 2),
            Ok(Inserted::Refreshed)
        );
        let other =
            Template::new(Protocol::Ipfix, 256, TemplateKind::Data, vec![field(12, 4)]).unwrap();
        assert_eq!(cache.insert(key(256), other, 6, 2), Ok(Inserted::Replaced));
        let mut elsewhere = key(256);
        elsewhere.domain.domain = 8;
        assert!(cache.get(&elsewhere).is_none());
        assert_eq!(cache.insert(elsewhere, t.clone(), 6, 2), Ok(Inserted::New));
        let err = cache.insert(key(257), t.clone(), 6, 2).unwrap_err();
        assert_eq!(err.reason(), "template_cache_full");
        assert!(cache.withdraw(&elsewhere));
        assert_eq!(cache.withdraw_all(&key(0).domain, false), 1);
        assert!(cache.is_empty());
        cache.insert(key(256), t, 10, 2).unwrap();
        assert_eq!(cache.expire(11), 1);
    }
}
