//! `cargo xtask collect` on five runners' folders as `actions/download-artifact` leaves them: the
//! complete set merges; a missing sidecar on one target, a record that names another target than
//! its file, one binary uploaded for two targets, a record without its commit and a huge manifest
//! are refused with short errors, and nothing is written. The merge then goes through `checksums`
//! into `sidecars.json`, and the size table compares it with a previous release's, where a
//! sidecar's declared growth budget can fail the release.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::*;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const TRIPLES: [(&str, &str); 5] = [
    ("x86_64-unknown-linux-gnu", ""),
    ("aarch64-unknown-linux-gnu", ""),
    ("x86_64-apple-darwin", ""),
    ("aarch64-apple-darwin", ""),
    ("x86_64-pc-windows-msvc", ".exe"),
];

/// `(binary, version)` of every sidecar the repository declares.
fn sidecars() -> Vec<(String, String)> {
    ["proxy", "agent"]
        .iter()
        .map(|package| {
            let text =
                std::fs::read_to_string(repository_root().join(format!("packages/{package}/pyproject.toml"))).unwrap();
            let value = |key: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(&format!("{key} = \""))?.strip_suffix('"'))
                    .unwrap()
                    .to_string()
            };
            (value("binary"), value("version"))
        })
        .collect()
}

/// One runner's `dist/`: a binary, an archive and an SBOM per sidecar, their `.sha256` files, a manifest.
fn runner_folder(downloads: &Path, triple: &str, suffix: &str) -> std::path::PathBuf {
    let dir = downloads.join(format!("sidecars-{triple}"));
    std::fs::create_dir_all(&dir).unwrap();
    let extension = if suffix == ".exe" { "zip" } else { "tar.gz" };
    let mut records = Vec::new();
    for ((binary, version), package) in sidecars().iter().zip(["proxy", "agent"]) {
        for (file, kind) in [
            (format!("{binary}-{triple}{suffix}"), "binary"),
            (format!("{binary}-{version}-{triple}.{extension}"), "archive"),
            (format!("{binary}-{triple}.cdx.json"), "sbom"),
        ] {
            std::fs::write(dir.join(&file), format!("{kind} of {binary} for {triple}")).unwrap();
            records.push(record(&dir, &file, kind, triple, package, version));
        }
    }
    write_manifest(&dir, &records);
    dir
}

fn record(dir: &Path, file: &str, kind: &str, triple: &str, package: &str, version: &str) -> Value {
    let sha256 = sha256_hex(&dir.join(file));
    std::fs::write(dir.join(format!("{file}.sha256")), format!("{sha256}  {file}\n")).unwrap();
    json!({"file": file, "kind": kind, "triple": triple, "package": package, "version": version,
           "size": std::fs::metadata(dir.join(file)).unwrap().len(), "sha256": sha256, "build_seconds": 1.5,
           "cached": false, "git_commit": COMMIT, "python": "3.12.8", "pyinstaller": "6.11.1",
           "runner": format!("runner of {triple}")})
}

fn write_manifest(dir: &Path, records: &[Value]) {
    std::fs::write(dir.join("manifest.json"), json!({ "artifacts": records }).to_string()).unwrap();
}

fn records(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["artifacts"].as_array().unwrap().clone()
}

fn five_runners() -> tempfile::TempDir {
    let downloads = tempfile::tempdir().unwrap();
    for (triple, suffix) in TRIPLES {
        runner_folder(downloads.path(), triple, suffix);
    }
    downloads
}

fn collect(downloads: &Path, into: &Path) -> std::process::Output {
    let args = ["collect", downloads.to_str().unwrap(), "--into", into.to_str().unwrap(), "--require-all-targets"];
    xtask(&repository_root(), &args)
}

/// Refused with `expected` in a short error, and nothing written.
fn refused(downloads: &Path, expected: &str) {
    let into = tempfile::tempdir().unwrap();
    let output = collect(downloads, into.path());
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    assert!(stderr.len() < 4000, "a {} byte error", stderr.len());
    assert_eq!(std::fs::read_dir(into.path()).unwrap().count(), 0, "collect wrote into --into");
}

