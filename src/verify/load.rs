//! Warm-latency load generation: an open-loop constant-rate engine and a closed-loop engine.
//!
//! Open loop (what `verify` uses): request *i* is due at `start + i / rate`, whatever happened to
//! the requests before it, and its latency is counted from that due time, not from when it was
//! actually written. A stalled server therefore shows up as latency instead of silently lowering
//! the send rate (coordinated omission). Each connection is a blocking thread that takes the next
//! due slot, sleeps until it (with the kernel timer slack lowered and a short spin for the last
//! tens of microseconds, because a plain sleep overshoots by ~50–100 µs), sends and waits.
//!
//! Closed loop (benchmarks only): `connections` tasks on one tokio thread, each sending its next
//! request as soon as the previous answer arrives, for maximum throughput.
//!
//! Both record into HdrHistograms (nanoseconds, 3 significant digits), so memory stays bounded
//! whatever the request count; raw samples are kept only when asked (the verifier's JSON report).

use super::http1::{AsyncConn, BlockingConn, Target};
use anyhow::Context;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Lowest and highest latency the histograms track: 1 µs to 1 hour.
const HIST_LOW_NS: u64 = 1_000;
const HIST_HIGH_NS: u64 = 3_600_000_000_000;

pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(HIST_LOW_NS, HIST_HIGH_NS, 3).context("creating a latency histogram")
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    // Clamping keeps out-of-range values countable instead of failing the run.
    h.saturating_record(ns.clamp(HIST_LOW_NS, HIST_HIGH_NS));
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Latency of successful (2xx) responses, nanoseconds.
    pub histogram: Histogram<u64>,
    /// Requests the schedule asked for (open loop) or 0 (closed loop).
    pub requested: u64,
    /// Requests answered with 2xx.
    pub ok: u64,
    /// Requests that failed: I/O error or a non-2xx status.
    pub errors: u64,
    /// From the first due time (or start) to the last response; at least the scheduled duration.
    pub elapsed: Duration,
    /// Successful latencies in milliseconds, in completion order per connection (if recorded).
    pub raw_ms: Vec<f64>,
}

impl LoadResult {
    /// Completed requests (ok + errors) per second of elapsed time.
    pub fn achieved_rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.ok + self.errors) as f64 / secs
        } else {
            0.0
        }
    }

    /// A latency quantile in milliseconds (0 when nothing succeeded).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1e6
    }

    pub(super) fn merge(&mut self, other: LoadResult) -> anyhow::Result<()> {
        self.histogram
            .add(&other.histogram)
            .context("merging latency histograms")?;
        self.ok += other.ok;
        self.errors += other.errors;
        self.raw_ms.extend(other.raw_ms);
        Ok(())
    }

    pub(super) fn empty() -> anyhow::Result<LoadResult> {
        Ok(LoadResult {
            histogram: new_histogram()?,
            requested: 0,
            ok: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            raw_ms: Vec::new(),
        })
    }
}

/// Settings of an open-loop run.
#[derive(Debug, Clone)]
pub struct OpenLoop {
    pub rate: f64,
    pub duration: Duration,
    pub connections: usize,
    pub record_raw: bool,
}

/// Run constant-rate load; `on_done` is called after every response (progress bars).
pub fn open_loop(
    target: &Target,
    cfg: &OpenLoop,
    on_done: &(dyn Fn() + Sync),
) -> anyhow::Result<LoadResult> {
    let mut connections = Connections::new(cfg.connections);
    open_loop_on(target, cfg, &mut connections, on_done)
}

/// Keep-alive connections kept between open-loop runs to the same target (the verifier's warm
/// load alternates short runs on two platforms and keeps each one's connections warm).
pub struct Connections(Vec<Option<BlockingConn>>);

impl Connections {
    /// `n` slots (at least one), connected on first use.
    pub fn new(n: usize) -> Connections {
        Connections((0..n.max(1)).map(|_| None).collect())
    }
}

/// [`open_loop`] over `connections` (one thread per slot, at most one per request), which stay
/// open afterwards unless the server closed them.
pub fn open_loop_on(
    target: &Target,
    cfg: &OpenLoop,
    connections: &mut Connections,
    on_done: &(dyn Fn() + Sync),
) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(cfg.rate > 0.0, "the warm rate must be positive");
    let total = (cfg.rate * cfg.duration.as_secs_f64()).round() as u64;
    let threads = connections.0.len().min(total.max(1) as usize);
    let next = AtomicU64::new(0);
    let last_done = AtomicU64::new(0);
    // Every thread connects first, so the schedule does not start with connection set-up.
    let barrier = Barrier::new(threads + 1);
    let start_cell = std::sync::OnceLock::<Instant>::new();
    let mut merged = LoadResult::empty()?;
    merged.requested = total;
    let results = std::thread::scope(|scope| -> anyhow::Result<Vec<LoadResult>> {
        let mut handles = Vec::with_capacity(threads);
        for slot in connections.0.iter_mut().take(threads) {
            let (next, last_done, barrier, start_cell) = (&next, &last_done, &barrier, &start_cell);
            handles.push(scope.spawn(move || {
                open_loop_worker(
                    target, cfg, total, next, last_done, barrier, start_cell, slot, on_done,
                )
            }));
        }
        let _ = start_cell.set(Instant::now() + Duration::from_millis(2));
        barrier.wait();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a load thread panicked"))?
            })
            .collect()
    })?;
    for r in results {
        merged.merge(r)?;
    }
    // The run lasts at least its schedule: dividing by the time to the last response alone
    // would overstate the rate by one interval (N requests span (N − 1) / rate).
    merged.elapsed = Duration::from_nanos(last_done.load(Ordering::Relaxed)).max(cfg.duration);
    Ok(merged)
}

