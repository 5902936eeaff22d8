//! Timing a cold start from the client's side, the two ways a request can meet one:
//!
//! - **held**: one request, which something in front of the service holds until an instance
//!   answers (Knative's activator; Sablier's blocking strategy). Its answer is the cold start a
//!   user meets, and there is no polling error at all.
//! - **polled**: nothing holds requests (Nomad scaled through its API: the URL refuses or answers
//!   503 until an allocation is up), so requests are sent on a schedule until one is correct. A
//!   new attempt starts every `max(1 ms, 1 % of the time since the clock started)` (at most
//!   50 ms), whether or not earlier ones have answered, so a slow failing answer does not widen
//!   the gaps. The instance became ready between the start of the last attempt before the
//!   successful one and the start of the successful one; that gap is the sample's *resolution*,
//!   measured and reported, and it bounds how much later than a held request the poll can see
//!   the same instance: 1 ms, or 1 % of the time measured, when attempts keep to schedule (half
//!   that on average). Finer would cost the machine more than it gains: each attempt is a new
//!   connection and a request.
//!
//! Every attempt uses a new connection, so it reaches whatever instance is there now. The
//! schedule is kept by an OS thread sleeping with 1 ns timer slack (tokio's timer has 1 ms
//! granularity); attempts run on the tokio runtime.
//!
//! Not here: bringing a platform to zero (cold.rs, nomad_job.rs) or judging samples (stats.rs).

use anyhow::{Context, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The shortest gap between the starts of two polling attempts.
pub const POLL_MIN: Duration = Duration::from_millis(1);
/// The gap as a fraction of the time since the clock started, when that is larger.
pub const POLL_FRACTION: f64 = 0.01;
/// The longest gap (reached after 5 s).
pub const POLL_MAX: Duration = Duration::from_millis(50);
/// Attempts in flight at once; more are skipped until one answers.
const MAX_IN_FLIGHT: usize = 64;

/// Sends requests and decides whether an answer is "correct": a 2xx status and, if asked, a
/// body containing a string.
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
    /// When the response had arrived in full.
    pub at: Instant,
    /// Requests sent until it (1 for a held request).
    pub attempts: u32,
    /// The instance header's value, when one was asked for and sent.
    pub instance: Option<String>,
    /// Polled only: the gap between the start of the successful attempt and the start of the
    /// attempt before it (None when the first attempt succeeded or the request was held).
    pub resolution: Option<Duration>,
}

/// What one attempt got.
struct Answer {
    at: Instant,
    correct: bool,
    problem: String,
    instance: Option<String>,
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

    async fn attempt(&self, timeout: Duration) -> Answer {
        let mut req = self.client.get(&self.url).timeout(timeout);
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
                Answer {
                    at,
                    correct: status.is_success() && body_ok,
                    problem: if status.is_success() {
                        "the body lacks the expected text".to_string()
                    } else {
                        format!("HTTP {status}")
                    },
                    instance,
                }
            }
            Err(e) => Answer {
                at: Instant::now(),
                correct: false,
                problem: format!("{e}"),
                instance: None,
            },
        }
    }

    /// One request, held by whatever starts the instance; its answer must be correct.
    pub async fn held(&self, deadline: Instant) -> anyhow::Result<Hit> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let answer = self.attempt(timeout).await;
        if !answer.correct {
            bail!(
                "the request to {} got no correct answer: {}",
                self.url,
                answer.problem
            );
        }
        Ok(Hit {
            at: answer.at,
            attempts: 1,
            instance: answer.instance,
            resolution: None,
        })
    }

    /// Poll on the schedule in the module comment until a correct answer or `deadline`; `t0`
    /// is when the clock of the sample started (the schedule's gaps grow with the time since).
    pub async fn poll(&self, t0: Instant, deadline: Instant) -> anyhow::Result<Hit> {
        let (ticks, stop) = start_ticker(t0);
        let result = self.poll_ticks(ticks, deadline).await;
        stop.store(true, Ordering::Relaxed);
        result
    }

    async fn poll_ticks(
        &self,
        mut ticks: tokio::sync::mpsc::UnboundedReceiver<()>,
        deadline: Instant,
    ) -> anyhow::Result<Hit> {
        let mut starts: Vec<Instant> = Vec::new();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut last_problem = String::from("no attempt made");
        let give_up = tokio::time::sleep_until(deadline.into());
        tokio::pin!(give_up);
        loop {
            tokio::select! {
                tick = ticks.recv() => {
                    if tick.is_none() {
                        bail!("the polling schedule stopped");
                    }
                    if in_flight.len() < MAX_IN_FLIGHT {
                        let k = starts.len();
                        starts.push(Instant::now());
                        let probe = self.clone();
                        let timeout = deadline.saturating_duration_since(Instant::now());
                        in_flight.spawn(async move { (k, probe.attempt(timeout).await) });
                    }
                }
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    let (k, answer) = done.context("a polling attempt failed")?;
                    if answer.correct {
                        // Attempts still in flight are dropped with the JoinSet.
                        return Ok(Hit {
                            at: answer.at,
                            attempts: u32::try_from(starts.len()).unwrap_or(u32::MAX),
                            instance: answer.instance,
                            resolution: k
                                .checked_sub(1)
                                .map(|previous| starts[k].saturating_duration_since(starts[previous])),
                        });
                    }
                    last_problem = answer.problem;
                }
                _ = &mut give_up => {
                    bail!(
                        "{} gave no correct response in time ({} attempts; last: {last_problem})",
                        self.url,
                        starts.len()
                    );
                }
            }
        }
    }

    /// Poll until the URL stops giving correct responses (refused, timed out, or not 2xx), or
    /// fail at `deadline`. Only for platforms that do not start an instance on request.
    pub async fn until_down(&self, deadline: Instant) -> anyhow::Result<()> {
        let mut pause = Duration::from_millis(2);
        loop {
            if !self.attempt(Duration::from_secs(1)).await.correct {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{} still answers after scaling to zero", self.url);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(Duration::from_millis(20));
        }
    }
}

/// The gap after an attempt that started `elapsed` after the clock started.
pub fn poll_gap(elapsed: Duration) -> Duration {
    elapsed.mul_f64(POLL_FRACTION).clamp(POLL_MIN, POLL_MAX)
}

/// A thread that sends a tick at once and then on the polling schedule, until `stop` is set or
/// the receiver is gone.
fn start_ticker(t0: Instant) -> (tokio::sync::mpsc::UnboundedReceiver<()>, Arc<AtomicBool>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        super::load::lower_timer_slack();
        let mut due = Instant::now();
        loop {
            let now = Instant::now();
            if now < due {
                std::thread::sleep(due - now);
            }
            if stopped.load(Ordering::Relaxed) || tx.send(()).is_err() {
                return;
            }
            // A thread that was not scheduled in time does not catch up with a burst.
            due = (due + poll_gap(due.saturating_duration_since(t0))).max(Instant::now());
        }
    });
    (rx, stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_polling_gap_is_fine_early_and_relative_later() {
        assert_eq!(poll_gap(Duration::ZERO), POLL_MIN);
        assert_eq!(poll_gap(Duration::from_millis(100)), POLL_MIN);
        assert_eq!(poll_gap(Duration::from_secs(1)).as_micros(), 10_000);
        assert_eq!(poll_gap(Duration::from_secs(60)), POLL_MAX);
    }
}
