//! The SVG chart, written by hand (no plotting dependency): the admitted
//! rate per bin (left axis) and the deepest queue per bin (right axis) over
//! time, with the configured rate and the queue capacity as dashed lines.

use std::fmt::Write as _;

use crate::sampler::Sample;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 80.0;
const TOP: f64 = 78.0;
const BOTTOM: f64 = 56.0;
const RATE_COLOUR: &str = "#1f77b4";
const QUEUE_COLOUR: &str = "#e8710a";
const OFFERED_COLOUR: &str = "#aaaaaa";

/// What the chart shows.
#[derive(Debug)]
pub(crate) struct Chart<'a> {
    pub(crate) samples: &'a [Sample],
    /// The token bucket's rate, requests per second.
    pub(crate) configured_rate: f64,
    pub(crate) queue_capacity: usize,
    /// A line under the title (the run's settings).
    pub(crate) subtitle: &'a str,
}

/// One bin as plotted: from `t0` to `t1` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bin {
    t0: f64,
    t1: f64,
    rate: f64,
    offered: f64,
    queue: f64,
}

/// The bins between consecutive samples (empty ones skipped).
fn bins(samples: &[Sample]) -> Vec<Bin> {
    samples
        .windows(2)
        .filter(|w| w[1].t > w[0].t)
        .map(|w| Bin {
            t0: w[0].t,
            t1: w[1].t,
            rate: w[1].admitted.saturating_sub(w[0].admitted) as f64 / (w[1].t - w[0].t),
            offered: w[1].offered.saturating_sub(w[0].offered) as f64 / (w[1].t - w[0].t),
            queue: w[1].queue_max as f64,
        })
        .collect()
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about
/// `target` ticks from 0 to `max`.
pub(crate) fn nice_step(max: f64, target: u32) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / f64::from(target.max(1));
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// The axis top for `max`: the first multiple of its nice step at or above
/// it, and that step.
fn axis(max: f64) -> (f64, f64) {
    let step = nice_step(max, 5);
    let top = ((max / step).ceil() * step).max(step);
    (top, step)
}

/// A tick label: as many decimals as the step needs.
pub(crate) fn label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{value:.decimals$}")
}

/// Escapes text for SVG.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A step path through the bins: flat over each bin at `value(bin)`.
fn step_path(bins: &[Bin], x: impl Fn(f64) -> f64, y: impl Fn(&Bin) -> f64) -> String {
    let mut d = String::new();
    for (i, bin) in bins.iter().enumerate() {
        let command = if i == 0 { 'M' } else { 'L' };
        let _ = write!(
            d,
            "{command}{:.1},{:.1} L{:.1},{:.1} ",
            x(bin.t0),
            y(bin),
            x(bin.t1),
            y(bin)
        );
    }
    d.trim_end().to_owned()
}