#[allow(clippy::too_many_arguments)]
fn open_loop_worker(
    target: &Target,
    cfg: &OpenLoop,
    total: u64,
    next: &AtomicU64,
    last_done: &AtomicU64,
    barrier: &Barrier,
    start_cell: &std::sync::OnceLock<Instant>,
    conn: &mut Option<BlockingConn>,
    on_done: &(dyn Fn() + Sync),
) -> anyhow::Result<LoadResult> {
    lower_timer_slack();
    let mut out = LoadResult::empty()?;
    if conn.is_none() {
        *conn = BlockingConn::connect(target).ok();
    }
    barrier.wait();
    let start = *start_cell
        .get()
        .context("the load schedule did not start")?;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let due = start + Duration::from_secs_f64(i as f64 / cfg.rate);
        wait_until(due);
        let outcome = match conn.as_mut() {
            Some(c) => c.round_trip(&target.request),
            None => match BlockingConn::connect(target) {
                Ok(c) => conn.insert(c).round_trip(&target.request),
                Err(e) => Err(anyhow::Error::from(e)),
            },
        };
        let done = Instant::now();
        match outcome {
            Ok((status, close)) => {
                if (200..300).contains(&status) {
                    let latency = done.saturating_duration_since(due);
                    record(&mut out.histogram, latency);
                    if cfg.record_raw {
                        out.raw_ms.push(latency.as_secs_f64() * 1e3);
                    }
                    out.ok += 1;
                } else {
                    out.errors += 1;
                }
                if close {
                    *conn = None;
                }
            }
            Err(_) => {
                out.errors += 1;
                *conn = None;
            }
        }
        let since = u64::try_from(done.saturating_duration_since(start).as_nanos()).unwrap_or(0);
        last_done.fetch_max(since, Ordering::Relaxed);
        on_done();
    }
    Ok(out)
}

/// Sleep until `due`, then spin the last stretch: a plain sleep wakes 50–100 µs late on this
/// kind of VM, which would be charged to the server as latency.
fn wait_until(due: Instant) {
    const SPIN: Duration = Duration::from_micros(60);
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > SPIN {
            std::thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Ask Linux for 1 ns timer slack on this thread (default 50 µs) so sleeps end on time.
pub(super) fn lower_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and only affects the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// When a closed-loop run stops.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    Requests(u64),
    Duration(Duration),
}

/// Closed loop: `connections` connections on one thread, each back-to-back, until `stop`.
pub fn closed_loop(target: &Target, connections: usize, stop: Stop) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(
        target.tls.is_none(),
        "the closed-loop engine speaks plain http:// only"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the load runtime")?;
    runtime.block_on(async {
        let request: Arc<[u8]> = Arc::from(target.request.as_slice());
        let issued = Arc::new(AtomicU64::new(0));
        let mut conns = Vec::with_capacity(connections);
        for _ in 0..connections.max(1) {
            conns.push(
                AsyncConn::connect(target.addr)
                    .await
                    .with_context(|| format!("connecting to {}", target.addr))?,
            );
        }
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(conns.len());
        for conn in conns {
            let request = Arc::clone(&request);
            let issued = Arc::clone(&issued);
            tasks.push(tokio::spawn(closed_loop_worker(
                conn,
                request,
                issued,
                stop,
                start,
                target.addr,
            )));
        }
        let mut merged = LoadResult::empty()?;
        for t in tasks {
            merged.merge(t.await.context("a load task failed")??)?;
        }
        merged.elapsed = start.elapsed();
        Ok(merged)
    })
}

async fn closed_loop_worker(
    conn: AsyncConn,
    request: Arc<[u8]>,
    issued: Arc<AtomicU64>,
    stop: Stop,
    start: Instant,
    addr: std::net::SocketAddr,
) -> anyhow::Result<LoadResult> {
    let mut out = LoadResult::empty()?;
    let mut conn = Some(conn);
    loop {
        match stop {
            Stop::Requests(n) => {
                if issued.fetch_add(1, Ordering::Relaxed) >= n {
                    break;
                }
            }
            Stop::Duration(d) => {
                if start.elapsed() >= d {
                    break;
                }
            }
        }
        let sent = Instant::now();
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match AsyncConn::connect(addr).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    out.errors += 1;
                    continue;
                }
            },
        };
        match c.round_trip(&request).await {
            Ok((status, close)) => {
                if (200..300).contains(&status) {
                    record(&mut out.histogram, sent.elapsed());
                    out.ok += 1;
                } else {
                    out.errors += 1;
                }
                if close {
                    conn = None;
                }
            }
            Err(_) => {
                out.errors += 1;
                conn = None;
            }
        }
    }
    Ok(out)
}
