//! Shutdown as a parameter: a [`CancellationToken`] cancelled on the first SIGTERM or SIGINT;
//! a second signal exits the process at once with [`EXIT_FORCED`](crate::EXIT_FORCED).
//! [`drain`] bounds the time a service takes to finish once the token is cancelled.

use std::future::Future;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::error::ServiceError;
use crate::run::EXIT_FORCED;

/// A token cancelled by the first SIGTERM or SIGINT; the second one calls
/// `std::process::exit(130)`. Must be called inside a Tokio runtime.
pub fn signal_token() -> Result<CancellationToken, ServiceError> {
    let mut term = signal(SignalKind::terminate()).map_err(|source| ServiceError::Signal {
        signal: "SIGTERM",
        source,
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|source| ServiceError::Signal {
        signal: "SIGINT",
        source,
    })?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(
            signal = name,
            "Shutting down; a second signal exits at once."
        );
        cancel.cancel();
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        warn!(signal = name, "Second signal: exiting now.");
        std::process::exit(i32::from(EXIT_FORCED));
    });
    Ok(token)
}

/// Drives `work` to completion, but once `shutdown` is cancelled gives it at most `grace` more;
/// returns `None` when the grace period ran out (the work is dropped).
pub async fn drain<F: Future>(
    work: F,
    shutdown: &CancellationToken,
    grace: Duration,
) -> Option<F::Output> {
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => return Some(out),
        () = shutdown.cancelled() => {}
    }
    match tokio::time::timeout(grace, work).await {
        Ok(out) => Some(out),
        Err(_) => {
            error!(grace = ?grace, "Drain did not finish within the grace period.");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_the_work_within_the_grace_period() {
        let token = CancellationToken::new();
        let work = {
            let token = token.clone();
            async move {
                token.cancelled().await;
                tokio::time::sleep(Duration::from_secs(2)).await;
                7
            }
        };
        token.cancel();
        assert_eq!(drain(work, &token, Duration::from_secs(5)).await, Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_the_grace_period() {
        let token = CancellationToken::new();
        token.cancel();
        let work = tokio::time::sleep(Duration::from_secs(60));
        assert_eq!(drain(work, &token, Duration::from_secs(5)).await, None);
    }
}
