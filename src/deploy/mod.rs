//! `knative2nomad deploy`: register job files on a Nomad cluster and follow them to healthy, the
//! way `nomad job run -check-index` does, for one job or a batch in parallel.
//!
//! Layout: [`load`] reads the jobs (JSON, HCL this tool wrote, Knative sources), [`jobspec`]
//! has every other HCL file read by Nomad's own parser with the [`variables`] given,
//! [`pipeline`] takes one job through validate → plan → register → evaluation → deployment,
//! [`plan_view`] renders plans, [`interrupt`] stops the batch on SIGINT/SIGTERM with a table of
//! how far each job got. This module runs the batch, prints the summary and chooses the exit
//! code. It does not convert anything and does not talk HTTP itself (`nomad::client`).

pub mod interrupt;
pub mod jobspec;
pub mod load;
pub mod pipeline;
pub mod plan_view;
pub mod variables;

pub use load::load_jobs;
pub use pipeline::{Outcome, PipelineOptions, Stage};

use crate::config::ConvertOptions;
use crate::nomad::client::{ConnectionSettings, NomadClient};
use crate::nomad::model::Job;
use anyhow::Context;
use interrupt::{Board, JobStage};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Everything one `deploy` run needs, resolved from flags and environment by `cli`.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    /// Knative sources, job files (HCL or JSON), directories of them, or `-` for JSON on stdin.
    pub paths: Vec<PathBuf>,
    /// How Knative sources are converted (the job namespace and region come from the
    /// connection's, as `nomad job run` would place them).
    pub convert: ConvertOptions,
    pub connection: ConnectionSettings,
    /// How far to take each job, and how to follow it.
    pub pipeline: PipelineOptions,
    /// Jobs deployed at the same time (at least 1).
    pub parallel: usize,
    /// Do not start further jobs once one has failed.
    pub fail_fast: bool,
    /// `-var`, `-var-file` and `NOMAD_VAR_*`, for HCL files Nomad parses.
    pub variables: variables::JobVariables,
}

/// One job's result in a batch.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub job_id: String,
    pub namespace: String,
    pub outcome: Outcome,
    pub elapsed: Duration,
}

/// Exit code of a batch, as `nomad job run` for one job: 1 if any job failed, else 2 if any
/// had placement failures, else 0.
pub fn batch_exit_code(reports: &[JobReport]) -> u8 {
    let codes: Vec<u8> = reports.iter().map(|r| r.outcome.exit_code()).collect();
    if codes.contains(&1) {
        1
    } else if codes.contains(&2) {
        2
    } else {
        0
    }
}

/// Deploy `jobs` with at most `parallel` at a time. Reports come back in input order.
pub async fn deploy_batch(
    client: &NomadClient,
    jobs: Vec<Job>,
    options: &PipelineOptions,
    parallel: usize,
    fail_fast: bool,
) -> Vec<JobReport> {
    let board = Board::default();
    deploy_batch_on(&board, client, jobs, options, parallel, fail_fast).await
}

/// The board of a batch of `jobs`: every job not started yet.
pub fn board_for(client: &NomadClient, jobs: &[Job]) -> Board {
    Board::new(jobs.iter().map(|job| {
        (
            job.id.clone().unwrap_or_default(),
            client.namespace_for(Some(job)),
        )
    }))
}

/// [`deploy_batch`], recording each job's stage on `board` (job number i is row i). Dropping
/// the returned future stops every job where it is (the tasks are aborted, not left running).
pub async fn deploy_batch_on(
    board: &Board,
    client: &NomadClient,
    jobs: Vec<Job>,
    options: &PipelineOptions,
    parallel: usize,
    fail_fast: bool,
) -> Vec<JobReport> {
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(jobs.len());
    let mut abort_on_drop = AbortOnDrop(Vec::with_capacity(jobs.len()));
    for (index, job) in jobs.into_iter().enumerate() {
        let (client, options, stop) = (client.clone(), options.clone(), stop.clone());
        // Take the permit here, in input order, so jobs start in the order given and
        // --fail-fast skips exactly the jobs after a failure (spawned tasks race otherwise).
        let permit = permits.clone().acquire_owned().await;
        let board = board.clone();
        let task = tokio::spawn(async move {
            let _permit = permit;
            let job_id = job.id.clone().unwrap_or_default();
            let namespace = client.namespace_for(Some(&job));
            let started = Instant::now();
            let progress = pipeline::Progress::new(&job_id, options.quiet, board.clone(), index);
            let outcome = if fail_fast && stop.load(Ordering::SeqCst) {
                Outcome::Skipped
            } else {
                pipeline::deploy_job(&client, &job, &options, &progress).await
            };
            board.set(index, JobStage::Finished(outcome.label()));
            if outcome.exit_code() != 0 {
                stop.store(true, Ordering::SeqCst);
            }
            JobReport {
                job_id,
                namespace,
                outcome,
                elapsed: started.elapsed(),
            }
        });
        abort_on_drop.0.push(task.abort_handle());
        tasks.push(task);
    }
    let mut reports = Vec::with_capacity(tasks.len());
    for task in tasks {
        reports.push(match task.await {
            Ok(report) => report,
            Err(join_error) => JobReport {
                job_id: String::from("?"),
                namespace: String::new(),
                outcome: Outcome::Failed(format!("internal error: {join_error}")),
                elapsed: Duration::ZERO,
            },
        });
    }
    reports
}

