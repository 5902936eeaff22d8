//! One job's way onto the cluster, as `nomad job run -check-index` does it: validate → plan
//! (with diff) → register with `EnforceIndex` = the plan's `JobModifyIndex` → follow the
//! evaluation → follow the deployment, with blocking queries throughout.
//!
//! Resilience lives here because only here is it known what a retry would mean: reads, validate
//! and plan are retried by the client; register is retried here, and after an *ambiguous*
//! failure (the connection dropped after the request was sent) the job is read back first, so
//! that one run never registers the same job twice. Batching and the summary are in `mod.rs`.

use crate::deploy::interrupt::{Board, JobStage, short};
use crate::deploy::plan_view::{placement_reason, render_plan};
use crate::nomad::client::{
    Deployment, DeploymentGroup, Evaluation, NomadClient, NomadError, QueryOptions,
};
use crate::nomad::model::Job;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// How far to go with each job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Validate and plan only (`--plan`).
    Plan,
    /// Also register, then stop (`--detach`).
    Register,
    /// Register and follow the evaluation and deployment to a terminal state.
    Follow,
}

/// How one job ended. Exit codes follow `nomad job run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Deployed (deployment successful, or nothing to deploy).
    Deployed(String),
    /// Planned only (`--plan`).
    Planned(String),
    /// Registered, not followed (`--detach`).
    Registered(String),
    /// The scheduler could not place every allocation and no deployment succeeded.
    PlacementFailed(String),
    /// Rejected, failed deployment, conflict, or an error talking to the cluster.
    Failed(String),
    /// The register request got no answer and reading the job back could not confirm it
    /// landed: it may or may not be registered.
    Unconfirmed(String),
    /// Not attempted because an earlier job failed under `--fail-fast`.
    Skipped,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Deployed(_) | Outcome::Planned(_) | Outcome::Registered(_) => 0,
            Outcome::PlacementFailed(_) => 2,
            Outcome::Failed(_) | Outcome::Unconfirmed(_) | Outcome::Skipped => 1,
        }
    }
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Deployed(_) => "deployed",
            Outcome::Planned(_) => "planned",
            Outcome::Registered(_) => "registered",
            Outcome::PlacementFailed(_) => "placement failed",
            Outcome::Failed(_) => "failed",
            Outcome::Unconfirmed(_) => "unconfirmed",
            Outcome::Skipped => "skipped",
        }
    }
    pub fn detail(&self) -> &str {
        match self {
            Outcome::Deployed(d)
            | Outcome::Planned(d)
            | Outcome::Registered(d)
            | Outcome::PlacementFailed(d)
            | Outcome::Failed(d)
            | Outcome::Unconfirmed(d) => d,
            Outcome::Skipped => "not attempted (--fail-fast)",
        }
    }
}

/// Progress of one job: lines on stderr, every one prefixed with the job ID so that parallel
/// jobs can be told apart (stdout carries only the summary), and the job's stage on the batch's
/// [`Board`], for the table printed if the batch is interrupted.
#[derive(Debug, Clone)]
pub struct Progress {
    prefix: String,
    quiet: bool,
    board: Board,
    index: usize,
}

impl Progress {
    /// Progress of job number `index` of the batch whose stages `board` keeps.
    pub fn new(job_id: &str, quiet: bool, board: Board, index: usize) -> Self {
        Progress {
            prefix: format!("[{job_id}]"),
            quiet,
            board,
            index,
        }
    }
    pub fn stage(&self, stage: JobStage) {
        self.board.set(self.index, stage);
    }
    pub fn line(&self, text: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        for line in text.as_ref().lines() {
            eprintln!("{} {line}", self.prefix);
        }
    }
}

/// Settings shared by every job of a batch.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub stage: Stage,
    /// Wait of each blocking query.
    pub blocking_wait: Duration,
    pub quiet: bool,
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// The innermost messages of a (nested) go-multierror text, joined: what a summary line needs.
fn leaf_errors(text: &str) -> String {
    let leaves: Vec<&str> = text
        .lines()
        .map(|line| line.trim().trim_start_matches("* ").trim())
        .filter(|line| !line.is_empty() && !line.ends_with("occurred:"))
        .collect();
    if leaves.is_empty() {
        first_line(text).to_string()
    } else {
        leaves.join("; ")
    }
}

