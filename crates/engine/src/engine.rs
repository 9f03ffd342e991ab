//! [`Engine`]: ingest flows, advance event time, evaluate due hosts, emit detections; keep
//! state bounded; snapshot and restore it.

use std::net::IpAddr;

use hashbrown::{DefaultHashBuilder, HashMap, HashSet};
use relbot_codec::Detection;
use relbot_flow::FlowRecord;
use relbot_periodicity::{Algorithm, AlgorithmScratch, PairVerdict};

use crate::budget::{heap_cost, low_water, lru_victims};
use crate::detection::{self, AlgorithmLabel};
use crate::evaluate::{evaluate_host, Evaluator};
use crate::filter::{PeerFilter, Prevalence};
use crate::result::HostResult;
use crate::schedule::Schedule;
use crate::snapshot::{self, ChangeSet, ClockState, HostChange};
use crate::state::{Host, Pair, MAX_TIMES, NEVER};
use crate::watermark::Clock;
use crate::{EngineConfig, EngineError, EngineStats};

/// What [`Engine::ingest`] did with a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// The flow's start time was added to its host's state.
    Accepted,
    /// The source is not monitored.
    Filtered,
    /// The flow starts before the closed end of the clock (see [`Engine::closed_end_ms`]).
    Late,
    /// The flow's input position is already reflected in the (restored) state.
    Duplicate,
    /// The host already has `max_peers_per_host` peers and this is a new one.
    PeerCapped,
}

/// Bookkeeping about one host, for tests and operators (e.g. to prove that no flow was
/// counted twice after a restore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCounters {
    /// Flows accepted for the host since its state was created (restores carry it over).
    pub flows_accepted: u64,
    /// Input position of the last flow accepted, when positions are given.
    pub position: Option<u64>,
    /// Peers with state.
    pub pairs: usize,
    /// Flow times retained.
    pub retained_times: usize,
    /// Newest flow start accepted, ms.
    pub newest_ms: i64,
}

/// The detection engine of one partition (or of one `relbot analyze` run).
///
/// Pure: no I/O, no clock, no logging. Typical use:
/// - batch: [`EngineConfig::batch`], [`ingest`](Self::ingest) every flow,
///   [`flush`](Self::flush), then [`host_results`](Self::host_results);
/// - streaming: [`ingest_at`](Self::ingest_at) each record with its offset,
///   [`advance`](Self::advance) after each poll batch and produce the detections, then
///   [`take_changed`](Self::take_changed) for the changelog before committing offsets.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    algorithm: Algorithm,
    label: AlgorithmLabel,
    horizon_ms: Option<i64>,
    sparse: Option<(usize, i64)>,
    max_times: usize,
    /// Peers with one flow time are kept as singles (the algorithm judges no such pair).
    singles: bool,
    clock: Clock,
    hosts: HashMap<IpAddr, Host>,
    hasher: DefaultHashBuilder,
    schedule: Schedule,
    scratch: AlgorithmScratch,
    window: Vec<i64>,
    /// Σ host.heap_bytes().
    host_heap: usize,
    pairs: usize,
    times: usize,
    /// Hosts changed (or removed) since the last `take_changed`.
    changed: HashSet<IpAddr>,
    /// Flows at or below this input position are already reflected (restored clock).
    skip_through: Option<u64>,
    max_position: Option<u64>,
    stats: EngineStats,
    /// False-positive control (off unless set).
    filter: PeerFilter,
    /// Hosts per periodic peer, over every host's last evaluation.
    prevalence: Prevalence,
    /// In a flush: every verdict evaluated is brought up to date (no lazy re-estimation).
    flushing: bool,
}

