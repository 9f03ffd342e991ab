//! [`DecodeError`]: every reason a datagram, or a part of one, was not turned into records.
//!
//! Each variant has a stable, low-cardinality [`DecodeError::reason`] that the ingest service
//! uses as a metric label; the `Display` text adds the detail an operator needs.

/// Why (part of) a NetFlow/IPFIX datagram could not be decoded.
///
/// Returned as the error of [`Collector::decode`](super::Collector::decode) when nothing of
/// the datagram could be used (bad header), or listed in
/// [`DecodeReport::issues`](super::DecodeReport::issues) when one set was skipped and the rest of
/// the datagram was decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends before a structure it announces (header, set, record, field).
    #[error("truncated {what}: need {needed} bytes, have {available}")]
    Truncated {
        /// The structure, e.g. `IPFIX header`, `v9 flowset`.
        what: &'static str,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes that are there.
        available: usize,
    },
    /// The first two bytes are not a version this decoder reads (5, 9 or 10).
    #[error("unsupported NetFlow/IPFIX version {version}")]
    BadVersion {
        /// The version found.
        version: u16,
    },
    /// A length field contradicts the data: a set shorter than its header, a message length
    /// larger or smaller than possible, a variable-length field running past its record.
    #[error("bad length in {what}: {length}")]
    BadLength {
        /// The structure whose length is wrong.
        what: &'static str,
        /// The length found.
        length: usize,
    },
    /// A template declares a field of length zero (which would make records without size).
    #[error("template {template_id}: field {field_id} has length 0")]
    ZeroLengthField {
        /// The template.
        template_id: u16,
        /// The information element.
        field_id: u16,
    },
    /// A template is malformed in another way (id below 256, no fields, more scope fields than
    /// fields, too many fields).
    #[error("template {template_id}: {detail}")]
    BadTemplate {
        /// The template id as sent.
        template_id: u16,
        /// What is wrong.
        detail: &'static str,
    },
    /// A set or flowset id that is reserved (v9: 2–255, IPFIX: 0, 1, 4–255).
    #[error("reserved set id {set_id}")]
    ReservedSetId {
        /// The id found.
        set_id: u16,
    },
    /// Data for a template this collector does not know, and which could not be held until the
    /// template arrives (buffering disabled, or the set is larger than the whole buffer).
    #[error("data set for unknown template {template_id} dropped")]
    UnknownTemplate {
        /// The template id of the data set.
        template_id: u16,
    },
    /// Data for a template this collector does not know yet: the set is held in the pending
    /// buffer and decoded when the template arrives (or dropped when it expires).
    #[error("data set for unknown template {template_id} buffered until its template arrives")]
    UnknownTemplateBuffered {
        /// The template id of the data set.
        template_id: u16,
    },
    /// A set held for its template was dropped to make room for newer ones.
    #[error("buffered data set for template {template_id} dropped: pending buffer full")]
    PendingOverflow {
        /// The template id of the dropped set.
        template_id: u16,
    },
    /// The template cache is full (even after expiry): a new template was not learned.
    #[error("template cache full ({limit} templates): template {template_id} not learned")]
    TemplateCacheFull {
        /// The new template's id.
        template_id: u16,
        /// The configured limit.
        limit: usize,
    },
    /// Records carry times relative to the exporter's system init time (IPFIX IEs 21/22) but
    /// no systemInitTimeMilliseconds (IE 160) has been seen for the exporter: the export time
    /// was used for start and end.
    #[error("template {template_id}: relative times without system init time; export time used")]
    NoSystemInitTime {
        /// The data template.
        template_id: u16,
    },
}

impl DecodeError {
    /// A short, stable name for the reason, for use as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::BadVersion { .. } => "bad_version",
            DecodeError::BadLength { .. } => "bad_length",
            DecodeError::ZeroLengthField { .. } => "zero_length_field",
            DecodeError::BadTemplate { .. } => "bad_template",
            DecodeError::ReservedSetId { .. } => "reserved_set_id",
            DecodeError::UnknownTemplate { .. } => "unknown_template",
            DecodeError::UnknownTemplateBuffered { .. } => "unknown_template_buffered",
            DecodeError::PendingOverflow { .. } => "pending_overflow",
            DecodeError::TemplateCacheFull { .. } => "template_cache_full",
            DecodeError::NoSystemInitTime { .. } => "no_system_init_time",
        }
    }

    /// Every reason [`DecodeError::reason`] can return, so that a service can register its
    /// metric labels up front.
    pub const REASONS: &'static [&'static str] = &[
        "truncated",
        "bad_version",
        "bad_length",
        "zero_length_field",
        "bad_template",
        "reserved_set_id",
        "unknown_template",
        "unknown_template_buffered",
        "pending_overflow",
        "template_cache_full",
        "no_system_init_time",
    ];

    pub(crate) fn truncated(what: &'static str, needed: usize, available: usize) -> Self {
        DecodeError::Truncated {
            what,
            needed,
            available,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed() {
        let all = [
            DecodeError::truncated("x", 1, 0),
            DecodeError::BadVersion { version: 1 },
            DecodeError::BadLength {
                what: "x",
                length: 0,
            },
            DecodeError::ZeroLengthField {
                template_id: 256,
                field_id: 8,
            },
            DecodeError::BadTemplate {
                template_id: 1,
                detail: "x",
            },
            DecodeError::ReservedSetId { set_id: 5 },
            DecodeError::UnknownTemplate { template_id: 256 },
            DecodeError::UnknownTemplateBuffered { template_id: 256 },
            DecodeError::PendingOverflow { template_id: 256 },
            DecodeError::TemplateCacheFull {
                template_id: 256,
                limit: 1,
            },
            DecodeError::NoSystemInitTime { template_id: 256 },
        ];
        assert_eq!(all.len(), DecodeError::REASONS.len());
        for (error, reason) in all.iter().zip(DecodeError::REASONS) {
            assert_eq!(error.reason(), *reason);
        }
    }
}
