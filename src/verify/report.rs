//! The verify report: what was measured, the per-metric comparisons and the verdict, rendered as
//! a terminal table, JSON (with every raw sample), Markdown, OpenMetrics text and an SVG picture
//! (drawn by plot.rs from this report); plus the optional push of the metrics to a Prometheus Pushgateway.
//!
//! Only rendering lives here; the measuring is in cold.rs / load.rs and the tests in stats.rs.

use super::VerifySettings;
use super::cold::ColdSample;
use super::probe::{POLL_FRACTION, POLL_MAX, POLL_MIN};
use super::stats::{self, Comparison, SplitMix64, TestSettings, Tolerance, Verdict};
use super::warm;
use anyhow::Context;
use serde::Serialize;
use std::fmt::Write as _;

/// Quantiles judged for cold starts and warm latency (each only with enough samples).
const COLD_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];
const WARM_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub knative_url: String,
    pub nomad_url: String,
    pub cold_starts: usize,
    pub warm_duration_s: f64,
    pub warm_rate: f64,
    pub warm_connections: usize,
    pub tolerance: Tolerance,
    pub confidence: f64,
    pub resamples: usize,
    pub seed: u64,
    pub equivalence: bool,
    /// How Nomad cold starts were forced: scale, stop-and-run, request; None without API.
    pub nomad_cold_start: Option<String>,
    /// Warm-load blocks per platform (they alternate between the platforms).
    pub warm_blocks: u32,
    /// The polling schedule of platforms that do not hold requests, as text.
    pub poll_schedule: String,
}

/// How one platform's cold starts were timed, and how finely.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub platform: &'static str,
    /// `held`, `poll`, or both when samples differ.
    pub method: String,
    /// Median and largest polling resolution of the valid samples, ms (polled samples only).
    pub resolution_median_ms: Option<f64>,
    pub resolution_max_ms: Option<f64>,
    /// The largest resolution as a share of the median cold start.
    pub resolution_share_of_median: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WarmSummary {
    pub platform: &'static str,
    pub requested: u64,
    pub ok: u64,
    pub errors: u64,
    pub achieved_rate: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Every successful latency, ms, measured from the intended send time, block after block.
    pub raw_ms: Vec<f64>,
    /// How many of `raw_ms` each block holds, in order (block i was run next to the other
    /// platform's block i).
    pub block_sizes: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: String,
    pub settings: Settings,
    /// Every cold-start attempt, valid or discarded, in the order taken.
    pub cold_samples: Vec<ColdSample>,
    pub cold_timing: Vec<Timing>,
    pub warm: Vec<WarmSummary>,
    pub comparisons: Vec<Comparison>,
    pub verdict: Verdict,
    pub exit_code: u8,
}

impl Report {
    pub fn build(
        args: &VerifySettings,
        s: &TestSettings,
        cold_samples: Vec<ColdSample>,
        warm: Vec<warm::Measured>,
        nomad_cold_start: Option<String>,
    ) -> Report {
        let settings = Settings {
            knative_url: args.knative_url.clone(),
            nomad_url: args.nomad_url.clone(),
            cold_starts: args.cold_starts,
            warm_duration_s: args.warm_duration.as_secs_f64(),
            warm_rate: args.warm_rate,
            warm_connections: args.warm_connections,
            tolerance: s.tolerance,
            confidence: s.level,
            resamples: s.resamples,
            seed: args.seed,
            equivalence: s.equivalence,
            nomad_cold_start,
            warm_blocks: warm.first().map_or(0, |w| w.block_sizes.len() as u32),
            poll_schedule: format!(
                "an attempt every max({} ms, {} % of the time since the start), at most {} ms",
                POLL_MIN.as_secs_f64() * 1e3,
                POLL_FRACTION * 100.0,
                POLL_MAX.as_millis()
            ),
        };
        let warm: Vec<WarmSummary> = warm
            .into_iter()
            .map(|w| (w.name, w.result, w.block_sizes))
            .map(|(platform, r, block_sizes)| WarmSummary {
                platform,
                block_sizes,
                requested: r.requested,
                ok: r.ok,
                errors: r.errors,
                achieved_rate: r.achieved_rate(),
                p50_ms: r.quantile_ms(0.5),
                p90_ms: r.quantile_ms(0.9),
                p99_ms: r.quantile_ms(0.99),
                p999_ms: r.quantile_ms(0.999),
                max_ms: r.histogram.max() as f64 / 1e6,
                raw_ms: r.raw_ms,
            })
            .collect();
        let comparisons = compare_all(&settings, s, &cold_samples, &warm);
        let verdict = stats::overall(&comparisons);
        let cold_timing = ["knative", "nomad"]
            .into_iter()
            .filter_map(|p| timing(&cold_samples, p))
            .collect();
        Report {
            tool: format!("knative2nomad {}", env!("CARGO_PKG_VERSION")),
            settings,
            cold_samples,
            cold_timing,
            warm,
            comparisons,
            verdict,
            exit_code: verdict.exit_code(),
        }
    }

