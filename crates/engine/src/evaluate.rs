//! Evaluation of one host at one tick: expire and evict, run the algorithm on the pairs
//! whose window changed (reusing cached verdicts for the others), tally peers per period.

use std::net::IpAddr;

use hashbrown::DefaultHashBuilder;
use relbot_periodicity::{Algorithm, AlgorithmScratch, PairVerdict};

use crate::filter::{PeerFilter, Prevalence};
use crate::result::{tally_periods, Finding};
use crate::state::{Host, Memo, Pair};
use crate::{EngineConfig, HostWindow};

/// Everything an evaluation needs besides the host.
#[derive(Debug)]
pub(crate) struct Evaluator<'a> {
    pub algorithm: &'a Algorithm,
    /// False-positive control applied to the periodic peers.
    pub filter: &'a PeerFilter,
    /// Hosts per periodic peer; this host's share is updated.
    pub prevalence: &'a mut Prevalence,
    pub horizon_ms: Option<i64>,
    /// (fewest times a pair needs, idle time after which a sparser pair is evicted).
    pub sparse: Option<(usize, i64)>,
    /// Share of a long pair's window that must change before the algorithm runs on it again
    /// (see `EngineConfig::reevaluate_change`; 0: on every change).
    pub reevaluate_change: f64,
    /// Run the algorithm on every pair whose verdict is not current (a flush).
    pub fresh: bool,
    /// Pairs left with one time become singles (see [`Host::singles`]).
    pub singles: bool,
    pub scratch: &'a mut AlgorithmScratch,
    /// Reused buffer for one pair's window of times.
    pub window: &'a mut Vec<i64>,
    pub hasher: &'a DefaultHashBuilder,
}

/// What one host evaluation did besides updating the host.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The result (flagged or not).
    pub finding: Finding,
    /// The host's memo, with the verdicts updated; the caller sets `latest` from `finding`,
    /// decides on `emitted` and gives it back to the host.
    pub memo: Memo,
    pub times_expired: u64,
    pub pairs_expired: u64,
    pub pairs_sparse: u64,
    pub times_sparse: u64,
    pub pair_evaluations: u64,
}

