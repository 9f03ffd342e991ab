//! `tracing` initialisation: text or JSON lines on stderr (stdout stays free for data, e.g. a
//! JSON-lines sink writing to stdout), filtered by `RUST_LOG` or the configured level.

use tracing_subscriber::EnvFilter;

use crate::error::ServiceError;
use crate::settings::{LogFormat, RuntimeSettings};

/// Installs the global subscriber. Call once, before anything logs; a second call fails.
pub fn init(settings: &RuntimeSettings) -> Result<(), ServiceError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(directives),
        _ => EnvFilter::try_new(&settings.log_level),
    }
    .map_err(|e| ServiceError::Logging(e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match settings.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    installed.map_err(|e| ServiceError::Logging(e.to_string()))
}
