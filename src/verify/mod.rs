//! `knative2nomad verify`: benchmark the cold start and warm latency of a Knative Service and of
//! its Nomad migration, and give a parity verdict a CI pipeline can gate on.
//!
//! Flow: cold starts, alternating the platforms sample by sample so drift hits both alike
//! (cold.rs forces them, nomad_job.rs through Nomad's API, probe.rs times them) → warm
//! open-loop load, the platforms alternating in short blocks (warm.rs, load.rs) → per-metric
//! non-inferiority tests of Nomad against Knative over paired blocks (stats.rs) → terminal
//! table, JSON, Markdown, SVG and OpenMetrics reports, optional Pushgateway push (report.rs,
//! plot.rs). Whatever ends the run — a verdict, an error, SIGINT or SIGTERM (signals.rs) — the
//! Nomad job is put back as it was found first.
//! Exit codes: 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 4 could not measure (or could not restore the
//! job); 2 is clap's usage error; 130 / 143 after SIGINT / SIGTERM.
//! Methodology and flags: docs/verify.md.

pub mod cold;
pub mod http1;
pub mod load;
pub mod nomad_job;
pub mod plot;
pub mod pods;
pub mod probe;
pub mod report;
pub mod signals;
pub mod stats;
pub mod warm;

use crate::knative::cluster::KubeSettings;
use crate::nomad::client::{ConnectionSettings, NomadClient};
use anyhow::{Context, bail};
use cold::{ColdSample, Forcing, KubeTarget, Side};
use indicatif::{ProgressBar, ProgressStyle};
use nomad_job::NomadJob;
use probe::Probe;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Exit code when the run could not measure (as opposed to a FAIL verdict).
pub const EXIT_ERROR: u8 = 4;

/// Everything one `verify` run needs, resolved from flags by `cli` (docs/verify.md describes
/// each setting under its flag name).
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// URL of the Knative Service (what clients call).
    pub knative_url: String,
    /// Host header for Knative requests, when the URL points at the ingress by address.
    pub knative_host: Option<String>,
    /// The Knative Service as NAMESPACE/NAME: watch-based cold starts through the Kubernetes API.
    pub knative_service: Option<String>,
    /// How to reach the Kubernetes API for `knative_service`.
    pub kube: KubeSettings,
    /// Without kube access: idle time after which Knative has scaled the revision to zero.
    pub knative_idle_wait: Duration,
    /// URL of the migrated service on Nomad.
    pub nomad_url: String,
    /// Host header for Nomad requests.
    pub nomad_host: Option<String>,
    /// Nomad job ID: scale-based cold starts through the API.
    pub nomad_job: Option<String>,
    /// Task group to scale (default: the job ID).
    pub nomad_group: Option<String>,
    /// How Nomad cold starts are started and timed (with `nomad_job`).
    pub nomad_cold_start: NomadColdStart,
    /// Without `nomad_job`: idle time after which something else scaled to zero.
    pub nomad_idle_wait: Duration,
    /// How to reach the Nomad API for `nomad_job`.
    pub nomad: ConnectionSettings,
    /// Cold starts per platform.
    pub cold_starts: usize,
    /// Warm load duration per platform (zero skips warm latency).
    pub warm_duration: Duration,
    /// Warm load rate, requests per second (open loop).
    pub warm_rate: f64,
    /// Connections (one thread each) for warm load.
    pub warm_connections: usize,
    /// Relative tolerance: 0.1 lets Nomad be 10% slower than Knative.
    pub tolerance: Option<f64>,
    /// Absolute tolerance; with `tolerance` the larger allowance applies.
    pub tolerance_abs: Option<Duration>,
    /// Also fail when Nomad is faster than the tolerance (two-sided equivalence test).
    pub equivalence: bool,
    /// Confidence level of the bootstrap intervals.
    pub confidence: f64,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Seed of the bootstrap's random numbers (same seed and samples → same report).
    pub seed: u64,
    /// A response is correct only if its body contains this.
    pub expect_body: Option<String>,
    /// Response header that names the serving instance.
    pub instance_header: Option<String>,
    /// Give up on one cold start after this long.
    pub cold_timeout: Duration,
    /// Give up on scaling to zero after this long.
    pub scale_timeout: Duration,
    /// Write verify.json, verify.md, verify.svg and verify.prom here.
    pub report_dir: Option<PathBuf>,
    /// Push the metrics to this Prometheus Pushgateway URL.
    pub pushgateway: Option<String>,
}

