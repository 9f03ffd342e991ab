//! The whole life of a service process behind one call, so that `main.rs` stays thin:
//! arguments, configuration (problems → exit 64), `--check`, logging, the Tokio runtime,
//! signals, the operations server, the service's own `run`, the bounded drain, the exit code.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::config::{effective_toml, load, ServiceConfig};
use crate::http::{HttpServer, Readiness};
use crate::metrics::Metrics;
use crate::shutdown::{drain, signal_token};
use crate::telemetry;

/// Exit status for an invalid configuration or command line (`EX_USAGE`).
pub const EXIT_CONFIG: u8 = 64;
/// Exit status when the service failed or did not drain in time.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status after a second SIGTERM/SIGINT (128 + SIGINT).
pub const EXIT_FORCED: u8 = 130;

/// The command line every relbot service accepts.
#[derive(Debug, Parser)]
struct Args {
    /// TOML configuration file, read over the compiled-in defaults; environment variables
    /// `RELBOT_<SERVICE>__SECTION__KEY` override both.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration, print the effective one (secrets redacted) and exit 0, or
    /// print the problems and exit 64.
    #[arg(long)]
    check: bool,
}

/// What the runtime hands to a service's `run`.
#[derive(Debug, Clone)]
pub struct Context {
    /// Register the service's metrics here; `/metrics` renders them.
    pub metrics: Metrics,
    /// Set once the service can work; `/readyz` reports it. Cleared on shutdown.
    pub ready: Readiness,
    /// Cancelled on SIGTERM/SIGINT (or by a test): stop taking work, finish, return.
    pub shutdown: CancellationToken,
    /// Where the operations server listens.
    pub http_addr: SocketAddr,
}

/// Runs a service process: parses `--config`/`--check`, loads and validates `C`, initialises
/// logging, then runs `run` on a multi-threaded Tokio runtime under [`run_service`].
pub fn run_main<C, F, Fut, E>(run: F) -> ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, Context) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let binary = format!("relbot-{}", C::NAME);
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let config = match load::<C>(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{binary}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.check {
        return match effective_toml(&config) {
            Ok(text) => {
                println!("{text}");
                eprintln!("{binary}: configuration is valid");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{binary}: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }
    if let Err(e) = telemetry::init(config.runtime()) {
        eprintln!("{binary}: {e}");
        return ExitCode::from(EXIT_FAILURE);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "Cannot start the Tokio runtime.");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    runtime.block_on(async move {
        let shutdown = match signal_token() {
            Ok(token) => token,
            Err(e) => {
                error!(error = %e, "Cannot install signal handlers.");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        run_service(config, shutdown, run).await
    })
}

/// Runs one service until it returns or `shutdown` is cancelled and the drain ends: binds the
/// operations server, calls `run`, clears readiness on shutdown, bounds the drain by
/// `runtime.drain_timeout`, stops the server last (so `/metrics` is scraped while draining).
/// Returns the exit code; tests call it with their own token.
pub async fn run_service<C, F, Fut, E>(config: C, shutdown: CancellationToken, run: F) -> ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, Context) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let settings = config.runtime().clone();
    let metrics = Metrics::new(&format!("relbot_{}", C::NAME.replace('-', "_")));
    let ready = Readiness::default();
    let server = match HttpServer::bind(settings.listen, metrics.clone(), ready.clone()).await {
        Ok(server) => server,
        Err(e) => {
            error!(error = %e, "Cannot start the operations server.");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let http_addr = server.local_addr();
    let stop_server = CancellationToken::new();
    let server = tokio::spawn(server.serve(stop_server.clone()));
    {
        let (shutdown, ready) = (shutdown.clone(), ready.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            ready.set_not_ready();
        });
    }
    info!(service = C::NAME, version = env!("CARGO_PKG_VERSION"), http = %http_addr, "Starting.");
    let context = Context {
        metrics,
        ready,
        shutdown: shutdown.clone(),
        http_addr,
    };
    let work = tokio::spawn(run(config, context));
    let code = match drain(work, &shutdown, settings.drain_timeout).await {
        Some(Ok(Ok(()))) => {
            info!(service = C::NAME, "Stopped.");
            ExitCode::SUCCESS
        }
        Some(Ok(Err(e))) => {
            error!(service = C::NAME, error = %e, "Service failed.");
            ExitCode::from(EXIT_FAILURE)
        }
        Some(Err(join)) => {
            error!(service = C::NAME, error = %join, "Service task panicked.");
            ExitCode::from(EXIT_FAILURE)
        }
        None => ExitCode::from(EXIT_FAILURE),
    };
    stop_server.cancel();
    if let Ok(Err(e)) = server.await {
        error!(error = %e, "Operations server failed.");
    }
    code
}
