//! Cold-start sampling: put a platform at zero instances, prove it is there, start one request's
//! worth of capacity, and time until the first correct response.
//!
//! Nomad: `POST /v1/job/:id/scale` with Count 0, a blocking query on `/v1/job/:id/allocations`
//! until no allocation of the group is pending or running, then Count 1 and poll the URL until a
//! correct answer. The new allocation (an ID not seen before) is the proof that it was cold; its
//! `CreateTime`, task `StartedAt` and deployment-health timestamp give the breakdown.
//! Knative with kube access: watch the Service's pods (`serving.knative.dev/service=<name>`) until
//! there are none, then send one request, which the activator holds while a pod starts; a pod
//! that exists afterwards is the proof. Without API access: wait an idle period since the last
//! request (slow, and the only evidence is an instance header, if the function sends one).
//!
//! Not here: statistics (stats.rs) and the order of samples (mod.rs alternates the platforms).

use crate::nomad::client::{NomadClient, QueryOptions};
use anyhow::{Context, bail};
use serde::Serialize;
use std::collections::HashSet;
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
            attempts: 0,
            instance: None,
            scale_down_ms: 0.0,
        }
    }
}

/// Sends requests until one is "correct": a 2xx status and, if asked, a body containing a string.
#[derive(Debug, Clone)]
pub struct Probe {
    client: reqwest::Client,
    pub url: String,
    host: Option<String>,
    expect_body: Option<String>,
    instance_header: Option<String>,
}

/// A correct response.
#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub attempts: u32,
    pub instance: Option<String>,
}

impl Probe {
    pub fn new(
        url: &str,
        host: Option<String>,
        expect_body: Option<String>,
        instance_header: Option<String>,
    ) -> anyhow::Result<Probe> {
        crate::crypto::install_crypto_provider();
        // No connection reuse: each attempt must reach whatever instance is there now, and a
        // pooled connection to a killed instance would only add a failed attempt.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .context("building the probe HTTP client")?;
        Ok(Probe {
            client,
            url: url.to_string(),
            host,
            expect_body,
            instance_header,
        })
    }

    /// Poll until the URL stops giving correct responses (refused, timed out, or not 2xx), or
    /// fail at `deadline`. Only for platforms that do not start an instance on request.
    pub async fn until_down(&self, deadline: Instant) -> anyhow::Result<()> {
        let mut pause = Duration::from_millis(2);
        loop {
            let mut req = self.client.get(&self.url).timeout(Duration::from_secs(1));
            if let Some(h) = &self.host {
                req = req.header(reqwest::header::HOST, h);
            }
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {}
                _ => return Ok(()),
            }
            if Instant::now() >= deadline {
                bail!("{} still answers after scaling to zero", self.url);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(Duration::from_millis(20));
        }
    }

    /// Poll until a correct response or `deadline`. The pause between attempts starts at 2 ms
    /// and grows to 20 ms: short enough not to inflate a cold start measurably, long enough not
    /// to flood a starting instance.
    pub async fn until_correct(&self, deadline: Instant) -> anyhow::Result<Hit> {
        let mut attempts = 0u32;
        let mut pause = Duration::from_millis(2);
        let mut last_problem = String::from("no attempt made");
        loop {
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "{} gave no correct response in time ({attempts} attempts; last: {last_problem})",
                    self.url
                );
            }
            attempts += 1;
            let mut req = self.client.get(&self.url).timeout(deadline - now);
            if let Some(h) = &self.host {
                req = req.header(reqwest::header::HOST, h);
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let instance = self.instance_header.as_ref().and_then(|name| {
                        resp.headers()
                            .get(name.as_str())
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    });
                    let body = resp.text().await.unwrap_or_default();
                    let at = Instant::now();
                    let body_ok = self
                        .expect_body
                        .as_ref()
                        .is_none_or(|want| body.contains(want.as_str()));
                    if status.is_success() && body_ok {
                        return Ok(Hit {
                            at,
                            attempts,
                            instance,
                        });
                    }
                    last_problem = format!("HTTP {status}");
                }
                Err(e) => last_problem = format!("{e}"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(Duration::from_millis(20));
        }
    }
}

