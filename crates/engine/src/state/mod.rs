//! Per-host state: [`Host`] (its peers and bookkeeping) → [`Pair`] (one peer and its flow
//! times) → [`Times`] (the sorted times, ~4 bytes each); peers with a single flow time in
//! [`Singles`] (8 bytes each).

mod host;
mod pair;
mod singles;
mod times;

pub(crate) use host::{Host, Memo, NEVER};
pub(crate) use pair::Pair;
pub(crate) use singles::Singles;
pub(crate) use times::{Times, MAX_TIMES};