    /// Valid cold-start times of one platform, ms.
    pub fn cold_ms(&self, platform: &str) -> Vec<f64> {
        valid_cold(&self.cold_samples, platform)
    }

    fn discarded(&self, platform: &str) -> usize {
        self.cold_samples
            .iter()
            .filter(|c| c.platform == platform && !c.valid)
            .count()
    }

    /// The human summary printed on stdout.
    pub fn terminal_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<14} {:>26} {:>26} {:>22}  verdict",
            "metric", "knative ms [CI]", "nomad ms [CI]", "nomad/knative [CI]"
        );
        for c in &self.comparisons {
            let _ = writeln!(
                out,
                "{:<14} {:>26} {:>26} {:>22}  {}",
                c.metric,
                ci_text(c.knative.as_ref(), 2),
                ci_text(c.nomad.as_ref(), 2),
                ci_text(c.ratio.as_ref(), 3),
                c.verdict.as_str()
            );
            if c.verdict != Verdict::Pass {
                let _ = writeln!(out, "{:<14} ({})", "", c.reason);
            }
        }
        for p in ["knative", "nomad"] {
            let _ = writeln!(
                out,
                "cold starts {p}: {} valid, {} discarded",
                self.cold_ms(p).len(),
                self.discarded(p)
            );
        }
        for t in &self.cold_timing {
            let _ = writeln!(out, "{}", t.describe(&self.settings.poll_schedule));
        }
        if !self.warm.is_empty() {
            let _ = writeln!(
                out,
                "warm load: {} blocks per platform, alternating",
                self.settings.warm_blocks
            );
        }
        for w in &self.warm {
            let _ = writeln!(
                out,
                "warm {}: {}/{} ok, {} errors, {:.1} req/s achieved, p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} ms",
                w.platform,
                w.ok,
                w.requested,
                w.errors,
                w.achieved_rate,
                w.p50_ms,
                w.p90_ms,
                w.p99_ms,
                w.p999_ms
            );
        }
        let _ = writeln!(
            out,
            "VERDICT: {} (exit {})",
            self.verdict.as_str(),
            self.exit_code
        );
        out
    }

    pub fn json(&self) -> anyhow::Result<String> {
        serde_json::to_string_pretty(self).context("serialising the report")
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let _ = writeln!(out, "# Cold-start parity: {}\n", self.verdict.as_str());
        let _ = writeln!(
            out,
            "Knative `{}` vs Nomad `{}`; {} cold starts per platform requested; warm load {} req/s for {} s; \
             tolerance {}; {}% bootstrap intervals ({} resamples, seed {}){}.\n",
            s.knative_url,
            s.nomad_url,
            s.cold_starts,
            s.warm_rate,
            s.warm_duration_s,
            tolerance_text(&s.tolerance),
            s.confidence * 100.0,
            s.resamples,
            s.seed,
            if s.equivalence {
                ", equivalence test"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "| metric | Knative ms [CI] | Nomad ms [CI] | Nomad/Knative [CI] | verdict | note |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for c in &self.comparisons {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                c.metric,
                ci_text(c.knative.as_ref(), 2),
                ci_text(c.nomad.as_ref(), 2),
                ci_text(c.ratio.as_ref(), 3),
                c.verdict.as_str(),
                c.reason
            );
        }
        let _ = writeln!(out, "\n## Cold starts\n");
        let _ = writeln!(
            out,
            "| platform | valid | discarded | median scheduled ms | median started ms | median healthy ms | median total ms |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for p in ["knative", "nomad"] {
            let valid: Vec<&ColdSample> = self
                .cold_samples
                .iter()
                .filter(|c| c.platform == p && c.valid)
                .collect();
            let med = |f: &dyn Fn(&ColdSample) -> Option<f64>| {
                let v: Vec<f64> = valid.iter().filter_map(|c| f(c)).collect();
                if v.is_empty() {
                    "–".to_string()
                } else {
                    format!("{:.1}", stats::quantile(&v, 0.5))
                }
            };
            let _ = writeln!(
                out,
                "| {p} | {} | {} | {} | {} | {} | {} |",
                valid.len(),
                self.discarded(p),
                med(&|c| c.scheduled_ms),
                med(&|c| c.started_ms),
                med(&|c| c.healthy_ms),
                med(&|c| Some(c.total_ms)),
            );
        }
        if !self.cold_timing.is_empty() {
            let _ = writeln!(out);
        }
        for t in &self.cold_timing {
            let _ = writeln!(out, "- {}", t.describe(&self.settings.poll_schedule));
        }
        for c in self.cold_samples.iter().filter(|c| !c.valid) {
            let _ = writeln!(
                out,
                "\n- discarded {} round {}: {}",
                c.platform,
                c.round + 1,
                c.discarded.as_deref().unwrap_or("")
            );
        }
        if !self.warm.is_empty() {
            let _ = writeln!(out, "\n## Warm latency (open loop)\n");
            let _ = writeln!(
                out,
                "| platform | requested | ok | errors | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
            for w in &self.warm {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    w.platform,
                    w.requested,
                    w.ok,
                    w.errors,
                    w.achieved_rate,
                    w.p50_ms,
                    w.p90_ms,
                    w.p99_ms,
                    w.p999_ms,
                    w.max_ms
                );
            }
        }
        let _ = writeln!(
            out,
            "\nExit code {} ({}). Raw samples: verify.json; picture: verify.svg.",
            self.exit_code,
            self.verdict.as_str()
        );
        out
    }

    /// Metrics as OpenMetrics text (`openmetrics = true`, ends with `# EOF`) or as the
    /// Prometheus text format 0.0.4 that a Pushgateway accepts (no UNIT lines, no EOF).
    pub fn openmetrics(&self, openmetrics: bool) -> String {
        let mut out = String::new();
        let family = |out: &mut String, name: &str, help: &str, unit: Option<&str>| {
            let _ = writeln!(out, "# TYPE {name} gauge");
            if openmetrics && let Some(u) = unit {
                let _ = writeln!(out, "# UNIT {name} {u}");
            }
            let _ = writeln!(out, "# HELP {name} {help}");
        };
        family(
            &mut out,
            "k2n_verify_cold_start_seconds",
            "Cold-start time quantile (scale-up or request to first correct response).",
            Some("seconds"),
        );
        for p in ["knative", "nomad"] {
            let v = self.cold_ms(p);
            if v.is_empty() {
                continue;
            }
            for q in COLD_QUANTILES {
                let _ = writeln!(
                    out,
                    "k2n_verify_cold_start_seconds{{platform=\"{p}\",quantile=\"{q}\"}} {}",
                    stats::quantile(&v, q) / 1e3
                );
            }
        }
        family(
            &mut out,
            "k2n_verify_cold_starts",
            "Cold-start attempts by outcome.",
            None,
        );
        for p in ["knative", "nomad"] {
            let _ = writeln!(
                out,
                "k2n_verify_cold_starts{{platform=\"{p}\",outcome=\"valid\"}} {}",
                self.cold_ms(p).len()
            );
            let _ = writeln!(
                out,
                "k2n_verify_cold_starts{{platform=\"{p}\",outcome=\"discarded\"}} {}",
                self.discarded(p)
            );
        }
        if !self.warm.is_empty() {
            family(
                &mut out,
                "k2n_verify_warm_latency_seconds",
                "Warm latency quantile under open-loop load, from the intended send time.",
                Some("seconds"),
            );
            for w in &self.warm {
                for (q, v) in [
                    (0.5, w.p50_ms),
                    (0.9, w.p90_ms),
                    (0.99, w.p99_ms),
                    (0.999, w.p999_ms),
                ] {
                    let _ = writeln!(
                        out,
                        "k2n_verify_warm_latency_seconds{{platform=\"{}\",quantile=\"{q}\"}} {}",
                        w.platform,
                        v / 1e3
                    );
                }
            }
            family(
                &mut out,
                "k2n_verify_warm_requests",
                "Warm requests by outcome.",
                None,
            );
            for w in &self.warm {
                let _ = writeln!(
                    out,
                    "k2n_verify_warm_requests{{platform=\"{}\",outcome=\"ok\"}} {}",
                    w.platform, w.ok
                );
                let _ = writeln!(
                    out,
                    "k2n_verify_warm_requests{{platform=\"{}\",outcome=\"error\"}} {}",
                    w.platform, w.errors
                );
            }
            family(
                &mut out,
                "k2n_verify_warm_achieved_rate",
                "Achieved warm request rate, requests per second.",
                None,
            );
            for w in &self.warm {
                let _ = writeln!(
                    out,
                    "k2n_verify_warm_achieved_rate{{platform=\"{}\"}} {}",
                    w.platform, w.achieved_rate
                );
            }
        }
        family(
            &mut out,
            "k2n_verify_ratio",
            "Nomad/Knative ratio of a metric (point estimate).",
            None,
        );
        for c in &self.comparisons {
            if let Some(r) = c.ratio {
                let _ = writeln!(
                    out,
                    "k2n_verify_ratio{{metric=\"{}\"}} {}",
                    c.metric.replace(' ', "_"),
                    r.estimate
                );
            }
        }
        family(
            &mut out,
            "k2n_verify_verdict",
            "Verdict as its exit code: 0 PASS, 1 FAIL, 3 INCONCLUSIVE.",
            None,
        );
        for c in &self.comparisons {
            let _ = writeln!(
                out,
                "k2n_verify_verdict{{metric=\"{}\"}} {}",
                c.metric.replace(' ', "_"),
                c.verdict.exit_code()
            );
        }
        let _ = writeln!(
            out,
            "k2n_verify_verdict{{metric=\"overall\"}} {}",
            self.exit_code
        );
        if openmetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

impl WarmSummary {
    /// Each block's latencies, ms, in block order: `raw_ms` cut at `block_sizes`.
    fn blocks(&self) -> Vec<Vec<f64>> {
        let mut rest = self.raw_ms.as_slice();
        self.block_sizes
            .iter()
            .map(|&n| {
                let (block, after) = rest.split_at(n.min(rest.len()));
                rest = after;
                block.to_vec()
            })
            .collect()
    }
}

impl Timing {
    /// One line for people: the method, and for polling its resolution against the median.
    fn describe(&self, schedule: &str) -> String {
        match (self.resolution_median_ms, self.resolution_max_ms) {
            (Some(median), Some(max)) => {
                let share = self.resolution_share_of_median.unwrap_or(f64::NAN);
                let coarse = if max > 1.0 && share > 0.02 {
                    " — coarser than 1 ms and 2 % of the median: the poll may read this platform late by that much"
                } else {
                    ""
                };
                format!(
                    "cold-start timing {}: {} ({schedule}); resolution median {median:.3} ms, \
                     max {max:.3} ms ({:.2} % of the median cold start){coarse}",
                    self.platform,
                    self.method,
                    share * 100.0
                )
            }
            _ => format!(
                "cold-start timing {}: {} (one request per sample, held until an instance \
                 answers: no polling error)",
                self.platform, self.method
            ),
        }
    }
}

/// How a platform's valid cold starts were timed; None without valid samples.
fn timing(samples: &[ColdSample], platform: &'static str) -> Option<Timing> {
    let mine: Vec<&ColdSample> = samples
        .iter()
        .filter(|c| c.platform == platform && c.valid)
        .collect();
    let first = mine.first()?;
    let method = if mine.iter().all(|c| c.timing == first.timing) {
        first.timing.to_string()
    } else {
        "held and poll".to_string()
    };
    let resolutions: Vec<f64> = mine.iter().filter_map(|c| c.resolution_ms).collect();
    let (median, max) = if resolutions.is_empty() {
        (None, None)
    } else {
        (
            Some(stats::quantile(&resolutions, 0.5)),
            Some(resolutions.iter().copied().fold(0.0, f64::max)),
        )
    };
    let totals: Vec<f64> = mine.iter().map(|c| c.total_ms).collect();
    let median_total = stats::quantile(&totals, 0.5);
    Some(Timing {
        platform,
        method,
        resolution_median_ms: median,
        resolution_max_ms: max,
        resolution_share_of_median: max.map(|m| m / median_total),
    })
}

fn valid_cold(samples: &[ColdSample], platform: &str) -> Vec<f64> {
    samples
        .iter()
        .filter(|c| c.platform == platform && c.valid)
        .map(|c| c.total_ms)
        .collect()
}

/// Each round's valid cold starts of one platform (0 or 1 sample per round): the rounds pair
/// the platforms in time.
fn cold_blocks(samples: &[ColdSample], platform: &str, rounds: usize) -> Vec<Vec<f64>> {
    let mut blocks = vec![Vec::new(); rounds];
    for c in samples.iter().filter(|c| c.platform == platform && c.valid) {
        if let Some(block) = blocks.get_mut(c.round) {
            block.push(c.total_ms);
        }
    }
    blocks
}

fn compare_all(
    settings: &Settings,
    s: &TestSettings,
    cold: &[ColdSample],
    warm: &[WarmSummary],
) -> Vec<Comparison> {
    let mut rng = SplitMix64::new(settings.seed);
    let mut out = Vec::new();
    let rounds = cold.iter().map(|c| c.round + 1).max().unwrap_or(0);
    let (k, n) = (
        cold_blocks(cold, "knative", rounds),
        cold_blocks(cold, "nomad", rounds),
    );
    for q in COLD_QUANTILES {
        // A tail quantile is judged only when the run was sized for it; the median always is
        // (unless no cold start was asked for), so a run with too few samples ends INCONCLUSIVE
        // rather than silently passing.
        let asked = settings.cold_starts > 0;
        if asked && (q == 0.5 || settings.cold_starts >= stats::min_samples(q)) {
            out.push(stats::compare_blocks(
                &format!("cold {}", q_name(q)),
                &k,
                &n,
                q,
                s,
                &mut rng,
            ));
        }
    }
    let (Some(kw), Some(nw)) = (
        warm.iter().find(|w| w.platform == "knative"),
        warm.iter().find(|w| w.platform == "nomad"),
    ) else {
        return out;
    };
    let expected = (settings.warm_rate * settings.warm_duration_s) as usize;
    for q in WARM_QUANTILES {
        if q == 0.5 || expected >= stats::min_samples(q) {
            out.push(stats::compare_blocks(
                &format!("warm {}", q_name(q)),
                &kw.blocks(),
                &nw.blocks(),
                q,
                s,
                &mut rng,
            ));
        }
    }
    out
}

fn q_name(q: f64) -> String {
    format!("p{}", (q * 1000.0).round() / 10.0)
}

fn ci_text(ci: Option<&stats::Ci>, digits: usize) -> String {
    match ci {
        Some(c) => format!(
            "{:.d$} [{:.d$}, {:.d$}]",
            c.estimate,
            c.lo,
            c.hi,
            d = digits
        ),
        None => "n/a".to_string(),
    }
}

fn tolerance_text(t: &Tolerance) -> String {
    match (t.rel, t.abs_ms) {
        (Some(r), Some(a)) => format!("+{:.1}% or +{a} ms, whichever is larger", r * 100.0),
        (Some(r), None) => format!("+{:.1}%", r * 100.0),
        (None, Some(a)) => format!("+{a} ms"),
        (None, None) => "none".to_string(),
    }
}

/// A Pushgateway URL as it may be shown: any password in it replaced by `redacted`.
pub fn displayable_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        // Unparseable: it may still hold a secret, so show none of it.
        Err(_) => "(the --pushgateway URL, which is not a valid URL)".to_string(),
    }
}