/// How a platform is brought to zero before each sample.
pub enum Forcing {
    /// Scale through the Nomad API.
    Nomad(NomadTarget),
    /// Watch the Knative Service's pods through the Kubernetes API.
    Kube(KubeTarget),
    /// No API: wait this long after the last request (the platform's idle scale-down).
    Idle(Duration),
}

pub struct NomadTarget {
    pub client: NomadClient,
    pub namespace: String,
    pub job: String,
    pub group: String,
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
            Forcing::Nomad(t) => {
                let before = nomad_scale_to_zero(t, self.scale_timeout).await?;
                // The API can say "complete" while the old task is still exiting or a proxy
                // still routes to it; a sample must not start before the URL stops answering.
                self.probe
                    .until_down(down_started + self.scale_timeout)
                    .await?;
                let scale_down_ms = ms(down_started.elapsed());
                let wall0 = now_nanos();
                let t0 = Instant::now();
                scale_retrying(t, 1, self.scale_timeout).await?;
                let hit = self.probe.until_correct(t0 + self.cold_timeout).await?;
                let mut s = self.sample_from(round, t0, &hit, scale_down_ms);
                nomad_evidence(t, &before, wall0, &mut s).await?;
                s
            }
            Forcing::Kube(k) => {
                kube_wait_no_pods(k, self.scale_timeout).await?;
                let scale_down_ms = ms(down_started.elapsed());
                let wall0 = now_nanos();
                let t0 = Instant::now();
                let hit = self.probe.until_correct(t0 + self.cold_timeout).await?;
                let mut s = self.sample_from(round, t0, &hit, scale_down_ms);
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
                let hit = self.probe.until_correct(t0 + self.cold_timeout).await?;
                let mut s = self.sample_from(round, t0, &hit, scale_down_ms);
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

    fn sample_from(&self, round: usize, t0: Instant, hit: &Hit, scale_down_ms: f64) -> ColdSample {
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

    /// Make sure the platform serves (before warm load): Nomad is scaled to 1 if it is at zero.
    pub async fn ensure_up(&mut self) -> anyhow::Result<()> {
        if let Forcing::Nomad(t) = &self.forcing {
            let status = t
                .client
                .scale_status(&t.namespace, &t.job)
                .await
                .with_context(|| format!("reading the scale status of {}", t.job))?;
            let desired = status
                .value
                .task_groups
                .get(&t.group)
                .map_or(0, |g| g.desired);
            if desired == 0 {
                scale_retrying(t, 1, self.scale_timeout).await?;
            }
        }
        self.probe
            .until_correct(Instant::now() + self.cold_timeout)
            .await?;
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

/// The group's desired count now, to restore it after measuring.
pub async fn desired_count(t: &NomadTarget) -> anyhow::Result<i64> {
    let status = t
        .client
        .scale_status(&t.namespace, &t.job)
        .await
        .map_err(anyhow::Error::from)?;
    let group = status
        .value
        .task_groups
        .get(&t.group)
        .with_context(|| format!("job {} has no group {}", t.job, t.group))?;
    Ok(group.desired as i64)
}

/// Scale to `count`, waiting out an active deployment (Nomad refuses to scale during one, and a
/// deployment stays active for the group's min_healthy_time after a scale-up).
pub async fn scale_retrying(t: &NomadTarget, count: i64, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut index = 0u64;
    loop {
        match t
            .client
            .scale(
                &t.namespace,
                &t.job,
                &t.group,
                Some(count),
                "knative2nomad verify: forcing a cold start",
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if format!("{e}").contains("active deployment") => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    bail!("a deployment of {} stayed active: {e}", t.job);
                }
                // Block until the deployment changes instead of polling.
                let d = t
                    .client
                    .latest_deployment(
                        &t.namespace,
                        &t.job,
                        QueryOptions {
                            index,
                            wait: Some(left.min(Duration::from_secs(30))),
                        },
                    )
                    .await
                    .with_context(|| format!("watching the deployment of {}", t.job))?;
                index = d.index;
            }
            Err(e) => {
                return Err(anyhow::Error::from(e))
                    .with_context(|| format!("scaling {}/{} to {count}", t.job, t.group));
            }
        }
    }
}

/// Scale the group to 0 and block until none of its allocations is pending or running.
/// Returns the IDs of every allocation seen, so a later one can be recognised as new.
async fn nomad_scale_to_zero(
    t: &NomadTarget,
    timeout: Duration,
) -> anyhow::Result<HashSet<String>> {
    let deadline = Instant::now() + timeout;
    scale_retrying(t, 0, timeout).await?;
    let mut index = 0u64;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let allocs = t
            .client
            .allocations(
                &t.namespace,
                &t.job,
                QueryOptions {
                    index,
                    wait: Some(left.clamp(Duration::from_millis(10), Duration::from_secs(30))),
                },
            )
            .await
            .with_context(|| format!("listing the allocations of {}", t.job))?;
        let live = allocs
            .value
            .iter()
            .filter(|a| a.task_group == t.group)
            .filter(|a| a.client_status == "running" || a.client_status == "pending")
            .count();
        if live == 0 {
            return Ok(allocs.value.into_iter().map(|a| a.id).collect());
        }
        if left.is_zero() {
            bail!(
                "{live} allocation(s) of {}/{} still running after {timeout:?}",
                t.job,
                t.group
            );
        }
        index = allocs.index;
    }
}

/// Find the allocation that served the cold start and read its timestamps.
async fn nomad_evidence(
    t: &NomadTarget,
    before: &HashSet<String>,
    wall0: i128,
    s: &mut ColdSample,
) -> anyhow::Result<()> {
    let allocs = t
        .client
        .allocations(&t.namespace, &t.job, QueryOptions::default())
        .await
        .with_context(|| format!("listing the allocations of {}", t.job))?;
    let fresh: Vec<_> = allocs
        .value
        .iter()
        .filter(|a| a.task_group == t.group && !before.contains(&a.id))
        .filter(|a| a.desired_status == "run")
        .collect();
    s.evidence = "nomad-api";
    let Some(alloc) = fresh.first() else {
        s.valid = false;
        s.discarded = Some("no new allocation appeared".to_string());
        return Ok(());
    };
    // The breakdown is best effort: a missing field leaves that step empty.
    if let Ok(full) = t.client.allocation(&alloc.id).await {
        let v = &full.value;
        let rel = |ns: Option<i128>| ns.map(|n| (n - wall0) as f64 / 1e6);
        s.scheduled_ms = rel(v["CreateTime"].as_i64().map(i128::from));
        s.healthy_ms = rel(v["DeploymentStatus"]["Timestamp"]
            .as_i64()
            .map(i128::from)
            .filter(|n| *n > 0)
            .or_else(|| {
                v["DeploymentStatus"]["Timestamp"]
                    .as_str()
                    .and_then(parse_rfc3339_nanos)
            }));
        s.started_ms = rel(v["TaskStates"].as_object().and_then(|states| {
            states
                .values()
                .filter_map(|st| st["StartedAt"].as_str().and_then(parse_rfc3339_nanos))
                .min()
        }));
    }
    Ok(())
}

fn parse_rfc3339_nanos(s: &str) -> Option<i128> {
    let t = humantime::parse_rfc3339_weak(s).ok()?;
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    // Nomad writes the zero time for steps that did not happen.
    (d.as_secs() > 0).then_some(d.as_nanos() as i128)
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
