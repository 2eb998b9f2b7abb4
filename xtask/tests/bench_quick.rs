//! `cargo xtask bench --quick` in a fresh clone, limited to the comparisons that need no sidecar
//! build: the report has the documented shape, its ratios are its medians divided, the table
//! names each comparison, and the archive it timed is a tar.gz the system's tar reads. No
//! assertion here depends on how fast anything was.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::*;

/// `tar -xzf ARCHIVE -C INTO` in `dir`, both relative to it: a Windows path (`C:\...`) given to
/// GNU tar names a remote host, and `-O` to a pipe may translate line ends there. The extracted
/// `name`'s bytes.
fn extracted(dir: &Path, archive: &str, name: &str) -> Vec<u8> {
    std::fs::create_dir_all(dir.join("extracted")).unwrap();
    let untar = Command::new("tar").args(["-xzf", archive, "-C", "extracted", name]).current_dir(dir).output().unwrap();
    assert!(untar.status.success(), "tar -xzf {archive}: {}", text(&untar.stderr));
    std::fs::read(dir.join("extracted").join(name)).unwrap()
}

/// Whether `program` runs here (its exit status aside).
fn runs(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

#[test]
fn quick_bench_writes_the_report_json_and_the_table() {
    let (_folder, clone) = fresh_clone();
    // `hash` times `sha256sum`, which macOS may not have (it has `shasum`): left out there, and said.
    let wanted: &[&str] =
        if runs("sha256sum") { &["hash", "hash-limit", "archive"] } else { &["hash-limit", "archive"] };
    if wanted.len() == 2 {
        eprintln!("note: no sha256sum on PATH, so the `hash` comparison is not benched here");
    }
    let only = wanted.join(",");
    let output = xtask(&clone, &["bench", "--quick", "--only", &only]);
    succeeded(&output, &format!("cargo xtask bench --quick --only {only}"));
    let stdout = text(&output.stdout);

    let report_path = clone.join("target/bench/report.json");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let metrics = report["metrics"].as_array().expect("metrics is a list");
    let names: Vec<&str> = metrics.iter().map(|metric| metric["name"].as_str().unwrap()).collect();
    assert_eq!(names, wanted);
    for metric in metrics {
        let name = metric["name"].as_str().unwrap();
        let ours = metric["ours_s"].as_f64().unwrap_or_else(|| panic!("{name}: ours_s is a number: {metric}"));
        let baseline = metric["baseline_s"].as_f64().unwrap_or_else(|| panic!("{name}: baseline_s: {metric}"));
        let ratio = metric["ratio"].as_f64().unwrap_or_else(|| panic!("{name}: ratio: {metric}"));
        assert!(ours > 0.0 && baseline > 0.0, "{name}: {metric}");
        // Each figure is rounded to 6 decimals in the report.
        assert!((ratio - ours / baseline).abs() <= 0.001 * ratio, "{name}: ratio is not ours/baseline: {metric}");
        assert!(metric["baseline"].as_str().is_some_and(|label| !label.is_empty()), "{name}: {metric}");
        assert_eq!(metric["runs"], 3, "{name}: --quick times three runs of each side");
        assert_eq!(metric["ours_runs_s"].as_array().unwrap().len(), 3);
        assert_eq!(metric["baseline_runs_s"].as_array().unwrap().len(), 3);
        assert!(metric["met"].is_boolean());
        assert!(stdout.contains(&format!("| `{name}` |")), "the table has a row for {name}:\n{stdout}");
    }
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(report["machine"]["quick"], true);
    let archive = metrics.last().unwrap();
    assert!(archive["ours_bytes"].as_f64().unwrap() > 0.0 && archive["baseline_bytes"].as_f64().unwrap() > 0.0);
    assert!(stdout.contains("goals met"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(clone.join("target/bench/report.md")).unwrap().trim(),
        stdout.split("\n\n").find(|part| part.trim_start().starts_with("| comparison")).unwrap_or_default().trim(),
        "report.md holds the printed table"
    );

    // What the xtask archived is a tar.gz holding the input under its name, byte for byte.
    let archive_dir = clone.join("target/bench/archive");
    assert!(
        extracted(&archive_dir, "ours.tar.gz", "quick-input.bin")
            == std::fs::read(archive_dir.join("quick-input.bin")).unwrap(),
        "the archive does not hold the input's bytes"
    );
}

#[test]
fn unknown_comparison_is_a_usage_error_that_lists_the_names() {
    let output = xtask(&repository_root(), &["bench", "--only", "hash,compress"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: invalid value 'compress'"), "{stderr}");
    assert!(stderr.contains("hash-limit") && stderr.contains("cold-build"), "the names are listed: {stderr}");
}

#[test]
fn archive_command_writes_a_deterministic_tar_gz_and_zip() {
    let folder = tempfile::tempdir().unwrap();
    let input = folder.path().join("tool");
    std::fs::write(&input, b"#!/bin/sh\necho tool\n".repeat(1000)).unwrap();
    let first = folder.path().join("first.tar.gz");
    let second = folder.path().join("second.tar.gz");
    for out in [&first, &second] {
        let mut command = xtask_command(folder.path(), &["archive", "tool", "--out"]);
        command.arg(out).env("SOURCE_DATE_EPOCH", "1700000000");
        succeeded(&command.output().unwrap(), "cargo xtask archive");
    }
    assert_eq!(std::fs::read(&first).unwrap(), std::fs::read(&second).unwrap());
    assert!(extracted(folder.path(), "first.tar.gz", "tool") == std::fs::read(&input).unwrap());

    let zip = folder.path().join("tool.zip");
    let mut command =
        xtask_command(folder.path(), &["archive", "tool", "--format", "zip", "--name", "tool.exe", "--out"]);
    succeeded(&command.arg(&zip).output().unwrap(), "cargo xtask archive --format zip");
    let bytes = std::fs::read(&zip).unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    assert!(bytes.windows(8).any(|window| window == b"tool.exe"));
}
