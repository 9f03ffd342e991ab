//! `relbot explain HOST`: why a host was (or was not) flagged — per peer the estimated period,
//! confidence, flows and evidence ([`evidence`]), the reporter's verdict ([`crate::rule`]), and
//! the picture analysts know from the original project ([`picture`]); [`text`] prints it.
//!
//! The host's flows are read with `relbot analyze`'s input path (only that host's rows are
//! kept) and judged by the same evaluation, so the verdict is the one `analyze` gives.

pub mod evidence;
pub mod picture;
pub mod text;

use std::io::Write;
use std::net::IpAddr;

pub use evidence::{BeaconEvidence, PairEvidence};
pub use picture::{ImageFormat, Picture};

use crate::analyze::{self, AnalyzeOptions, HostResult};
use crate::cli::ExplainArgs;
use crate::error::AnalyzeError;
use crate::rule;

/// One peer of the host, as explained.
#[derive(Debug, Clone)]
pub struct PeerView {
    /// The peer.
    pub peer: IpAddr,
    /// Flows from the host to it.
    pub flows: usize,
    /// The periods (ms) it counts for in the host's result, with the pair's confidence.
    pub periodic_for: Vec<(u64, f64)>,
    /// The algorithm's evidence.
    pub evidence: PairEvidence,
}

/// Everything `relbot explain` says about a host.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The host.
    pub host: IpAddr,
    /// Algorithm name and version.
    pub algorithm: (&'static str, String),
    /// Flows of the host.
    pub flows: u64,
    /// Distinct peers of the host.
    pub peers: usize,
    /// First and last flow start, ms (when there are flows).
    pub span_ms: Option<(i64, i64)>,
    /// The host's result as `relbot analyze` gives it (when some peer is periodic).
    pub result: Option<HostResult>,
    /// Whether the reporter's default rule reports the host.
    pub flagged: bool,
    /// Why (not), in words.
    pub reason: String,
    /// The peers listed, periodic ones first.
    pub listed: Vec<PeerView>,
    /// Peers not listed (`--max-peers`, or fewer flows than a periodic pair needs).
    pub unlisted: usize,
    /// The picture, when one was drawn: its period and file.
    pub picture: Option<(u64, String)>,
}

/// Runs `relbot explain`.
pub fn run(
    args: &ExplainArgs,
    opts: &AnalyzeOptions,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> Result<(), AnalyzeError> {
    // The verdict comes from the whole analysis, because some `[filter]` rules (prevalence,
    // reply folding) judge a peer by every host's pairs; the listing and the picture need only
    // this host's flows, read again (bad lines were described by the first pass).
    let verdict = analyze::run(opts, diag)?
        .hosts
        .into_iter()
        .find(|h| h.host == args.host);
    let (rows, _summary) = analyze::read_rows(opts, Some(args.host), &mut std::io::sink())?;
    let pairs: Vec<(IpAddr, Vec<i64>)> = rows
        .for_each_host(|_, cursor| {
            let mut pairs = Vec::new();
            while let Some((peer, times)) = cursor.next() {
                pairs.push((peer, times.to_vec()));
            }
            pairs
        })
        .into_iter()
        .flatten()
        .collect();
    let mut explanation = explain(args, opts, &pairs, verdict);
    if let Some((path, format)) = image_target(args) {
        match picture(args, &explanation, &pairs) {
            Some(picture) => {
                picture
                    .render(path, format, (args.width, args.height))
                    .map_err(|e| AnalyzeError::Output(e.to_string()))?;
                explanation.picture = Some((picture.period_ms, path.display().to_string()));
            }
            None => {
                let _ = writeln!(
                    diag,
                    "relbot: no period to wrap the flows by (no periodic peer, no estimate); \
                     name one with --period"
                );
            }
        }
    }
    text::write(&explanation, out)
        .and_then(|()| out.flush())
        .map_err(|e| AnalyzeError::Output(e.to_string()))
}

fn image_target(args: &ExplainArgs) -> Option<(&std::path::Path, ImageFormat)> {
    match (&args.svg, &args.png) {
        (Some(svg), _) => Some((svg.as_path(), ImageFormat::Svg)),
        (None, Some(png)) => Some((png.as_path(), ImageFormat::Png)),
        (None, None) => None,
    }
}

/// Explains `result` — the host's result in the whole analysis, if it was flagged — with the
/// evidence of the host's pairs.
fn explain(
    args: &ExplainArgs,
    opts: &AnalyzeOptions,
    pairs: &[(IpAddr, Vec<i64>)],
    result: Option<HostResult>,
) -> Explanation {
    let algorithm = &opts.algorithm;
    let host = args.host;
    let version = algorithm.version();

    let flows: u64 = pairs.iter().map(|(_, t)| t.len() as u64).sum();
    let span_ms = pairs
        .iter()
        .filter_map(|(_, t)| Some((*t.first()?, *t.last()?)))
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    let judged = pairs
        .iter()
        .filter(|(_, t)| algorithm.is_candidate(t.len()))
        .count();
    let (flagged, reason) = match &result {
        None if pairs.is_empty() => (false, format!("no flows from {host} in the input")),
        None => {
            let dropped = pairs
                .iter()
                .filter(|(_, times)| PairEvidence::of(algorithm, times).is_periodic())
                .count();
            let reason = if dropped == 0 {
                format!(
                    "no peer is periodic ({judged} of {} peer(s) have the {} flows a periodic \
                     pair needs)",
                    pairs.len(),
                    algorithm.min_times()
                )
            } else {
                format!(
                    "no periodic peer counts: {dropped} periodic pair(s) dropped by the [filter] \
                     rules (allow-list, prevalence: periodic for many hosts, replies, min_peers)"
                )
            };
            (false, reason)
        }
        Some(r) => match rule::check_default(algorithm, r) {
            Ok(()) => {
                let best = r.periods.iter().max_by_key(|p| p.count());
                let what = best.map_or(String::new(), |p| {
                    format!(
                        "{} peer(s) share the period {} ",
                        p.count(),
                        crate::output::human_period(p.period_ms)
                    )
                });
                let rule = rule::ReportingRule::default();
                (
                    true,
                    format!(
                        "{what}(the reporter's default rule: a period with at least {} \
                         periodic peer(s))",
                        rule.min_idx
                    ),
                )
            }
            Err(below) => (
                false,
                format!("not reported by the reporter's default rule: {below}"),
            ),
        },
    };

    let mut views: Vec<PeerView> = pairs
        .iter()
        .filter(|(peer, _)| args.peer.is_none_or(|p| p == *peer))
        .map(|(peer, times)| PeerView {
            peer: *peer,
            flows: times.len(),
            periodic_for: result
                .iter()
                .flat_map(|r| r.periods.iter())
                .filter_map(|p| {
                    let found = p.peers.iter().find(|x| x.peer == *peer)?;
                    Some((p.period_ms, found.confidence))
                })
                .collect(),
            evidence: PairEvidence::of(algorithm, times),
        })
        .collect();
    // Periodic peers first (most confident first), then the judged ones by flows.
    views.sort_by(|a, b| {
        let key = |v: &PeerView| {
            let confidence = v.periodic_for.iter().map(|p| p.1).fold(0.0, f64::max);
            (
                !v.periodic_for.is_empty(),
                confidence,
                !matches!(v.evidence, PairEvidence::TooFewFlows { .. }),
                v.flows,
            )
        };
        key(b)
            .partial_cmp(&key(a))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.peer.cmp(&b.peer))
    });
    let periodic = views.iter().filter(|v| !v.periodic_for.is_empty()).count();
    let keep = views
        .iter()
        .take(periodic + args.max_peers)
        .take_while(|v| {
            !v.periodic_for.is_empty()
                || !matches!(v.evidence, PairEvidence::TooFewFlows { .. })
                || args.peer.is_some()
        })
        .count();
    let unlisted = pairs.len() - keep;
    views.truncate(keep);
    Explanation {
        host,
        algorithm: (algorithm.name(), version),
        flows,
        peers: pairs.len(),
        span_ms,
        result,
        flagged,
        reason,
        listed: views,
        unlisted,
        picture: None,
    }
}