impl Chart<'_> {
    /// The whole SVG document.
    pub(crate) fn render(&self) -> String {
        let bins = bins(self.samples);
        let t_max = bins.last().map_or(1.0, |b| b.t1).max(1e-3);
        let rate_max = bins
            .iter()
            .map(|b| b.rate.max(b.offered))
            .fold(self.configured_rate, f64::max);
        // Time runs to the end of the run exactly; ticks stop before it.
        let (x_top, x_step) = (t_max, nice_step(t_max, 8));
        let (rate_top, rate_step) = axis(rate_max * 1.05);
        let (queue_top, queue_step) = axis(self.queue_capacity as f64);

        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let x = |t: f64| LEFT + t / x_top * plot_w;
        let y_rate = |r: f64| TOP + plot_h - r / rate_top * plot_h;
        let y_queue = |q: f64| TOP + plot_h - q / queue_top * plot_h;
        let bottom = TOP + plot_h;
        let right = LEFT + plot_w;

        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            s,
            "<title>sluicegate chain: admitted rate and queue depth over time</title>"
        );
        let _ = writeln!(
            s,
            r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="24" font-size="16" font-weight="bold">sluicegate chain: admitted rate and queue depth</text>"#
        );
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="42" fill="#555">{}</text>"##,
            escape(self.subtitle)
        );

        // Grid and left axis (rate), bottom axis (time).
        let _ = writeln!(s, r##"<g stroke="#ddd" stroke-width="1">"##);
        for i in 0..=((rate_top / rate_step).round() as u32) {
            let y = y_rate(f64::from(i) * rate_step);
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}"/>"#
            );
        }
        let _ = writeln!(s, "</g>");
        let _ = writeln!(
            s,
            r##"<g stroke="#333" stroke-width="1"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/><line x1="{right}" y1="{TOP}" x2="{right}" y2="{bottom}"/><line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/></g>"##
        );
        let _ = writeln!(s, r#"<g text-anchor="end" fill="{RATE_COLOUR}">"#);
        for i in 0..=((rate_top / rate_step).round() as u32) {
            let value = f64::from(i) * rate_step;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                LEFT - 6.0,
                y_rate(value) + 4.0,
                label(value, rate_step)
            );
        }
        let _ = writeln!(s, "</g>");
        let _ = writeln!(s, r#"<g text-anchor="start" fill="{QUEUE_COLOUR}">"#);
        for i in 0..=((queue_top / queue_step).round() as u32) {
            let value = f64::from(i) * queue_step;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                right + 6.0,
                y_queue(value) + 4.0,
                label(value, queue_step)
            );
        }
        let _ = writeln!(s, "</g>");
        let _ = writeln!(s, r##"<g text-anchor="middle" fill="#333">"##);
        for i in 0..=((x_top / x_step + 1e-9).floor() as u32) {
            let value = f64::from(i) * x_step;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                x(value),
                bottom + 18.0,
                label(value, x_step)
            );
        }
        let _ = writeln!(s, "</g>");
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">time (s)</text>"##,
            LEFT + plot_w / 2.0,
            HEIGHT - 12.0
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle" fill="{RATE_COLOUR}">admitted (requests/s)</text>"#,
            TOP + plot_h / 2.0
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate({:.1} {:.1}) rotate(90)" text-anchor="middle" fill="{QUEUE_COLOUR}">queue depth (jobs)</text>"#,
            WIDTH - 20.0,
            TOP + plot_h / 2.0
        );

        // Reference lines, then the two series.
        let _ = writeln!(
            s,
            r#"<line id="configured-rate" x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="{RATE_COLOUR}" stroke-width="1" stroke-dasharray="6 4" opacity="0.7"/>"#,
            y = y_rate(self.configured_rate)
        );
        let _ = writeln!(
            s,
            r#"<line id="queue-capacity" x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="{QUEUE_COLOUR}" stroke-width="1" stroke-dasharray="6 4" opacity="0.7"/>"#,
            y = y_queue(self.queue_capacity as f64)
        );
        let _ = writeln!(
            s,
            r#"<path id="offered-rate" d="{}" fill="none" stroke="{OFFERED_COLOUR}" stroke-width="1"/>"#,
            step_path(&bins, x, |b| y_rate(b.offered))
        );
        let _ = writeln!(
            s,
            r#"<path id="queue-depth" d="{}" fill="none" stroke="{QUEUE_COLOUR}" stroke-width="1.2"/>"#,
            step_path(&bins, x, |b| y_queue(b.queue))
        );
        let _ = writeln!(
            s,
            r#"<path id="admitted-rate" d="{}" fill="none" stroke="{RATE_COLOUR}" stroke-width="1.6"/>"#,
            step_path(&bins, x, |b| y_rate(b.rate))
        );

        // Legend: one row between the subtitle and the plot.
        let entries = [
            (RATE_COLOUR, "", "admitted rate (req/s)", 160.0),
            (RATE_COLOUR, "6 4", "configured rate", 125.0),
            (OFFERED_COLOUR, "", "offered rate (req/s)", 155.0),
            (QUEUE_COLOUR, "", "queue depth (max per bin)", 205.0),
            (QUEUE_COLOUR, "6 4", "queue capacity", 0.0),
        ];
        let _ = writeln!(s, r#"<g id="legend">"#);
        let mut lx = LEFT;
        let ly = 60.0;
        for (colour, dash, text, width) in entries {
            let _ = writeln!(
                s,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{}">{text}</text>"#,
                lx + 24.0,
                lx + 30.0,
                ly + 4.0
            );
            lx += width;
        }
        let _ = writeln!(s, "</g>");
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, admitted: u64, queue_max: usize) -> Sample {
        Sample {
            t,
            offered: 2 * admitted,
            admitted,
            queue_max,
        }
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(5_000.0, 5), 1_000.0);
        assert_eq!(nice_step(256.0, 5), 100.0);
        assert_eq!(nice_step(64.0, 5), 20.0);
        assert_eq!(nice_step(0.38, 5), 0.1);
        assert_eq!(nice_step(17.0, 5), 5.0);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(nice_step(f64::NAN, 5), 1.0);
        assert_eq!(axis(256.0), (300.0, 100.0));
        assert_eq!(axis(5_250.0), (6_000.0, 2_000.0));
    }

    #[test]
    fn labels_and_escaping() {
        assert_eq!(label(2_000.0, 1_000.0), "2000");
        assert_eq!(label(0.30000000000000004, 0.1), "0.3");
        assert_eq!(label(0.25, 0.05), "0.25");
        assert_eq!(escape(r#"a<b & "c">"#), "a&lt;b &amp; &quot;c&quot;&gt;");
    }

    #[test]
    fn bins_turn_counts_into_rates() {
        let samples = [
            sample(0.0, 0, 0),
            sample(0.5, 1_000, 30),
            sample(1.0, 1_500, 64),
        ];
        assert_eq!(
            bins(&samples),
            [
                Bin {
                    t0: 0.0,
                    t1: 0.5,
                    rate: 2_000.0,
                    offered: 4_000.0,
                    queue: 30.0
                },
                Bin {
                    t0: 0.5,
                    t1: 1.0,
                    rate: 1_000.0,
                    offered: 2_000.0,
                    queue: 64.0
                },
            ]
        );
        // A repeated timestamp makes no bin (no division by zero).
        assert_eq!(bins(&[sample(1.0, 0, 0), sample(1.0, 5, 0)]), []);
    }

    #[test]
    fn renders_both_series_with_axes_and_legend() {
        let samples: Vec<_> = (0..=20u32)
            .map(|i| {
                sample(
                    f64::from(i) * 0.1,
                    u64::from(i) * 400,
                    (i as usize * 7) % 64,
                )
            })
            .collect();
        let svg = Chart {
            samples: &samples,
            configured_rate: 4_000.0,
            queue_capacity: 64,
            subtitle: "rate <4000/s> & more",
        }
        .render();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        for needle in [
            r#"id="admitted-rate" d="M"#,
            r#"id="queue-depth" d="M"#,
            r#"id="configured-rate""#,
            r#"id="queue-capacity""#,
            r#"id="offered-rate" d="M"#,
            "admitted rate (req/s)",
            "queue depth (max per bin)",
            "time (s)",
            "rate &lt;4000/s&gt; &amp; more",
        ] {
            assert!(svg.contains(needle), "{needle} missing");
        }
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        // Every element opened is closed.
        assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        // 20 bins: one M, then 2 points per bin.
        let path = svg.split(r#"id="admitted-rate" d=""#).nth(1).unwrap();
        let path = &path[..path.find('"').unwrap()];
        assert_eq!(path.matches('L').count(), 2 * 20 - 1);
    }

    #[test]
    fn renders_an_empty_run() {
        let svg = Chart {
            samples: &[sample(0.0, 0, 0)],
            configured_rate: 10.0,
            queue_capacity: 1,
            subtitle: "",
        }
        .render();
        assert!(svg.contains(r#"id="admitted-rate" d="""#));
        assert!(!svg.contains("NaN"));
    }
}
