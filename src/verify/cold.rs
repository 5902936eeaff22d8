//! Cold-start sampling: put a platform at zero instances, prove it is there, start it, and time
//! until the first correct response.
//!
//! Nomad through its API (nomad_job.rs chooses how its policy allows): the group is brought to
//! zero (scale to 0, or stop the job), a blocking query on `/v1/job/:id/allocations` waits until
//! none of its allocations is pending or running, the URL is checked to be down, and the clock
//! starts with the scale-up (or the registration of the original spec); the URL is then polled
//! (probe.rs). With `--nomad-cold-start request` the verifier writes nothing: it waits through
//! the API until the proxy in front (Sablier) has brought the group to zero, then times one
//! request through the URL, which the proxy holds while it starts the group. The
//! new allocation (an ID not seen before) is the proof that it was cold; its `CreateTime`, task
//! `StartedAt` and deployment-health timestamp give the breakdown.
//! Knative with kube access: watch the Service's pods (`serving.knative.dev/service=<name>`) until
//! there are none, then send one request, which the activator holds while a pod starts; a pod
//! that exists afterwards is the proof. Without API access: wait an idle period since the last
//! request, then one request (slow, and the only evidence is an instance header, if the function
//! sends one).
//!
//! Not here: statistics (stats.rs) and the order of samples (mod.rs alternates the platforms).

use super::nomad_job::NomadJob;
use super::probe::{Hit, Probe};
use anyhow::Context;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One timed cold start (or an attempt that was discarded).
#[derive(Debug, Clone, Serialize)]
pub struct ColdSample {
    pub platform: &'static str,
    /// Position in the run (0-based, shared by both platforms' sequence).
    pub round: usize,
    /// Scale-up (or request) to first correct response, ms.
    pub total_ms: f64,
    /// Whether the sample counts (it was verifiably cold, or unverifiable in idle-wait mode).
    pub valid: bool,
    /// How coldness was established: nomad-api, kube-api, instance-header, unverified.
    pub evidence: &'static str,
    /// Why it was discarded.
    pub discarded: Option<String>,
    /// Breakdown from the platform API, ms after the scale-up / request (clock of the server).
    pub scheduled_ms: Option<f64>,
    pub started_ms: Option<f64>,
    pub healthy_ms: Option<f64>,
    /// How the first correct response was awaited: `held` (one request, held by the
    /// platform) or `poll` (attempts on the probe's schedule).
    pub timing: &'static str,
    /// Polled samples: the gap between the successful attempt's start and the previous one's,
    /// ms — how much later than a held request the poll may have seen the instance.
    pub resolution_ms: Option<f64>,
    /// Requests sent until the first correct response.
    pub attempts: u32,
    /// Instance header value of the first correct response.
    pub instance: Option<String>,
    /// Time spent bringing the platform to zero before the sample, ms.
    pub scale_down_ms: f64,
}

impl ColdSample {
    fn discard(platform: &'static str, round: usize, why: String) -> ColdSample {
        ColdSample {
            platform,
            round,
            total_ms: f64::NAN,
            valid: false,
            evidence: "none",
            discarded: Some(why),
            scheduled_ms: None,
            started_ms: None,
            healthy_ms: None,
            timing: "none",
            resolution_ms: None,
            attempts: 0,
            instance: None,
            scale_down_ms: 0.0,
        }
    }
}

/// How a platform is brought to zero before each sample.
pub enum Forcing {
    /// Through the Nomad API (scale, or stop and run the job); the URL is polled.
    Nomad(Arc<NomadJob>),
    /// Watched through the Nomad API until the proxy in front (Sablier) has brought the group to
    /// zero; one request through the URL, which the proxy holds while it starts the group, is
    /// timed.
    NomadOnRequest(Arc<NomadJob>),
    /// Watch the Knative Service's pods through the Kubernetes API.
    Kube(KubeTarget),
    /// No API: wait this long after the last request (the platform's idle scale-down).
    Idle(Duration),
}

impl Forcing {
    /// Whether a request to a platform at zero is held until an instance answers.
    fn holds_requests(&self) -> bool {
        !matches!(self, Forcing::Nomad(_))
    }