/// The picture: wrapped by `--period`, else by the host's most shared period, else by the
/// best estimate of the listed peers; drawing the peers periodic with that period, else the
/// listed peers with the most flows.
fn picture(args: &ExplainArgs, e: &Explanation, pairs: &[(IpAddr, Vec<i64>)]) -> Option<Picture> {
    let shared = e
        .result
        .as_ref()
        // The largest count; among equal counts the shortest period (classic finds a beacon of
        // 30 min periodic for 10 and 15 min too, and wrapping by 10 min still aligns it).
        .and_then(|r| {
            let periods = r.periods.iter().filter(|p| p.count() > 0);
            periods.rev().max_by_key(|p| p.count())
        });
    // With --peer: that peer's own (shortest) period, or its best estimate.
    let own = args.peer.and_then(|_| e.listed.first()).and_then(|v| {
        let periodic = v.periodic_for.first().map(|p| p.0);
        periodic.or_else(|| v.evidence.best_period_ms())
    });
    let period_ms = match args.period {
        Some(d) => u64::try_from(d.as_millis()).ok().filter(|&p| p > 0)?,
        None => own
            .or(shared.map(|p| p.period_ms))
            .or_else(|| e.listed.iter().find_map(|v| v.evidence.best_period_ms()))?,
    };
    let mut drawn: Vec<IpAddr> = match shared {
        Some(p) if args.period.is_none() && args.peer.is_none() => {
            let mut peers: Vec<_> = p.peers.iter().collect();
            peers.sort_by(|a, b| b.flows.cmp(&a.flows).then(a.peer.cmp(&b.peer)));
            peers.iter().map(|x| x.peer).collect()
        }
        _ => e.listed.iter().map(|v| v.peer).collect(),
    };
    drawn.truncate(picture::MAX_PEERS);
    let peers: Vec<(IpAddr, Vec<i64>)> = drawn
        .iter()
        .filter_map(|peer| pairs.iter().find(|(p, _)| p == peer).cloned())
        .collect();
    // Half a period before the first drawn flow: a beacon's stripe stands in the middle
    // instead of being split between both edges by its jitter.
    let first = peers.iter().filter_map(|(_, t)| t.first().copied()).min()?;
    let origin_ms = first.saturating_sub(i64::try_from(period_ms / 2).unwrap_or(0));
    Some(Picture {
        host: e.host,
        period_ms,
        origin_ms,
        peers,
    })
}
