//! The information elements relbot reads, and how a data record's fields become a
//! [`FlowRecord`](crate::FlowRecord).
//!
//! NetFlow v9 field types below 128 and the common ones above share their numbers with the IANA
//! IPFIX registry, so one table serves both. Every other element (and every enterprise-specific
//! one) is skipped by its length.

/// What a field of a data or options record is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    SrcV4,
    DstV4,
    SrcV6,
    DstV6,
    SrcPort,
    DstPort,
    Protocol,
    TcpFlags,
    /// octetDeltaCount (1).
    Bytes,
    /// packetDeltaCount (2).
    Packets,
    /// octetTotalCount (85), used when there is no delta count.
    BytesTotal,
    /// packetTotalCount (86), used when there is no delta count.
    PacketsTotal,
    InputIf,
    OutputIf,
    /// flowDirection (61): 1 is egress.
    Direction,
    /// icmpTypeCodeIPv4 (32) / icmpTypeCodeIPv6 (139): `type * 256 + code`.
    IcmpTypeCode,
    /// icmpTypeIPv4 (176) / icmpTypeIPv6 (178).
    IcmpType,
    /// icmpCodeIPv4 (177) / icmpCodeIPv6 (179).
    IcmpCode,
    /// flowStartSysUpTime / v9 FIRST_SWITCHED (22), ms relative to the exporter's init.
    FirstUptime,
    /// flowEndSysUpTime / v9 LAST_SWITCHED (21).
    LastUptime,
    /// flowStartSeconds (150).
    StartSec,
    /// flowEndSeconds (151).
    EndSec,
    /// flowStartMilliseconds (152).
    StartMs,
    /// flowEndMilliseconds (153).
    EndMs,
    /// flowStartMicroseconds (154), NTP format.
    StartNtp,
    /// flowEndMicroseconds (155), NTP format.
    EndNtp,
    /// flowStartNanoseconds (156), NTP format.
    StartNtpNs,
    /// flowEndNanoseconds (157), NTP format.
    EndNtpNs,
    /// flowStartDeltaMicroseconds (158): µs before the export time.
    StartDeltaUs,
    /// flowEndDeltaMicroseconds (159).
    EndDeltaUs,
    /// systemInitTimeMilliseconds (160).
    SystemInitMs,
    /// flowDurationMilliseconds (161).
    DurationMs,
    /// flowDurationMicroseconds (162).
    DurationUs,
    /// samplingInterval (34), v9 SAMPLING_INTERVAL.
    SamplingInterval,
    /// v9 FLOW_SAMPLER_ID (48) / IPFIX samplerId (48) and selectorId (302).
    SamplerId,
    /// v9 FLOW_SAMPLER_RANDOM_INTERVAL (50), IPFIX samplerRandomInterval (50).
    SamplerRandomInterval,
    /// samplingPacketInterval (305).
    PacketInterval,
    /// samplingPacketSpace (306).
    PacketSpace,
    /// Not used by relbot.
    Skip,
}

/// The target of an IANA (enterprise 0) element with the given length. Elements whose length
/// does not fit their type are skipped rather than misread.
pub(crate) fn target(id: u16, enterprise: u32, length: u16) -> Target {
    use Target::*;
    if enterprise != 0 {
        return Skip;
    }
    let variable = length == super::template::VARIABLE_LENGTH;
    let int = !variable && (1..=8).contains(&length);
    match id {
        8 if length == 4 => SrcV4,
        12 if length == 4 => DstV4,
        27 if length == 16 => SrcV6,
        28 if length == 16 => DstV6,
        7 if int => SrcPort,
        11 if int => DstPort,
        4 if int => Protocol,
        6 if int => TcpFlags,
        1 if int => Bytes,
        2 if int => Packets,
        85 if int => BytesTotal,
        86 if int => PacketsTotal,
        10 if int => InputIf,
        14 if int => OutputIf,
        61 if int => Direction,
        32 | 139 if int => IcmpTypeCode,
        176 | 178 if int => IcmpType,
        177 | 179 if int => IcmpCode,
        22 if int => FirstUptime,
        21 if int => LastUptime,
        150 if int => StartSec,
        151 if int => EndSec,
        152 if int => StartMs,
        153 if int => EndMs,
        154 if length == 8 => StartNtp,
        155 if length == 8 => EndNtp,
        156 if length == 8 => StartNtpNs,
        157 if length == 8 => EndNtpNs,
        158 if int => StartDeltaUs,
        159 if int => EndDeltaUs,
        160 if int => SystemInitMs,
        161 if int => DurationMs,
        162 if int => DurationUs,
        34 if int => SamplingInterval,
        48 | 302 if int => SamplerId,
        50 if int => SamplerRandomInterval,
        305 if int => PacketInterval,
        306 if int => PacketSpace,
        _ => Skip,
    }
}

