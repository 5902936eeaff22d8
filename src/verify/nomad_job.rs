//! The Nomad job whose group `verify` measures: reading its scaling policy, bringing the group to
//! zero and starting it again in a way Nomad accepts, and putting the job back as it was found,
//! whatever ends the run.
//!
//! Nomad refuses `Job.Scale` below the group's `scaling { min }` or above its `max`, enabled or
//! not, `PolicyOverride` or not (nomad/job_endpoint.go Job.Scale), and every job `convert`
//! writes has `min ≥ 1` unless it scales to zero through Sablier. So the method follows the
//! policy read from `GET /v1/job/:id` before anything is written:
//! - **scale** (no scaling block, or one whose bounds allow 0 and 1): scale the group to 0, then
//!   to 1; at the end, back to the count it had;
//! - **stop and run** (the policy forbids 0): stop the job (`DELETE /v1/job/:id`), then register
//!   the job as it was read before the run, as `nomad job start` does (command/job_start.go) —
//!   not the read-back of the stopped job, which has `Stop` set and its scaling policies
//!   disabled. Same spec, count and policy; Nomad gives it a new version.
//!
//! A scale the policy forbids is never sent; one Nomad refuses anyway (the policy changed under
//! the run) ends the run without a retry ([`Refused`]). Every write goes through one lock, and the
//! restore takes it for good: after a restore (on a signal, an error or the normal end) nothing
//! else is written.
//!
//! Not here: timing (probe.rs), the order of samples (mod.rs), signals (signals.rs).

use crate::nomad::client::{AllocationStub, Indexed, NomadClient, NomadError, QueryOptions};
use anyhow::{Context, bail};
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The bounds of a group's `scaling` block as Nomad stored them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingBounds {
    pub min: i64,
    /// None when the stored policy has none (Nomad's validation requires one).
    pub max: Option<i64>,
}

impl ScalingBounds {
    /// Read `TaskGroups[].Scaling`; `None` when the group has no scaling block.
    fn of_group(group: &Value, count: i64) -> Option<ScalingBounds> {
        let scaling = group.get("Scaling").filter(|s| s.is_object())?;
        Some(ScalingBounds {
            // Absent, Nomad takes the group's count (scaling_endpoint.go
            // ApiScalingPolicyToStructs); a stored job always has it.
            min: scaling["Min"].as_i64().unwrap_or(count),
            max: scaling["Max"].as_i64().filter(|m| *m >= 0),
        })
    }

    pub fn allows(&self, count: i64) -> bool {
        count >= self.min && self.max.is_none_or(|max| count <= max)
    }
}

impl std::fmt::Display for ScalingBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.max {
            Some(max) => write!(f, "scaling {{ min = {}, max = {max} }}", self.min),
            None => write!(f, "scaling {{ min = {} }}", self.min),
        }
    }
}

/// How a cold start of the group is forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColdMethod {
    /// `Job.Scale` to 0, then to 1.
    Scale,
    /// Stop the job, then register the spec read before the run.
    StopAndRun,
}

impl ColdMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ColdMethod::Scale => "scale",
            ColdMethod::StopAndRun => "stop-and-run",
        }
    }
}

/// Nomad refused a write that must not be retried (a scale outside the group's scaling bounds,
/// a register over someone else's change): the run ends.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// What the verifier has written, guarded by one lock.
#[derive(Debug, Default)]
struct Writes {
    /// Set by the restore: nothing is written after it.
    closed: bool,
    /// A scale was sent: the group's count may differ from the original.
    scaled: bool,
    /// A stop was sent and the original spec not registered since.
    stopped: bool,
    /// The job's JobModifyIndex that the verifier's own stop produced.
    stopped_at: Option<u64>,
    /// The original spec was registered again at least once.
    ran: bool,
}

/// A job's group under test.
pub struct NomadJob {
    client: NomadClient,
    pub namespace: String,
    pub job: String,
    pub group: String,
    /// The job exactly as `GET /v1/job/:id` returned it before the run.
    original: Value,
    /// The group's count before the run.
    pub count: i64,
    pub bounds: Option<ScalingBounds>,
    pub method: ColdMethod,
    writes: tokio::sync::Mutex<Writes>,
}

