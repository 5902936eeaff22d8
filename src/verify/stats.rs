//! Statistics for the verdict: quantiles, seeded bootstrap confidence intervals, and the
//! non-inferiority / equivalence test of Nomad against Knative under a tolerance.
//!
//! The test, per metric (a quantile of cold-start time or warm latency): the *allowed* value for
//! Nomad is `max(k × (1 + rel), k + abs)` where `k` is Knative's quantile (either tolerance may be
//! absent). The statistic is `m = nomad_q / allowed(knative_q)`; its percentile-bootstrap
//! confidence interval (both sides resampled independently, `level` two-sided) decides:
//! upper bound ≤ 1 → PASS (Nomad is no worse than the tolerance allows, with that confidence);
//! lower bound > 1 → FAIL; otherwise INCONCLUSIVE, i.e. more samples are needed. Equivalence mode
//! also applies the test the other way round (Nomad must not be *faster* beyond the tolerance).
//! A quantile q is only judged with at least 5 samples per side, and a tail quantile only with
//! 10 samples beyond it (`⌈10 / (1 − q)⌉`: p90 100, p99 1,000). The random numbers come from a seeded SplitMix64, so a report can be reproduced.
//!
//! The verifier's samples come in *paired blocks*: block i of Knative and block i of Nomad were
//! taken next to each other in time (a round of cold starts, or two adjacent slices of warm
//! load). [`compare_blocks`] resamples whole pairs of blocks (a cluster bootstrap), so the
//! interval carries the variation between periods — a machine that is slower for a while —
//! which resampling single samples would treat as if it could not happen, and the pairing lets
//! drift that hits both platforms alike cancel in the ratio. [`compare`] resamples two
//! independent samples, for data without that structure.

use serde::Serialize;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for resampling indices.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform index in 0..n (Lemire's multiply-shift; the bias is negligible for our n).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Standard normal (Box–Muller), for tests and simulations.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1], so ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Quantile by linear interpolation between order statistics (Hyndman–Fan type 7, the default
/// of R and NumPy). `sorted` must be sorted ascending and non-empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Quantile of an unsorted sample (copies and sorts).
pub fn quantile(samples: &[f64], q: f64) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, q)
}

/// Quantile of `buf` in place using selection (O(n)); the buffer order is destroyed.
fn quantile_select(buf: &mut [f64], q: f64) -> f64 {
    let h = (buf.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let (_, lo_v, right) = buf.select_nth_unstable_by(lo, f64::total_cmp);
    let lo_v = *lo_v;
    let hi_v = right.iter().copied().fold(f64::INFINITY, f64::min);
    if right.is_empty() {
        lo_v
    } else {
        lo_v + (h - lo as f64) * (hi_v - lo_v)
    }
}

/// Samples that must lie beyond a tail quantile, on each side, for it to be judged.
pub const TAIL_SAMPLES: f64 = 10.0;

/// Smallest sample count per side at which quantile `q` is judged: 5 for the median and below;
/// for a tail quantile, enough that 10 samples lie beyond it (p90 100, p99 1,000, p99.9
/// 10,000). A bootstrap of a quantile with only a few samples beyond it rests on those few
/// values and its interval misses far more often than its level says: with 4 samples beyond the
/// p99 (400 per side) one server against itself FAILed warm p99 in 1 of 40 runs (BENCHMARKS.md).
pub fn min_samples(q: f64) -> usize {
    if q <= 0.5 {
        return 5;
    }
    // The small subtraction keeps 10 / (1 − 0.9) = 100.00000000000001 from rounding up to 101.
    let need = (TAIL_SAMPLES / (1.0 - q.min(0.999_999)) - 1e-9).ceil() as usize;
    need.max(5)
}

/// A point estimate with a confidence interval.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Ci {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Percentile-bootstrap CI of quantile `q` of one sample.
pub fn bootstrap_quantile_ci(
    samples: &[f64],
    q: f64,
    level: f64,
    resamples: usize,
    rng: &mut SplitMix64,
) -> Ci {
    let estimate = quantile(samples, q);
    if samples.len() < 2 {
        return Ci {
            estimate,
            lo: estimate,
            hi: estimate,
        };
    }
    let mut stats = Vec::with_capacity(resamples);
    let mut buf = vec![0.0; samples.len()];
    for _ in 0..resamples {
        resample_into(samples, &mut buf, rng);
        stats.push(quantile_select(&mut buf, q));
    }
    interval(estimate, stats, level)
}

fn resample_into(samples: &[f64], buf: &mut [f64], rng: &mut SplitMix64) {
    for slot in buf.iter_mut() {
        *slot = samples[rng.below(samples.len())];
    }
}

fn interval(estimate: f64, mut stats: Vec<f64>, level: f64) -> Ci {
    stats.retain(|v| v.is_finite());
    stats.sort_by(f64::total_cmp);
    let alpha = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
    Ci {
        estimate,
        lo: quantile_sorted(&stats, alpha),
        hi: quantile_sorted(&stats, 1.0 - alpha),
    }
}

/// How much worse Nomad may be.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Tolerance {
    /// Relative: 0.1 allows Nomad 10 % slower.
    pub rel: Option<f64>,
    /// Absolute, in milliseconds.
    pub abs_ms: Option<f64>,
}