/// Whether an options record field matters (sampling or system init time).
pub(crate) fn is_option_target(target: Target) -> bool {
    matches!(
        target,
        Target::SamplingInterval
            | Target::SamplerId
            | Target::SamplerRandomInterval
            | Target::PacketInterval
            | Target::PacketSpace
            | Target::SystemInitMs
    )
}

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET_S: i64 = 2_208_988_800;

/// Milliseconds since the Unix epoch of an NTP timestamp (32-bit seconds since 1900, 32-bit
/// fraction), as IPFIX dateTimeMicroseconds/Nanoseconds are encoded (RFC 7011 §6.1.9).
pub(crate) fn ntp_to_unix_ms(value: u64) -> i64 {
    let seconds = (value >> 32) as i64 - NTP_UNIX_OFFSET_S;
    let fraction_ms = ((value & 0xffff_ffff) * 1000) >> 32;
    seconds * 1000 + fraction_ms as i64
}

/// The fields of one data record as read, before times and sampling are resolved.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Fields {
    pub src: Option<std::net::IpAddr>,
    pub dst: Option<std::net::IpAddr>,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub tcp_flags: u8,
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
    pub bytes_total: Option<u64>,
    pub packets_total: Option<u64>,
    pub input_if: u32,
    pub output_if: u32,
    pub egress: bool,
    pub icmp_type_code: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub first_uptime: Option<u32>,
    pub last_uptime: Option<u32>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub start_delta_us: Option<u64>,
    pub end_delta_us: Option<u64>,
    pub system_init_ms: Option<i64>,
    pub duration_ms: Option<u64>,
    pub sampling_interval: Option<u64>,
    pub sampler_id: Option<u64>,
    pub packet_interval: Option<u64>,
    pub packet_space: Option<u64>,
}

