//! Running the `knative2nomad` binary from async tests: without the Nomad and Kubernetes settings
//! of the shell the tests run in (a developer's `NOMAD_ADDR`, `NOMAD_TOKEN`, `NOMAD_VAR_*` or
//! `KUBECONFIG` must not reach the tool under test), off the async runtime so that the loopback
//! servers of the same test keep serving, and killed by a watchdog instead of hanging the suite.

use assert_cmd::Command;
use std::time::Duration;

/// `knative2nomad` with every `NOMAD_*` variable and `KUBECONFIG` removed; a test sets what it
/// needs on it.
pub fn knative2nomad() -> Command {
    let mut command = Command::cargo_bin("knative2nomad").unwrap();
    for (name, _) in std::env::vars() {
        if name.starts_with("NOMAD_") || name == "KUBECONFIG" {
            command.env_remove(name);
        }
    }
    command
}

/// What one run gave; `code` is None when the watchdog (or a signal) ended it.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end on a blocking thread, killed after `watchdog`.
pub async fn output(mut command: Command, watchdog: Duration) -> Output {
    tokio::task::spawn_blocking(move || {
        let output = command.timeout(watchdog).output().unwrap();
        Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}
