//! Evaluates every host through the detection engine — the detector's [`Engine`], state,
//! windowing and host evaluation — then applies the false-positive control over all hosts at
//! once and tallies periodic peers per host with the algorithm's own rule.
//!
//! Hosts are evaluated in parallel, each by a fresh batch engine (one engine per thread,
//! [`Engine::reset`] between hosts) fed the host's pairs from the row store through
//! [`Engine::ingest`], so that only the hosts in flight hold engine state.
//! The engines run with the filter off: prevalence and reply folding judge a peer by every
//! host's pairs, so the filter is applied afterwards over all hosts (the detector's engine
//! applies the same rules host by host, over the hosts of its partition).

use std::collections::HashMap;
use std::net::IpAddr;

use relbot_engine::{
    fold_replies, tally_periods, Engine, EngineConfig, EngineError, HostResult, HostWindow,
    PeerFilter, PeriodicPair, Prevalence,
};
use relbot_flow::FlowRecord;
use relbot_periodicity::Algorithm;

use super::columns::{FlowRows, PairCursor};
use crate::explain::PairEvidence;

/// The evidence of every periodic pair, by (host, peer).
pub type EvidenceMap = HashMap<(IpAddr, IpAddr), PairEvidence>;

/// Totals over all hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Distinct (source, destination) pairs evaluated.
    pub pairs: usize,
    /// Flows the engines accepted (the flows read, unless the engine configuration drops
    /// some).
    pub flows_ingested: u64,
    /// Pairs the engines ran the algorithm on.
    pub pair_evaluations: u64,
}

/// What the engine found for one host: its window, its periodic pairs (before the filter) and
/// their evidence, in the same order.
struct Judged {
    window: HostWindow,
    periodic: Vec<PeriodicPair>,
    evidence: Vec<PairEvidence>,
}

/// One host's evaluation, with the engine's counters. Most hosts have no periodic pair and
/// keep only their counters (a run has a `HostRun` per source until all are done).
struct HostRun {
    host: IpAddr,
    /// Peers in the host's window.
    peers: u32,
    flows_ingested: u64,
    pair_evaluations: u64,
    /// The host's evaluation, when some pair is periodic.
    judged: Option<Box<Judged>>,
}

/// Evaluates every host with engines configured by `config` (`relbot analyze` uses
/// [`EngineConfig::batch`]) and returns the hosts with at least one periodic peer that
/// survives `filter` (see `relbot_engine::filter`: replies folded, allow-listed and
/// infrastructure peers dropped, at least `min_peers` sharing a period), sorted by the
/// address's text, byte order (the original compared and sorted addresses as strings), with
/// each period's peers sorted the same way, and the evidence of every periodic pair of those
/// hosts. An invalid `config` is an error naming the field.
pub fn evaluate(
    algorithm: &Algorithm,
    config: &EngineConfig,
    rows: FlowRows,
    filter: &PeerFilter,
) -> Result<(Vec<HostResult>, Totals, EvidenceMap), EngineError> {
    // Fails here, before any work, if the configuration is invalid.
    Engine::new(config.clone(), algorithm.clone())?;
    let runs = rows.for_each_host_with(
        || Engine::new(config.clone(), algorithm.clone()),
        |engine, host, pairs: &mut PairCursor<'_>| match engine {
            Ok(engine) => judge_host(engine, host, pairs),
            Err(e) => Err(e.clone()),
        },
    );
    let mut per_host: Vec<(IpAddr, Box<Judged>)> = Vec::new();
    let mut totals = Totals::default();
    for run in runs {
        let run = run?;
        totals.pairs += run.peers as usize;
        totals.flows_ingested += run.flows_ingested;
        totals.pair_evaluations += run.pair_evaluations;
        if let Some(judged) = run.judged {
            per_host.push((run.host, judged));
        }
    }
    apply_filter(filter, &mut per_host);
    let mut evidence = EvidenceMap::new();
    let mut found: Vec<(String, HostResult)> = per_host
        .into_iter()
        .filter(|(_, judged)| !judged.periodic.is_empty())
        .filter_map(|(host, mut judged)| {
            let result = host_result(algorithm, host, &judged);
            if !result
                .periods
                .iter()
                .any(|p| p.count() >= filter.min_peers())
            {
                return None;
            }
            let pairs = judged.periodic.iter().map(|p| (host, p.peer));
            evidence.extend(pairs.zip(std::mem::take(&mut judged.evidence)));
            Some((host.to_string(), result))
        })
        .collect();
    found.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok((
        found.into_iter().map(|(_, h)| h).collect(),
        totals,
        evidence,
    ))
}