/// Aborts the batch's tasks when the batch's future is dropped (an interrupted batch), so that
/// none of them goes on after the table of how far they got has been printed.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The summary table printed on stdout after a batch.
pub fn render_summary(reports: &[JobReport]) -> String {
    let width = |f: &dyn Fn(&JobReport) -> usize, title: &str| {
        reports.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let job_w = width(&|r| r.job_id.len(), "JOB");
    let ns_w = width(&|r| r.namespace.len(), "NAMESPACE");
    let result_w = width(&|r| r.outcome.label().len(), "RESULT");
    let mut out = format!(
        "{:job_w$}  {:ns_w$}  {:result_w$}  {:>8}  DETAIL\n",
        "JOB", "NAMESPACE", "RESULT", "TIME"
    );
    for r in reports {
        out.push_str(&format!(
            "{:job_w$}  {:ns_w$}  {:result_w$}  {:>7.1}s  {}\n",
            r.job_id,
            r.namespace,
            r.outcome.label(),
            r.elapsed.as_secs_f64(),
            r.outcome.detail().lines().next().unwrap_or("")
        ));
    }
    let count = |label: &str| {
        reports
            .iter()
            .filter(|r| r.outcome.label() == label)
            .count()
    };
    let mut totals = vec![format!("{} jobs", reports.len())];
    for label in [
        "deployed",
        "planned",
        "registered",
        "placement failed",
        "failed",
        "unconfirmed",
        "skipped",
    ] {
        let n = count(label);
        if n > 0 {
            totals.push(format!("{n} {label}"));
        }
    }
    out.push_str(&totals.join(", "));
    out.push('\n');
    out
}

/// Runs `deploy`: loads the jobs, deploys them, prints each failure and the summary, and returns
/// the batch's exit code.
pub fn run(settings: DeploySettings) -> anyhow::Result<ExitCode> {
    let loaded = load_jobs(&settings.paths, &settings.convert)?;
    let values = variables::Values::collect(&settings.variables)?;
    check_declared(&loaded, &values)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let client = NomadClient::new(settings.connection).context("Nomad connection settings")?;
    let quiet = settings.pipeline.quiet;
    let read = runtime.block_on(async {
        tokio::select! {
            jobs = read_jobs(&client, loaded, &values, quiet) => Ok(jobs),
            signal = interrupt::signalled() => Err(signal),
        }
    });
    let jobs = match read {
        Ok(jobs) => jobs?,
        Err(signal) => {
            eprintln!("{}: nothing was registered", signal.name());
            return Ok(ExitCode::from(signal.exit_code()));
        }
    };
    let board = board_for(&client, &jobs);
    let finished = runtime.block_on(async {
        tokio::select! {
            reports = deploy_batch_on(
                &board,
                &client,
                jobs,
                &settings.pipeline,
                settings.parallel,
                settings.fail_fast,
            ) => Ok(reports),
            signal = interrupt::signalled() => Err(signal),
        }
    });
    let reports = match finished {
        Ok(reports) => reports,
        Err(signal) => {
            eprintln!(
                "{}: stopped following; nothing is undone on the cluster (registered jobs keep \
                 deploying there)",
                signal.name()
            );
            print!("{}", board.render());
            return Ok(ExitCode::from(signal.exit_code()));
        }
    };
    for report in reports.iter().filter(|r| r.outcome.exit_code() != 0) {
        eprintln!(
            "error: job {:?}: {}",
            report.job_id,
            report.outcome.detail()
        );
    }
    print!("{}", render_summary(&reports));
    Ok(ExitCode::from(batch_exit_code(&reports)))
}

/// `-var` and `-var-file` values must be for a variable that a job file declares.
fn check_declared(loaded: &[load::Loaded], values: &variables::Values) -> anyhow::Result<()> {
    let files: Vec<&jobspec::HclFile> = loaded
        .iter()
        .filter_map(|l| match l {
            load::Loaded::ForNomad(file) => Some(file),
            load::Loaded::Ready { .. } => None,
        })
        .collect();
    jobspec::check_declared(&files, values)
        .map_err(|problems| anyhow::anyhow!("{problems}; nothing was deployed"))
}

/// Every job ready to deploy: HCL files for Nomad read by its parser (all of them, so that
/// every problem is reported at once and nothing is registered unless all files read). Says
/// which way each file was read, as a progress line per job.
async fn read_jobs(
    client: &NomadClient,
    loaded: Vec<load::Loaded>,
    values: &variables::Values,
    quiet: bool,
) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::with_capacity(loaded.len());
    let mut problems = Vec::new();
    for item in loaded {
        let (job, file, read_by) = match item {
            load::Loaded::Ready { job, file, read_by } => (*job, file, read_by),
            load::Loaded::ForNomad(hcl) => match hcl.read_with_nomad(client, values).await {
                Ok(job) => (job, hcl.path.display().to_string(), jobspec::ReadBy::Nomad),
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            },
        };
        if !quiet {
            eprintln!(
                "[{}] {file}: {read_by}",
                job.id.as_deref().unwrap_or_default()
            );
        }
        jobs.push(job);
    }
    if !problems.is_empty() {
        anyhow::bail!(
            "{} job file(s) could not be read; nothing was deployed:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    Ok(jobs)
}