    /// The Nomad job under test, if this side has one.
    pub fn nomad_job(&self) -> Option<&Arc<NomadJob>> {
        match self {
            Forcing::Nomad(job) | Forcing::NomadOnRequest(job) => Some(job),
            _ => None,
        }
    }
}

pub struct KubeTarget {
    pub client: kube::Client,
    pub namespace: String,
    pub service: String,
}

/// One platform under test.
pub struct Side {
    pub name: &'static str,
    pub probe: Probe,
    pub forcing: Forcing,
    /// Give up on one cold start after this long.
    pub cold_timeout: Duration,
    /// Give up on scaling down after this long.
    pub scale_timeout: Duration,
    seen_instances: HashSet<String>,
    last_activity: Option<Instant>,
}

impl Side {
    pub fn new(
        name: &'static str,
        probe: Probe,
        forcing: Forcing,
        cold_timeout: Duration,
        scale_timeout: Duration,
    ) -> Side {
        Side {
            name,
            probe,
            forcing,
            cold_timeout,
            scale_timeout,
            seen_instances: HashSet::new(),
            last_activity: None,
        }
    }

    /// Take one cold-start sample. Errors are returned as discarded samples by the caller.
    pub async fn cold_sample(&mut self, round: usize) -> anyhow::Result<ColdSample> {
        let down_started = Instant::now();
        let mut sample = match &self.forcing {
            Forcing::Nomad(job) => {
                let before = job.to_zero(self.scale_timeout).await?;
                // The API can say "complete" while the old task is still exiting or a proxy
                // still routes to it; a sample must not start before the URL stops answering.
                self.probe
                    .until_down(down_started + self.scale_timeout)
                    .await?;
                let scale_down_ms = ms(down_started.elapsed());
                let wall0 = now_nanos();
                let t0 = Instant::now();
                job.start(self.scale_timeout).await?;
                let hit = self.probe.poll(t0, t0 + self.cold_timeout).await?;
                let mut s = self.sample_from(round, t0, &hit, scale_down_ms, "poll");
                nomad_evidence(job, &before, wall0, &mut s).await?;
                s
            }
            Forcing::NomadOnRequest(job) => {
                // No check that the URL is down: a request would start the group again.
                let before = job.wait_until_idle(self.scale_timeout).await?;
                let scale_down_ms = ms(down_started.elapsed());
                let wall0 = now_nanos();
                let t0 = Instant::now();
                let hit = self.probe.held(t0 + self.cold_timeout).await?;
                let mut s = self.sample_from(round, t0, &hit, scale_down_ms, "held");
                nomad_evidence(job, &before, wall0, &mut s).await?;
                s
            }
            Forcing::Kube(k) => {
                kube_wait_no_pods(k, self.scale_timeout).await?;
                let scale_down_ms = ms(down_started.elapsed());
                let wall0 = now_nanos();
                let t0 = Instant::now();
                let hit = self.probe.held(t0 + self.cold_timeout).await?;
                let mut s = self.sample_from(round, t0, &hit, scale_down_ms, "held");
                kube_evidence(k, wall0, &mut s).await?;
                s
            }
            Forcing::Idle(idle) => {
                if let Some(last) = self.last_activity {
                    tokio::time::sleep_until((last + *idle).into()).await;
                } else {
                    tokio::time::sleep(*idle).await;
                }
                let scale_down_ms = ms(down_started.elapsed());
                let t0 = Instant::now();
                let hit = self.probe.held(t0 + self.cold_timeout).await?;
                let mut s = self.sample_from(round, t0, &hit, scale_down_ms, "held");
                s.evidence = "unverified";
                s
            }
        };
        self.last_activity = Some(Instant::now());
        // An instance header is extra evidence on any platform: a cold start must be served by
        // an instance never seen before.
        if let Some(instance) = &sample.instance {
            if !self.seen_instances.insert(instance.clone()) {
                sample.valid = false;
                sample.discarded = Some(format!("served by an instance seen before ({instance})"));
            } else if sample.evidence == "unverified" {
                sample.evidence = "instance-header";
            }
        }
        Ok(sample)
    }

