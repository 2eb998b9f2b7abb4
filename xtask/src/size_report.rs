//! The size and build-time report of a release's sidecars on every target, with the change
//! against the previous release's `sidecars.json`, and the size budgets each sidecar declares
//! under `[tool.xtask.sidecar.budget]` (a maximum size, a maximum growth against that release).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::sidecars_json::PublishedSidecar;

/// Bytes in a megabyte, as GitHub shows release file sizes.
const MEGABYTE: f64 = 1_000_000.0;

/// What one sidecar may weigh; both limits are optional.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SizeBudget {
    pub max_size_mb: Option<f64>,
    pub max_growth_percent: Option<f64>,
}

/// One binary of the release, with what the previous release published for its target.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryRow {
    pub binary: String,
    pub triple: String,
    pub size: u64,
    /// `None` when the runner took it from its build cache.
    pub build_seconds: Option<f64>,
    pub previous: Option<PublishedSidecar>,
}

impl BinaryRow {
    /// Growth against the previous release, in percent.
    pub fn growth_percent(&self) -> Option<f64> {
        let previous = self.previous.as_ref()?;
        (previous.size > 0).then(|| (self.size as f64 - previous.size as f64) * 100.0 / previous.size as f64)
    }
}

/// The binaries among manifest `records`, sorted by binary and target, each paired with its entry
/// in `previous` (a previous release's sidecars).
pub fn rows(records: &[Value], previous: &[PublishedSidecar]) -> Vec<BinaryRow> {
    let mut rows: Vec<BinaryRow> = records
        .iter()
        .filter(|record| record["kind"].as_str() == Some("binary"))
        .filter_map(|record| {
            let (binary, target) = crate::naming::parse_sidecar_file_name(record["file"].as_str()?)?;
            let cached = record["cached"].as_bool().unwrap_or(false);
            Some(BinaryRow {
                binary: binary.to_string(),
                triple: target.triple.to_string(),
                size: record["size"].as_u64()?,
                build_seconds: if cached { None } else { record["build_seconds"].as_f64() },
                previous: previous.iter().find(|old| old.binary == binary && old.triple == target.triple).cloned(),
            })
        })
        .collect();
    rows.sort_by(|a, b| (&a.binary, &a.triple).cmp(&(&b.binary, &b.triple)));
    rows
}

fn megabytes(size: u64) -> String {
    format!("{:.2} MB", size as f64 / MEGABYTE)
}

/// A Markdown table of every binary: size, change against the previous release, build time.
/// `previous_release` names that release (`None`: there was none to compare with).
pub fn render_table(rows: &[BinaryRow], previous_release: Option<&str>) -> String {
    let against = previous_release.map_or("change".to_string(), |name| format!("change since {name}"));
    let mut table = format!("| binary | target | size | {against} | build |\n|---|---|---:|---:|---:|\n");
    for row in rows {
        let change = match (&row.previous, row.growth_percent(), previous_release) {
            (Some(previous), Some(percent), _) => {
                let (sign, delta) = if row.size >= previous.size {
                    ("+", row.size - previous.size)
                } else {
                    ("-", previous.size - row.size)
                };
                format!("{sign}{:.2} MB ({percent:+.1}%)", delta as f64 / MEGABYTE)
            }
            (Some(_), None, _) => "was empty".to_string(),
            (None, _, Some(_)) => "new".to_string(),
            (None, _, None) => "—".to_string(),
        };
        let build = row.build_seconds.map_or("cached".to_string(), |seconds| format!("{seconds:.1} s"));
        table.push_str(&format!(
            "| `{}` | {} | {} | {change} | {build} |\n",
            row.binary,
            row.triple,
            megabytes(row.size)
        ));
    }
    table
}

/// Every binary over its budget, one line each (empty when all are within).
pub fn budget_problems(rows: &[BinaryRow], budgets: &BTreeMap<String, SizeBudget>) -> Vec<String> {
    let mut problems = Vec::new();
    for row in rows {
        let Some(budget) = budgets.get(&row.binary) else { continue };
        if let Some(limit) = budget.max_size_mb
            && row.size as f64 > limit * MEGABYTE
        {
            problems.push(format!(
                "{} for {} is {}, over its budget of {limit} MB",
                row.binary,
                row.triple,
                megabytes(row.size)
            ));
        }
        if let (Some(limit), Some(growth), Some(previous)) =
            (budget.max_growth_percent, row.growth_percent(), row.previous.as_ref())
            && growth > limit
        {
            problems.push(format!(
                "{} for {} grew {growth:.1}% since {} ({} → {}), over its budget of {limit}%",
                row.binary,
                row.triple,
                previous.version,
                megabytes(previous.size),
                megabytes(row.size)
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(file: &str, size: u64, cached: bool) -> Value {
        json!({"file": file, "kind": "binary", "size": size, "build_seconds": 42.25, "cached": cached})
    }

    fn previous(binary: &str, triple: &str, size: u64) -> PublishedSidecar {
        PublishedSidecar {
            binary: binary.into(),
            triple: triple.into(),
            version: "0.2.4".into(),
            size,
            build_seconds: Some(40.0),
        }
    }

    fn sample_rows() -> Vec<BinaryRow> {
        let records = [
            record("tool-x86_64-unknown-linux-gnu", 12_000_000, false),
            record("tool-x86_64-pc-windows-msvc.exe", 9_000_000, true),
            json!({"file": "tool-0.2.5-x86_64-unknown-linux-gnu.tar.gz", "kind": "archive", "size": 1}),
        ];
        rows(&records, &[previous("tool", "x86_64-unknown-linux-gnu", 10_000_000)])
    }

    #[test]
    fn the_table_shows_every_binary_with_its_change_and_build_time() {
        let table = render_table(&sample_rows(), Some("v0.2.4"));
        assert_eq!(
            table,
            "| binary | target | size | change since v0.2.4 | build |\n|---|---|---:|---:|---:|\n\
             | `tool` | x86_64-pc-windows-msvc | 9.00 MB | new | cached |\n\
             | `tool` | x86_64-unknown-linux-gnu | 12.00 MB | +2.00 MB (+20.0%) | 42.2 s |\n"
        );
        assert!(render_table(&sample_rows(), None).contains("| 9.00 MB | — | cached |"));
        // Sizes at the ends of u64 neither overflow nor show a sign that disagrees with the percent.
        let mut huge = sample_rows();
        huge[1].previous.as_mut().unwrap().size = u64::MAX;
        assert!(
            render_table(&huge, Some("v0")).contains("-18446744073697.55 MB (-100.0%)"),
            "{}",
            render_table(&huge, Some("v0"))
        );
    }

    #[test]
    fn budgets_fail_on_size_and_on_growth_and_name_both_numbers() {
        let rows = sample_rows();
        let within = BTreeMap::from([(
            "tool".to_string(),
            SizeBudget { max_size_mb: Some(12.5), max_growth_percent: Some(25.0) },
        )]);
        assert_eq!(budget_problems(&rows, &within), Vec::<String>::new());
        let tight = BTreeMap::from([(
            "tool".to_string(),
            SizeBudget { max_size_mb: Some(10.0), max_growth_percent: Some(10.0) },
        )]);
        let problems = budget_problems(&rows, &tight);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("tool for x86_64-unknown-linux-gnu is 12.00 MB, over its budget of 10 MB"));
        assert!(problems[1].contains("grew 20.0% since 0.2.4 (10.00 MB → 12.00 MB), over its budget of 10%"));
        // A binary without a budget, or without a previous size, is never over a growth limit.
        assert!(budget_problems(&rows, &BTreeMap::new()).is_empty());
    }
}