/// How a Nomad cold start is started and timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NomadColdStart {
    /// The verifier starts the group through the API (scale, or stop and run) and polls the URL.
    #[default]
    Api,
    /// The verifier waits, watching the API, until the proxy in front of the group (Sablier)
    /// has brought it to zero, then times one request through the URL, which starts it.
    Request,
}

/// Run `verify`: the verdict's exit code, or EXIT_ERROR after printing why nothing was decided
/// (or why the Nomad job could not be put back).
pub fn run(settings: VerifySettings) -> anyhow::Result<ExitCode> {
    match run_inner(&settings) {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(err) => {
            eprintln!("error: {err:#}");
            Ok(ExitCode::from(EXIT_ERROR))
        }
    }
}

fn check_args(args: &VerifySettings) -> anyhow::Result<stats::TestSettings> {
    if !(0.5..1.0).contains(&args.confidence) {
        bail!("--confidence must be in [0.5, 1), got {}", args.confidence);
    }
    if args.tolerance.is_some_and(|t| t.is_nan() || t < 0.0) {
        bail!("--tolerance must be a non-negative fraction");
    }
    if args.nomad_cold_start == NomadColdStart::Request && args.nomad_job.is_none() {
        bail!(
            "--nomad-cold-start request needs --nomad-job (the group is brought to 0 through the API)"
        );
    }
    if args.warm_duration > Duration::ZERO && (args.warm_rate.is_nan() || args.warm_rate <= 0.0) {
        bail!("--warm-rate must be positive");
    }
    let tolerance = stats::Tolerance {
        // Neither given: 10 % is the documented default.
        rel: args
            .tolerance
            .or(args.tolerance_abs.is_none().then_some(0.1)),
        abs_ms: args.tolerance_abs.map(|d| d.as_secs_f64() * 1e3),
    };
    Ok(stats::TestSettings {
        tolerance,
        level: args.confidence,
        resamples: args.resamples.max(100),
        equivalence: args.equivalence,
    })
}

fn run_inner(args: &VerifySettings) -> anyhow::Result<u8> {
    let settings = check_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let (mut knative, mut nomad) = runtime.block_on(build_sides(args))?;
    // From the first write on, the job must be put back as it was found, whatever ends the run.
    let job = nomad.forcing.nomad_job().cloned();
    if let Some(job) = &job {
        signals::restore_on_signal(&runtime, job.clone(), args.scale_timeout);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        measure(args, &settings, &runtime, &mut knative, &mut nomad)
    }));
    let restored = match &job {
        None => true,
        Some(job) => runtime.block_on(job.restore_and_report(args.scale_timeout)),
    };
    let verdict = match result {
        Ok(verdict) => verdict?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    // A job left changed is a failed run whatever the verdict: CI must notice.
    Ok(if restored {
        verdict.exit_code()
    } else {
        EXIT_ERROR
    })
}

