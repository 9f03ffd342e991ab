//! relbot-periodicity: algorithms that decide whether a host contacts a peer with a fixed
//! period, from the start times of their flows.
//!
//! Pure code: no I/O, no async, no Kafka, no logging. Callers (the embedded `relbot analyze`,
//! the detector service) own the flows and hand each (host, peer) pair's start times in.
//!
//! Layout:
//! - [`classic`]: the original RelBot `timedetector` check, reproduced bit for bit
//!   (`../shared/SEED-ALGORITHM.md`), with its parameters and the original's JSON config;
//! - [`beacon`]: relbot's own algorithm: estimates each pair's period from the gaps between
//!   its contacts (jitter, drift, missing beats and restarts tolerated), with a confidence;
//! - [`PeriodMask`]: which of the configured candidate periods a pair is periodic for;
//! - [`algorithm`]: [`Algorithm`], the one interface callers use to run any algorithm
//!   (per-pair verdicts with confidence, per-host tallies of peers per period).

pub mod algorithm;
pub mod beacon;
pub mod classic;
mod mask;

pub use algorithm::{
    Algorithm, AlgorithmScratch, PairVerdict, PeerScore, PeriodTally, PeriodicFor,
};
pub use beacon::{Beacon, BeaconEstimate, BeaconParams, BeaconParamsError, BeaconScratch};
pub use classic::{Classic, ClassicEvidence, ClassicParams, ClassicScratch, ParamsError};
pub use mask::PeriodMask;