impl Tolerance {
    /// The largest value Nomad may show when Knative shows `k`.
    pub fn allowed(&self, k: f64) -> f64 {
        let rel = self.rel.map(|r| k * (1.0 + r));
        let abs = self.abs_ms.map(|a| k + a);
        match (rel, abs) {
            (Some(r), Some(a)) => r.max(a),
            (Some(r), None) => r,
            (None, Some(a)) => a,
            (None, None) => k,
        }
    }
}

/// Outcome of one metric, and of the whole run (the worst metric wins: FAIL > INCONCLUSIVE > PASS).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Inconclusive,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::Fail => "FAIL",
        }
    }

    /// The documented exit code: 0 PASS, 1 FAIL, 3 INCONCLUSIVE (2 is clap's usage error).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive => 3,
        }
    }
}

/// Settings shared by every comparison.
#[derive(Debug, Clone, Copy)]
pub struct TestSettings {
    pub tolerance: Tolerance,
    pub level: f64,
    pub resamples: usize,
    pub equivalence: bool,
}

/// One metric compared between the platforms.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub metric: String,
    pub quantile: f64,
    pub knative_n: usize,
    pub nomad_n: usize,
    /// Knative's quantile in ms, with CI (None when not enough samples).
    pub knative: Option<Ci>,
    pub nomad: Option<Ci>,
    /// nomad_q / knative_q.
    pub ratio: Option<Ci>,
    /// nomad_q / allowed(knative_q): the tested statistic (≤ 1 is within tolerance).
    pub margin: Option<Ci>,
    pub verdict: Verdict,
    pub reason: String,
}

/// Compare quantile `q` of two independent samples (milliseconds) under the settings.
pub fn compare(
    metric: &str,
    knative: &[f64],
    nomad: &[f64],
    q: f64,
    s: &TestSettings,
    rng: &mut SplitMix64,
) -> Comparison {
    let mut kb = vec![0.0; knative.len()];
    let mut nb = vec![0.0; nomad.len()];
    judge(
        metric,
        knative,
        nomad,
        q,
        s,
        |rng| {
            resample_into(knative, &mut kb, rng);
            resample_into(nomad, &mut nb, rng);
            (quantile_select(&mut kb, q), quantile_select(&mut nb, q))
        },
        rng,
    )
}

