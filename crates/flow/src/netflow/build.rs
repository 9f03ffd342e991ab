//! Builders for NetFlow v5, v9 and IPFIX datagrams from [`FlowRecord`]s: the inverse of the
//! decoders, for tests, benchmarks, fuzz seeds and replay tools. Only the fields relbot reads
//! are written.

use crate::FlowRecord;

use super::template::{FieldSpec, Protocol, VARIABLE_LENGTH};

/// Template id the builders use for IPv4 flows.
pub const FLOW_TEMPLATE_V4: u16 = 256;
/// Template id the builders use for IPv6 flows.
pub const FLOW_TEMPLATE_V6: u16 = 257;

/// The fields of the flow templates the builders use: addresses, ports, protocol, TCP flags,
/// 8-byte counters, interfaces, direction and times (v9: uptime-relative 22/21; IPFIX:
/// absolute milliseconds 152/153).
pub fn flow_fields(protocol: Protocol, ipv6: bool) -> Vec<FieldSpec> {
    let (src, dst, addr_len) = if ipv6 { (27, 28, 16) } else { (8, 12, 4) };
    let times: [(u16, u16); 2] = match protocol {
        Protocol::V9 => [(22, 4), (21, 4)],
        Protocol::Ipfix => [(152, 8), (153, 8)],
    };
    [
        (src, addr_len),
        (dst, addr_len),
        (7, 2),
        (11, 2),
        (4, 1),
        (6, 1),
        (1, 8),
        (2, 8),
        (10, 4),
        (14, 4),
        (61, 1),
        times[0],
        times[1],
    ]
    .into_iter()
    .map(|(id, length)| FieldSpec {
        id,
        length,
        enterprise: 0,
    })
    .collect()
}

/// Appends one record laid out as `fields` says. Times are written relative to
/// `export_ms`/`uptime_ms` for uptime fields (21/22). Unknown and enterprise fields are
/// written as zeros (variable-length ones as empty).
pub fn encode_record(
    fields: &[FieldSpec],
    record: &FlowRecord,
    export_ms: i64,
    uptime_ms: u32,
    out: &mut Vec<u8>,
) {
    let relative = |t: i64| uptime_ms.wrapping_sub((export_ms - t) as u32);
    for field in fields {
        let length = usize::from(field.length);
        if field.length == VARIABLE_LENGTH {
            out.push(0);
            continue;
        }
        let value: u64 = match (field.enterprise, field.id) {
            (0, 8) | (0, 12) | (0, 27) | (0, 28) => {
                let ip = if matches!(field.id, 8 | 27) {
                    record.src
                } else {
                    record.dst
                };
                let bytes: Vec<u8> = match ip {
                    std::net::IpAddr::V4(a) => a.octets().to_vec(),
                    std::net::IpAddr::V6(a) => a.octets().to_vec(),
                };
                let mut padded = vec![0; length.saturating_sub(bytes.len())];
                padded.extend(bytes.iter().take(length));
                out.extend(padded);
                continue;
            }
            (0, 7) => u64::from(record.src_port),
            (0, 11) | (0, 32) | (0, 139) => u64::from(record.dst_port),
            (0, 4) => u64::from(record.protocol),
            (0, 6) => u64::from(record.tcp_flags),
            (0, 1) => record.bytes,
            (0, 2) => record.packets,
            (0, 10) => u64::from(record.input_if),
            (0, 14) => u64::from(record.output_if),
            (0, 61) => u64::from(record.flags & FlowRecord::FLAG_EGRESS != 0),
            (0, 22) => u64::from(relative(record.start_ms)),
            (0, 21) => u64::from(relative(record.end_ms)),
            (0, 150) => (record.start_ms / 1000) as u64,
            (0, 151) => (record.end_ms / 1000) as u64,
            (0, 152) => record.start_ms as u64,
            (0, 153) => record.end_ms as u64,
            (0, 34) => u64::from(record.sampling_rate),
            _ => 0,
        };
        let bytes = value.to_be_bytes();
        if length <= 8 {
            out.extend_from_slice(&bytes[8 - length..]);
        } else {
            out.extend(std::iter::repeat_n(0, length - 8));
            out.extend_from_slice(&bytes);
        }
    }
}