/// Evaluates `host` over `[tick − horizon, tick)`; updates its pairs, due time and last
/// tick. The caller re-schedules it and accounts for its size.
pub(crate) fn evaluate_host(ev: &mut Evaluator<'_>, host: &mut Host, tick: i64) -> Outcome {
    let floor = ev.horizon_ms.map(|h| tick.saturating_sub(h));
    let mut memo = host.take_memo();
    let mut old_verdicts = std::mem::take(&mut memo.verdicts);
    let cold = host.cold;

    let mut out = Outcome {
        finding: empty_finding(tick),
        memo: Memo::default(),
        times_expired: 0,
        pairs_expired: 0,
        pairs_sparse: 0,
        times_sparse: 0,
        pair_evaluations: 0,
    };
    let (mut flows, mut peers, mut first, mut last) = (0u64, 0u32, i64::MAX, i64::MIN);
    let (mut due, mut times, mut times_heap) = (i64::MAX, 0usize, 0usize);
    let mut periodic: Vec<((IpAddr, u64), PairVerdict)> = Vec::new();
    // Some pair keeps a verdict older than its window (lazy re-estimation).
    let mut stale = false;
    let before = host.pairs.len();
    let periodic_before = !old_verdicts.is_empty();
    // A pair's cached verdict, moved out (each peer asks once; the peers stay for the
    // prevalence update below).
    let mut cached = |peer: IpAddr| {
        old_verdicts
            .binary_search_by(|(p, _)| p.cmp(&peer))
            .map_or(PairVerdict::NONE, |i| {
                std::mem::take(&mut old_verdicts[i].1)
            })
    };

    // Singles first (pairs that become singles below are then not visited twice): what the
    // pass over pairs does for a pair of one time, which is never judged.
    let single_idle = ev.sparse.filter(|s| s.0 > 1).map(|s| s.1);
    let singles_before = host.singles.len();
    host.singles.retain(|_, t| {
        if floor.is_some_and(|f| t < f) {
            out.times_expired += 1;
            out.pairs_expired += 1;
            return false;
        }
        if let Some(idle) = single_idle {
            if t < tick.saturating_sub(idle) {
                out.times_sparse += 1;
                out.pairs_sparse += 1;
                return false;
            }
            due = due.min(t.saturating_add(idle));
        }
        if let Some(h) = ev.horizon_ms {
            due = due.min(t.saturating_add(h));
        }
        times += 1;
        if t < tick {
            flows += 1;
            peers += 1;
            first = first.min(t);
            last = last.max(t);
        } else {
            due = due.min(t);
        }
        true
    });
    if host.singles.len() != singles_before {
        host.singles.shrink();
    }
    // A pair left with one time, no drift and no periodic verdict goes to the singles.
    let (singles, to_singles) = (&mut host.singles, ev.singles);
    let mut demote = |pair: &Pair, verdict: &PairVerdict| {
        to_singles
            && pair.times.len() == 1
            && pair.drift == 0
            && !verdict.is_periodic()
            && singles.insert(pair.peer, pair.times.first())
    };

    host.pairs.retain_mut(|pair| {
        let n = pair.times.len();
        // A pair with one flow time is a sparse session by itself (when the algorithm needs
        // more): it is evicted once idle for `idle_ms`, and until then that is its due time.
        let single_idle = match ev.sparse {
            Some((min_times, idle_ms)) if n == 1 && min_times > 1 && !pair.head_ok => {
                Some(pair.times.first().saturating_add(idle_ms))
            }
            _ => None,
        };
        // Fast path, most pairs of a busy host: nothing new, nothing leaving the window, no
        // sparse session to evict; decided from the pair itself, without touching its time
        // buffer.
        if !cold
            && n > 0
            && (pair.drift == 0 || !ev.fresh)
            && pair.evaluated as usize == n
            && floor.is_none_or(|f| pair.times.first() >= f)
            && (ev.sparse.is_none() || pair.head_ok || single_idle.is_some_and(|d| d >= tick))
        {
            flows += n as u64;
            peers += 1;
            first = first.min(pair.times.first());
            last = last.max(pair.times.last());
            times += n;
            times_heap += pair.times.heap_bytes();
            if let Some(h) = ev.horizon_ms {
                due = due.min(pair.times.first().saturating_add(h));
            }
            if let Some(idle) = single_idle {
                due = due.min(idle);
            }
            let verdict = if periodic_before {
                cached(pair.peer)
            } else {
                PairVerdict::NONE
            };
            stale |= pair.drift > 0;
            if demote(pair, &verdict) {
                times_heap -= pair.times.heap_bytes();
                return false;
            }
            if verdict.is_periodic() {
                periodic.push(((pair.peer, n as u64), verdict));
            }
            return true;
        }

        // Flow times that entered or left the window since the last evaluation.
        let mut moved = 0usize;
        if let Some(floor) = floor {
            let k = pair.times.count_before(floor);
            if k > 0 {
                moved += k;
                pair.times.drop_front(k);
                pair.head_ok = false;
                pair.evaluated = pair.evaluated.saturating_sub(k as u32);
                out.times_expired += k as u64;
            }
        }
        if pair.times.len() == 0 {
            out.pairs_expired += 1;
            return false;
        }
        if let (Some((min_times, idle_ms)), false) = (ev.sparse, pair.head_ok) {
            // Drop leading sessions too small to be periodic that have been idle too long.
            loop {
                let Some((k, last)) = pair.sparse_head(min_times, idle_ms) else {
                    pair.head_ok = true;
                    break;
                };
                if last >= tick.saturating_sub(idle_ms) {
                    break;
                }
                pair.times.drop_front(k);
                moved += k;
                pair.evaluated = pair.evaluated.saturating_sub(k as u32);
                out.times_sparse += k as u64;
                if pair.times.len() == 0 {
                    out.pairs_sparse += 1;
                    return false;
                }
            }
        }
        let hi = pair.times.count_before(tick);
        moved += hi.abs_diff(pair.evaluated as usize);
        pair.evaluated = hi as u32;
        times += pair.times.len();
        times_heap += pair.times.heap_bytes();
        due = due.min(pair.due(ev.horizon_ms, ev.sparse));
        if hi == 0 {
            if demote(pair, &PairVerdict::NONE) {
                times_heap -= pair.times.heap_bytes();
                return false;
            }
            return true;
        }
        flows += hi as u64;
        peers += 1;
        first = first.min(pair.times.first());
        last = last.max(pair.times.get(hi - 1));
        pair.drift = pair
            .drift
            .saturating_add(u16::try_from(moved).unwrap_or(u16::MAX));
        let current = !cold && (pair.drift == 0 || (!ev.fresh && lazy(ev, hi, pair.drift)));
        // Unchanged, or a long series that changed by less than `reevaluate_change`: its last
        // verdict stands (until more changed, or a flush).
        let verdict = if current {
            cached(pair.peer)
        } else if ev.algorithm.is_candidate(hi) {
            pair.drift = 0;
            ev.window.clear();
            pair.times.copy_before(tick, ev.window);
            out.pair_evaluations += 1;
            ev.algorithm.evaluate_pair(ev.window, ev.scratch)
        } else {
            pair.drift = 0;
            PairVerdict::NONE
        };
        stale |= pair.drift > 0;
        if demote(pair, &verdict) {
            times_heap -= pair.times.heap_bytes();
            return false;
        }
        if verdict.is_periodic() {
            periodic.push(((pair.peer, hi as u64), verdict));
        }
        true
    });
    if host.pairs.len() != before {
        host.rebuild_index(ev.hasher);
    }
    host.times = times;
    host.times_heap = times_heap;
    host.due_ms = due;
    host.last_tick = tick;
    host.cold = false;
    host.stale = stale;

    // In address order: the tally then sees the pairs in an order that does not depend on
    // the order the host holds them in (which depends on arrival and eviction history), as
    // `relbot analyze` gives them (from the sorted memo); its chance products are
    // floating-point and so depend on order.
    periodic.sort_unstable_by_key(|((peer, _), _)| *peer);
    // Prevalence counts every periodic pair, filtered or not; the filter then drops
    // allow-listed and infrastructure peers, and periods with too few peers.
    ev.prevalence.replace(
        old_verdicts.iter().map(|(peer, _)| *peer),
        periodic.iter().map(|((peer, _), _)| *peer),
    );
    let limit = ev.filter.prevalence_limit(ev.prevalence.periodic_hosts());
    let evidence = periodic.iter().filter(|((peer, _), _)| {
        !ev.filter.allows_peer(*peer) && !ev.prevalence.is_infrastructure(*peer, limit)
    });
    let mut periods = tally_periods(ev.algorithm, evidence.map(|(key, v)| (*key, v)));
    // A host is reported when some period has enough peers (its periods are then listed
    // as they are).
    if !periods.iter().any(|p| p.count() >= ev.filter.min_peers()) {
        periods.clear();
    }
    let w = HostWindow::of(tick, floor, flows, peers, first, last);
    out.finding = Finding {
        window_start_ms: w.window_start_ms,
        window_end_ms: w.window_end_ms,
        flows: w.flows,
        peers: w.peers,
        first_flow_ms: w.first_flow_ms,
        last_flow_ms: w.last_flow_ms,
        periods,
    };

    // Sorted by peer, as `periodic` is.
    let verdicts: Vec<(IpAddr, PairVerdict)> = periodic
        .into_iter()
        .map(|((peer, _), v)| (peer, v))
        .collect();
    // `latest` is the caller's to set, from the finding it keeps (saves a copy).
    out.memo = Memo {
        verdicts,
        latest: None,
        emitted: memo.emitted,
    };
    out
}

/// Whether a pair with `hi` times in its window, `drift` of them changed since the algorithm
/// last ran on it, keeps its verdict for now (see `EngineConfig::reevaluate_change`).
fn lazy(ev: &Evaluator<'_>, hi: usize, drift: u16) -> bool {
    ev.reevaluate_change > 0.0
        && hi >= EngineConfig::LAZY_MIN_TIMES
        && f64::from(drift) < ev.reevaluate_change * hi as f64
}

fn empty_finding(tick: i64) -> Finding {
    Finding {
        window_start_ms: tick,
        window_end_ms: tick,
        flows: 0,
        peers: 0,
        first_flow_ms: 0,
        last_flow_ms: 0,
        periods: Vec::new(),
    }
}