#[test]
fn five_runners_merge_into_one_folder_with_every_file_checked() {
    let downloads = five_runners();
    let into = tempfile::tempdir().unwrap();
    let output = collect(downloads.path(), into.path());
    succeeded(&output, "collect");
    let merged = records(into.path());
    assert_eq!(merged.len(), 30, "two sidecars, a binary, an archive and an SBOM each, on five targets");
    for record in &merged {
        let file = record["file"].as_str().unwrap();
        assert_eq!(sha256_hex(&into.path().join(file)), record["sha256"].as_str().unwrap(), "{file}");
        assert!(into.path().join(format!("{file}.sha256")).is_file(), "{file}.sha256");
    }
    assert!(stdout(&output).contains("collected 30 artifacts from 5 runner folder(s)"), "{}", stdout(&output));
    // Collected again into the same folder: the same build, nothing to refuse.
    succeeded(&collect(downloads.path(), into.path()), "collect again");
    assert_eq!(records(into.path()), merged);
}

#[test]
fn a_sidecar_missing_on_one_target_is_refused_although_every_target_is_there() {
    let downloads = five_runners();
    let (binary, _) = &sidecars()[1];
    let dir = downloads.path().join("sidecars-x86_64-apple-darwin");
    let gone = format!("{binary}-x86_64-apple-darwin");
    std::fs::remove_file(dir.join(&gone)).unwrap();
    std::fs::remove_file(dir.join(format!("{gone}.sha256"))).unwrap();
    let kept: Vec<Value> = records(&dir).into_iter().filter(|record| record["file"] != gone.as_str()).collect();
    write_manifest(&dir, &kept);
    refused(downloads.path(), &format!("1 release file(s) missing: {gone}"));
}

#[test]
fn a_record_that_names_another_target_than_its_file_is_refused() {
    let downloads = five_runners();
    let dir = downloads.path().join("sidecars-aarch64-unknown-linux-gnu");
    let mut relabelled = records(&dir);
    relabelled[0]["triple"] = json!("x86_64-unknown-linux-gnu");
    write_manifest(&dir, &relabelled);
    refused(downloads.path(), "its name is for aarch64-unknown-linux-gnu, its record says x86_64-unknown-linux-gnu");
}

#[test]
fn one_binary_uploaded_for_two_targets_is_refused() {
    let downloads = five_runners();
    let (binary, _) = &sidecars()[0];
    let linux = downloads.path().join("sidecars-x86_64-unknown-linux-gnu");
    let mac = downloads.path().join("sidecars-aarch64-apple-darwin");
    let mac_binary = format!("{binary}-aarch64-apple-darwin");
    std::fs::copy(linux.join(format!("{binary}-x86_64-unknown-linux-gnu")), mac.join(&mac_binary)).unwrap();
    let mut mac_records = records(&mac);
    let (version, package) = (sidecars()[0].1.clone(), "proxy");
    for record in mac_records.iter_mut().filter(|record| record["file"] == mac_binary.as_str()) {
        *record = self::record(&mac, &mac_binary, "binary", "aarch64-apple-darwin", package, &version);
    }
    write_manifest(&mac, &mac_records);
    refused(downloads.path(), "uploaded for several targets");
}

#[test]
fn a_record_without_its_commit_is_refused() {
    let downloads = five_runners();
    let dir = downloads.path().join("sidecars-x86_64-pc-windows-msvc");
    let mut stripped = records(&dir);
    stripped[1].as_object_mut().unwrap().remove("git_commit");
    write_manifest(&dir, &stripped);
    refused(downloads.path(), "has no git_commit");
}

