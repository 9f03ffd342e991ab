//! The process's Prometheus registry, shared by the service (which registers its metrics)
//! and the operations server (which renders them on `/metrics`).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

/// A cloneable handle on one registry.
#[derive(Clone)]
pub struct Metrics {
    // A std Mutex: registration happens at start, rendering holds it for one scrape, never
    // across an await.
    registry: Arc<Mutex<Registry>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry whose metric names all start with `prefix_`, e.g. `relbot_reporter`.
    pub fn new(prefix: &str) -> Self {
        Self {
            registry: Arc::new(Mutex::new(Registry::with_prefix(prefix))),
        }
    }

    /// Runs `f` with the registry, to register metrics.
    pub fn register<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut registry)
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> String {
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}