    fn sample_from(
        &self,
        round: usize,
        t0: Instant,
        hit: &Hit,
        scale_down_ms: f64,
        timing: &'static str,
    ) -> ColdSample {
        ColdSample {
            platform: self.name,
            round,
            total_ms: ms(hit.at.saturating_duration_since(t0)),
            valid: true,
            evidence: "none",
            discarded: None,
            scheduled_ms: None,
            started_ms: None,
            healthy_ms: None,
            timing,
            resolution_ms: hit.resolution.map(ms),
            attempts: hit.attempts,
            instance: hit.instance.clone(),
            scale_down_ms,
        }
    }

    /// A discarded sample for an attempt that failed outright.
    pub fn failed(&mut self, round: usize, err: &anyhow::Error) -> ColdSample {
        self.last_activity = Some(Instant::now());
        ColdSample::discard(self.name, round, format!("{err:#}"))
    }

    /// Make sure the platform serves (before warm load): a Nomad group left at zero by the
    /// API method is started; a platform that holds requests is woken by one.
    pub async fn ensure_up(&mut self) -> anyhow::Result<()> {
        if let Forcing::Nomad(job) = &self.forcing {
            job.ensure_running(self.scale_timeout).await?;
        }
        let now = Instant::now();
        if self.forcing.holds_requests() {
            self.probe.held(now + self.cold_timeout).await?;
        } else {
            self.probe.poll(now, now + self.cold_timeout).await?;
        }
        self.last_activity = Some(Instant::now());
        Ok(())
    }

    /// Note load sent outside cold sampling (idle waits count from the last request).
    pub fn touched(&mut self) {
        self.last_activity = Some(Instant::now());
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// After the first correct response: a new allocation of the group must exist.
async fn nomad_evidence(
    job: &NomadJob,
    before: &HashSet<String>,
    wall0: i128,
    s: &mut ColdSample,
) -> anyhow::Result<()> {
    s.evidence = "nomad-api";
    match job.new_allocation(before, wall0).await? {
        None => {
            s.valid = false;
            s.discarded = Some("no new allocation appeared".to_string());
        }
        Some(b) => {
            s.scheduled_ms = b.scheduled_ms;
            s.started_ms = b.started_ms;
            s.healthy_ms = b.healthy_ms;
        }
    }
    Ok(())
}

fn pod_selector(k: &KubeTarget) -> String {
    format!("serving.knative.dev/service={}", k.service)
}

/// Watch the Service's pods until there are none.
async fn kube_wait_no_pods(k: &KubeTarget, timeout: Duration) -> anyhow::Result<()> {
    // A bare Client does not say where it points; errors then name "the client's API server".
    let origin = crate::knative::cluster::ClusterOrigin::default();
    let selector = pod_selector(k);
    let wait = super::pods::wait_for_zero_pods(k.client.clone(), &origin, &k.namespace, &selector);
    tokio::time::timeout(timeout, wait)
        .await
        .with_context(|| {
            format!(
                "pods of Knative Service {}/{} still present after {timeout:?} \
                 (is scale to zero enabled? see docs/verify.md)",
                k.namespace, k.service
            )
        })?
        .map_err(|e| anyhow::anyhow!("watching Knative pods: {e}"))
}

/// After the first response: the pod that now exists is the new one (there were none before).
async fn kube_evidence(k: &KubeTarget, wall0: i128, s: &mut ColdSample) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Pod;
    let api: kube::Api<Pod> = kube::Api::namespaced(k.client.clone(), &k.namespace);
    let pods = api
        .list(&kube::api::ListParams::default().labels(&pod_selector(k)))
        .await
        .context("listing Knative pods")?;
    s.evidence = "kube-api";
    let Some(pod) = pods.items.first() else {
        s.valid = false;
        s.discarded = Some("no pod found after the response".to_string());
        return Ok(());
    };
    // Kubernetes timestamps have one-second resolution: the breakdown is coarse.
    let rel = |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time| {
        (t.0.as_nanosecond() - wall0) as f64 / 1e6
    };
    if let Some(status) = &pod.status {
        let cond = |kind: &str| {
            status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == kind)
                .and_then(|c| c.last_transition_time.as_ref())
                .map(rel)
        };
        s.scheduled_ms = cond("PodScheduled");
        s.healthy_ms = cond("Ready");
        s.started_ms = status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
            .map(rel)
            .reduce(f64::min);
    }
    Ok(())
}