impl Engine {
    /// An engine with `config` running `algorithm`.
    pub fn new(config: EngineConfig, algorithm: Algorithm) -> Result<Self, EngineError> {
        config.validate()?;
        if let Some(budget) = config.budget_bytes {
            // LRU eviction keeps the most recently active hosts; a single host (a scanner
            // is always recent) must not be able to take the budget from all others.
            let one_host = config.max_peers_per_host.saturating_mul(size_of::<Pair>());
            if one_host > budget / 4 {
                return Err(EngineError::config(
                    "max_peers_per_host",
                    format!(
                        "{} peers of one host could take {one_host} bytes, over a quarter of \
                         budget_bytes ({budget})",
                        config.max_peers_per_host
                    ),
                ));
            }
        }
        let max_period = i64::try_from(algorithm.max_period_ms()).unwrap_or(i64::MAX);
        let sparse = config.sparse_idle_periods.map(|n| {
            (
                algorithm.min_times(),
                max_period.saturating_mul(i64::from(n)),
            )
        });
        let label = AlgorithmLabel {
            name: algorithm.name(),
            version: algorithm.version(),
            scores_peers: algorithm.scores_peers(),
            max_listed_peers: config.max_listed_peers,
        };
        Ok(Self {
            horizon_ms: config.horizon_ms(),
            sparse,
            max_times: config.max_times_per_pair.min(MAX_TIMES),
            singles: !algorithm.is_candidate(1),
            clock: Clock::new(config.interval_ms(), config.lateness_ms()),
            hosts: HashMap::with_hasher(DefaultHashBuilder::default()),
            hasher: DefaultHashBuilder::default(),
            schedule: Schedule::default(),
            scratch: algorithm.scratch(),
            window: Vec::new(),
            host_heap: 0,
            pairs: 0,
            times: 0,
            changed: HashSet::new(),
            skip_through: None,
            max_position: None,
            stats: EngineStats::default(),
            filter: PeerFilter::off(),
            prevalence: Prevalence::default(),
            flushing: false,
            label,
            config,
            algorithm,
        })
    }

    /// Sets the false-positive control (allow-lists, prevalence, minimum peers); it applies
    /// from the next evaluation of each host. Flows to ignored ports are dropped at ingest.
    pub fn set_filter(&mut self, filter: PeerFilter) {
        self.filter = filter;
    }

    /// Whether peers with one flow time are held compactly as singles (on by default, when
    /// the algorithm judges no pair of one time). Off, every peer is a full pair, as before
    /// singles existed: results are the same either way, only memory and speed differ, which
    /// is what benchmarks and tests switch it for. It applies from the next flow; singles
    /// already held stay until they get a second time or leave.
    pub fn set_compact_singles(&mut self, on: bool) {
        self.singles = on && !self.algorithm.is_candidate(1);
    }

