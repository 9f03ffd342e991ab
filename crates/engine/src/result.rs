//! What an evaluation of a host found: [`HostResult`] for callers, and the comparison rules
//! that decide whether a new finding is worth a detection.

use std::net::IpAddr;

use relbot_periodicity::{Algorithm, PairVerdict};

/// The latest evaluation of one host with at least one periodic peer: everything `relbot
/// analyze` prints (counts per period, periodic peers with their flow counts, flows and peers
/// of the host in the window).
#[derive(Debug, Clone, PartialEq)]
pub struct HostResult {
    /// The monitored host.
    pub host: IpAddr,
    /// Window start, inclusive, ms (the host's first flow when the horizon is unbounded).
    pub window_start_ms: i64,
    /// Window end, exclusive, ms: the evaluation tick.
    pub window_end_ms: i64,
    /// Flows of the host in the window, over all its peers.
    pub flows: u64,
    /// Distinct peers of the host in the window.
    pub peers: u32,
    /// Earliest flow start in the window, ms.
    pub first_flow_ms: i64,
    /// Latest flow start in the window, ms.
    pub last_flow_ms: i64,
    /// One entry per period the algorithm reports (classic: every candidate period,
    /// ascending, zero counts included).
    pub periods: Vec<PeriodFinding>,
}

/// The periodic peers of a host for one period.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodFinding {
    /// The period, ms.
    pub period_ms: u64,
    /// The peers periodic with this period (sorted by address in the engine; by address
    /// text in [`Engine::host_results`](crate::Engine::host_results)).
    pub peers: Vec<PeerFinding>,
}

impl PeriodFinding {
    /// Number of peers periodic with this period (what the original printed).
    pub fn count(&self) -> usize {
        self.peers.len()
    }
}

/// One periodic peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerFinding {
    /// The peer's address.
    pub peer: IpAddr,
    /// Flows from the host to this peer in the window.
    pub flows: u64,
    /// The algorithm's confidence for this pair and period, in [0, 1].
    pub confidence: f64,
}

/// Tallies a host's periodic pairs — `((peer, flows to it), verdict)` — with the algorithm's
/// own grouping rule, into one [`PeriodFinding`] per period, peers sorted by address. The
/// engine and `relbot analyze` both report hosts through this.
pub fn tally_periods<'a>(
    algorithm: &Algorithm,
    periodic: impl IntoIterator<Item = ((IpAddr, u64), &'a PairVerdict)>,
) -> Vec<PeriodFinding> {
    algorithm
        .tally(periodic)
        .into_iter()
        .map(|t| {
            let mut peers: Vec<PeerFinding> = t
                .peers
                .iter()
                .map(|s| PeerFinding {
                    peer: s.peer.0,
                    flows: s.peer.1,
                    confidence: s.confidence,
                })
                .collect();
            peers.sort_unstable_by_key(|a| a.peer);
            PeriodFinding {
                period_ms: t.period_ms,
                peers,
            }
        })
        .collect()
}

/// A host's evaluation result without the host (what the engine keeps per host).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub flows: u64,
    pub peers: u32,
    pub first_flow_ms: i64,
    pub last_flow_ms: i64,
    /// Peers of each period sorted by address.
    pub periods: Vec<PeriodFinding>,
}

impl Finding {
    /// Whether any period has a periodic peer.
    pub(crate) fn is_flagged(&self) -> bool {
        self.periods.iter().any(|p| !p.peers.is_empty())
    }

    fn period(&self, period_ms: u64, same: &dyn Fn(u64, u64) -> bool) -> Option<&PeriodFinding> {
        self.periods.iter().find(|p| same(p.period_ms, period_ms))
    }

    /// Whether `self` has, for some period, a higher count or a peer that `old` did not
    /// list (the [`EmitRule::Escalation`](crate::EmitRule::Escalation) test). `same` tells
    /// whether two periods are one ([`Algorithm::same_period`](relbot_periodicity::Algorithm::same_period)):
    /// an estimated period that moved within its tolerance is not a new period.
    pub(crate) fn escalates(&self, old: Option<&Finding>, same: &dyn Fn(u64, u64) -> bool) -> bool {
        self.periods.iter().any(|p| {
            let before = old.and_then(|o| o.period(p.period_ms, same));
            match before {
                None => !p.peers.is_empty(),
                Some(b) => {
                    p.peers.len() > b.peers.len()
                        || p.peers
                            .iter()
                            .any(|x| b.peers.binary_search_by(|y| y.peer.cmp(&x.peer)).is_err())
                }
            }
        })
    }