/// Cold starts (alternating platforms), warm load, statistics and reports.
fn measure(
    args: &VerifySettings,
    settings: &stats::TestSettings,
    runtime: &tokio::runtime::Runtime,
    knative: &mut Side,
    nomad: &mut Side,
) -> anyhow::Result<stats::Verdict> {
    let progress = progress_bar(2 * args.cold_starts as u64);

    // Cold starts, alternating which platform goes first in each round.
    let cold = runtime.block_on(async {
        let mut samples: Vec<ColdSample> = Vec::new();
        let mut failures_in_a_row = [0usize; 2];
        for round in 0..args.cold_starts {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let side: &mut Side = if which == 0 {
                    &mut *knative
                } else {
                    &mut *nomad
                };
                progress.set_message(format!("cold start {} on {}", round + 1, side.name));
                let sample = match side.cold_sample(round).await {
                    Ok(s) => {
                        failures_in_a_row[which] = 0;
                        s
                    }
                    // A scale Nomad refused on the group's scaling bounds would be refused
                    // again: not retried with the next sample.
                    Err(e) if e.downcast_ref::<nomad_job::Refused>().is_some() => return Err(e),
                    Err(e) => {
                        failures_in_a_row[which] += 1;
                        if failures_in_a_row[which] >= 3 {
                            return Err(e.context(format!(
                                "three cold starts in a row failed on {}",
                                side.name
                            )));
                        }
                        side.failed(round, &e)
                    }
                };
                if let Some(why) = &sample.discarded {
                    let line = format!(
                        "discarded {} cold start {}: {why}",
                        sample.platform,
                        round + 1
                    );
                    // A hidden bar drops println, and a CI log is where this matters most.
                    if progress.is_hidden() {
                        eprintln!("{line}");
                    } else {
                        progress.println(line);
                    }
                }
                samples.push(sample);
                progress.inc(1);
            }
        }
        anyhow::Ok(samples)
    })?;
    progress.finish_and_clear();
    for side in ["knative", "nomad"] {
        let mine: Vec<&ColdSample> = cold.iter().filter(|c| c.platform == side).collect();
        if !mine.is_empty() && mine.iter().all(|c| !c.valid) {
            // Nothing measured is "could not measure" (exit 4), not a verdict.
            bail!(
                "no valid cold start on {side}; first problem: {}",
                mine[0].discarded.as_deref().unwrap_or("unknown")
            );
        }
    }

    // Warm latency, the platforms alternating in short blocks (warm.rs says why).
    let mut warm = Vec::new();
    if args.warm_duration > Duration::ZERO {
        let mut targets = Vec::new();
        for (side, host) in [
            (&mut *knative, args.knative_host.as_deref()),
            (&mut *nomad, args.nomad_host.as_deref()),
        ] {
            runtime
                .block_on(side.ensure_up())
                .with_context(|| format!("bringing {} up for warm load", side.name))?;
            let target = http1::Target::parse(&side.probe.url, host)?;
            // A few requests first so connection set-up and lazy init stay out of the figures.
            let _ = load::closed_loop(&target, 1, load::Stop::Requests(20));
            targets.push(target);
        }
        let plan = warm::Plan {
            rate: args.warm_rate,
            duration: args.warm_duration,
            connections: args.warm_connections,
        };
        let bar = progress_bar(2 * plan.requests());
        bar.set_message("warm load, platforms alternating");
        let measured = warm::run(
            [("knative", &targets[0]), ("nomad", &targets[1])],
            &plan,
            &|| bar.inc(1),
        )?;
        bar.finish_and_clear();
        knative.touched();
        nomad.touched();
        warm.extend(measured);
    }

    let method = nomad.forcing.nomad_job().map(|job| match &nomad.forcing {
        Forcing::NomadOnRequest(_) => "request".to_string(),
        _ => job.method.as_str().to_string(),
    });
    let report = report::Report::build(args, settings, cold, warm, method);
    print!("{}", report.terminal_table());
    if let Some(dir) = &args.report_dir {
        write_reports(&report, dir)?;
        eprintln!("reports written to {}", dir.display());
    }
    if let Some(url) = &args.pushgateway {
        runtime.block_on(report::push(url, &report.openmetrics(false)))?;
    }
    Ok(report.verdict)
}

/// Writes verify.json, verify.md, verify.svg and verify.prom into `dir`.
fn write_reports(report: &report::Report, dir: &Path) -> anyhow::Result<()> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        crate::output::write_atomic(&path, text.as_bytes(), crate::output::Durability::Synced)
            .with_context(|| format!("writing {}", path.display()))
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::output::remove_stale_temp_files(dir);
    write("verify.json", &report.json()?)?;
    write("verify.md", &report.markdown())?;
    write("verify.svg", &plot::svg(report)?)?;
    write("verify.prom", &report.openmetrics(true))?;
    Ok(())
}

/// A progress bar on stderr, hidden when stderr is not a terminal (CI logs, tests).
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar
}