impl NomadJob {
    /// Read the job and choose the method its group's scaling policy allows.
    pub async fn load(
        client: NomadClient,
        namespace: String,
        job: String,
        group: String,
    ) -> anyhow::Result<NomadJob> {
        let original = client
            .job(&namespace, &job)
            .await
            .with_context(|| format!("reading job {job} in namespace {namespace}"))?
            .value;
        if original["Stop"] == true {
            bail!("job {job} is stopped; run it before measuring it");
        }
        let Some(found) = group_of(&original, &group) else {
            let names: Vec<&str> = original["TaskGroups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g["Name"].as_str())
                .collect();
            bail!(
                "job {job} has no group {group:?} (its groups: {}); choose one with --nomad-group",
                names.join(", ")
            );
        };
        let count = found["Count"]
            .as_i64()
            .with_context(|| format!("job {job} group {group} has no count"))?;
        let bounds = ScalingBounds::of_group(found, count);
        let method = match bounds {
            Some(b) if !b.allows(0) => ColdMethod::StopAndRun,
            Some(b) if !b.allows(1) => bail!(
                "job {job} group {group} cannot run an instance: its {b} allows no count of 1"
            ),
            _ => ColdMethod::Scale,
        };
        Ok(NomadJob {
            client,
            namespace,
            job,
            group,
            original,
            count,
            bounds,
            method,
            writes: tokio::sync::Mutex::default(),
        })
    }

    /// Whether Sablier starts this group (`sablier.enable = "true"` in the group's meta or the
    /// job's, as Sablier's Nomad provider reads it).
    pub fn sablier_managed(&self) -> bool {
        let group = group_of(&self.original, &self.group);
        [group.map(|g| &g["Meta"]), Some(&self.original["Meta"])]
            .into_iter()
            .flatten()
            .any(|meta| meta["sablier.enable"] == "true")
    }

    /// For request-driven cold starts: the group must be able to sit at 0 for the proxy to
    /// start it.
    pub fn require_zero_allowed(&self) -> anyhow::Result<()> {
        match self.bounds {
            Some(b) if !b.allows(0) => bail!(
                "request-driven cold starts need job {} group {} at count 0, and its {b} \
                 forbids that (a proxy such as Sablier could not scale it to 0 either)",
                self.job,
                self.group
            ),
            _ => Ok(()),
        }
    }

    /// For request-driven cold starts: wait, without writing anything, until the proxy in front
    /// of the group has brought it to count 0 and none of its allocations is pending or running.
    /// Returns the IDs of every allocation of the job seen then.
    ///
    /// Why not scale it to 0 here: Sablier remembers an instance it found ready for the rest of
    /// its session and answers from that memory without asking Nomad again
    /// (sablierapp/sablier pkg/sablier/instance_request.go), so a group scaled to 0 behind its
    /// back is "ready" to Sablier, and the next request goes to no instance at all. Sablier
    /// scales the group to 0 itself when the session ends (instance_expired.go).
    pub async fn wait_until_idle(&self, timeout: Duration) -> anyhow::Result<HashSet<String>> {
        let deadline = Instant::now() + timeout;
        let mut index = 0u64;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (allocs, live) = self.live_allocations(index, left).await?;
            if live == 0 && self.desired_count().await? == 0 {
                return Ok(allocs.value.into_iter().map(|a| a.id).collect());
            }
            if left.is_zero() {
                bail!(
                    "job {} group {} did not come back to count 0 within {timeout:?}: with \
                     --nomad-cold-start request the proxy in front of it (Sablier) scales it \
                     down when its session ends; give the benchmarked Service a short idle time \
                     (Knative's autoscaling.knative.dev/window, converted into the session)",
                    self.job,
                    self.group
                );
            }
            index = allocs.index;
        }
    }

    /// Bring the group to zero and wait until none of its allocations is pending or running.
    /// Returns the IDs of every allocation of the job seen then, so a later one is new.
    pub async fn to_zero(&self, timeout: Duration) -> anyhow::Result<HashSet<String>> {
        let deadline = Instant::now() + timeout;
        match self.method {
            ColdMethod::Scale => self.scale(0, deadline).await?,
            ColdMethod::StopAndRun => self.stop().await?,
        }
        self.wait_for_no_live_allocations(deadline, timeout).await
    }

    /// Start the group again (the clock runs from just before this call).
    pub async fn start(&self, timeout: Duration) -> anyhow::Result<()> {
        match self.method {
            ColdMethod::Scale => self.scale(1, Instant::now() + timeout).await,
            ColdMethod::StopAndRun => self.run_original().await,
        }
    }

