//! What the bench writes: one metric per comparison with its medians, ratio and whether its goal
//! holds; `target/bench/report.json`, the Markdown table, and the facts about the machine it ran on.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::comparison::{ARCHIVE_SIZE_TOLERANCE, Comparison, Goal};
use super::measure::{Plan, Sample, median};

/// One row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// What was measured; its goal is the comparison's.
    pub comparison: Comparison,
    pub ours: Vec<Sample>,
    /// Empty when the comparison has no baseline (cold-build).
    pub baseline: Vec<Sample>,
    /// What the baseline is, as a command a reader recognises.
    pub baseline_label: String,
    /// Facts the goal also depends on, or that the table shows: name → number.
    pub extra: BTreeMap<String, f64>,
}

impl Metric {
    pub fn ours_seconds(&self) -> Option<f64> {
        median(&self.ours.iter().map(|sample| sample.wall_seconds).collect::<Vec<_>>())
    }

    pub fn baseline_seconds(&self) -> Option<f64> {
        median(&self.baseline.iter().map(|sample| sample.wall_seconds).collect::<Vec<_>>())
    }

    pub fn ratio(&self) -> Option<f64> {
        match (self.ours_seconds(), self.baseline_seconds()) {
            (Some(ours), Some(baseline)) if baseline > 0.0 => Some(ours / baseline),
            _ => None,
        }
    }

    pub fn cpu_median(samples: &[Sample]) -> Option<f64> {
        median(&samples.iter().filter_map(|sample| sample.cpu_seconds).collect::<Vec<_>>())
    }

    /// Whether the goal holds (and, for the archive, the size is within tolerance).
    pub fn met(&self) -> bool {
        let size_ok = self.extra.get("size_ratio").is_none_or(|ratio| *ratio <= 1.0 + ARCHIVE_SIZE_TOLERANCE);
        let timing_ok = match self.comparison.goal() {
            Goal::RatioAtMost(goal) => self.ratio().is_some_and(|ratio| ratio <= goal),
            Goal::SecondsAtMost(goal) => self.ours_seconds().is_some_and(|seconds| seconds <= goal),
        };
        size_ok && timing_ok
    }

    /// The report entry: `name, ours_s, baseline_s, ratio, baseline, runs`, then the details.
    pub fn to_json(&self) -> Value {
        let mut entry = json!({
            "name": self.comparison.name(),
            "ours_s": rounded(self.ours_seconds()),
            "baseline_s": rounded(self.baseline_seconds()),
            "ratio": rounded(self.ratio()),
            "baseline": self.baseline_label,
            "runs": self.ours.len(),
            "goal": match self.comparison.goal() {
                Goal::RatioAtMost(goal) => json!({"ratio_at_most": goal}),
                Goal::SecondsAtMost(goal) => json!({"seconds_at_most": goal}),
            },
            "met": self.met(),
            "ours_cpu_s": rounded(Metric::cpu_median(&self.ours)),
            "baseline_cpu_s": rounded(Metric::cpu_median(&self.baseline)),
            "ours_runs_s": self.ours.iter().map(|sample| rounded(Some(sample.wall_seconds))).collect::<Vec<_>>(),
            "baseline_runs_s": self.baseline.iter().map(|sample| rounded(Some(sample.wall_seconds))).collect::<Vec<_>>(),
        });
        if let Value::Object(fields) = &mut entry {
            for (name, value) in &self.extra {
                fields.insert(name.clone(), rounded(Some(*value)));
            }
        }
        entry
    }
}

/// Six decimals (microseconds) keep the ratio of two short medians exact to well under 0.1%;
/// not-a-number becomes null.
fn rounded(value: Option<f64>) -> Value {
    match value {
        Some(number) if number.is_finite() => json!((number * 1_000_000.0).round() / 1_000_000.0),
        _ => Value::Null,
    }
}

/// `target/bench/report.json`: `{"metrics": [...], "machine": {...}}`.
pub fn render_report(metrics: &[Metric], machine: &Value) -> String {
    let report = json!({
        "metrics": metrics.iter().map(Metric::to_json).collect::<Vec<_>>(),
        "machine": machine,
    });
    serde_json::to_string_pretty(&report).expect("a JSON value always serialises") + "\n"
}

fn seconds_text(seconds: Option<f64>) -> String {
    match seconds {
        Some(value) if value < 10.0 => format!("{value:.3} s"),
        Some(value) => format!("{value:.1} s"),
        None => "—".to_string(),
    }
}

/// A Markdown table of the metrics, one row each.
pub fn render_table(metrics: &[Metric]) -> String {
    let mut table = String::from(
        "| comparison | ours | baseline | ratio | goal | met | runs | notes |\n|---|---:|---|---:|---|---|---:|---|\n",
    );
    for metric in metrics {
        let baseline = match metric.baseline_seconds() {
            Some(seconds) => format!("{} `{}`", seconds_text(Some(seconds)), metric.baseline_label),
            None => metric.baseline_label.clone(),
        };
        let ratio = metric.ratio().map_or("—".to_string(), |ratio| format!("{ratio:.2}"));
        let goal = match metric.comparison.goal() {
            Goal::RatioAtMost(goal) => format!("≤ {goal}"),
            Goal::SecondsAtMost(goal) => format!("≤ {goal} s wall"),
        };
        let met = if metric.met() { "yes" } else { "**no**" };
        table.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
            metric.comparison.name(),
            seconds_text(metric.ours_seconds()),
            baseline,
            ratio,
            goal,
            met,
            metric.ours.len(),
            notes(metric)
        ));
    }
    table
}

