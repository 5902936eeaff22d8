//! `k2n-loadgen`: the verifier's load engines on their own, for benchmarking them against wrk
//! and oha (bench/loadgen.sh). Closed loop by default; `--rate` switches to the open-loop,
//! coordinated-omission-free engine that `verify` uses for warm latency. Prints one JSON line.
//! Not a general load tool: GET only, plain http:// only.

use anyhow::Context;
use clap::Parser;
use knative2nomad::verify::http1::Target;
use knative2nomad::verify::load::{self, OpenLoop, Stop};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "k2n-loadgen", version)]
struct Args {
    /// Target URL (http:// only).
    url: String,
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 50)]
    connections: usize,
    /// Duration (closed loop, or the length of the open-loop schedule).
    #[arg(short = 'z', long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Total requests (closed loop only).
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Requests per second: open loop (latency from the intended send time).
    #[arg(short = 'q', long)]
    rate: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = Target::parse(&args.url, None)?;
    let (mode, result) = match args.rate {
        Some(rate) => {
            let cfg = OpenLoop {
                rate,
                duration: args.duration.unwrap_or(Duration::from_secs(10)),
                connections: args.connections,
                record_raw: false,
            };
            ("open", load::open_loop(&target, &cfg, &|| {})?)
        }
        None => {
            let stop = match (args.requests, args.duration) {
                (Some(n), _) => Stop::Requests(n),
                (None, Some(d)) => Stop::Duration(d),
                (None, None) => Stop::Duration(Duration::from_secs(10)),
            };
            (
                "closed",
                load::closed_loop(&target, args.connections, stop)?,
            )
        }
    };
    let peak_rss_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
    let out = serde_json::json!({
        "mode": mode,
        "connections": args.connections,
        "requested": result.requested,
        "ok": result.ok,
        "errors": result.errors,
        "elapsed_s": result.elapsed.as_secs_f64(),
        "rps": result.achieved_rate(),
        "p50_ms": result.quantile_ms(0.5),
        "p90_ms": result.quantile_ms(0.9),
        "p99_ms": result.quantile_ms(0.99),
        "p999_ms": result.quantile_ms(0.999),
        "max_ms": result.histogram.max() as f64 / 1e6,
        "peak_rss_kb": peak_rss_kb,
    });
    println!(
        "{}",
        serde_json::to_string(&out).context("printing the result")?
    );
    Ok(())
}
