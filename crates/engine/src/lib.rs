//! relbot-engine: the detection engine shared by `relbot analyze` (embedded, batch) and
//! `relbot-detector` (one engine per Kafka partition). Pure: no Kafka, no async, no I/O, no
//! logging, no clock.
//!
//! Flows go in with [`Engine::ingest`]; the engine keeps, per monitored host, its peers and
//! each peer's flow start times within a retention horizon; an event-time watermark decides
//! when an evaluation tick is due ([`Engine::advance`]); due hosts are evaluated with a
//! [`relbot_periodicity::Algorithm`] over `[tick − horizon, tick)`, and a
//! [`relbot_codec::Detection`] with an idempotent id is emitted when a host's result changes.
//! [`Engine::flush`] closes everything at the end of input; with [`EngineConfig::batch`] it
//! gives exactly the original's batch result ([`Engine::host_results`]).
//!
//! Layout:
//! - [`config`]: [`EngineConfig`] (horizon, interval, lateness, caps, budget, emit rule);
//! - [`networks`]: the monitored-networks filter;
//! - `watermark`: the event-time clock, ticks and lateness;
//! - `state`: per-host state (`Host` → `Pair` → `Times`, ~4 bytes per flow time; peers
//!   with one flow time as `Singles`, 8 bytes each);
//! - `schedule`: hosts queued by the tick at which their window changes;
//! - `evaluate`, `detection`: one host's evaluation, and the detection it may emit;
//! - [`filter`]: false-positive control (allow-lists, prevalence, minimum peers, replies);
//! - `budget`: memory accounting and least-recently-active eviction;
//! - [`snapshot`]: the versioned binary form of a host's state and of the clock;
//! - [`stats`]: [`EngineStats`], counters and gauges for metrics;
//! - `engine`: [`Engine`], tying it together.
//!
//! Batch use, as `relbot analyze` runs it:
//!
//! ```
//! use relbot_engine::{Engine, EngineConfig};
//! use relbot_flow::FlowRecord;
//! use relbot_periodicity::{Algorithm, ClassicParams};
//!
//! let algorithm = Algorithm::classic(ClassicParams::seed_shipped())?;
//! let mut engine = Engine::new(EngineConfig::batch(), algorithm)?;
//! let (host, peer) = ("10.0.0.1".parse()?, "192.0.2.7".parse()?);
//! for k in 0..12 {
//!     // A beacon every 10 minutes, in any order.
//!     engine.ingest(&FlowRecord::from_triple(1_416_268_800_000 + k * 600_000, host, peer));
//! }
//! let detections = engine.flush();
//! let results = engine.host_results();
//! assert_eq!(detections.len(), 1);
//! assert_eq!((results[0].host, results[0].flows, results[0].peers), (host, 12, 1));
//! let counts: Vec<usize> = results[0].periods.iter().map(|p| p.count()).collect();
//! assert_eq!(counts, [1, 0, 0, 0]); // periodic for 10 min, not 15, 30 or 40
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Determinism: the same flows, in any order within the allowed lateness, give the same
//! detections with the same ids, as long as no cap or budget eviction is needed (those keep
//! memory bounded at the price of depending on what arrived first).

mod budget;
pub mod config;
mod detection;
mod engine;
mod error;
mod evaluate;
pub mod filter;
pub mod networks;
mod result;
mod schedule;
pub mod snapshot;
mod state;
pub mod stats;
mod watermark;

pub use config::{EmitRule, EngineConfig};
pub use detection::detection_for;
pub use engine::{Engine, HostCounters, HostWindow, Ingest, PeriodicPair};
pub use error::EngineError;
pub use filter::{fold_replies, AllowFile, FilterConfig, PeerFilter, Prevalence};
pub use networks::{Cidr, Networks};
pub use result::{tally_periods, HostResult, PeerFinding, PeriodFinding};
pub use snapshot::{ChangeSet, ClockState, HostChange};
pub use stats::{EngineStats, Evictions};
