//! The result of a benchmark run: the hardware line, measured rows and goals computed from them,
//! printed as a table or as one JSON object (DESIGN.md section 7).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// One benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario (`"wal"`, ...).
    pub scenario: String,
    /// What the run was measured on.
    pub hardware: Hardware,
    /// Every measurement, the system under test and its baselines side by side.
    pub rows: Vec<Row>,
    /// The goals of the scenario, computed from `rows`.
    pub goals: Vec<Goal>,
}

/// The machine and disk a run was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Hardware {
    /// Logical cores available to the process.
    pub cores: usize,
    /// CPU model, if known.
    pub cpu: String,
    /// Median `fdatasync` latency of a 4 KiB overwrite in a preallocated file, in microseconds,
    /// measured at the start of the run in the benchmark directory.
    pub fdatasync_p50_us: f64,
    /// File system type of the benchmark directory (`ext4`, `tmpfs`, ...), if found.
    pub filesystem: String,
    /// Device and mount point of that file system.
    pub device: String,
    /// `"dropped"` if the page cache was dropped before cold reads, else `"warm"`.
    pub page_cache: String,
    /// Kernel release.
    pub kernel: String,
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// System under test or baseline.
    pub system: String,
    /// The case (workload).
    pub case: String,
    /// What was measured (`p50`, `commits/s`, ...).
    pub metric: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
}

/// A goal of the scenario and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// What the goal says.
    pub goal: String,
    /// The measured ratio or value.
    pub measured: f64,
    /// The target for `measured`.
    pub target: f64,
    /// Whether `measured` meets `target`.
    pub met: bool,
}

impl Row {
    /// A row.
    pub fn new(system: &str, case: &str, metric: &str, value: f64, unit: &str) -> Self {
        Self {
            system: system.into(),
            case: case.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
        }
    }
}

impl Goal {
    /// A goal met when `measured <= target`.
    pub fn at_most(goal: String, measured: f64, target: f64) -> Self {
        Self { goal, measured, target, met: measured <= target }
    }

    /// A goal met when `measured >= target`.
    pub fn at_least(goal: String, measured: f64, target: f64) -> Self {
        Self { goal, measured, target, met: measured >= target }
    }
}

impl Report {
    /// The report as a JSON object.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// The report as a table for people.
    pub fn to_table(&self) -> String {
        let h = &self.hardware;
        let mut out = format!(
            "chainstore bench {}: {} cores ({}), fdatasync p50 {:.0} us, {} on {}, kernel {}, \
             page cache {}\n\n",
            self.scenario,
            h.cores,
            h.cpu,
            h.fdatasync_p50_us,
            h.filesystem,
            h.device,
            h.kernel,
            h.page_cache
        );
        let _ =
            writeln!(out, "{:<22} {:<30} {:<12} {:>14} unit", "system", "case", "metric", "value");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:<22} {:<30} {:<12} {:>14} {}",
                r.system,
                r.case,
                r.metric,
                format_value(r.value),
                r.unit
            );
        }
        let _ = writeln!(out, "\n{:<58} {:>9} {:>8}  met", "goal", "measured", "target");
        for g in &self.goals {
            let met = if g.met { "yes" } else { "NO" };
            let _ = writeln!(out, "{:<58} {:>9.2} {:>8.2}  {met}", g.goal, g.measured, g.target);
        }
        out
    }
}

fn format_value(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// Latency percentiles of a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (which must not be empty).
    pub fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let rank = |p: usize| {
            let idx = (samples.len() * p).div_ceil(100).max(1) - 1;
            samples[idx.min(samples.len() - 1)]
        };
        Self { p50: rank(50), p99: rank(99) }
    }
}

/// Adds the `commit p50` and `commit p99` rows (milliseconds) of `samples` (not empty) to `rows`;
/// returns the percentiles.
pub(crate) fn commit_percentile_rows(
    rows: &mut Vec<Row>,
    system: &str,
    case: &str,
    samples: &mut [Duration],
) -> Percentiles {
    let p = Percentiles::of(samples);
    rows.push(Row::new(system, case, "commit p50", micros(p.p50) / 1e3, "ms"));
    rows.push(Row::new(system, case, "commit p99", micros(p.p99) / 1e3, "ms"));
    p
}

/// A duration in microseconds.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `a / b`, or NaN when `b` is not positive.
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}
