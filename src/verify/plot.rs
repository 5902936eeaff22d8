//! The report's picture: cold-start CDFs of both platforms (left) and the warm-latency CDFs on a
//! logarithmic axis (right), as one SVG. plotters' SVG backend writes text as `<text>` elements,
//! so no system font is read (the crate is built without its `ttf` feature).

use super::report::Report;
use anyhow::Context;
use plotters::prelude::*;

const KNATIVE: RGBColor = RGBColor(31, 119, 180);
const NOMAD: RGBColor = RGBColor(214, 39, 40);

/// Empirical CDF points (value, fraction ≤ value) of a sample.
fn ecdf(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mut out = Vec::with_capacity(v.len() * 2);
    for (i, x) in v.iter().enumerate() {
        // Steps: the CDF jumps at each sample.
        out.push((*x, i as f64 / n));
        out.push((*x, (i + 1) as f64 / n));
    }
    out
}

/// Render the picture as SVG text.
pub fn svg(report: &Report) -> anyhow::Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (1100, 460)).into_drawing_area();
        root.fill(&WHITE).context("drawing the background")?;
        let title = format!("knative2nomad verify: {}", report.verdict.as_str());
        let root = root
            .titled(&title, ("sans-serif", 20))
            .context("drawing the title")?;
        let (left, right) = root.split_horizontally(550);

        let series = [
            ("knative", KNATIVE, report.cold_ms("knative")),
            ("nomad", NOMAD, report.cold_ms("nomad")),
        ];
        let (min, max) = series
            .iter()
            .flat_map(|(_, _, v)| v.iter().copied())
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        // Zoom on the samples: cold starts of 200 ms vs 240 ms would be a sliver from 0.
        let (x_lo, x_hi) = if min.is_finite() && max > min {
            let pad = (max - min) * 0.1;
            ((min - pad).max(0.0), max + pad)
        } else {
            (0.0, max.max(1.0) * 1.05)
        };
        let mut chart = ChartBuilder::on(&left)
            .caption("Cold start (CDF)", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x_lo..x_hi, 0.0..1.0)
            .context("laying out the cold-start chart")?;
        chart
            .configure_mesh()
            .x_desc("ms from scale-up / request to first correct response")
            .y_desc("fraction")
            .draw()
            .context("drawing the cold-start axes")?;
        for (name, color, values) in &series {
            chart
                .draw_series(LineSeries::new(ecdf(values), color.stroke_width(2)))
                .context("drawing a cold-start CDF")?
                .label(format!("{name} (n={})", values.len()))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], *color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .context("drawing the legend")?;

        if report.warm.is_empty() {
            right
                .draw(&Text::new(
                    "no warm load measured",
                    (150, 200),
                    ("sans-serif", 16),
                ))
                .context("drawing a note")?;
        } else {
            let all = report.warm.iter().flat_map(|w| w.raw_ms.iter().copied());
            let (lo, hi) = all.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            let lo = if lo.is_finite() && lo > 0.0 {
                lo * 0.9
            } else {
                0.01
            };
            let hi = (hi * 1.1).max(lo * 10.0);
            let mut chart = ChartBuilder::on(&right)
                .caption("Warm latency, open loop (CDF)", ("sans-serif", 16))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
                .context("laying out the warm-latency chart")?;
            chart
                .configure_mesh()
                .x_desc("ms from intended send time (log scale)")
                .y_desc("fraction")
                .draw()
                .context("drawing the warm-latency axes")?;
            for w in &report.warm {
                let color = if w.platform == "knative" {
                    KNATIVE
                } else {
                    NOMAD
                };
                chart
                    .draw_series(LineSeries::new(ecdf(&w.raw_ms), color.stroke_width(2)))
                    .context("drawing a warm-latency CDF")?
                    .label(format!("{} (p99 {:.2} ms)", w.platform, w.p99_ms))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .context("drawing the legend")?;
        }
        root.present().context("finishing the SVG")?;
    }
    Ok(buf)
}