/// The test itself: `resample` draws one bootstrap replicate of (Knative, Nomad) quantiles.
fn judge(
    metric: &str,
    knative: &[f64],
    nomad: &[f64],
    q: f64,
    s: &TestSettings,
    mut resample: impl FnMut(&mut SplitMix64) -> (f64, f64),
    rng: &mut SplitMix64,
) -> Comparison {
    let need = min_samples(q);
    let mut out = Comparison {
        metric: metric.to_string(),
        quantile: q,
        knative_n: knative.len(),
        nomad_n: nomad.len(),
        knative: None,
        nomad: None,
        ratio: None,
        margin: None,
        verdict: Verdict::Inconclusive,
        reason: String::new(),
    };
    if knative.len() < need || nomad.len() < need {
        out.reason = format!(
            "needs at least {need} samples per side (have {} Knative, {} Nomad)",
            knative.len(),
            nomad.len()
        );
        return out;
    }
    // Keep the cost bounded for big warm samples: about 2·10⁷ resampled values in total.
    let work = knative.len() + nomad.len();
    let resamples = s.resamples.min((20_000_000 / work).max(200));
    let (kq, nq) = (quantile(knative, q), quantile(nomad, q));
    let (mut ks, mut ns) = (Vec::new(), Vec::new());
    let (mut ratios, mut margins, mut reverse) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..resamples {
        let (k, n) = resample(rng);
        ks.push(k);
        ns.push(n);
        ratios.push(n / k);
        margins.push(n / s.tolerance.allowed(k));
        reverse.push(k / s.tolerance.allowed(n));
    }
    let margin = interval(nq / s.tolerance.allowed(kq), margins, s.level);
    let reverse = interval(kq / s.tolerance.allowed(nq), reverse, s.level);
    out.knative = Some(interval(kq, ks, s.level));
    out.nomad = Some(interval(nq, ns, s.level));
    out.ratio = Some(interval(nq / kq, ratios, s.level));
    out.margin = Some(margin);
    let pct = s.level * 100.0;
    (out.verdict, out.reason) = if margin.lo > 1.0 {
        (
            Verdict::Fail,
            format!("Nomad slower than allowed ({pct}% CI of nomad/allowed above 1)"),
        )
    } else if s.equivalence && reverse.lo > 1.0 {
        (
            Verdict::Fail,
            format!("Nomad faster than the equivalence margin ({pct}% CI)"),
        )
    } else if margin.hi <= 1.0 && (!s.equivalence || reverse.hi <= 1.0) {
        (
            Verdict::Pass,
            format!("within tolerance ({pct}% CI of nomad/allowed at most 1)"),
        )
    } else {
        (
            Verdict::Inconclusive,
            format!("{pct}% CI straddles the tolerance; more samples needed"),
        )
    };
    out
}

/// Compare quantile `q` of two samples (milliseconds) taken in paired blocks: `knative[i]` and
/// `nomad[i]` come from the same period (a side may have fewer blocks, or empty ones, e.g. a
/// discarded cold start). The bootstrap draws pairs of blocks with replacement and pools each
/// side's values of the drawn pairs.
pub fn compare_blocks(
    metric: &str,
    knative: &[Vec<f64>],
    nomad: &[Vec<f64>],
    q: f64,
    s: &TestSettings,
    rng: &mut SplitMix64,
) -> Comparison {
    let pool = |blocks: &[Vec<f64>]| blocks.iter().flatten().copied().collect::<Vec<f64>>();
    let (k_all, n_all) = (pool(knative), pool(nomad));
    let pairs = knative.len().max(nomad.len());
    let (mut kb, mut nb) = (
        Vec::with_capacity(k_all.len()),
        Vec::with_capacity(n_all.len()),
    );
    judge(
        metric,
        &k_all,
        &n_all,
        q,
        s,
        |rng| {
            kb.clear();
            nb.clear();
            for _ in 0..pairs {
                let i = rng.below(pairs);
                kb.extend_from_slice(block(knative, i));
                nb.extend_from_slice(block(nomad, i));
            }
            // A resample that drew no value for a side has no quantile; `interval` drops it.
            if kb.is_empty() || nb.is_empty() {
                return (f64::NAN, f64::NAN);
            }
            (quantile_select(&mut kb, q), quantile_select(&mut nb, q))
        },
        rng,
    )
}

