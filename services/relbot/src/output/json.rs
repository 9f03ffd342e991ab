//! JSON output: per host and period, the periodic peers with their flow counts.

use std::io::{self, Write};

use serde::Serialize;

use crate::analyze::Analysis;

#[derive(Serialize)]
struct Document<'a> {
    algorithm: &'a str,
    periods_ms: &'a [u64],
    hosts: Vec<Host>,
    summary: &'a crate::analyze::Summary,
}

#[derive(Serialize)]
struct Host {
    host: String,
    flows: u64,
    peers: u32,
    periods: Vec<Period>,
}

#[derive(Serialize)]
struct Period {
    period_ms: u64,
    count: usize,
    peers: Vec<Peer>,
}

#[derive(Serialize)]
struct Peer {
    peer: String,
    flows: u64,
}

/// Writes `analysis` as one pretty-printed JSON document followed by a newline.
pub fn write_json(analysis: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    let doc = Document {
        algorithm: "classic",
        periods_ms: &analysis.periods_ms,
        hosts: analysis
            .hosts
            .iter()
            .map(|h| Host {
                host: h.host.to_string(),
                flows: h.flows,
                peers: h.peers,
                periods: analysis
                    .periods_ms
                    .iter()
                    .zip(&h.periods)
                    .map(|(&period_ms, peers)| Period {
                        period_ms,
                        count: peers.len(),
                        peers: peers
                            .iter()
                            .map(|e| Peer {
                                peer: e.peer.to_string(),
                                flows: e.flows,
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
