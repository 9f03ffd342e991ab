//! Per-host state: [`Host`] (its peers and bookkeeping) → [`Pair`] (one peer and its flow
//! times) → [`Times`] (the sorted times, ~4 bytes each).

mod host;
mod pair;
mod times;

pub(crate) use host::{Host, Memo, NEVER};
pub(crate) use pair::Pair;
pub(crate) use times::{Times, MAX_TIMES};