impl Fields {
    /// Stores one field's value.
    #[inline]
    pub(crate) fn set(&mut self, target: Target, value: &[u8]) {
        use super::be::uint;
        use Target::*;
        match target {
            SrcV4 | DstV4 => {
                if let Ok(b) = <[u8; 4]>::try_from(value) {
                    let ip = std::net::IpAddr::from(b);
                    if target == SrcV4 {
                        self.src = Some(ip);
                    } else {
                        self.dst = Some(ip);
                    }
                }
            }
            SrcV6 | DstV6 => {
                if let Ok(b) = <[u8; 16]>::try_from(value) {
                    let ip = std::net::IpAddr::from(b);
                    if target == SrcV6 {
                        self.src = Some(ip);
                    } else {
                        self.dst = Some(ip);
                    }
                }
            }
            SrcPort => self.src_port = uint(value) as u16,
            DstPort => self.dst_port = uint(value) as u16,
            Protocol => self.protocol = uint(value) as u8,
            TcpFlags => self.tcp_flags = uint(value) as u8,
            Bytes => self.bytes = Some(uint(value)),
            Packets => self.packets = Some(uint(value)),
            BytesTotal => self.bytes_total = Some(uint(value)),
            PacketsTotal => self.packets_total = Some(uint(value)),
            InputIf => self.input_if = uint(value) as u32,
            OutputIf => self.output_if = uint(value) as u32,
            Direction => self.egress = uint(value) == 1,
            IcmpTypeCode => self.icmp_type_code = Some(uint(value) as u16),
            IcmpType => self.icmp_type = Some(uint(value) as u8),
            IcmpCode => self.icmp_code = Some(uint(value) as u8),
            FirstUptime => self.first_uptime = Some(uint(value) as u32),
            LastUptime => self.last_uptime = Some(uint(value) as u32),
            StartSec => self.start_ms = Some((uint(value) as i64).saturating_mul(1000)),
            EndSec => self.end_ms = Some((uint(value) as i64).saturating_mul(1000)),
            StartMs => self.start_ms = Some(uint(value) as i64),
            EndMs => self.end_ms = Some(uint(value) as i64),
            StartNtp | StartNtpNs => self.start_ms = Some(ntp_to_unix_ms(uint(value))),
            EndNtp | EndNtpNs => self.end_ms = Some(ntp_to_unix_ms(uint(value))),
            StartDeltaUs => self.start_delta_us = Some(uint(value)),
            EndDeltaUs => self.end_delta_us = Some(uint(value)),
            SystemInitMs => self.system_init_ms = Some(uint(value) as i64),
            DurationMs => self.duration_ms = Some(uint(value)),
            DurationUs => self.duration_ms = Some(uint(value) / 1000),
            SamplingInterval | SamplerRandomInterval => self.sampling_interval = Some(uint(value)),
            SamplerId => self.sampler_id = Some(uint(value)),
            PacketInterval => self.packet_interval = Some(uint(value)),
            PacketSpace => self.packet_space = Some(uint(value)),
            Skip => {}
        }
    }

    /// The sampling rate the record itself states (1 in N), if any.
    pub(crate) fn own_sampling_rate(&self) -> Option<u32> {
        if let Some(interval) = self.sampling_interval.filter(|&n| n > 0) {
            return Some(interval.min(u64::from(u32::MAX)) as u32);
        }
        rate_from_intervals(self.packet_interval, self.packet_space)
    }
}

/// The rate `(packets + space) / packets` of IPFIX samplingPacketInterval (305) and
/// samplingPacketSpace (306), rounded to the nearest integer.
pub(crate) fn rate_from_intervals(packets: Option<u64>, space: Option<u64>) -> Option<u32> {
    let packets = packets.filter(|&p| p > 0)?;
    let space = space.unwrap_or(0);
    let rate = packets.saturating_add(space).saturating_add(packets / 2) / packets;
    Some(rate.clamp(1, u64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_times() {
        // 2014-11-18 13:15:05.734 UTC = 1416316505.734; NTP seconds = + 2208988800.
        let seconds = 1_416_316_505u64 + 2_208_988_800;
        let fraction = (734u64 << 32) / 1000 + 1;
        assert_eq!(
            ntp_to_unix_ms((seconds << 32) | fraction),
            1_416_316_505_734
        );
    }

    #[test]
    fn sampling_rates() {
        assert_eq!(rate_from_intervals(Some(1), Some(99)), Some(100));
        assert_eq!(rate_from_intervals(Some(1), None), Some(1));
        assert_eq!(rate_from_intervals(Some(0), Some(9)), None);
        let fields = Fields {
            sampling_interval: Some(512),
            ..Fields::default()
        };
        assert_eq!(fields.own_sampling_rate(), Some(512));
    }

    #[test]
    fn lengths_that_do_not_fit_are_skipped() {
        assert_eq!(target(8, 0, 4), Target::SrcV4);
        assert_eq!(target(8, 0, 16), Target::Skip);
        assert_eq!(target(8, 9, 4), Target::Skip);
        assert_eq!(target(1, 0, 9), Target::Skip);
        assert_eq!(target(1, 0, 0xffff), Target::Skip);
    }
}
