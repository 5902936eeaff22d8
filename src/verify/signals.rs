//! Putting the Nomad job back when the run is interrupted. A cancelled or timed-out CI job sends
//! SIGTERM (or SIGINT from a terminal), and between the scale-down and the scale-up of a cold
//! start that would leave the service at zero. On either signal the job is restored (see
//! `NomadJob::restore`, which also stops any further write of the run) and the process exits
//! with the shell's code for the signal, 130 or 143.
//!
//! Not here: what "restored" means (nomad_job.rs); the normal and error exits (mod.rs).

use super::nomad_job::NomadJob;
use std::sync::Arc;
use std::time::Duration;

/// Watch for SIGINT and SIGTERM on `runtime` for the rest of the process.
pub fn restore_on_signal(runtime: &tokio::runtime::Runtime, job: Arc<NomadJob>, timeout: Duration) {
    runtime.spawn(async move {
        let Some((name, code)) = next_signal().await else {
            return;
        };
        eprintln!(
            "{name} received: putting job {} group {} back before exiting",
            job.job, job.group
        );
        job.restore_and_report(timeout).await;
        std::process::exit(code);
    });
}

/// The first SIGINT or SIGTERM, with its name and exit code; None when they cannot be watched
/// (said on stderr: the run then cannot promise a restore on interruption).
#[cfg(unix)]
async fn next_signal() -> Option<(&'static str, i32)> {
    use tokio::signal::unix::{SignalKind, signal};
    let watched =
        signal(SignalKind::interrupt()).and_then(|i| Ok((i, signal(SignalKind::terminate())?)));
    let (mut interrupt, mut terminate) = match watched {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!(
                "warning: cannot watch for SIGINT/SIGTERM ({e}); an interrupted run will not restore the job"
            );
            return None;
        }
    };
    tokio::select! {
        _ = interrupt.recv() => Some(("SIGINT", 130)),
        _ = terminate.recv() => Some(("SIGTERM", 143)),
    }
}

#[cfg(not(unix))]
async fn next_signal() -> Option<(&'static str, i32)> {
    match tokio::signal::ctrl_c().await {
        Ok(()) => Some(("Ctrl-C", 130)),
        Err(e) => {
            eprintln!(
                "warning: cannot watch for Ctrl-C ({e}); an interrupted run will not restore the job"
            );
            None
        }
    }
}