/// Feeds one host's pairs into `engine`, reset first (so fresh for this host), flushes it and
/// reads its evaluation back.
fn judge_host(
    engine: &mut Engine,
    host: IpAddr,
    pairs: &mut PairCursor<'_>,
) -> Result<HostRun, EngineError> {
    engine.reset();
    // One record, refilled: the row store keeps only (peer, start) of a flow.
    let mut flow = FlowRecord::from_triple(0, host, host);
    while let Some((peer, times)) = pairs.next() {
        flow.dst = peer;
        for &t in times {
            (flow.start_ms, flow.end_ms) = (t, t);
            engine.ingest(&flow);
        }
    }
    engine.flush();
    let window = engine.host_window(host);
    let periodic = engine.periodic_pairs(host);
    let judged = window.filter(|_| !periodic.is_empty()).map(|window| {
        let evidence = periodic
            .iter()
            .map(|p| {
                let times = engine.pair_times(host, p.peer).unwrap_or_default();
                PairEvidence::of(engine.algorithm(), &times)
            })
            .collect();
        Box::new(Judged {
            window,
            periodic,
            evidence,
        })
    });
    let stats = engine.stats();
    Ok(HostRun {
        host,
        peers: window.map_or(0, |w| w.peers),
        flows_ingested: stats.flows_ingested,
        pair_evaluations: stats.pair_evaluations,
        judged,
    })
}

/// The false-positive control over all hosts at once (the engine applies the same rules
/// host by host): prevalence counts every periodic pair; replies, allow-listed and
/// infrastructure peers are then dropped.
fn apply_filter(filter: &PeerFilter, per_host: &mut [(IpAddr, Box<Judged>)]) {
    let mut prevalence = Prevalence::default();
    for (_, judged) in per_host.iter() {
        prevalence.replace([], judged.periodic.iter().map(|p| p.peer));
    }
    let limit = filter.prevalence_limit(prevalence.periodic_hosts());
    let replies: Vec<usize> = if filter.folds_replies() {
        let pairs: Vec<(IpAddr, IpAddr, i64)> = per_host
            .iter()
            .flat_map(|(host, judged)| {
                judged
                    .periodic
                    .iter()
                    .map(move |p| (*host, p.peer, p.first_flow_ms))
            })
            .collect();
        fold_replies(&pairs)
    } else {
        Vec::new()
    };
    let mut index = 0;
    let mut replies = replies.into_iter().peekable();
    for (_, judged) in per_host.iter_mut() {
        let keep: Vec<bool> = judged
            .periodic
            .iter()
            .map(|p| {
                let reply = replies.next_if_eq(&index).is_some();
                index += 1;
                !reply
                    && !filter.allows_peer(p.peer)
                    && !prevalence.is_infrastructure(p.peer, limit)
            })
            .collect();
        // The evidence is kept in step with its pair.
        let mut verdicts = keep.iter();
        judged
            .periodic
            .retain(|_| verdicts.next().copied().unwrap_or(true));
        let mut verdicts = keep.iter();
        judged
            .evidence
            .retain(|_| verdicts.next().copied().unwrap_or(true));
    }
}

fn host_result(algorithm: &Algorithm, host: IpAddr, judged: &Judged) -> HostResult {
    let periodic = judged
        .periodic
        .iter()
        .map(|p| ((p.peer, p.flows), &p.verdict));
    let mut periods = tally_periods(algorithm, periodic);
    // The original listed addresses in text order.
    for period in &mut periods {
        period.peers.sort_by_cached_key(|p| p.peer.to_string());
    }
    let w = &judged.window;
    HostResult {
        host,
        window_start_ms: w.window_start_ms,
        window_end_ms: w.window_end_ms,
        flows: w.flows,
        peers: w.peers,
        first_flow_ms: w.first_flow_ms,
        last_flow_ms: w.last_flow_ms,
        periods,
    }
}