    /// Make sure an instance runs (before warm load): a group left at 0 is started.
    pub async fn ensure_running(&self, timeout: Duration) -> anyhow::Result<()> {
        match self.method {
            ColdMethod::Scale => {
                if self.desired_count().await? == 0 {
                    self.scale(1, Instant::now() + timeout).await?;
                }
                Ok(())
            }
            ColdMethod::StopAndRun => {
                if self.writes.lock().await.stopped {
                    self.run_original().await?;
                }
                Ok(())
            }
        }
    }

    /// The group's desired count now (`GET /v1/job/:id/scale`).
    pub async fn desired_count(&self) -> anyhow::Result<i64> {
        let status = self
            .client
            .scale_status(&self.namespace, &self.job)
            .await
            .with_context(|| format!("reading the scale status of job {}", self.job))?;
        let group = status
            .value
            .task_groups
            .get(&self.group)
            .with_context(|| format!("job {} has no group {}", self.job, self.group))?;
        if status.value.job_stopped {
            return Ok(0);
        }
        Ok(group.desired as i64)
    }

    /// Put the job back as it was found, once: the group at its original count, and after a
    /// stop, the original spec registered again. Afterwards nothing more is written. Returns
    /// the message for stderr, or None when an earlier call already restored it.
    pub async fn restore(&self, timeout: Duration) -> anyhow::Result<Option<String>> {
        let mut writes = self.writes.lock().await;
        if writes.closed {
            return Ok(None);
        }
        writes.closed = true;
        // (`stopped_at` is only ever set with `stopped`.)
        if !writes.scaled && !writes.stopped && !writes.ran {
            return Ok(Some(format!(
                "job {} group {} was not changed (count {})",
                self.job, self.group, self.count
            )));
        }
        let mut how = "";
        if writes.stopped {
            self.register_original(&mut writes).await?;
            how = " (the job's original spec runs again)";
        }
        if writes.scaled && self.desired_count().await? != self.count {
            self.send_scale(self.count, Instant::now() + timeout)
                .await?;
        }
        let now = self.desired_count().await?;
        if now != self.count {
            bail!(
                "job {} group {} is at count {now}, not {}",
                self.job,
                self.group,
                self.count
            );
        }
        Ok(Some(format!(
            "restored {} group {} to count {}{how}",
            self.job, self.group, self.count
        )))
    }

    /// [`restore`](Self::restore), saying on stderr how it went (the run's end and the signal
    /// handler both put the job back this way); false when the job could not be put back.
    pub async fn restore_and_report(&self, timeout: Duration) -> bool {
        match self.restore(timeout).await {
            Ok(message) => {
                // None: the other caller restored it first and said so.
                if let Some(message) = message {
                    eprintln!("{message}");
                }
                true
            }
            Err(e) => {
                eprintln!(
                    "error: could not restore job {} group {} to count {}: {e:#}",
                    self.job, self.group, self.count
                );
                false
            }
        }
    }

    async fn scale(&self, count: i64, deadline: Instant) -> anyhow::Result<()> {
        if let Some(b) = self.bounds
            && !b.allows(count)
        {
            // The method was chosen so that this never happens; a request Nomad must refuse
            // is not sent.
            bail!(
                "not scaling job {} group {} to {count}: its {b} forbids it",
                self.job,
                self.group
            );
        }
        let mut writes = self.writes.lock().await;
        if writes.closed {
            bail!("job {} was already put back; not scaling it", self.job);
        }
        writes.scaled = true;
        // The lock stays held while the scale is sent (and while a deployment is waited out),
        // so a restore cannot run between the two.
        let result = self.send_scale(count, deadline).await;
        drop(writes);
        result
    }