    /// The false-positive control in force.
    pub fn filter(&self) -> &PeerFilter {
        &self.filter
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    /// The algorithm's version string, as written into detections.
    pub fn algorithm_version(&self) -> &str {
        &self.label.version
    }

    /// Adds one flow (see [`Ingest`] for what can happen to it). Does not evaluate: call
    /// [`advance`](Self::advance) or [`flush`](Self::flush).
    pub fn ingest(&mut self, flow: &FlowRecord) -> Ingest {
        self.ingest_inner(flow, None)
    }

    /// [`ingest`](Self::ingest) with the flow's input position (e.g. its Kafka offset;
    /// increasing within the input). A flow at or below its host's last accepted position,
    /// or at or below the position of a restored clock, is skipped as
    /// [`Ingest::Duplicate`]: replaying input after a restore counts no flow twice.
    pub fn ingest_at(&mut self, flow: &FlowRecord, position: u64) -> Ingest {
        self.ingest_inner(flow, Some(position))
    }

    fn ingest_inner(&mut self, flow: &FlowRecord, position: Option<u64>) -> Ingest {
        if !self.config.monitored.contains(flow.src) || self.filter.ignores_port(flow.dst_port) {
            self.stats.flows_filtered += 1;
            return Ingest::Filtered;
        }
        let t = flow.start_ms;
        if let Some(p) = position {
            self.max_position = self.max_position.max(Some(p));
            if self.skip_through.is_some_and(|s| p <= s) {
                // Reflected already; its time still moves the clock as it did the first time.
                self.clock.observe(t);
                self.stats.flows_duplicate += 1;
                return Ingest::Duplicate;
            }
        }
        if t < self.clock.closed_end() {
            self.stats.flows_late += 1;
            return Ingest::Late;
        }
        let outcome = self.add_time(flow.src, flow.dst, t, position);
        if outcome != Ingest::Late {
            self.clock.observe(t);
        }
        if outcome == Ingest::Accepted {
            self.enforce_budget();
        }
        outcome
    }

    /// Adds `t` to the pair (host, peer).
    fn add_time(&mut self, src: IpAddr, dst: IpAddr, t: i64, position: Option<u64>) -> Ingest {
        let hasher = &self.hasher;
        let host = self.hosts.entry(src).or_insert_with(Host::new);
        if let (Some(p), Some(last)) = (position, host.position()) {
            if p <= last {
                self.stats.flows_duplicate += 1;
                return Ingest::Duplicate;
            }
        }
        if t < host.last_tick {
            // Only possible with a restored clock older than the host's state.
            self.stats.flows_late += 1;
            return Ingest::Late;
        }
        let before = host.heap_bytes();
        let found = host.find(dst, hasher).or_else(|| {
            // A single's second time: it becomes a pair.
            let first = host.singles.remove(dst)?;
            host.times -= 1; // counted again by `push`
            Some(host.push(Pair::from_single(dst, first, host.last_tick), hasher))
        });
        match found {
            Some(i) => {
                let pair = &mut host.pairs[i];
                let heap = pair.times.heap_bytes();
                if pair.times.len() >= self.max_times && t < pair.times.first() {
                    // It would be the oldest time of a full pair: dropped at once.
                    self.stats.evictions.times_pair_cap += 1;
                } else {
                    if pair.times.insert(t) == 0 {
                        pair.head_ok = false;
                    }
                    host.times += 1;
                    self.times += 1;
                    if pair.times.len() > self.max_times {
                        pair.times.drop_front(1);
                        pair.head_ok = false;
                        host.times -= 1;
                        self.times -= 1;
                        self.stats.evictions.times_pair_cap += 1;
                        if pair.evaluated > 0 {
                            // An evaluated time went: the window must be evaluated afresh.
                            pair.evaluated = 0;
                            host.due_ms = host.due_ms.min(pair.times.first());
                        }
                    }
                }
                host.times_heap = host.times_heap + pair.times.heap_bytes() - heap;
            }
            None => {
                if host.peers() >= self.config.max_peers_per_host {
                    self.stats.flows_peer_capped += 1;
                    return Ingest::PeerCapped;
                }
                if self.singles && host.singles.insert(dst, t) {
                    host.times += 1;
                } else {
                    host.push(Pair::new(dst, t), hasher);
                }
                self.pairs += 1;
                self.times += 1;
            }
        }
        host.flows += 1;
        host.newest_ms = host.newest_ms.max(t);
        if position.is_some() {
            host.set_position(position);
        }
        host.due_ms = host.due_ms.min(t);
        self.host_heap = self.host_heap + host.heap_bytes() - before;
        queue(&self.clock, &mut self.schedule, src, host);
        if self.config.track_changes && !host.changed {
            host.changed = true;
            self.changed.insert(src);
        }
        self.stats.flows_ingested += 1;
        Ingest::Accepted
    }

    /// Evaluates every host whose window changed, at every tick the watermark has reached,
    /// in tick order; returns the detections the [`EmitRule`](crate::EmitRule) lets through,
    /// ordered by tick, then host address.
    pub fn advance(&mut self) -> Vec<Detection> {
        let mut out = Vec::new();
        // i64::MAX queues hosts for the next flush (no ticks).
        let closed = self.clock.closed_end().min(i64::MAX - 1);
        while let Some((tick, host)) = self.schedule.pop_until(closed) {
            self.evaluate(host, tick, tick, &mut out);
        }
        out
    }

    /// End of input: closes every window up to the newest flow (the first tick after it;
    /// without ticks, just after it) and evaluates everything pending, as if the watermark
    /// had moved past it. Later flows before that end are late. Use it at the end of a batch
    /// run or when the input really ends; a replica handing a partition over should only
    /// [`take_changed`](Self::take_changed), so that the next owner continues exactly.
    pub fn flush(&mut self) -> Vec<Detection> {
        let Some(end) = self.clock.flush() else {
            return Vec::new();
        };
        // Hosts keeping verdicts older than their windows (lazy re-estimation) are evaluated
        // again, so that the result at the end of input is the exact one.
        for (addr, host) in self.hosts.iter_mut().filter(|(_, h)| h.stale) {
            host.due_ms = host.due_ms.min(host.last_tick);
            queue(&self.clock, &mut self.schedule, *addr, host);
        }
        self.flushing = true;
        let mut out = self.advance();
        if !self.clock.has_ticks() {
            // Without ticks every queued host waits under i64::MAX for a flush.
            let mut waiting = Vec::new();
            while let Some(entry) = self.schedule.pop_until(i64::MAX) {
                waiting.push(entry);
            }
            for (queued, host) in waiting {
                self.evaluate(host, queued, end, &mut out);
            }
        }
        self.flushing = false;
        out
    }

    /// Evaluates `addr` at `tick` if it is still queued under `queued`.
    fn evaluate(&mut self, addr: IpAddr, queued: i64, tick: i64, out: &mut Vec<Detection>) {
        let Some(host) = self.hosts.get_mut(&addr) else {
            return;
        };
        if host.scheduled != queued {
            return;
        }
        host.scheduled = NEVER;
        if tick <= host.last_tick {
            // Only with restored state from a later clock: wait for the next tick.
            queue(&self.clock, &mut self.schedule, addr, host);
            return;
        }
        let (heap, pairs, times) = (host.heap_bytes(), host.peers(), host.times);
        let mut ev = Evaluator {
            filter: &self.filter,
            prevalence: &mut self.prevalence,
            algorithm: &self.algorithm,
            horizon_ms: self.horizon_ms,
            sparse: self.sparse,
            reevaluate_change: self.config.reevaluate_change,
            fresh: self.flushing,
            singles: self.singles,
            scratch: &mut self.scratch,
            window: &mut self.window,
            hasher: &self.hasher,
        };
        let mut o = evaluate_host(&mut ev, host, tick);
        let s = &mut self.stats;
        s.host_evaluations += 1;
        s.pair_evaluations += o.pair_evaluations;
        s.evictions.times_expired += o.times_expired;
        s.evictions.pairs_expired += o.pairs_expired;
        s.evictions.pairs_sparse += o.pairs_sparse;
        s.evictions.times_sparse += o.times_sparse;

        if detection::should_emit(
            self.config.emit,
            &self.algorithm,
            &o.finding,
            o.memo.emitted.as_deref(),
        ) {
            out.push(detection::build(addr, &o.finding, &self.label));
            s.detections += 1;
            o.memo.emitted = o.finding.is_flagged().then(|| Box::new(o.finding.clone()));
        }
        if o.finding.flows == 0 {
            // Nothing left in the window: the host starts afresh, whether or not it still
            // holds times after the tick (which depends on arrival order).
            o.memo.emitted = None;
        }
        o.memo.latest = o.finding.is_flagged().then(|| Box::new(o.finding));
        host.set_memo(o.memo);
        self.pairs = self.pairs + host.peers() - pairs;
        self.times = self.times + host.times - times;
        self.host_heap = self.host_heap + host.heap_bytes() - heap;
        if host.peers() == 0 {
            self.stats.evictions.hosts_expired += 1;
            self.remove_host(addr);
            return;
        }
        queue(&self.clock, &mut self.schedule, addr, host);
        if self.config.track_changes && !host.changed {
            host.changed = true;
            self.changed.insert(addr);
        }
    }

    /// Removes a host's state, keeping the totals right and noting a tombstone.
    fn remove_host(&mut self, addr: IpAddr) -> Option<Host> {
        let host = self.hosts.remove(&addr)?;
        self.prevalence.replace(host.periodic_peers(), []);
        if host.scheduled != NEVER {
            self.schedule.remove(host.scheduled, addr);
        }
        self.host_heap -= host.heap_bytes();
        self.pairs -= host.peers();
        self.times -= host.times;
        if self.config.track_changes {
            self.changed.insert(addr);
        }
        Some(host)
    }

    /// Bytes of all state: hosts, the host map, the schedule, the change set.
    fn state_bytes(&self) -> usize {
        self.host_heap
            + heap_cost(self.hosts.allocation_size())
            + self.schedule.heap_bytes()
            + heap_cost(self.changed.allocation_size())
            + heap_cost(self.window.capacity() * 8)
    }

    /// Evicts least recently active hosts while the state is over budget.
    fn enforce_budget(&mut self) {
        let Some(budget) = self.config.budget_bytes else {
            return;
        };
        let total = self.state_bytes();
        if total <= budget {
            return;
        }
        let slot = size_of::<(IpAddr, Host)>() + 1;
        let victims = lru_victims(
            self.hosts
                .iter()
                .map(|(a, h)| (*a, h.newest_ms, h.heap_bytes() + slot)),
            total,
            low_water(budget),
        );
        for addr in victims {
            if let Some(host) = self.remove_host(addr) {
                let e = &mut self.stats.evictions;
                e.hosts_budget += 1;
                e.pairs_budget += host.peers() as u64;
                e.times_budget += host.times as u64;
            }
        }
        if self.hosts.capacity() > 2 * self.hosts.len() + 64 {
            self.hosts
                .shrink_to(self.hosts.len() + self.hosts.len() / 4);
        }
        if self.changed.capacity() > 2 * self.changed.len() + 64 {
            self.changed.shrink_to(self.changed.len());
        }
    }

    /// Counters and gauges.
    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats;
        s.hosts = self.hosts.len() as u64;
        s.pairs = self.pairs as u64;
        s.retained_times = self.times as u64;
        s.queued_hosts = self.schedule.len() as u64;
        s.state_bytes = self.state_bytes() as u64;
        s.max_event_ms = self.clock.max_seen();
        s.watermark_ms = self.clock.watermark();
        let closed = self.clock.closed_end();
        s.closed_end_ms = (closed != i64::MIN).then_some(closed);
        s
    }