#[cfg(test)]
mod tests {
    use relbot_engine::Networks;
    use relbot_periodicity::ClassicParams;

    use super::*;

    const T0: i64 = 1_416_268_800_000;
    const MIN: i64 = 60_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Host 10.0.0.1 beacons every 10 min to three peers (12 flows each) and once to a
    /// fourth; host 10.0.0.2 sends one flow.
    fn rows() -> FlowRows {
        let mut rows = FlowRows::default();
        for peer in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
            for k in 0..12 {
                let t = T0 + k * 10 * MIN + 1000;
                rows.add(&FlowRecord::from_triple(t, ip("10.0.0.1"), ip(peer)));
            }
        }
        rows.add(&FlowRecord::from_triple(
            T0,
            ip("10.0.0.1"),
            ip("192.0.2.4"),
        ));
        rows.add(&FlowRecord::from_triple(
            T0,
            ip("10.0.0.2"),
            ip("192.0.2.1"),
        ));
        rows
    }

    fn run(config: &EngineConfig) -> (Vec<HostResult>, Totals, EvidenceMap) {
        let algorithm = Algorithm::classic(ClassicParams::seed_shipped()).unwrap();
        evaluate(&algorithm, config, rows(), &PeerFilter::off()).unwrap()
    }

    #[test]
    fn batch_engine_finds_the_beacons() {
        let (hosts, totals, evidence) = run(&EngineConfig::batch());
        assert_eq!(hosts.len(), 1);
        let h = &hosts[0];
        assert_eq!((h.host, h.flows, h.peers), (ip("10.0.0.1"), 37, 4));
        assert_eq!(h.periods[0].count(), 3);
        assert_eq!(totals.pairs, 5);
        assert_eq!(totals.flows_ingested, 38);
        assert_eq!(totals.pair_evaluations, 3);
        assert_eq!(evidence.len(), 3);
        assert!(evidence.values().all(PairEvidence::is_periodic));
    }

    // The engine's own settings change the result: the flows really go through it.
    #[test]
    fn engine_settings_shape_the_result() {
        // Monitored networks: a host outside them has no state at all.
        let config = EngineConfig {
            monitored: Networks::parse(&["10.0.0.2/32"]).unwrap(),
            ..EngineConfig::batch()
        };
        let (hosts, totals, _) = run(&config);
        assert!(hosts.is_empty());
        assert_eq!((totals.flows_ingested, totals.pairs), (1, 1));

        // Peer cap: only the first peer of the host is kept.
        let config = EngineConfig {
            max_peers_per_host: 1,
            ..EngineConfig::batch()
        };
        let (hosts, totals, evidence) = run(&config);
        assert_eq!((hosts[0].flows, hosts[0].peers), (12, 1));
        assert_eq!(hosts[0].periods[0].count(), 1);
        assert_eq!((totals.flows_ingested, totals.pairs), (13, 2));
        assert_eq!(evidence.len(), 1);

        // Times cap: three times per pair are too few for any period.
        let config = EngineConfig {
            max_times_per_pair: 3,
            ..EngineConfig::batch()
        };
        let (hosts, totals, _) = run(&config);
        assert!(hosts.is_empty());
        assert_eq!(totals.pair_evaluations, 0);
    }

    #[test]
    fn an_invalid_engine_configuration_names_the_field() {
        let algorithm = Algorithm::classic(ClassicParams::seed_shipped()).unwrap();
        let config = EngineConfig {
            max_times_per_pair: 0,
            ..EngineConfig::batch()
        };
        let error = evaluate(&algorithm, &config, rows(), &PeerFilter::off()).unwrap_err();
        assert!(error.to_string().contains("max_times_per_pair"), "{error}");
    }
}
