//! What `deploy` does when it is told to stop (Ctrl-C, or SIGTERM from a CI runner or an
//! orchestrator): it stops following, says how far each job got, and exits 130 (SIGINT) or 143
//! (SIGTERM), the shell's 128 + signal number. Nothing is undone on the cluster: a registered
//! job keeps deploying there, which is why the table says which ones are.
//!
//! The [`Board`] is where the pipeline records each job's stage as it goes, so that the table
//! can be printed from whatever state the interrupted batch was in.

use std::sync::{Arc, Mutex};

/// How far one job got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStage {
    NotStarted,
    /// Validating or planning: nothing sent that changes the cluster.
    Checking,
    /// The register request is out and its answer has not arrived.
    Registering,
    /// Registered; its evaluation was being followed.
    Registered {
        evaluation: String,
    },
    /// Registered; its deployment was being followed.
    Deploying {
        deployment: String,
    },
    /// The pipeline ended for this job, with this result label (`deployed`, `failed`, ...).
    Finished(&'static str),
}

impl JobStage {
    fn describe(&self) -> String {
        match self {
            JobStage::NotStarted => "not started".to_string(),
            JobStage::Checking => "not registered (stopped while validating or planning)".into(),
            JobStage::Registering => {
                "may be registered (the register request had no answer yet): read it back with \
                 `nomad job status`"
                    .into()
            }
            JobStage::Registered { evaluation } => {
                format!(
                    "registered (evaluation {} not followed further)",
                    short(evaluation)
                )
            }
            JobStage::Deploying { deployment } => {
                format!(
                    "deploying (deployment {} not followed further)",
                    short(deployment)
                )
            }
            JobStage::Finished(label) => label.to_string(),
        }
    }
}

/// An evaluation's or deployment's ID shortened to 8 characters, as Nomad's CLI shows them; the
/// progress lines and this table name the same IDs the same way.
pub(super) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Every job's stage, in input order. Cheap to clone; shared by the batch's tasks.
#[derive(Debug, Clone, Default)]
pub struct Board {
    jobs: Arc<Mutex<Vec<(String, String, JobStage)>>>,
}

impl Board {
    /// A board for jobs given as (job ID, namespace), none started.
    pub fn new(jobs: impl IntoIterator<Item = (String, String)>) -> Board {
        let rows = jobs
            .into_iter()
            .map(|(id, namespace)| (id, namespace, JobStage::NotStarted))
            .collect();
        Board {
            jobs: Arc::new(Mutex::new(rows)),
        }
    }

    /// Records that job number `index` reached `stage` (ignored for an unknown index).
    pub fn set(&self, index: usize, stage: JobStage) {
        let mut jobs = match self.jobs.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(row) = jobs.get_mut(index) {
            row.2 = stage;
        }
    }

    /// The table printed when the batch is interrupted: job, namespace, how far it got.
    pub fn render(&self) -> String {
        let jobs = match self.jobs.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let job_w = jobs.iter().map(|r| r.0.len()).max().unwrap_or(0).max(3);
        let ns_w = jobs.iter().map(|r| r.1.len()).max().unwrap_or(0).max(9);
        let mut out = format!("{:job_w$}  {:ns_w$}  STATE\n", "JOB", "NAMESPACE");
        for (id, namespace, stage) in &jobs {
            out.push_str(&format!(
                "{id:job_w$}  {namespace:ns_w$}  {}\n",
                stage.describe()
            ));
        }
        out
    }
}

/// Which signal stopped the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// 128 + the signal number, as a shell reports a process the signal ended.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupted (SIGINT)",
            Signal::Terminate => "terminated (SIGTERM)",
        }
    }
}

/// Resolves when SIGINT or SIGTERM arrives. From its first poll on, these signals no longer
/// end the process; a signal that cannot be listened for is simply never reported.
pub async fn signalled() -> Signal {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match terminate.as_mut() {
            Some(stream) => {
                stream.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = interrupt => Signal::Interrupt,
        () = term => Signal::Terminate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_says_how_far_each_job_got() {
        let board = Board::new([
            ("web".to_string(), "default".to_string()),
            ("api".to_string(), "prod".to_string()),
            ("batch".to_string(), "default".to_string()),
        ]);
        board.set(
            0,
            JobStage::Deploying {
                deployment: "5d3f0a1c-aaaa".into(),
            },
        );
        board.set(1, JobStage::Finished("deployed"));
        board.set(7, JobStage::Checking);
        let table = board.render();
        assert_eq!(
            table,
            "JOB    NAMESPACE  STATE\n\
             web    default    deploying (deployment 5d3f0a1c not followed further)\n\
             api    prod       deployed\n\
             batch  default    not started\n"
        );
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
    }
}