/// Turn an API error into a message that says what to do; never includes the token.
fn explain(client: &NomadClient, action: &str, err: &NomadError) -> String {
    match err {
        NomadError::Api {
            status: 403, body, ..
        } => format!(
            "{action}: Nomad at {} refused the request (403 {}): check the ACL token — {}; it \
             needs submit-job and read-job in the job's namespace",
            client.settings().address,
            body.trim(),
            client.settings().token_source
        ),
        NomadError::Api { status, body, .. } => {
            format!(
                "{action}: {status} {}",
                body.trim_end().replace("\n\t", "\n  ")
            )
        }
        other => format!("{action}: {other}"),
    }
}

/// Run the pipeline for one job and say how it ended. Never panics; errors become outcomes.
pub async fn deploy_job(
    client: &NomadClient,
    job: &Job,
    options: &PipelineOptions,
    progress: &Progress,
) -> Outcome {
    let job_id = job.id.clone().unwrap_or_default();
    let namespace = client.namespace_for(Some(job));
    progress.stage(JobStage::Checking);

    // 1. Validate on the cluster: its rules, its words.
    match client.validate(job).await {
        Ok(response) => {
            let errors = response.value.validation_errors.clone().unwrap_or_default();
            if !errors.is_empty() || !response.value.error.is_empty() {
                progress.line("Job validation errors:");
                let text = if response.value.error.is_empty() {
                    errors
                        .iter()
                        .map(|e| format!("* {e}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                } else {
                    response.value.error.trim_end().to_string()
                };
                progress.line(&text);
                return Outcome::Failed(format!("invalid job: {}", leaf_errors(&text)));
            }
            if !response.value.warnings.trim().is_empty() {
                progress.line(format!(
                    "Job warnings:\n{}",
                    response.value.warnings.trim_end()
                ));
            }
        }
        Err(err) => return Outcome::Failed(explain(client, "validate", &err)),
    }

    // 2. Plan with a diff; its JobModifyIndex is what we enforce on register.
    let plan = match client.plan(job, true).await {
        Ok(plan) => plan,
        // The failure is printed once, by the batch, as `error: job "<id>": ...`.
        Err(err) => return Outcome::Failed(explain(client, "plan", &err)),
    };
    progress.line(render_plan(&job_id, &plan.value));
    progress.line(format!("Job Modify Index: {}", plan.value.job_modify_index));
    if options.stage == Stage::Plan {
        let placement = plan
            .value
            .failed_tg_allocs
            .as_ref()
            .is_some_and(|f| !f.is_empty());
        let detail = if placement {
            "planned; placement would fail"
        } else {
            "planned"
        };
        return Outcome::Planned(format!(
            "{detail} (job modify index {})",
            plan.value.job_modify_index
        ));
    }

    // 3. Register, never clobbering someone else's change, never twice.
    let registered = match register(
        client,
        job,
        &namespace,
        plan.value.job_modify_index,
        plan.index,
        progress,
    )
    .await
    {
        Ok(registered) => registered,
        Err(outcome) => return outcome,
    };
    let Some((eval_id, eval_index)) = registered else {
        return Outcome::Registered(
            "registered (periodic or parameterized job: no evaluation)".into(),
        );
    };
    progress.line(format!("Job registered; evaluation ID {eval_id}"));
    progress.stage(JobStage::Registered {
        evaluation: eval_id.clone(),
    });
    if options.stage == Stage::Register {
        return Outcome::Registered(format!("registered; evaluation {}", short(&eval_id)));
    }

    // 4. Follow the evaluation, then the deployment.
    follow(
        client,
        &namespace,
        &job_id,
        (eval_id, eval_index),
        options,
        progress,
    )
    .await
}

/// Register with EnforceIndex; `Ok(Some((eval ID, eval create index)))` when registered,
/// `Ok(None)` when registered without an evaluation, `Err(outcome)` when not (or not known to
/// be). Transient failures are retried; after an ambiguous one (no answer, but the request may
/// have arrived) the job is read back first, so that a lost answer is neither taken for a
/// failure nor followed by a second register.
async fn register(
    client: &NomadClient,
    job: &Job,
    namespace: &str,
    enforce_index: u64,
    index_before: u64,
    progress: &Progress,
) -> Result<Option<(String, u64)>, Outcome> {
    let policy = client.settings().retry;
    let mut retry = 0;
    loop {
        progress.stage(JobStage::Registering);
        let failure = match client.register_once(job, Some(enforce_index)).await {
            Ok(response) => {
                if !response.value.warnings.trim().is_empty() {
                    progress.line(format!(
                        "Job Warnings:\n{}",
                        response.value.warnings.trim_end()
                    ));
                }
                let eval = response.value.eval_id;
                let index = response.value.eval_create_index;
                return Ok(if eval.is_empty() {
                    None
                } else {
                    Some((eval, index))
                });
            }
            Err(err) => err,
        };
        if let Some(body) = failure
            .body()
            .filter(|b| b.starts_with("Enforcing job modify index"))
        {
            return Err(Outcome::Failed(format!(
                "not registered: the job changed on the cluster after it was planned ({}); \
                 someone else's change was kept — plan again to see it",
                body.trim()
            )));
        }
        let may_retry = failure.is_transient() && retry + 1 < policy.attempts;
        if failure.is_ambiguous() {
            progress.line(format!(
                "register: no answer ({failure}); reading the job back to see whether it landed"
            ));
            match registration_landed(client, job, namespace, enforce_index, index_before).await {
                Landed::Yes(eval) => {
                    progress.line(
                        "register: the first attempt had landed (only its answer was lost); not \
                         registering again",
                    );
                    return Ok(Some(eval));
                }
                Landed::Changed(message) => return Err(Outcome::Failed(message)),
                Landed::No if may_retry => {}
                Landed::No => {
                    return Err(unconfirmed(
                        client,
                        job,
                        namespace,
                        &failure,
                        "it had not landed when read back, but the server may still apply it",
                    ));
                }
                Landed::Unknown(why) => {
                    return Err(unconfirmed(client, job, namespace, &failure, &why));
                }
            }
        } else if !may_retry {
            return Err(Outcome::Failed(explain(client, "register", &failure)));
        } else {
            progress.line(format!("register: {failure}; retrying"));
        }
        tokio::time::sleep(policy.delay(retry)).await;
        retry += 1;
    }
}

/// A register whose answer was lost and whose effect could not be confirmed.
fn unconfirmed(
    client: &NomadClient,
    job: &Job,
    namespace: &str,
    failure: &NomadError,
    why: &str,
) -> Outcome {
    let id = job.id.as_deref().unwrap_or_default();
    Outcome::Unconfirmed(format!(
        "may have been registered: the register request got no answer ({failure}) and {why}; \
         read it back with `nomad job status -address={} -namespace={namespace} {id}` (or run \
         `knative2nomad deploy --plan` on the same files: a plan without changes means it \
         landed)",
        client.settings().display_address()
    ))
}

/// What reading the job back after a lost register answer says.
enum Landed {
    /// Our spec is stored and a register evaluation newer than the plan exists.
    Yes((String, u64)),
    /// Nothing changed since the plan.
    No,
    /// Someone else's change is stored: the message says so.
    Changed(String),
    /// The read failed: why.
    Unknown(String),
}

/// After a register whose answer was lost: did it land?
async fn registration_landed(
    client: &NomadClient,
    job: &Job,
    namespace: &str,
    enforce_index: u64,
    index_before: u64,
) -> Landed {
    let id = job.id.as_deref().unwrap_or_default();
    let stored = match client.job(namespace, id).await {
        Ok(stored) => stored.value,
        Err(err) if err.status() == Some(404) => return Landed::No,
        Err(err) => {
            return Landed::Unknown(format!("reading it back failed too ({err})"));
        }
    };
    let stored_index = stored
        .get("JobModifyIndex")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let ours = serde_json::to_value(job).unwrap_or(Value::Null);
    let same_spec = is_subset(&ours, &stored, true);
    let evals = match client.job_evaluations(namespace, id).await {
        Ok(evals) => evals.value,
        Err(err) => {
            return Landed::Unknown(format!("reading its evaluations back failed too ({err})"));
        }
    };
    let new_register_eval = evals.iter().find(|eval: &&Evaluation| {
        eval.triggered_by == "job-register"
            && eval.create_index > index_before
            && eval.job_modify_index == stored_index
    });
    let changed = stored_index != enforce_index || (enforce_index == 0);
    match (same_spec, new_register_eval) {
        (true, Some(eval)) => Landed::Yes((eval.id.clone(), eval.create_index)),
        (false, _) if changed => Landed::Changed(format!(
            "not registered: the job changed on the cluster after it was planned (job modify \
             index {enforce_index} → {stored_index}, not our spec); someone else's change was \
             kept — plan again to see it"
        )),
        _ => Landed::No,
    }
}

/// Every value we set appears unchanged in what the server stores (which adds defaults).
/// `top` skips Namespace/Region, which the server may set from the query.
fn is_subset(ours: &Value, theirs: &Value, top: bool) -> bool {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => a.iter().all(|(key, value)| {
            (top && (key == "Namespace" || key == "Region"))
                || value.is_null()
                || b.get(key)
                    .is_some_and(|other| is_subset(value, other, false))
        }),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| is_subset(x, y, false))
        }
        (a, b) => a == b,
    }
}

