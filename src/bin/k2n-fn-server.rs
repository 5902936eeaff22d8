//! `k2n-fn-server`: the tiny "function" the verifier's tests and benchmarks start for real.
//!
//! It sleeps `--startup-delay-ms` (standing in for image pull, runtime start and app init), then
//! binds `--host:--port` and answers every request with HTTP 200 `ok` (after `--work-us` of busy
//! work, for benchmarks). Each response carries an `X-K2N-Instance` header (pid and start time)
//! so a client can tell a fresh instance from a warm one. It is not a general web server: no
//! routing, no TLS, HTTP/1.1 only.

use anyhow::Context;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A minimal HTTP function: wait, bind, answer 200 "ok".
#[derive(Debug, Parser)]
#[command(name = "k2n-fn-server", version)]
struct Args {
    /// TCP port to listen on (0 = any free port; the bound address is printed on stdout).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Delay before binding, in milliseconds: the simulated cold-start cost.
    #[arg(long, default_value_t = 0)]
    startup_delay_ms: u64,
    /// Response body.
    #[arg(long, default_value = "ok")]
    body: String,
    /// Worker threads (1 leaves the other core to the load generator in benchmarks).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// CPU work per request, in microseconds (a busy loop, so it is exact, unlike a timer): a
    /// server whose own time dominates the round trip, for comparing load generators'
    /// latency figures where their client overhead matters least.
    #[arg(long, default_value_t = 0)]
    work_us: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .context("starting the tokio runtime")?;
    runtime.block_on(serve(args))
}

/// Bind, retrying for a while when the port is in use. A client polling a loopback port that
/// nothing listens on yet can be given that very port as its own source port and connect to
/// itself (TCP simultaneous open); the port is busy for that instant, and a function that gave up
/// then left its tests polling a dead port for their whole timeout. A real task would be
/// restarted by Nomad's `restart` policy; retrying here is the fixture's stand-in.
async fn bind_retrying(host: &str, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpListener::bind((host, port)).await {
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && port != 0
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            result => return result.with_context(|| format!("binding {host}:{port}")),
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    // Sleep before binding: until then connections are refused, as with a container not yet up.
    tokio::time::sleep(Duration::from_millis(args.startup_delay_ms)).await;
    let listener = bind_retrying(&args.host, args.port).await?;
    let local = listener.local_addr().context("reading the bound address")?;
    let started_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let instance = format!("{}-{}", std::process::id(), started_ns);
    println!("listening on {local} instance {instance}");
    let body = Bytes::from(args.body.clone());
    let work = Duration::from_micros(args.work_us);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(pair) => pair,
            // Running out of file descriptors under load must not kill the function.
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let instance = instance.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                let body = body.clone();
                let instance = instance.clone();
                async move {
                    if !work.is_zero() {
                        let start = std::time::Instant::now();
                        while start.elapsed() < work {
                            std::hint::spin_loop();
                        }
                    }
                    let mut resp = Response::new(Full::new(body));
                    if let Ok(v) = hyper::header::HeaderValue::from_str(&instance) {
                        resp.headers_mut().insert("x-k2n-instance", v);
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            // Connection errors (client resets) are normal at the end of a benchmark.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
