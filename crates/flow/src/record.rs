//! The normalised flow record every decoder produces and every consumer reads.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// One unidirectional (or, after pairing, bidirectional) flow, normalised from NetFlow v5/v9,
/// IPFIX, nfcapd files or nfdump text output.
///
/// Times are milliseconds since the Unix epoch (UTC). Fields a source does not carry are zero
/// (or `None` for the exporter), never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FlowRecord {
    /// Flow start (first packet), ms since the Unix epoch, UTC. Event time for detection.
    pub start_ms: i64,
    /// Flow end (last packet), ms since the Unix epoch, UTC; equals `start_ms` when unknown.
    pub end_ms: i64,
    /// Source address: the initiator of the connection after direction normalisation.
    pub src: IpAddr,
    /// Destination address: the responder (the peer, for detection).
    pub dst: IpAddr,
    /// Transport source port (0 when the protocol has none).
    pub src_port: u16,
    /// Transport destination port; for ICMP, `type * 256 + code` as NetFlow encodes it.
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6…).
    pub protocol: u8,
    /// Cumulative TCP flags (OR of all packets), 0 for other protocols.
    pub tcp_flags: u8,
    /// Octets in the flow, as exported (see `sampling_rate`).
    pub bytes: u64,
    /// Packets in the flow, as exported (see `sampling_rate`).
    pub packets: u64,
    /// Address of the exporter (router/probe) that sent the record, when known.
    pub exporter: Option<IpAddr>,
    /// IPFIX observation domain id or NetFlow v9 source id (0 when unknown).
    pub observation_domain: u32,
    /// Packet sampling interval: 1 in N packets was sampled; 0 or 1 means unsampled.
    pub sampling_rate: u32,
    /// SNMP index of the input interface (0 when unknown).
    pub input_if: u32,
    /// SNMP index of the output interface (0 when unknown).
    pub output_if: u32,
    /// Direction and provenance flags, see [`FlowRecord::FLAG_BIDIRECTIONAL`] and friends.
    pub flags: u8,
}

impl FlowRecord {
    /// The record merges both directions of a connection (the original's `netflowaggr`).
    pub const FLAG_BIDIRECTIONAL: u8 = 0x01;
    /// The exporter marked the flow as egress (NetFlow v9/IPFIX `flowDirection` = 1).
    pub const FLAG_EGRESS: u8 = 0x02;
    /// The record was merged from pieces an exporter split by its active timeout.
    pub const FLAG_MERGED: u8 = 0x04;
    /// Source and destination were swapped so that `src` is the initiator.
    pub const FLAG_REVERSED: u8 = 0x08;

    /// A record holding only a start time and the two addresses, as the seed's triples carry.
    pub fn from_triple(start_ms: i64, src: IpAddr, dst: IpAddr) -> Self {
        Self {
            start_ms,
            end_ms: start_ms,
            src,
            dst,
            ..Self::default()
        }
    }
}

impl Default for FlowRecord {
    fn default() -> Self {
        Self {
            start_ms: 0,
            end_ms: 0,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_port: 0,
            protocol: 0,
            tcp_flags: 0,
            bytes: 0,
            packets: 0,
            exporter: None,
            observation_domain: 0,
            sampling_rate: 0,
            input_if: 0,
            output_if: 0,
            flags: 0,
        }
    }
}