fn notes(metric: &Metric) -> String {
    let mut parts = Vec::new();
    if let Some(cpu) = Metric::cpu_median(&metric.ours) {
        parts.push(format!("ours {cpu:.2} s CPU"));
    }
    if let Some(cpu) = Metric::cpu_median(&metric.baseline) {
        parts.push(format!("baseline {cpu:.2} s CPU"));
    }
    if let Some(crates) = metric.extra.get("crates") {
        parts.push(format!("{crates} crates"));
    }
    if let (Some(ours), Some(baseline)) = (metric.extra.get("ours_bytes"), metric.extra.get("baseline_bytes")) {
        parts.push(format!(
            "{:.2} MiB vs {:.2} MiB ({:+.2}%)",
            ours / 1_048_576.0,
            baseline / 1_048_576.0,
            (ours / baseline - 1.0) * 100.0
        ));
    }
    parts.join("; ")
}

/// The metric of `comparison` from its samples, with no extra facts yet.
pub fn metric(comparison: Comparison, ours: Vec<Sample>, baseline: Vec<Sample>, baseline_label: &str) -> Metric {
    Metric { comparison, ours, baseline, baseline_label: baseline_label.to_string(), extra: BTreeMap::new() }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The 1, 5 and 15 minute load averages (Linux), or nothing elsewhere.
pub fn load_average() -> Vec<String> {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).map(str::to_string).collect())
        .unwrap_or_default()
}

pub fn machine_facts(plan: Plan, load_at_start: &[String], load_at_end: &[String], seconds: f64) -> Value {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_default();
    let numbers = |loads: &[String]| loads.iter().filter_map(|load| load.parse::<f64>().ok()).collect::<Vec<_>>();
    json!({
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cores": cores(),
        "cpu_model": cpu_model,
        "load_average_at_start": numbers(load_at_start),
        "load_average_at_end": numbers(load_at_end),
        "quick": plan.quick,
        "bench_seconds": (seconds * 10.0).round() / 10.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: f64) -> Sample {
        Sample { wall_seconds: seconds, cpu_seconds: Some(seconds * 2.0) }
    }

    fn hash_metric() -> Metric {
        metric(
            Comparison::Hash,
            vec![sample(0.3), sample(0.1), sample(0.2)],
            vec![sample(0.8), sample(0.9), sample(0.7)],
            "sha256sum",
        )
    }

    #[test]
    fn ratio_is_ours_median_over_baseline_median_and_decides_the_goal() {
        let metric = hash_metric();
        assert_eq!(metric.ours_seconds(), Some(0.2));
        assert_eq!(metric.baseline_seconds(), Some(0.8));
        assert_eq!(metric.ratio(), Some(0.25));
        assert!(metric.met(), "0.25 is within the goal of 0.25");
        let slow = Metric { ours: vec![sample(0.5)], ..hash_metric() };
        assert!(!slow.met());
    }

    #[test]
    fn archive_goal_needs_the_size_within_two_percent() {
        let mut archive = metric(Comparison::Archive, vec![sample(1.0)], vec![sample(2.0)], "tar -czf");
        archive.extra.insert("size_ratio".into(), 1.019);
        assert!(archive.met());
        archive.extra.insert("size_ratio".into(), 1.03);
        assert!(!archive.met());
    }

    #[test]
    fn cold_build_goal_is_wall_seconds_without_a_baseline() {
        let mut cold = metric(Comparison::ColdBuild, vec![sample(29.0), sample(31.0), sample(28.0)], vec![], "none");
        cold.extra.insert("crates".into(), 40.0);
        assert_eq!(cold.ratio(), None);
        assert!(cold.met());
        let entry = cold.to_json();
        assert_eq!(entry["ratio"], Value::Null);
        assert_eq!(entry["baseline_s"], Value::Null);
        assert_eq!(entry["crates"], json!(40.0));
        cold.ours = vec![sample(31.0)];
        assert!(!cold.met());
    }

    #[test]
    fn report_has_the_documented_shape() {
        let machine = json!({"cores": 2});
        let report: Value = serde_json::from_str(&render_report(&[hash_metric()], &machine)).unwrap();
        let entry = &report["metrics"][0];
        for key in ["name", "ours_s", "baseline_s", "ratio", "baseline", "runs"] {
            assert!(entry.get(key).is_some(), "metric entry lacks {key}: {entry}");
        }
        assert_eq!(entry["name"], "hash");
        assert_eq!(entry["ours_s"], json!(0.2));
        assert_eq!(entry["baseline_s"], json!(0.8));
        assert_eq!(entry["ratio"], json!(0.25));
        assert_eq!(entry["baseline"], "sha256sum");
        assert_eq!(entry["runs"], json!(3));
        assert_eq!(entry["met"], json!(true));
        assert_eq!(report["machine"], machine);
    }

    #[test]
    fn table_has_a_row_per_metric_with_its_numbers() {
        let mut cold = metric(Comparison::ColdBuild, vec![sample(25.0)], vec![], "none");
        cold.extra.insert("crates".into(), 41.0);
        let table = render_table(&[hash_metric(), cold]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("| comparison | ours | baseline | ratio |"));
        assert!(
            lines[2].starts_with("| `hash` | 0.200 s | 0.800 s `sha256sum` | 0.25 | ≤ 0.25 | yes | 3 |"),
            "{}",
            lines[2]
        );
        assert!(lines[3].starts_with("| `cold-build` | 25.0 s | none | — | ≤ 30 s wall | yes | 1 |"), "{}", lines[3]);
        assert!(lines[3].contains("41 crates"));
    }
}