async fn follow(
    client: &NomadClient,
    namespace: &str,
    job_id: &str,
    (first_eval, first_eval_index): (String, u64),
    options: &PipelineOptions,
    progress: &Progress,
) -> Outcome {
    let wait = Some(options.blocking_wait);
    let mut eval_id = first_eval;
    // The evaluation was created at this index: block until it changes from there, which saves
    // the initial non-blocking read. Follow-up evaluations start from a plain read.
    let mut start_index = first_eval_index;
    let mut placement_failures: Vec<String> = Vec::new();
    let deployment_id = loop {
        let eval = match wait_for_eval(client, &eval_id, start_index, wait).await {
            Ok(eval) => eval,
            Err(err) => return Outcome::Failed(explain(client, "following the evaluation", &err)),
        };
        progress.line(format!(
            "Evaluation {} finished with status {:?}",
            short(&eval.id),
            eval.status
        ));
        if let Some(failed) = eval.failed_tg_allocs.as_ref().filter(|f| !f.is_empty()) {
            progress.line("Failed to place all allocations:");
            for (group, metric) in failed {
                let reason = placement_reason(metric);
                progress.line(format!("  Task Group {group:?}: {reason}"));
                placement_failures.push(format!("{group}: {reason}"));
            }
            if !eval.blocked_eval.is_empty() {
                progress.line(format!(
                    "Evaluation {} waiting for additional capacity to place remainder",
                    short(&eval.blocked_eval)
                ));
            }
        }
        if eval.status == "failed" || eval.status == "canceled" {
            return Outcome::Failed(format!(
                "evaluation {} {}: {}",
                short(&eval.id),
                eval.status,
                eval.status_description
            ));
        }
        if !eval.next_eval.is_empty() {
            tokio::time::sleep(Duration::from_nanos(eval.wait)).await;
            eval_id = eval.next_eval.clone();
            start_index = 0;
            continue;
        }
        break eval.deployment_id.clone();
    };

    if deployment_id.is_empty() {
        if placement_failures.is_empty() {
            return Outcome::Deployed("no deployment needed".into());
        }
        return Outcome::PlacementFailed(placement_failures.join("; "));
    }
    follow_deployment(client, namespace, job_id, &deployment_id, options, progress).await
}