#[test]
fn a_huge_manifest_gives_a_short_error() {
    let downloads = five_runners();
    let dir = downloads.path().join("sidecars-x86_64-unknown-linux-gnu");
    let mut huge = records(&dir);
    huge[0]["file"] = json!(format!("{}-x86_64-unknown-linux-gnu", "x".repeat(10 << 20)));
    write_manifest(&dir, &huge);
    refused(downloads.path(), "a runner's manifest is a few KB");
    // Under the size limit, a hostile name is still shown cut short.
    huge[0]["file"] = json!(format!("{}-x86_64-unknown-linux-gnu", "y".repeat(500_000)));
    write_manifest(&dir, &huge);
    refused(downloads.path(), "characters) is not a file name");
}

/// A previous release's `sidecars.json` in which every binary had `percent` of its size now.
fn previous_index(percent: u64) -> Value {
    let mut entries = Vec::new();
    for (triple, suffix) in TRIPLES {
        for (binary, _) in sidecars() {
            let size = format!("binary of {binary} for {triple}").len() as u64 * percent / 100;
            entries.push(json!({"binary": binary, "triple": triple, "version": "0.0.1", "size": size,
                                 "file": format!("{binary}-{triple}{suffix}"), "build_seconds": 1.0}));
        }
    }
    json!({"schema_version": 1, "sidecars": entries})
}

#[test]
fn five_runners_round_trip_into_sidecars_json_with_a_size_table() {
    let downloads = five_runners();
    let into = tempfile::tempdir().unwrap();
    let previous = downloads.path().join("previous-sidecars.json");
    std::fs::write(&previous, previous_index(90).to_string()).unwrap();
    let args = ["collect", downloads.path().to_str().unwrap(), "--into", into.path().to_str().unwrap()];
    let mut with_previous = args.to_vec();
    with_previous.extend(["--require-all-targets", "--previous", previous.to_str().unwrap()]);
    let output = xtask(&repository_root(), &with_previous);
    succeeded(&output, "collect --previous");
    let printed = stdout(&output);
    assert!(printed.contains("| binary | target | size | change since previous-sidecars.json | build |"), "{printed}");
    let (proxy, _) = &sidecars()[0];
    let proxy_size = format!("binary of {proxy} for x86_64-unknown-linux-gnu").len();
    let previous_size = (proxy_size * 90 / 100) as f64;
    let growth = (proxy_size as f64 - previous_size) * 100.0 / previous_size;
    let row = format!("| `{proxy}` | x86_64-unknown-linux-gnu | 0.00 MB | +0.00 MB ({growth:+.1}%) | 1.5 s |");
    assert!(printed.contains(&row), "{row} in\n{printed}");
    assert_eq!(printed.matches("| 1.5 s |").count(), 10, "{printed}");

    succeeded(&xtask(&repository_root(), &["checksums", into.path().to_str().unwrap()]), "checksums");
    let listed = std::fs::read_to_string(into.path().join("checksums.txt")).unwrap();
    let index_text = std::fs::read_to_string(into.path().join("sidecars.json")).unwrap();
    assert!(listed.contains(&format!("{}  sidecars.json\n", sha256_hex(&into.path().join("sidecars.json")))));
    let index: Value = serde_json::from_str(&index_text).unwrap();
    assert_eq!(index["schema_version"], 1);
    assert_eq!(index["git_commit"], COMMIT);
    let entries = index["sidecars"].as_array().unwrap();
    assert_eq!(entries.len(), 10, "two sidecars on five targets");
    for entry in entries {
        let (binary, triple) = (entry["binary"].as_str().unwrap(), entry["triple"].as_str().unwrap());
        let suffix = if triple.contains("windows") { ".exe" } else { "" };
        let file = entry["file"].as_str().unwrap();
        assert_eq!(file, format!("{binary}-{triple}{suffix}"));
        assert_eq!(entry["build_id"], format!("sha256:{}", sha256_hex(&into.path().join(file))));
        assert_eq!(entry["size"], std::fs::metadata(into.path().join(file)).unwrap().len());
        let archive = entry["archive"].as_str().unwrap();
        assert_eq!(entry["archive_sha256"], sha256_hex(&into.path().join(archive)));
        assert!(archive.starts_with(&format!("{binary}-{}-{triple}.", entry["version"].as_str().unwrap())));
        assert_eq!(entry["sbom"], format!("{binary}-{triple}.cdx.json"));
        assert_eq!(entry["runner"], format!("runner of {triple}"));
        assert_eq!((entry["python"].as_str(), entry["pyinstaller"].as_str()), (Some("3.12.8"), Some("6.11.1")));
        assert_eq!(entry["build_seconds"], 1.5);
    }
    // What a downstream app does: the index's build_id of each binary is its line in checksums.txt.
    for entry in entries {
        let hex = entry["build_id"].as_str().unwrap().strip_prefix("sha256:").unwrap();
        assert!(listed.contains(&format!("{hex}  {}\n", entry["file"].as_str().unwrap())));
    }
}

