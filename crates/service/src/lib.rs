//! relbot-service: the runtime every relbot service shares, so that each `main.rs` stays thin
//! and every service behaves the same way in operation.
//!
//! - [`config`]: typed configuration from compiled-in defaults, an optional TOML file and
//!   `RELBOT_<SERVICE>__SECTION__KEY` environment variables; unknown keys are errors naming the
//!   key; [`config::effective_toml`] prints it with secrets redacted (`--check`);
//! - [`settings`]: the `[runtime]` section every service has (listen address, log format and
//!   level, drain timeout);
//! - [`telemetry`]: `tracing` initialisation, text or JSON, to stderr;
//! - [`metrics`]: a shared Prometheus registry ([`Metrics`]);
//! - [`http`]: the operations server: `/metrics`, `/healthz`, `/readyz` ([`Readiness`]);
//! - [`shutdown`]: a [`CancellationToken`](tokio_util::sync::CancellationToken) cancelled on
//!   SIGTERM/SIGINT, a second signal exits at once;
//! - [`run`]: [`run_main`], the whole life of a service process behind one call;
//! - [`error`]: the error type, [`ServiceError`].
//!
//! A service's `main.rs`:
//!
//! ```no_run
//! # use relbot_service::{Context, ServiceConfig, RuntimeSettings};
//! # #[derive(Debug, serde::Serialize, serde::Deserialize)]
//! # struct MyConfig { runtime: RuntimeSettings }
//! # impl ServiceConfig for MyConfig {
//! #     const NAME: &'static str = "example";
//! #     const DEFAULT_TOML: &'static str = "[runtime]\n";
//! #     fn runtime(&self) -> &RuntimeSettings { &self.runtime }
//! # }
//! # async fn run(_c: MyConfig, _ctx: Context) -> Result<(), std::io::Error> { Ok(()) }
//! fn main() -> std::process::ExitCode {
//!     relbot_service::run_main::<MyConfig, _, _, _>(run)
//! }
//! ```

pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod run;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{effective_toml, load, load_with_env, ServiceConfig};
pub use error::ServiceError;
pub use http::{HttpServer, Readiness};
pub use metrics::Metrics;
pub use run::{run_main, run_service, Context, EXIT_CONFIG, EXIT_FAILURE, EXIT_FORCED};
pub use settings::{LogFormat, RuntimeSettings};
pub use shutdown::{drain, signal_token};

/// Re-exported so that services name the same token type.
pub use tokio_util::sync::CancellationToken;
