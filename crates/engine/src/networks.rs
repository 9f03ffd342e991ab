//! The monitored-networks filter: which flow sources are hosts the engine keeps state for.
//! The type lives in `relbot_flow::networks` (ingest filters with it too, without depending on
//! the engine); it is re-exported here so that engine users name it as before.

pub use relbot_flow::networks::{Cidr, NetworkError, Networks};