/// PUT the metrics text to a Pushgateway URL (`.../metrics/job/<job>[/<label>/<value>]`).
/// Errors name the URL without its password.
pub async fn push(url: &str, text: &str) -> anyhow::Result<()> {
    push_unnamed(url, text)
        .await
        .with_context(|| format!("pushing metrics to {}", displayable_url(url)))
}

async fn push_unnamed(url: &str, text: &str) -> anyhow::Result<()> {
    crate::crypto::install_crypto_provider();
    // No redirects: a push is a PUT with a body, and a redirect could carry the basic-auth
    // credentials of a `user:password@` URL elsewhere; a 3xx is reported below instead.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;
    let resp = client
        .put(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(text.to_string())
        .send()
        .await
        // reqwest's error text holds the URL, with its `user:password@` if it has one.
        .map_err(|e| e.without_url())
        .context("sending")?;
    let status = resp.status();
    if status.is_redirection() {
        anyhow::bail!(
            "the Pushgateway answered {status}; redirects are not followed: give its final URL"
        );
    }
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let body = credentials_of(url).redact(body.trim()).into_owned();
        anyhow::bail!("the Pushgateway answered {status}: {body}");
    }
    Ok(())
}

/// The credentials of a `user:password@` URL as a server could echo them back: the password
/// as written and decoded, and the `Authorization: Basic` value reqwest sends for them.
fn credentials_of(url: &str) -> crate::redact::Redactor {
    use crate::redact::{Redactor, basic_auth_credentials, percent_decode};
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Redactor::default();
    };
    let Some(password) = parsed.password() else {
        return Redactor::default();
    };
    let decoded = percent_decode(password);
    let header = basic_auth_credentials(&percent_decode(parsed.username()), &decoded);
    Redactor::new([password, decoded.as_ref(), header.as_str()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_blocks_are_the_raw_latencies_cut_at_the_block_sizes() {
        let w = WarmSummary {
            platform: "nomad",
            requested: 5,
            ok: 5,
            errors: 0,
            achieved_rate: 0.0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            p999_ms: 0.0,
            max_ms: 0.0,
            raw_ms: vec![1.0, 2.0, 3.0, 4.0, 5.0],
            block_sizes: vec![2, 0, 3],
        };
        assert_eq!(
            w.blocks(),
            vec![vec![1.0, 2.0], vec![], vec![3.0, 4.0, 5.0]]
        );
    }

    #[test]
    fn a_pushgateway_password_is_never_shown() {
        assert_eq!(
            displayable_url("https://ci:hunter2@127.0.0.1:9091/metrics/job/k2n"),
            "https://ci:redacted@127.0.0.1:9091/metrics/job/k2n"
        );
        assert_eq!(
            displayable_url("http://127.0.0.1:9091/metrics/job/k2n"),
            "http://127.0.0.1:9091/metrics/job/k2n"
        );
        assert!(!displayable_url("http://ci:hunter2@[::1").contains("hunter2"));
    }

    #[test]
    fn a_pushgateway_echoing_the_request_does_not_get_the_password_printed() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let echo = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers and the short body arrive before the client waits for an answer.
            while !request.ends_with(b"x 1\n") {
                let n = stream.read(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&request).into_owned();
            let response = format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
            body
        });
        let url = format!("http://ci:p%40ss@127.0.0.1:{port}/metrics/job/k2n");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = runtime.block_on(push(&url, "x 1\n")).unwrap_err();
        let echoed = echo.join().unwrap();
        // base64("ci:p@ss"), RFC 7617: what the server received and sent back.
        assert!(echoed.contains("Basic Y2k6cEBzcw=="), "{echoed}");
        let text = format!("{err:#}");
        assert!(
            text.contains("500") && text.contains("<redacted>"),
            "{text}"
        );
        for secret in ["Y2k6cEBzcw==", "p@ss", "p%40ss"] {
            assert!(!text.contains(secret), "{secret}: {text}");
        }
    }

    #[test]
    fn a_failed_push_does_not_repeat_the_password() {
        // A port nothing listens on: the connection is refused, and the error names the URL.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://ci:hunter2@127.0.0.1:{port}/metrics/job/k2n");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = runtime.block_on(push(&url, "x 1\n")).unwrap_err();
        let text = format!("{err:#} {err:?}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