#[test]
fn a_sidecar_that_grew_past_its_declared_budget_fails_the_merge_and_nothing_is_written() {
    let downloads = five_runners();
    let previous = downloads.path().join("previous-sidecars.json");
    // Every binary doubled: four times the declared 25%.
    std::fs::write(&previous, previous_index(50).to_string()).unwrap();
    let into = tempfile::tempdir().unwrap();
    let args = ["collect", downloads.path().to_str().unwrap(), "--into", into.path().to_str().unwrap(), "--previous"];
    let mut args = args.to_vec();
    args.push(previous.to_str().unwrap());
    let output = xtask(&repository_root(), &args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("10 sidecar(s) over their size budget, nothing was written"), "{stderr}");
    let (proxy, _) = &sidecars()[0];
    assert!(stderr.contains(&format!("{proxy} for x86_64-unknown-linux-gnu grew ")), "{stderr}");
    assert!(stderr.contains("over its budget of 25%") && stderr.contains("hint: "), "{stderr}");
    assert!(stdout(&output).contains("| binary | target | size |"), "the table is shown with the refusal");
    assert_eq!(std::fs::read_dir(into.path()).unwrap().count(), 0, "collect wrote into --into");
    // A folder (or a fifo, which would block the read) is refused before anything is read.
    let mut folder_args = args.clone();
    *folder_args.last_mut().unwrap() = downloads.path().to_str().unwrap();
    let output = xtask(&repository_root(), &folder_args);
    assert!(text(&output.stderr).contains("is not a regular file"), "{}", text(&output.stderr));
    // A previous index from a newer xtask is refused, not misread.
    std::fs::write(&previous, json!({"schema_version": 2, "sidecars": []}).to_string()).unwrap();
    let output = xtask(&repository_root(), &args);
    assert!(text(&output.stderr).contains("schema_version 2; this xtask reads up to 1"), "{}", text(&output.stderr));
}

#[test]
fn a_record_that_misstates_its_file_size_is_refused() {
    // The size feeds the size table, the budgets and sidecars.json: a record cannot make a binary smaller.
    let downloads = five_runners();
    let dir = downloads.path().join("sidecars-x86_64-unknown-linux-gnu");
    let mut lying = records(&dir);
    lying[0]["size"] = json!(100);
    let file = lying[0]["file"].as_str().unwrap().to_string();
    write_manifest(&dir, &lying);
    refused(downloads.path(), &format!("{file} is "));
    refused(downloads.path(), "its manifest record says 100 bytes");
    lying[0].as_object_mut().unwrap().remove("size");
    write_manifest(&dir, &lying);
    refused(downloads.path(), "its manifest record says no size");
}

#[test]
fn what_checksums_wrote_in_a_runners_folder_is_not_an_upload() {
    // A runner's dist/ after a local dry run holds checksums.txt, release-notes.md and sidecars.json:
    // collect makes them again from the merge, so they are neither refused nor copied.
    let downloads = five_runners();
    let dir = downloads.path().join("sidecars-x86_64-unknown-linux-gnu");
    for name in ["checksums.txt", "release-notes.md", "sidecars.json"] {
        std::fs::write(dir.join(name), "from an earlier run").unwrap();
    }
    let into = tempfile::tempdir().unwrap();
    succeeded(&collect(downloads.path(), into.path()), "collect");
    for name in ["checksums.txt", "release-notes.md", "sidecars.json"] {
        assert!(!into.path().join(name).exists(), "{name} was copied");
    }
}

