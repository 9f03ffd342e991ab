//! JSON output: per host and period, the periodic peers with their flow counts, the
//! algorithm's confidence and its evidence (the same evidence `relbot explain` prints).

use std::io::{self, Write};

use serde::Serialize;

use crate::analyze::Analysis;
use crate::explain::PairEvidence;

#[derive(Serialize)]
struct Document<'a> {
    algorithm: &'a str,
    algorithm_version: &'a str,
    hosts: Vec<Host<'a>>,
    summary: &'a crate::analyze::Summary,
}

#[derive(Serialize)]
struct Host<'a> {
    host: String,
    flows: u64,
    peers: u32,
    first_flow_ms: i64,
    last_flow_ms: i64,
    periods: Vec<Period<'a>>,
}

#[derive(Serialize)]
struct Period<'a> {
    period_ms: u64,
    count: usize,
    peers: Vec<Peer<'a>>,
}

#[derive(Serialize)]
struct Peer<'a> {
    peer: String,
    flows: u64,
    confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a PairEvidence>,
}

/// Writes `analysis` as one pretty-printed JSON document followed by a newline.
pub fn write_json(analysis: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    let doc = Document {
        algorithm: analysis.algorithm,
        algorithm_version: &analysis.algorithm_version,
        hosts: analysis
            .hosts
            .iter()
            .map(|h| Host {
                host: h.host.to_string(),
                flows: h.flows,
                peers: h.peers,
                first_flow_ms: h.first_flow_ms,
                last_flow_ms: h.last_flow_ms,
                periods: h
                    .periods
                    .iter()
                    .map(|p| Period {
                        period_ms: p.period_ms,
                        count: p.count(),
                        peers: p
                            .peers
                            .iter()
                            .map(|e| Peer {
                                peer: e.peer.to_string(),
                                flows: e.flows,
                                confidence: e.confidence,
                                evidence: analysis.evidence.get(&(h.host, e.peer)),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        summary: &analysis.summary,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