    /// Flows starting before this are late (none yet: `None`).
    pub fn closed_end_ms(&self) -> Option<i64> {
        let closed = self.clock.closed_end();
        (closed != i64::MIN).then_some(closed)
    }

    /// The latest evaluation of every host that has a periodic peer, sorted by the address's
    /// text in byte order (the original's order), peers of each period likewise. After a
    /// batch [`flush`](Self::flush) this is the classic batch result.
    pub fn host_results(&self) -> Vec<HostResult> {
        let mut out: Vec<(String, HostResult)> = self
            .hosts
            .iter()
            .filter_map(|(addr, h)| {
                let f = h.memo()?.latest.as_deref()?;
                let mut r = f.to_result(*addr);
                for p in &mut r.periods {
                    p.peers.sort_by_cached_key(|x| x.peer.to_string());
                }
                Some((addr.to_string(), r))
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// Bookkeeping of one host, if it has state.
    pub fn host_counters(&self, host: IpAddr) -> Option<HostCounters> {
        self.hosts.get(&host).map(|h| HostCounters {
            flows_accepted: h.flows,
            position: h.position(),
            pairs: h.peers(),
            retained_times: h.times,
            newest_ms: h.newest_ms,
        })
    }

    /// Addresses of all hosts with state, ascending.
    pub fn hosts(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.hosts.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// The clock and input position, as saved with the changelog.
    pub fn clock_state(&self) -> ClockState {
        ClockState {
            max_event_ms: self.clock.max_seen(),
            flushed_through_ms: self.clock.flushed(),
            position: self.max_position.max(self.skip_through),
        }
    }

    /// The encoded state of one host (see [`snapshot`](crate::snapshot) for the format).
    pub fn host_snapshot(&self, host: IpAddr) -> Option<Vec<u8>> {
        self.hosts
            .get(&host)
            .map(|h| snapshot::encode_host(h, &self.label.version))
    }

    /// The hosts changed (or removed: tombstones) since the last call, with their encoded
    /// state, and the clock. Empty unless `track_changes` is on.
    pub fn take_changed(&mut self) -> ChangeSet {
        let mut addrs: Vec<IpAddr> = self.changed.drain().collect();
        addrs.sort_unstable();
        let hosts = addrs
            .into_iter()
            .map(|addr| {
                let state = self.hosts.get_mut(&addr).map(|h| {
                    h.changed = false;
                    snapshot::encode_host(h, &self.label.version)
                });
                HostChange { host: addr, state }
            })
            .collect();
        ChangeSet {
            clock: self.clock_state(),
            hosts,
        }
    }

    /// Replaces the state of `host` by a snapshot (`None`: a tombstone, removes it). Does not
    /// mark the host changed. Malformed bytes are an error and leave the engine unchanged.
    pub fn restore(&mut self, host: IpAddr, state: Option<&[u8]>) -> Result<(), EngineError> {
        let decoded = state
            .map(|b| snapshot::decode_host(b, &self.label.version, &self.hasher, self.singles))
            .transpose()?;
        if self.hosts.contains_key(&host) {
            self.remove_host(host);
            self.changed.remove(&host);
        }
        let Some(mut h) = decoded else {
            return Ok(());
        };
        self.host_heap += h.heap_bytes();
        self.pairs += h.peers();
        self.times += h.times;
        self.stats.hosts_restored += 1;
        // Its saved periodic peers count towards prevalence at once, as they did before.
        self.prevalence.replace([], h.periodic_peers());
        queue(&self.clock, &mut self.schedule, host, &mut h);
        self.hosts.insert(host, h);
        self.enforce_budget();
        Ok(())
    }

    /// Merges a saved clock: the newest flow start and flush end become at least the saved
    /// ones, and input positions up to the saved one are skipped from now on.
    pub fn restore_clock(&mut self, clock: &ClockState) {
        self.clock
            .restore(clock.max_event_ms, clock.flushed_through_ms);
        self.skip_through = self.skip_through.max(clock.position);
    }
}

/// Queues `host` for the first tick at which its window changes, unless it is queued for an
/// earlier one already. Never before the tick after its last evaluation.
fn queue(clock: &Clock, schedule: &mut Schedule, addr: IpAddr, host: &mut Host) {
    if host.due_ms == i64::MAX {
        return;
    }
    let mut tick = clock.tick_after(host.due_ms);
    if host.last_tick != NEVER {
        tick = tick.max(clock.tick_after(host.last_tick));
    }
    if host.scheduled == NEVER || tick < host.scheduled {
        let previous = (host.scheduled != NEVER).then_some(host.scheduled);
        schedule.push(tick, addr, previous);
        host.scheduled = tick;
    }
}

/// A pair found periodic at its host's last evaluation, before the false-positive control
/// (see [`Engine::periodic_pairs`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodicPair {
    /// The peer.
    pub peer: IpAddr,
    /// The algorithm's verdict on the pair's window.
    pub verdict: PairVerdict,
    /// Flows from the host to the peer in that window.
    pub flows: u64,
    /// Start of the pair's first flow in that window, ms.
    pub first_flow_ms: i64,
}

/// A host's window at its last evaluation: what it held, whether or not a peer was periodic
/// (see [`Engine::host_window`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostWindow {
    /// Window start, inclusive, ms (the host's first flow when the horizon is unbounded).
    pub window_start_ms: i64,
    /// Window end, exclusive, ms: the tick of the evaluation.
    pub window_end_ms: i64,
    /// Flows of the host in the window.
    pub flows: u64,
    /// Peers with flows in the window.
    pub peers: u32,
    /// Earliest flow start in the window, ms (0 without flows).
    pub first_flow_ms: i64,
    /// Latest flow start in the window, ms (0 without flows).
    pub last_flow_ms: i64,
}

impl HostWindow {
    /// The window `[floor, tick)` (from the first flow when unbounded) with the counters
    /// gathered over its pairs; `first` and `last` are only meaningful when `flows > 0`.
    pub(crate) fn of(
        tick: i64,
        floor: Option<i64>,
        flows: u64,
        peers: u32,
        first: i64,
        last: i64,
    ) -> Self {
        let any = flows > 0;
        Self {
            window_start_ms: floor.unwrap_or(if any { first } else { tick }),
            window_end_ms: tick,
            flows,
            peers,
            first_flow_ms: if any { first } else { 0 },
            last_flow_ms: if any { last } else { 0 },
        }
    }
}

/// Reading back a host's last evaluation pair by pair: what `relbot analyze` needs to apply
/// the false-positive control over all hosts at once (its engines run with the filter off, one
/// host at a time) and to show the evidence of each periodic pair.
///
/// The answers describe the state as held now, within the window of the host's last
/// evaluation: flows accepted since start at or after its tick and are not counted, but a cap
/// or budget eviction since then shows.
impl Engine {
    /// The pairs of `host` found periodic at its last evaluation, by peer address, with
    /// their verdicts — all of them, before allow-lists, prevalence and `min_peers` (with the
    /// filter off, exactly the pairs its result tallies). Empty for a host without state or
    /// without a periodic pair.
    pub fn periodic_pairs(&self, host: IpAddr) -> Vec<PeriodicPair> {
        let Some(h) = self.hosts.get(&host) else {
            return Vec::new();
        };
        let Some(memo) = h.memo() else {
            return Vec::new();
        };
        memo.verdicts
            .iter()
            .filter_map(|(peer, verdict)| {
                let times = h.times_of(*peer, &self.hasher)?;
                let flows = times.count_before(h.last_tick);
                (flows > 0).then(|| PeriodicPair {
                    peer: *peer,
                    verdict: verdict.clone(),
                    flows: flows as u64,
                    first_flow_ms: times.first(),
                })
            })
            .collect()
    }

    /// The window of `host`'s last evaluation with its counters (`None`: no state, or not
    /// evaluated yet).
    pub fn host_window(&self, host: IpAddr) -> Option<HostWindow> {
        let h = self.hosts.get(&host)?;
        if h.last_tick == NEVER {
            return None;
        }
        let tick = h.last_tick;
        let (mut flows, mut peers, mut first, mut last) = (0u64, 0u32, i64::MAX, i64::MIN);
        for pair in &h.pairs {
            let n = pair.times.count_before(tick);
            if n > 0 {
                flows += n as u64;
                peers += 1;
                first = first.min(pair.times.first());
                last = last.max(pair.times.get(n - 1));
            }
        }
        for (_, t) in h.singles.iter().filter(|(_, t)| *t < tick) {
            flows += 1;
            peers += 1;
            first = first.min(t);
            last = last.max(t);
        }
        let floor = self.horizon_ms.map(|horizon| tick.saturating_sub(horizon));
        Some(HostWindow::of(tick, floor, flows, peers, first, last))
    }

    /// The flow start times, ascending, of the pair (`host`, `peer`) in the window of the
    /// host's last evaluation — the times its verdict was drawn from (`None`: no such pair, or
    /// the host was not evaluated yet).
    pub fn pair_times(&self, host: IpAddr, peer: IpAddr) -> Option<Vec<i64>> {
        let h = self.hosts.get(&host)?;
        if h.last_tick == NEVER {
            return None;
        }
        let pair = h.times_of(peer, &self.hasher)?;
        let mut times = Vec::with_capacity(pair.count_before(h.last_tick));
        pair.copy_before(h.last_tick, &mut times);
        Some(times)
    }

    /// Starts afresh, as a new engine with the same configuration, algorithm and filter:
    /// drops every host, the clock and input positions, the statistics and the prevalence
    /// counts, but keeps the buffers evaluations reuse (they count in
    /// [`EngineStats::state_bytes`] as before). One engine can so judge many
    /// independent inputs in turn (`relbot analyze`: one host at a time per thread) without
    /// the cost of building an engine for each.
    pub fn reset(&mut self) {
        // Every field is named (no `..`): a new field must be considered here.
        let Self {
            config,
            algorithm: _,
            label: _,
            horizon_ms: _,
            sparse: _,
            max_times: _,
            singles: _,
            clock,
            hosts,
            hasher: _,
            schedule,
            scratch: _,
            window,
            host_heap,
            pairs,
            times,
            changed,
            skip_through,
            max_position,
            stats,
            filter: _,
            prevalence,
            flushing,
        } = self;
        *clock = Clock::new(config.interval_ms(), config.lateness_ms());
        *flushing = false;
        hosts.clear();
        *schedule = Schedule::default();
        window.clear();
        *host_heap = 0;
        *pairs = 0;
        *times = 0;
        changed.clear();
        *skip_through = None;
        *max_position = None;
        *stats = EngineStats::default();
        *prevalence = Prevalence::default();
    }
}