    /// Whether `self` and `other` report the same periods with the same peers (flow counts,
    /// confidences and windows aside).
    pub(crate) fn same_peers(&self, other: &Finding, same: &dyn Fn(u64, u64) -> bool) -> bool {
        self.periods.len() == other.periods.len()
            && self.periods.iter().zip(&other.periods).all(|(a, b)| {
                same(a.period_ms, b.period_ms)
                    && a.peers.len() == b.peers.len()
                    && a.peers.iter().zip(&b.peers).all(|(x, y)| x.peer == y.peer)
            })
    }

    /// The public form, for `host`.
    pub(crate) fn to_result(&self, host: IpAddr) -> HostResult {
        HostResult {
            host,
            window_start_ms: self.window_start_ms,
            window_end_ms: self.window_end_ms,
            flows: self.flows,
            peers: self.peers,
            first_flow_ms: self.first_flow_ms,
            last_flow_ms: self.last_flow_ms,
            periods: self.periods.clone(),
        }
    }

    /// Heap bytes held (approximate).
    pub(crate) fn heap_bytes(&self) -> usize {
        use crate::budget::heap_cost;
        heap_cost(self.periods.capacity() * size_of::<PeriodFinding>())
            + self
                .periods
                .iter()
                .map(|p| heap_cost(p.peers.capacity() * size_of::<PeerFinding>()))
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relbot_periodicity::Algorithm;

    fn finding(periods: &[(u64, &[u8])]) -> Finding {
        Finding {
            window_start_ms: 0,
            window_end_ms: 1,
            flows: 0,
            peers: 0,
            first_flow_ms: 0,
            last_flow_ms: 0,
            periods: periods
                .iter()
                .map(|&(period_ms, peers)| PeriodFinding {
                    period_ms,
                    peers: peers
                        .iter()
                        .map(|&n| PeerFinding {
                            peer: IpAddr::from([10, 0, 0, n]),
                            flows: 5,
                            confidence: 1.0,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn exact(a: u64, b: u64) -> bool {
        a == b
    }

    #[test]
    fn escalation_means_more_or_new_peers() {
        let old = finding(&[(10, &[1, 2]), (20, &[])]);
        assert!(finding(&[(10, &[1, 2]), (20, &[])]).escalates(None, &exact));
        assert!(!finding(&[(10, &[]), (20, &[])]).escalates(None, &exact));
        assert!(!finding(&[(10, &[1, 2]), (20, &[])]).escalates(Some(&old), &exact));
        assert!(!finding(&[(10, &[1]), (20, &[])]).escalates(Some(&old), &exact));
        assert!(finding(&[(10, &[1, 3]), (20, &[])]).escalates(Some(&old), &exact));
        assert!(finding(&[(10, &[1]), (20, &[4])]).escalates(Some(&old), &exact));
        assert!(finding(&[(10, &[1, 2]), (20, &[])]).same_peers(&old, &exact));
        assert!(!finding(&[(10, &[1]), (20, &[])]).same_peers(&old, &exact));
    }

    #[test]
    fn an_estimated_period_that_moves_within_tolerance_is_no_escalation() {
        let beacon = Algorithm::beacon(Default::default()).unwrap();
        let same = |a, b| beacon.same_period(a, b);
        let old = finding(&[(1_800_000, &[1, 2])]);
        // The estimate moved by 4 s (within ±25 s): the same period, the same peers.
        let moved = finding(&[(1_804_000, &[1, 2])]);
        assert!(!moved.escalates(Some(&old), &same));
        assert!(moved.same_peers(&old, &same));
        // Without the tolerance it would look like a new period every evaluation.
        assert!(moved.escalates(Some(&old), &exact));
        // A new peer, or a period far from the old one, still escalates.
        assert!(finding(&[(1_804_000, &[1, 2, 3])]).escalates(Some(&old), &same));
        assert!(finding(&[(2_400_000, &[1])]).escalates(Some(&old), &same));
    }
}