/// Builds a NetFlow v5 datagram.
#[derive(Debug, Clone)]
pub struct V5Builder {
    export_ms: i64,
    uptime_ms: u32,
    sampling: u16,
    engine: (u8, u8),
    records: Vec<u8>,
    count: u16,
}

impl V5Builder {
    /// A datagram exported at `export_ms` by an exporter up for `uptime_ms`.
    pub fn new(export_ms: i64, uptime_ms: u32) -> Self {
        Self {
            export_ms,
            uptime_ms,
            sampling: 0,
            engine: (0, 0),
            records: Vec::new(),
            count: 0,
        }
    }

    /// Sets the header's sampling interval (mode bits 0).
    pub fn sampling_interval(mut self, interval: u16) -> Self {
        self.sampling = interval & 0x3fff;
        self
    }

    /// Sets engine type and id.
    pub fn engine(mut self, engine_type: u8, engine_id: u8) -> Self {
        self.engine = (engine_type, engine_id);
        self
    }

    /// Adds a record (IPv6 addresses are written as 0.0.0.0).
    pub fn record(mut self, r: &FlowRecord) -> Self {
        let v4 = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(a) => a.octets(),
            std::net::IpAddr::V6(_) => [0; 4],
        };
        let relative = |t: i64| self.uptime_ms.wrapping_sub((self.export_ms - t) as u32);
        let out = &mut self.records;
        out.extend(v4(r.src));
        out.extend(v4(r.dst));
        out.extend([0; 4]);
        out.extend((r.input_if as u16).to_be_bytes());
        out.extend((r.output_if as u16).to_be_bytes());
        out.extend((r.packets as u32).to_be_bytes());
        out.extend((r.bytes as u32).to_be_bytes());
        out.extend(relative(r.start_ms).to_be_bytes());
        out.extend(relative(r.end_ms).to_be_bytes());
        out.extend(r.src_port.to_be_bytes());
        out.extend(r.dst_port.to_be_bytes());
        out.extend([0, r.tcp_flags, r.protocol, 0]);
        out.extend([0; 8]);
        self.count += 1;
        self
    }

    /// The datagram.
    pub fn build(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.records.len());
        out.extend(5u16.to_be_bytes());
        out.extend(self.count.to_be_bytes());
        out.extend(self.uptime_ms.to_be_bytes());
        out.extend(((self.export_ms / 1000) as u32).to_be_bytes());
        out.extend((((self.export_ms % 1000) * 1_000_000) as u32).to_be_bytes());
        out.extend(0u32.to_be_bytes());
        out.extend([self.engine.0, self.engine.1]);
        out.extend(self.sampling.to_be_bytes());
        out.extend(self.records);
        out
    }
}

/// Builds a NetFlow v9 datagram or an IPFIX message: templates, options templates,
/// withdrawals and data sets, in the order added.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    protocol: Protocol,
    export_ms: i64,
    uptime_ms: u32,
    domain: u32,
    sequence: u32,
    sets: Vec<u8>,
    count: u16,
}

impl MessageBuilder {
    /// A v9 datagram exported at `export_ms` (whole seconds are sent) by an exporter up for
    /// `uptime_ms`, with source id `source_id`.
    pub fn v9(export_ms: i64, uptime_ms: u32, source_id: u32) -> Self {
        Self::new(Protocol::V9, export_ms, uptime_ms, source_id)
    }

    /// An IPFIX message exported at `export_ms` (whole seconds are sent) for observation
    /// domain `domain`.
    pub fn ipfix(export_ms: i64, domain: u32) -> Self {
        Self::new(Protocol::Ipfix, export_ms, 0, domain)
    }

    fn new(protocol: Protocol, export_ms: i64, uptime_ms: u32, domain: u32) -> Self {
        Self {
            protocol,
            export_ms,
            uptime_ms,
            domain,
            sequence: 0,
            sets: Vec::new(),
            count: 0,
        }
    }