async fn wait_for_eval(
    client: &NomadClient,
    eval_id: &str,
    start_index: u64,
    wait: Option<Duration>,
) -> Result<Evaluation, NomadError> {
    let first = QueryOptions {
        index: start_index,
        wait,
    };
    let mut response = client.evaluation(eval_id, first).await?;
    while !response.value.is_terminal() {
        response = client
            .evaluation(
                eval_id,
                QueryOptions {
                    index: response.index,
                    wait,
                },
            )
            .await?;
    }
    Ok(response.value)
}

fn group_progress(groups: &BTreeMap<String, DeploymentGroup>) -> String {
    groups
        .iter()
        .map(|(name, g)| {
            format!(
                "{name}: {}/{} placed, {} healthy, {} unhealthy",
                g.placed_allocs, g.desired_total, g.healthy_allocs, g.unhealthy_allocs
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn follow_deployment(
    client: &NomadClient,
    namespace: &str,
    job_id: &str,
    first_deployment: &str,
    options: &PipelineOptions,
    progress: &Progress,
) -> Outcome {
    let wait = Some(options.blocking_wait);
    let mut deployment_id = first_deployment.to_string();
    let mut rollback_checked = false;
    loop {
        progress.line(format!("Monitoring deployment {}", short(&deployment_id)));
        progress.stage(JobStage::Deploying {
            deployment: deployment_id.clone(),
        });
        let mut last_shown = String::new();
        let mut query = QueryOptions::default();
        let deployment: Deployment = loop {
            let response = match client.deployment(&deployment_id, query).await {
                Ok(response) => response,
                Err(err) => {
                    return Outcome::Failed(explain(client, "following the deployment", &err));
                }
            };
            let shown = group_progress(&response.value.task_groups);
            if shown != last_shown {
                progress.line(format!("Deployment {}: {shown}", short(&deployment_id)));
                last_shown = shown;
            }
            if response.value.is_terminal() {
                break response.value;
            }
            query = QueryOptions {
                index: response.index,
                wait,
            };
        };
        progress.line(format!(
            "Deployment {} {}: {}",
            short(&deployment.id),
            deployment.status,
            deployment.status_description
        ));
        if deployment.status == "successful" {
            return Outcome::Deployed(format!("deployment {} successful", short(&deployment.id)));
        }
        // With auto_revert Nomad starts a rollback deployment; follow it like `nomad job run`.
        let auto_revert = deployment.task_groups.values().any(|g| g.auto_revert);
        if deployment.status == "failed" && auto_revert && !rollback_checked {
            rollback_checked = true;
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Ok(latest) = client
                .latest_deployment(namespace, job_id, QueryOptions::default())
                .await
                && let Some(next) = latest.value.filter(|d| d.id != deployment.id)
            {
                progress.line(format!("Following rollback deployment {}", short(&next.id)));
                deployment_id = next.id;
                continue;
            }
        }
        return Outcome::Failed(format!(
            "deployment {} {}: {}",
            short(&deployment.id),
            deployment.status,
            deployment.status_description
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_job_with_defaults_contains_ours() {
        let ours = json!({"ID": "a", "Namespace": "x", "TaskGroups": [{"Name": "g", "Count": 1}]});
        let stored = json!({"ID": "a", "Namespace": "y", "Priority": 50,
                            "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": []}]});
        assert!(is_subset(&ours, &stored, true));
        let changed = json!({"ID": "a", "TaskGroups": [{"Name": "g", "Count": 3}]});
        assert!(!is_subset(&ours, &changed, true));
    }

    #[test]
    fn nested_multierror_text_is_flattened_to_its_leaves() {
        let text = "1 error occurred:\n\t* Task group web validation failed: 2 errors occurred:\n\t* Missing task driver\n\t* minimum MemoryMB value is 10; got 5\n\n\n\n";
        assert_eq!(
            leaf_errors(text),
            "Missing task driver; minimum MemoryMB value is 10; got 5"
        );
    }

    #[test]
    fn exit_codes_follow_nomad_job_run() {
        assert_eq!(Outcome::Deployed(String::new()).exit_code(), 0);
        assert_eq!(Outcome::Failed(String::new()).exit_code(), 1);
        assert_eq!(Outcome::PlacementFailed(String::new()).exit_code(), 2);
    }
}