/// Block `i` of one side, empty when that side has fewer blocks.
fn block(side: &[Vec<f64>], i: usize) -> &[f64] {
    side.get(i).map_or(&[], Vec::as_slice)
}

/// The worst verdict of a run; no gated metric at all is INCONCLUSIVE.
pub fn overall(comparisons: &[Comparison]) -> Verdict {
    comparisons
        .iter()
        .map(|c| c.verdict)
        .max()
        .unwrap_or(Verdict::Inconclusive)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two platforms that are the same (A/A), measured in 20 paired blocks of 10 samples while
    /// the machine drifts: each period has its own level, shared by both platforms' blocks of
    /// that period, and each block its own offset (load that came and went within it), larger
    /// than the spread inside a block. The ratio's 95 % interval should miss the true ratio 1
    /// in about 5 % of runs.
    fn aa_misses(trials: usize, blocked: bool) -> usize {
        let settings = TestSettings {
            tolerance: Tolerance {
                rel: Some(0.0),
                abs_ms: None,
            },
            level: 0.95,
            resamples: 250,
            equivalence: false,
        };
        let mut rng = SplitMix64::new(11);
        let mut misses = 0;
        for _ in 0..trials {
            let mut blocks = [Vec::new(), Vec::new()];
            for _ in 0..20 {
                let period = 0.2 * rng.normal();
                for side in &mut blocks {
                    let block_offset = 0.1 * rng.normal();
                    side.push(
                        (0..10)
                            .map(|_| 100.0 * (period + block_offset + 0.05 * rng.normal()).exp())
                            .collect::<Vec<f64>>(),
                    );
                }
            }
            let [k, n] = &blocks;
            let c = if blocked {
                compare_blocks("aa", k, n, 0.5, &settings, &mut rng)
            } else {
                let (k, n): (Vec<f64>, Vec<f64>) = (k.concat(), n.concat());
                compare("aa", &k, &n, 0.5, &settings, &mut rng)
            };
            let ratio = c.ratio.unwrap();
            if ratio.lo > 1.0 || ratio.hi < 1.0 {
                misses += 1;
            }
        }
        misses
    }

    #[test]
    fn block_bootstrap_keeps_its_level_under_drift_where_sample_resampling_does_not() {
        let blocked = aa_misses(200, true);
        let independent = aa_misses(200, false);
        // Nominal: 10 of 200. Resampling single samples takes the ten samples of a block for
        // ten independent ones and misses several times as often (49 with these seeds);
        // pairs of blocks keep the level (11).
        assert!(blocked <= 18, "blocked: {blocked}/200");
        assert!(
            independent >= 3 * blocked.max(10),
            "independent: {independent}/200"
        );
    }

    #[test]
    fn blocks_with_no_value_on_one_side_still_compare() {
        let k = vec![
            vec![100.0],
            vec![],
            vec![102.0],
            vec![98.0],
            vec![101.0],
            vec![99.0],
        ];
        let n = vec![
            vec![101.0],
            vec![100.0],
            vec![],
            vec![99.0],
            vec![100.5],
            vec![98.5],
        ];
        let c = compare_blocks(
            "cold",
            &k,
            &n,
            0.5,
            &TestSettings {
                tolerance: Tolerance {
                    rel: Some(0.1),
                    abs_ms: None,
                },
                level: 0.95,
                resamples: 500,
                equivalence: false,
            },
            &mut SplitMix64::new(1),
        );
        assert_eq!((c.knative_n, c.nomad_n), (5, 5));
        assert_eq!(c.verdict, Verdict::Pass, "{c:?}");
    }
}