/// A repository of one package, `tool`, whose sidecar declares `budget` lines.
fn repository_with_budget(budget: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("Cargo.toml"), "[workspace]\n").unwrap();
    std::fs::write(root.path().join("pyproject.toml"), "[tool.uv.workspace]\nmembers = [\"packages/*\"]\n").unwrap();
    let package = root.path().join("packages/proxy");
    std::fs::create_dir_all(&package).unwrap();
    let (binary, version) = &sidecars()[0];
    let pyproject = format!(
        "[project]\nname = \"lumen-argus-proxy\"\nversion = \"{version}\"\n\n[tool.xtask.sidecar]\nbinary = \"{binary}\"\n\
         spec = \"x.spec\"\nimport-package = \"x\"\n\n[tool.xtask.sidecar.smoke]\nargs = []\n\n\
         [tool.xtask.sidecar.budget]\n{budget}\n"
    );
    std::fs::write(package.join("pyproject.toml"), pyproject).unwrap();
    root
}

#[test]
fn a_budget_that_does_not_read_fails_the_merge_instead_of_checking_nothing() {
    let downloads = five_runners();
    let into = tempfile::tempdir().unwrap();
    let args = ["collect", downloads.path().to_str().unwrap(), "--into", into.path().to_str().unwrap()];
    let misspelt = repository_with_budget("max-size-mb = \"40\"");
    let output = xtask(misspelt.path(), &args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("max-size-mb of lumen-argus-proxy is not a positive number"), "{stderr}");
    assert_eq!(std::fs::read_dir(into.path()).unwrap().count(), 0, "collect wrote into --into");

    // Read, the budget holds on size alone, without a previous release: every binary here is ~40 bytes.
    let tight = repository_with_budget("max-size-mb = 0.00002");
    let output = xtask(tight.path(), &args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let (binary, _) = &sidecars()[0];
    assert!(stderr.contains("5 sidecar(s) over their size budget"), "{stderr}");
    assert!(
        stderr.contains(&format!("{binary} for x86_64-pc-windows-msvc is 0.00 MB, over its budget of 0.00002 MB")),
        "{stderr}"
    );
}

fn stdout(output: &std::process::Output) -> String {
    text(&output.stdout)
}

/// `--repo` of `--previous-release` is a flag value: one that is not OWNER/NAME, or no repository
/// at all, is a usage error before any runner folder is read (here: a folder that does not exist).
#[test]
fn a_previous_release_repository_that_is_not_owner_name_is_refused_before_any_work() {
    let folder = tempfile::tempdir().unwrap();
    let missing = folder.path().join("no runner here");
    for (repo, expected) in [
        (Some("a b"), "--repo \"a b\" is not OWNER/NAME"),
        (Some("noslash"), "--repo \"noslash\" is not OWNER/NAME"),
        (Some("o/n/x"), "--repo \"o/n/x\" is not OWNER/NAME"),
        (Some(""), "--repo \"\" is not OWNER/NAME"),
        (None, "GITHUB_REPOSITORY is not set"),
    ] {
        let mut command = xtask_command(&repository_root(), &["collect", "--previous-release", "--into"]);
        command.arg(folder.path().join("into")).arg(&missing).env_remove("GITHUB_REPOSITORY");
        if let Some(repo) = repo {
            command.args(["--repo", repo]);
        }
        let output = command.output().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{repo:?}: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains("hint: pass --repo OWNER/NAME"), "{repo:?}: {stderr}");
        assert!(!stderr.contains("no runner here"), "{repo:?}: a folder was read first: {stderr}");
    }
    assert!(!folder.path().join("into").exists());
}
