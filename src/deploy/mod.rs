//! `knative2nomad deploy`: register job files on a Nomad cluster and follow them to healthy, the
//! way `nomad job run -check-index` does, for one job or a batch in parallel.
//!
//! Layout: [`load`] reads the jobs (the seam where HCL and Knative inputs will plug in),
//! [`pipeline`] takes one job through validate → plan → register → evaluation → deployment,
//! [`plan_view`] renders plans. This module runs the batch, prints the summary and chooses the
//! exit code. It does not convert anything and does not talk HTTP itself (`nomad::client`).

pub mod load;
pub mod pipeline;
pub mod plan_view;

pub use load::load_jobs;
pub use pipeline::{Outcome, PipelineOptions, Stage};

use crate::nomad::client::{NomadArgs, NomadClient};
use crate::nomad::model::Job;
use anyhow::Context;
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Job files written by `convert --format json` (`{"Job": ...}` or a bare job; several
    /// objects per file are fine), directories holding them, or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub nomad: NomadArgs,
    /// Validate and plan only; register nothing.
    #[arg(long, conflicts_with = "detach")]
    pub plan: bool,
    /// Return after registering, without following the evaluation and deployment.
    #[arg(long)]
    pub detach: bool,
    /// Jobs deployed at the same time.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    /// Do not start further jobs once one has failed.
    #[arg(long)]
    pub fail_fast: bool,
    /// Longest wait of one blocking query (the server caps it at 5m).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub blocking_wait: Duration,
    /// Print only the summary, not each job's progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,
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
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(jobs.len());
    for job in jobs {
        let (client, options, permits, stop) = (
            client.clone(),
            options.clone(),
            permits.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let job_id = job.id.clone().unwrap_or_default();
            let namespace = client.namespace_for(Some(&job));
            let _permit = permits.acquire_owned().await;
            let started = Instant::now();
            let outcome = if fail_fast && stop.load(Ordering::SeqCst) {
                Outcome::Skipped
            } else {
                pipeline::deploy_job(&client, &job, &options).await
            };
            if outcome.exit_code() != 0 {
                stop.store(true, Ordering::SeqCst);
            }
            JobReport {
                job_id,
                namespace,
                outcome,
                elapsed: started.elapsed(),
            }
        }));
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

pub fn run(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let jobs = load_jobs(&args.paths)?;
    let settings = args.nomad.settings();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let client = NomadClient::new(settings).context("Nomad connection settings")?;
    let options = PipelineOptions {
        stage: if args.plan {
            Stage::Plan
        } else if args.detach {
            Stage::Register
        } else {
            Stage::Follow
        },
        blocking_wait: args.blocking_wait,
        quiet: args.quiet,
    };
    let reports = runtime.block_on(deploy_batch(
        &client,
        jobs,
        &options,
        usize::from(args.parallel),
        args.fail_fast,
    ));
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
