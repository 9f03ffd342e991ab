//! `relbot explain`'s report for people: the verdict, then one line per peer with its period,
//! confidence, flows and evidence.

use std::io::{self, Write};

use super::{Explanation, PairEvidence, PeerView};
use crate::output::human_period;

/// Writes `e`.
pub fn write(e: &Explanation, out: &mut dyn Write) -> io::Result<()> {
    let (name, version) = &e.algorithm;
    writeln!(out, "host {} (algorithm {name} {version})", e.host)?;
    if let Some((first, last)) = e.span_ms {
        let span = u64::try_from(last - first).unwrap_or(0);
        writeln!(
            out,
            "  {} flow(s) to {} peer(s) over {}",
            e.flows,
            e.peers,
            human_period(span / 1000 * 1000)
        )?;
    }
    let verdict = if e.flagged { "FLAGGED" } else { "NOT FLAGGED" };
    writeln!(out, "  {verdict}: {}", e.reason)?;
    if e.listed.is_empty() && e.flows > 0 {
        writeln!(out, "  (no flows to the peer asked for)")?;
    }
    if !e.listed.is_empty() {
        writeln!(out)?;
        let width = e
            .listed
            .iter()
            .map(|v| v.peer.to_string().len())
            .max()
            .unwrap_or(4)
            .max(4);
        let rows: Vec<(String, f64)> = e.listed.iter().map(period_and_confidence).collect();
        let pw = rows.iter().map(|r| r.0.len()).max().unwrap_or(6).max(6);
        writeln!(
            out,
            "{:<width$}  {:>6}  {:>8}  {:<pw$}  {:>10}  EVIDENCE",
            "PEER", "FLOWS", "PERIODIC", "PERIOD", "CONFIDENCE"
        )?;
        for (v, (period, confidence)) in e.listed.iter().zip(rows) {
            let periodic = if v.periodic_for.is_empty() {
                "no"
            } else {
                "yes"
            };
            writeln!(
                out,
                "{:<width$}  {:>6}  {periodic:>8}  {period:<pw$}  {confidence:>10.2}  {}",
                v.peer.to_string(),
                v.flows,
                v.evidence.describe()
            )?;
        }
    }
    if e.unlisted > 0 {
        writeln!(
            out,
            "({} more peer(s) not listed: fewer flows than a periodic pair needs, or beyond \
             --max-peers)",
            e.unlisted
        )?;
    }
    if let Some((period, path)) = &e.picture {
        writeln!(
            out,
            "\npicture: {path} (flow starts wrapped by {}; a periodic peer draws a vertical \
             stripe)",
            human_period(*period)
        )?;
    }
    Ok(())
}

/// The period column (the periods a peer counts for; in parentheses the best one of a peer
/// that is not periodic) and the confidence column.
fn period_and_confidence(v: &PeerView) -> (String, f64) {
    match (&v.evidence, v.periodic_for.first()) {
        (PairEvidence::Beacon(b), _) => (human_period(b.period_ms), b.confidence),
        (_, Some(&(_, c))) => (
            v.periodic_for
                .iter()
                .map(|(p, _)| human_period(*p))
                .collect::<Vec<_>>()
                .join(","),
            c,
        ),
        (evidence, None) => (
            evidence
                .best_period_ms()
                .map_or("-".to_string(), |p| format!("({})", human_period(p))),
            0.0,
        ),
    }
}