    /// Sets the sequence number.
    pub fn sequence(mut self, sequence: u32) -> Self {
        self.sequence = sequence;
        self
    }

    fn set(mut self, set_id: u16, body: &[u8], records: u16) -> Self {
        let padding = (4 - body.len() % 4) % 4;
        let length = 4 + body.len() + padding;
        self.sets.extend(set_id.to_be_bytes());
        self.sets.extend((length as u16).to_be_bytes());
        self.sets.extend_from_slice(body);
        self.sets.extend(std::iter::repeat_n(0, padding));
        self.count += records;
        self
    }

    fn field_specs(&self, fields: &[FieldSpec], out: &mut Vec<u8>) {
        for f in fields {
            let enterprise = f.enterprise != 0 && self.protocol == Protocol::Ipfix;
            let id = if enterprise { f.id | 0x8000 } else { f.id };
            out.extend(id.to_be_bytes());
            out.extend(f.length.to_be_bytes());
            if enterprise {
                out.extend(f.enterprise.to_be_bytes());
            }
        }
    }

    /// Adds a template set with one template.
    pub fn template(self, template_id: u16, fields: &[FieldSpec]) -> Self {
        let mut body = Vec::new();
        body.extend(template_id.to_be_bytes());
        body.extend((fields.len() as u16).to_be_bytes());
        self.field_specs(fields, &mut body);
        let set_id = match self.protocol {
            Protocol::V9 => 0,
            Protocol::Ipfix => 2,
        };
        self.set(set_id, &body, 1)
    }

    /// Adds an options template set: the first `scope` fields are scope fields.
    pub fn options_template(self, template_id: u16, scope: usize, fields: &[FieldSpec]) -> Self {
        let mut body = Vec::new();
        body.extend(template_id.to_be_bytes());
        match self.protocol {
            Protocol::V9 => {
                body.extend(((scope * 4) as u16).to_be_bytes());
                body.extend((((fields.len() - scope) * 4) as u16).to_be_bytes());
            }
            Protocol::Ipfix => {
                body.extend((fields.len() as u16).to_be_bytes());
                body.extend((scope as u16).to_be_bytes());
            }
        }
        self.field_specs(fields, &mut body);
        let set_id = match self.protocol {
            Protocol::V9 => 1,
            Protocol::Ipfix => 3,
        };
        self.set(set_id, &body, 1)
    }

    /// Adds an IPFIX template withdrawal (2 and 3 withdraw all data / options templates).
    pub fn withdrawal(self, template_id: u16, options: bool) -> Self {
        let mut body = Vec::new();
        body.extend(template_id.to_be_bytes());
        body.extend(0u16.to_be_bytes());
        self.set(if options { 3 } else { 2 }, &body, 0)
    }

    /// Adds a data set of already encoded records.
    pub fn data(self, template_id: u16, records: &[u8], count: u16) -> Self {
        self.set(template_id, records, count)
    }

    /// Adds a data set with `records` encoded by [`encode_record`] for `fields`.
    pub fn flows(self, template_id: u16, fields: &[FieldSpec], records: &[FlowRecord]) -> Self {
        let mut body = Vec::new();
        for r in records {
            encode_record(fields, r, self.export_ms, self.uptime_ms, &mut body);
        }
        self.data(template_id, &body, records.len() as u16)
    }

    /// The datagram.
    pub fn build(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.sets.len());
        let secs = (self.export_ms / 1000) as u32;
        match self.protocol {
            Protocol::V9 => {
                out.extend(9u16.to_be_bytes());
                out.extend(self.count.to_be_bytes());
                out.extend(self.uptime_ms.to_be_bytes());
                out.extend(secs.to_be_bytes());
                out.extend(self.sequence.to_be_bytes());
                out.extend(self.domain.to_be_bytes());
            }
            Protocol::Ipfix => {
                out.extend(10u16.to_be_bytes());
                out.extend(((16 + self.sets.len()) as u16).to_be_bytes());
                out.extend(secs.to_be_bytes());
                out.extend(self.sequence.to_be_bytes());
                out.extend(self.domain.to_be_bytes());
            }
        }
        out.extend(self.sets);
        out
    }
}