async fn build_sides(args: &VerifySettings) -> anyhow::Result<(Side, Side)> {
    let knative_probe = Probe::new(
        &args.knative_url,
        args.knative_host.clone(),
        args.expect_body.clone(),
        args.instance_header.clone(),
    )?;
    let nomad_probe = Probe::new(
        &args.nomad_url,
        args.nomad_host.clone(),
        args.expect_body.clone(),
        args.instance_header.clone(),
    )?;
    let knative_forcing = match &args.knative_service {
        Some(svc) => {
            let (namespace, service) = svc
                .split_once('/')
                .with_context(|| format!("--knative-service wants NAMESPACE/NAME, got {svc:?}"))?;
            // The same kubeconfig handling as `convert --from-cluster`.
            let client = crate::knative::cluster::connect(&args.kube)
                .await
                .context("connecting to the Kubernetes cluster")?
                .client;
            Forcing::Kube(KubeTarget {
                client,
                namespace: namespace.to_string(),
                service: service.to_string(),
            })
        }
        None => {
            eprintln!(
                "note: no --knative-service: each Knative cold start waits {} of idle time \
                 (slow; with kube access the verifier watches the pods instead)",
                humantime::format_duration(args.knative_idle_wait)
            );
            Forcing::Idle(args.knative_idle_wait)
        }
    };
    let nomad_forcing = nomad_forcing(args).await?;
    Ok((
        Side::new(
            "knative",
            knative_probe,
            knative_forcing,
            args.cold_timeout,
            args.scale_timeout,
        ),
        Side::new(
            "nomad",
            nomad_probe,
            nomad_forcing,
            args.cold_timeout,
            args.scale_timeout,
        ),
    ))
}

/// How Nomad cold starts are forced: through the API with `--nomad-job` (the job is read here,
/// and stderr says which method its scaling policy allows), else by waiting.
async fn nomad_forcing(args: &VerifySettings) -> anyhow::Result<Forcing> {
    Ok(match &args.nomad_job {
        Some(job) => {
            let client = NomadClient::new(args.nomad.clone())
                .map_err(anyhow::Error::from)
                .context("configuring the Nomad client")?;
            let namespace = client.namespace_for(None);
            let group = args.nomad_group.clone().unwrap_or_else(|| job.clone());
            let job = NomadJob::load(client, namespace, job.clone(), group).await?;
            let job = Arc::new(job);
            let bounds = job
                .bounds
                .map_or("no scaling block".to_string(), |b| b.to_string());
            match args.nomad_cold_start {
                NomadColdStart::Request => {
                    job.require_zero_allowed()?;
                    eprintln!(
                        "note: job {} group {} ({bounds}): each Nomad cold start waits until \
                         the proxy has scaled it to 0 (watched through the API) and times one \
                         request through {}",
                        job.job, job.group, args.nomad_url
                    );
                    Forcing::NomadOnRequest(job)
                }
                NomadColdStart::Api => {
                    let how = match job.method {
                        nomad_job::ColdMethod::Scale => "scales it to 0, then to 1".to_string(),
                        nomad_job::ColdMethod::StopAndRun => format!(
                            "stops the job and registers its spec again (Nomad refuses a scale \
                             below min = {})",
                            job.bounds.map_or(0, |b| b.min)
                        ),
                    };
                    eprintln!(
                        "note: job {} group {} ({bounds}): each Nomad cold start {how}",
                        job.job, job.group
                    );
                    if job.sablier_managed() {
                        eprintln!(
                            "note: Sablier starts job {} on request (sablier.enable): this mode \
                             scales it behind Sablier's back and polls the URL given; the cold \
                             start its users meet is measured with --nomad-cold-start request \
                             and --nomad-url at the proxy",
                            job.job
                        );
                    }
                    Forcing::Nomad(job)
                }
            }
        }
        None => {
            eprintln!(
                "note: no --nomad-job: each Nomad cold start waits {} of idle time (slow)",
                humantime::format_duration(args.nomad_idle_wait)
            );
            Forcing::Idle(args.nomad_idle_wait)
        }
    })
}