    /// Scale to `count`, waiting out an active deployment (Nomad refuses to scale during one,
    /// and a deployment stays active for the group's min_healthy_time after a scale-up). The
    /// caller holds the write lock.
    async fn send_scale(&self, count: i64, deadline: Instant) -> anyhow::Result<()> {
        let mut index = 0u64;
        loop {
            let result = self
                .client
                .scale(
                    &self.namespace,
                    &self.job,
                    &self.group,
                    Some(count),
                    "knative2nomad verify: forcing a cold start",
                )
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let body = err.body().unwrap_or_default();
            if body.contains("scaling policy minimum") || body.contains("scaling policy maximum") {
                return Err(self.refused(count, &err).await.into());
            }
            if !body.contains("active deployment") {
                return Err(anyhow::Error::from(err)).with_context(|| {
                    format!("scaling job {} group {} to {count}", self.job, self.group)
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("a deployment of job {} stayed active: {err}", self.job);
            }
            // Block until the deployment changes instead of polling.
            let d = self
                .client
                .latest_deployment(
                    &self.namespace,
                    &self.job,
                    QueryOptions {
                        index,
                        wait: Some(left.min(Duration::from_secs(30))),
                    },
                )
                .await
                .with_context(|| format!("watching the deployment of job {}", self.job))?;
            index = d.index;
        }
    }

    /// The message for a scale Nomad refused on the group's bounds, naming them as they are now.
    async fn refused(&self, count: i64, err: &NomadError) -> Refused {
        let now = self
            .client
            .job(&self.namespace, &self.job)
            .await
            .ok()
            .and_then(|j| ScalingBounds::of_group(group_of(&j.value, &self.group)?, self.count));
        let bounds = match (now, self.bounds) {
            (Some(now), Some(then)) if now != then => {
                format!("{now} (it was {then} when the run started)")
            }
            (Some(now), _) => now.to_string(),
            (None, Some(then)) => format!("{then} when the run started"),
            (None, None) => "no scaling block when the run started".to_string(),
        };
        Refused(format!(
            "Nomad refused to scale job {} group {} to {count}: {}; the group's {bounds}. \
             Not retried: Nomad refuses any count outside scaling {{ min, max }}",
            self.job,
            self.group,
            err.body().unwrap_or_default().trim()
        ))
    }

    async fn stop(&self) -> anyhow::Result<()> {
        let mut writes = self.writes.lock().await;
        if writes.closed {
            bail!("job {} was already put back; not stopping it", self.job);
        }
        writes.stopped = true;
        let reply = self
            .client
            .stop_now(&self.namespace, &self.job)
            .await
            .with_context(|| format!("stopping job {}", self.job))?;
        writes.stopped_at = Some(reply.value.job_modify_index);
        Ok(())
    }

    async fn run_original(&self) -> anyhow::Result<()> {
        let mut writes = self.writes.lock().await;
        if writes.closed {
            bail!("job {} was already put back; not registering it", self.job);
        }
        self.register_original(&mut writes).await
    }

    /// Register the job as read before the run, enforcing the index of the verifier's own
    /// stop: a job someone else changed since is left as they left it.
    async fn register_original(&self, writes: &mut Writes) -> anyhow::Result<()> {
        let current = self
            .client
            .job(&self.namespace, &self.job)
            .await
            .with_context(|| format!("reading job {}", self.job))?
            .value;
        let index = current["JobModifyIndex"].as_u64().unwrap_or(0);
        if let Some(ours) = writes.stopped_at
            && ours != index
        {
            bail!(
                "job {} changed after the verifier stopped it (JobModifyIndex {ours} → {index}); \
                 not registering its original spec over that change",
                self.job
            );
        }
        if current["Stop"] == true {
            let registered = self
                .client
                .register_json_once(&self.namespace, &self.original, Some(index))
                .await;
            match registered {
                Ok(_) => {}
                // Someone wrote the job between the read and the register: theirs stands, and
                // measuring a job that others change makes no sense.
                Err(e)
                    if e.body()
                        .is_some_and(|b| b.contains("Enforcing job modify index")) =>
                {
                    return Err(Refused(format!(
                        "job {} changed while the verifier had it stopped, so its original spec \
                         was not registered over that change: {}",
                        self.job,
                        e.body().unwrap_or_default().trim()
                    ))
                    .into());
                }
                Err(e) => {
                    return Err(anyhow::Error::from(e))
                        .with_context(|| format!("registering job {}'s original spec", self.job));
                }
            }
        }
        writes.stopped = false;
        writes.stopped_at = None;
        writes.ran = true;
        Ok(())
    }

    async fn wait_for_no_live_allocations(
        &self,
        deadline: Instant,
        timeout: Duration,
    ) -> anyhow::Result<HashSet<String>> {
        let mut index = 0u64;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (allocs, live) = self.live_allocations(index, left).await?;
            if live == 0 {
                return Ok(allocs.value.into_iter().map(|a| a.id).collect());
            }
            if left.is_zero() {
                bail!(
                    "{live} allocation(s) of job {} group {} still running after {timeout:?}",
                    self.job,
                    self.group
                );
            }
            index = allocs.index;
        }
    }

    /// The job's allocations, after a blocking query from `index` of at most `left` (at least
    /// 10 ms, at most 30 s per query), and how many of the group's are pending or running.
    async fn live_allocations(
        &self,
        index: u64,
        left: Duration,
    ) -> anyhow::Result<(Indexed<Vec<AllocationStub>>, usize)> {
        let allocs = self
            .client
            .allocations(
                &self.namespace,
                &self.job,
                QueryOptions {
                    index,
                    wait: Some(left.clamp(Duration::from_millis(10), Duration::from_secs(30))),
                },
            )
            .await
            .with_context(|| format!("listing the allocations of job {}", self.job))?;
        let live = allocs
            .value
            .iter()
            .filter(|a| a.task_group == self.group)
            .filter(|a| a.client_status == "running" || a.client_status == "pending")
            .count();
        Ok((allocs, live))
    }

    /// After the first correct response: the allocation of the group not seen before, with
    /// its timestamps relative to `wall0` (Unix ns). None when no new allocation appeared.
    pub async fn new_allocation(
        &self,
        before: &HashSet<String>,
        wall0: i128,
    ) -> anyhow::Result<Option<Breakdown>> {
        let allocs = self
            .client
            .allocations(&self.namespace, &self.job, QueryOptions::default())
            .await
            .with_context(|| format!("listing the allocations of job {}", self.job))?;
        let Some(alloc) = allocs
            .value
            .iter()
            .filter(|a| a.task_group == self.group && !before.contains(&a.id))
            .find(|a| a.desired_status == "run")
        else {
            return Ok(None);
        };
        let mut out = Breakdown::default();
        // The breakdown is best effort: a missing field leaves that step empty.
        if let Ok(full) = self.client.allocation(&alloc.id).await {
            let v = &full.value;
            let rel = |ns: Option<i128>| ns.map(|n| (n - wall0) as f64 / 1e6);
            out.scheduled_ms = rel(v["CreateTime"].as_i64().map(i128::from));
            out.healthy_ms = rel(v["DeploymentStatus"]["Timestamp"]
                .as_i64()
                .map(i128::from)
                .filter(|n| *n > 0)
                .or_else(|| {
                    v["DeploymentStatus"]["Timestamp"]
                        .as_str()
                        .and_then(parse_rfc3339_nanos)
                }));
            out.started_ms = rel(v["TaskStates"].as_object().and_then(|states| {
                states
                    .values()
                    .filter_map(|st| st["StartedAt"].as_str().and_then(parse_rfc3339_nanos))
                    .min()
            }));
        }
        Ok(Some(out))
    }
}

/// When the new allocation was scheduled, its task started and it became healthy, in ms after
/// the clock started (server clock).
#[derive(Debug, Default, Clone, Copy)]
pub struct Breakdown {
    pub scheduled_ms: Option<f64>,
    pub started_ms: Option<f64>,
    pub healthy_ms: Option<f64>,
}

/// The task group called `name` in a job as the API returns it.
fn group_of<'a>(job: &'a Value, name: &str) -> Option<&'a Value> {
    job["TaskGroups"]
        .as_array()?
        .iter()
        .find(|g| g["Name"] == name)
}

fn parse_rfc3339_nanos(s: &str) -> Option<i128> {
    let t = humantime::parse_rfc3339_weak(s).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    // Nomad writes the zero time for steps that did not happen.
    (d.as_secs() > 0).then_some(d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_policy_decides_the_method() {
        let group = |scaling: Value| json!({"Name": "g", "Count": 1, "Scaling": scaling});
        let b = ScalingBounds::of_group(&group(json!({"Min": 1, "Max": 10})), 1).unwrap();
        assert!(!b.allows(0) && b.allows(1) && !b.allows(11));
        assert_eq!(b.to_string(), "scaling { min = 1, max = 10 }");
        let b = ScalingBounds::of_group(&group(json!({"Min": 0, "Max": 3})), 1).unwrap();
        assert!(b.allows(0) && b.allows(1));
        // Min absent: Nomad's default is the group's count.
        let b = ScalingBounds::of_group(&group(json!({"Max": 3})), 2).unwrap();
        assert_eq!(b.min, 2);
        assert_eq!(ScalingBounds::of_group(&group(Value::Null), 1), None);
    }
}
