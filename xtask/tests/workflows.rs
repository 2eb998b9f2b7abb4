//! The GitHub workflows, read as data: their work is `cargo xtask` lines, binaries.yml's matrix is
//! the xtask's own target table, and the build job's steps, run here in order in a fresh clone as
//! GitHub Actions would, succeed and leave the files its upload step names.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;
use yaml_rust2::{Yaml, YamlLoader};

const WORKFLOWS: [&str; 4] = ["ci.yml", "binaries.yml", "publish.yml", "docker.yml"];

fn load(root: &Path, name: &str) -> Yaml {
    let path = root.join(".github/workflows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn jobs(workflow: &Yaml) -> Vec<(String, &Yaml)> {
    workflow["jobs"]
        .as_hash()
        .expect("a workflow has jobs")
        .iter()
        .map(|(name, job)| (name.as_str().unwrap().to_string(), job))
        .collect()
}

fn steps(job: &Yaml) -> &[Yaml] {
    job["steps"].as_vec().map(Vec::as_slice).unwrap_or_default()
}

/// Why a `run:` script is not a plain `cargo xtask` line, or `None` when it is one.
fn hand_rolled_work(script: &str) -> Option<String> {
    const BY_HAND: [&str; 16] = [
        "sha256sum",
        "shasum",
        "openssl",
        "certutil",
        "Get-FileHash",
        "pyinstaller",
        "PyInstaller",
        "mv ",
        "cp ",
        "Move-Item",
        "Rename-Item",
        "tar ",
        "zip ",
        "sed ",
        "awk ",
        "version",
    ];
    let lines: Vec<&str> = script.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    if lines.len() != 1 {
        return Some(format!("{} lines; a step is one `cargo xtask` line", lines.len()));
    }
    let line = lines[0];
    if !line.starts_with("cargo xtask ") {
        return Some(format!("`{line}` is not a `cargo xtask` command"));
    }
    if line.contains("${{") {
        return Some(format!("`{line}` expands an expression inside the script; pass it through `env:`"));
    }
    for shell_syntax in ["|", ";", "&&", "||", "`", "$(", ">", "<"] {
        if line.contains(shell_syntax) {
            return Some(format!("`{line}` chains shell commands with `{shell_syntax}`"));
        }
    }
    BY_HAND
        .iter()
        .find(|word| line.contains(*word))
        .map(|word| format!("`{line}` does release work by hand ({})", word.trim()))
}

#[test]
fn the_checker_catches_release_work_done_by_hand() {
    for bad in [
        "sha256sum dist/* > checksums.txt",
        "cargo xtask sidecar --target x86_64-unknown-linux-gnu\nmv dist/a dist/b",
        "cargo xtask checksums | tee log",
        "cargo xtask checksums && sha256sum -c dist/checksums.txt",
        "uv run pyinstaller packages/proxy/lumen-argus.spec",
        "cargo xtask sidecar --target ${{ matrix.triple }}",
        "python -c 'import tomllib; print(version)'",
    ] {
        assert!(hand_rolled_work(bad).is_some(), "{bad:?} passed the check");
    }
    assert_eq!(hand_rolled_work("cargo xtask smoke --target \"$TARGET\""), None);
}

#[test]
fn every_run_step_of_every_workflow_is_one_cargo_xtask_line() {
    let root = repository_root();
    let mut problems = Vec::new();
    let mut run_steps = 0;
    for name in WORKFLOWS {
        let workflow = load(&root, name);
        for (job_name, job) in jobs(&workflow) {
            for step in steps(job) {
                if let Some(script) = step["run"].as_str() {
                    run_steps += 1;
                    if let Some(problem) = hand_rolled_work(script) {
                        problems.push(format!("{name} job {job_name}: {problem}"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(run_steps >= 10, "only {run_steps} run steps found: is the workflow parsed?");
}

#[test]
fn every_job_is_hardened() {
    // The release job attests what it publishes, and binaries.yml is the workflow that does.
    let binaries = load(&repository_root(), "binaries.yml");
    let attest = steps(&binaries["jobs"]["release"])
        .iter()
        .find(|step| step["uses"].as_str().is_some_and(|uses| uses.starts_with("actions/attest@")))
        .expect("the release job attests the released files");
    assert_eq!(attest["with"]["subject-checksums"].as_str(), Some("dist/checksums.txt"));
    assert_eq!(attest["if"].as_str(), Some("github.event_name == 'push'"), "a dry run attests nothing");
    let root = repository_root();
    for name in WORKFLOWS {
        let workflow = load(&root, name);
        let top = &workflow["permissions"];
        assert!(
            top.as_hash().is_some_and(|table| table.is_empty()),
            "{name}: the top-level permissions must be {{}} (each job widens its own)"
        );
        for (job_name, job) in jobs(&workflow) {
            assert!(job["timeout-minutes"].as_i64().is_some(), "{name} job {job_name} has no timeout-minutes");
            assert!(job["permissions"].as_hash().is_some(), "{name} job {job_name} has no permissions of its own");
            for step in steps(job) {
                let Some(uses) = step["uses"].as_str() else { continue };
                let (_, reference) = uses.split_once('@').unwrap_or((uses, ""));
                assert!(
                    reference.len() == 40 && reference.bytes().all(|byte| byte.is_ascii_hexdigit()),
                    "{name} job {job_name}: {uses} is not pinned by a full commit SHA"
                );
                if uses.starts_with("actions/checkout@") {
                    assert_eq!(
                        step["with"]["persist-credentials"].as_bool(),
                        Some(false),
                        "{name} job {job_name}: checkout must not persist credentials"
                    );
                }
            }
            let writes_ids = job["permissions"]["id-token"].as_str() == Some("write");
            let uses_action = |prefix: &str| {
                steps(job).iter().any(|step| step["uses"].as_str().is_some_and(|uses| uses.starts_with(prefix)))
            };
            let attests = uses_action("actions/attest@");
            let signs = uses_action("pypa/gh-action-pypi-publish@") || attests;
            assert_eq!(
                writes_ids, signs,
                "{name} job {job_name}: id-token: write only where a job publishes to PyPI or attests"
            );
            let writes_attestations = job["permissions"]["attestations"].as_str() == Some("write");
            assert_eq!(
                writes_attestations, attests,
                "{name} job {job_name}: attestations: write only where a job attests"
            );
        }
    }
}

#[test]
fn every_job_that_runs_python_sets_up_the_pinned_interpreter_first() {
    // A runner's own Python may be older than the xtask needs (Windows images ship 3.9 on PATH).
    let root = repository_root();
    let needs_no_python = ["collect", "checksums", "github-release", "image-check"];
    for name in WORKFLOWS {
        let workflow = load(&root, name);
        for (job_name, job) in jobs(&workflow) {
            let runs_python = steps(job).iter().filter_map(|step| step["run"].as_str()).any(|script| {
                let command = script.trim().strip_prefix("cargo xtask ").unwrap_or("");
                !needs_no_python.iter().any(|free| command.starts_with(free))
            });
            if !runs_python {
                continue;
            }
            let setup = steps(job).iter().position(|step| {
                step["uses"].as_str().is_some_and(|uses| uses.starts_with("actions/setup-python@"))
                    && step["with"]["python-version-file"].as_str() == Some(".python-version")
            });
            let first_run = steps(job).iter().position(|step| step["run"].as_str().is_some());
            assert!(
                setup.is_some() && setup < first_run,
                "{name} job {job_name} runs Python tools without setting up the pinned interpreter first"
            );
        }
    }
}

/// (runner, triple) of each row of `cargo xtask targets --json`.
fn xtask_target_table() -> BTreeSet<(String, String)> {
    let output = xtask(&repository_root(), &["targets", "--json"]);
    succeeded(&output, "cargo xtask targets --json");
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| (row["runner"].as_str().unwrap().to_string(), row["triple"].as_str().unwrap().to_string()))
        .collect()
}

fn matrix_rows(job: &Yaml) -> BTreeSet<(String, String)> {
    job["strategy"]["matrix"]["include"]
        .as_vec()
        .expect("a matrix with include rows")
        .iter()
        .map(|row| (row["runner"].as_str().unwrap().to_string(), row["triple"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn the_binaries_matrix_is_the_xtask_target_table() {
    let root = repository_root();
    let table = xtask_target_table();
    assert_eq!(table.len(), 5);
    let binaries = load(&root, "binaries.yml");
    let build = &binaries["jobs"]["build"];
    assert_eq!(matrix_rows(build), table, "binaries.yml's build matrix differs from `cargo xtask targets`");
    assert_eq!(build["strategy"]["fail-fast"].as_bool(), Some(false), "one failed runner must not cancel the others");
    assert_eq!(build["runs-on"].as_str(), Some("${{ matrix.runner }}"));
    // ci.yml freezes and smoke tests every triple on every pull request, on the same runners.
    let ci = load(&root, "ci.yml");
    let sidecars = &ci["jobs"]["sidecars"];
    assert_eq!(matrix_rows(sidecars), table, "ci.yml's sidecar matrix differs from `cargo xtask targets`");
    assert_eq!(sidecars["strategy"]["fail-fast"].as_bool(), Some(false));
    let runs: Vec<&str> = steps(sidecars).iter().filter_map(|step| step["run"].as_str()).collect();
    assert_eq!(
        runs,
        ["cargo xtask doctor", "cargo xtask sidecar --target \"$TARGET\"", "cargo xtask smoke --target \"$TARGET\""]
    );
}

#[test]
fn ci_tests_on_linux_macos_and_windows() {
    let ci = load(&repository_root(), "ci.yml");
    let test = &ci["jobs"]["test"];
    let runners: Vec<&str> = test["strategy"]["matrix"]["runner"]
        .as_vec()
        .expect("a runner matrix")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    for family in ["ubuntu-", "macos-", "windows-"] {
        assert!(runners.iter().any(|runner| runner.starts_with(family)), "no {family} runner in {runners:?}");
    }
    assert_eq!(test["runs-on"].as_str(), Some("${{ matrix.runner }}"));
    assert_eq!(test["strategy"]["fail-fast"].as_bool(), Some(false));
    assert!(steps(test).iter().any(|step| step["run"].as_str() == Some("cargo xtask test")));
}

#[test]
fn rust_caches_are_written_on_main_only_and_shared_with_the_tag_builds() {
    let root = repository_root();
    let mut saved_keys = BTreeSet::new();
    let mut restored_keys = BTreeSet::new();
    for name in WORKFLOWS {
        let workflow = load(&root, name);
        for (job_name, job) in jobs(&workflow) {
            for step in steps(job) {
                if !step["uses"].as_str().is_some_and(|uses| uses.starts_with("Swatinem/rust-cache@")) {
                    continue;
                }
                let save_if = &step["with"]["save-if"];
                let key = step["with"]["shared-key"].as_str().unwrap_or("(job)").to_string();
                if name == "ci.yml" {
                    assert_eq!(
                        save_if.as_str(),
                        Some("${{ github.ref == 'refs/heads/main' }}"),
                        "ci.yml job {job_name}: the cache is written on main only"
                    );
                    saved_keys.insert(key);
                } else {
                    assert_eq!(save_if.as_bool(), Some(false), "{name} job {job_name}: a tag run never writes a cache");
                    restored_keys.insert(key);
                }
            }
        }
    }
    assert!(restored_keys.is_subset(&saved_keys), "restored {restored_keys:?}, but ci.yml saves only {saved_keys:?}");
}

#[test]
fn publish_builds_every_package_of_the_workspace() {
    let root = repository_root();
    let output = xtask(&root, &["bump", "--show", "--json"]);
    succeeded(&output, "cargo xtask bump --show --json");
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages: BTreeSet<String> =
        listed.as_array().unwrap().iter().map(|row| row["package"].as_str().unwrap().to_string()).collect();
    let publish = load(&root, "publish.yml");
    for job in ["build", "testpypi", "pypi"] {
        let matrix: BTreeSet<String> = publish["jobs"][job]["strategy"]["matrix"]["package"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|package| package.as_str().unwrap().to_string())
            .collect();
        assert_eq!(matrix, packages, "publish.yml job {job}");
    }
}

/// Expand `$NAME` and `"$NAME"` in a run line from `env`, and split it into words.
fn words(line: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    line.split_whitespace()
        .map(|word| {
            let bare = word.trim_matches('"');
            match bare.strip_prefix('$') {
                Some(name) => env.get(name).unwrap_or_else(|| panic!("${name} is not set by the job")).clone(),
                None => bare.to_string(),
            }
        })
        .collect()
}

/// `${{ matrix.KEY }}` values resolved for one matrix row; other text kept.
fn resolve(value: &str, row: &Yaml) -> String {
    let mut resolved = value.to_string();
    for key in ["triple", "runner"] {
        resolved = resolved.replace(&format!("${{{{ matrix.{key} }}}}"), row[key].as_str().unwrap());
    }
    resolved
}

fn env_of(node: &Yaml, row: &Yaml) -> BTreeMap<String, String> {
    node["env"]
        .as_hash()
        .map(|table| {
            table
                .iter()
                .map(|(key, value)| (key.as_str().unwrap().to_string(), resolve(value.as_str().unwrap(), row)))
                .collect()
        })
        .unwrap_or_default()
}

fn actions_command(clone: &Path, args: &[String], env: &BTreeMap<String, String>, files: &Path) -> Command {
    let mut command = xtask_command(clone, &args.iter().map(String::as_str).collect::<Vec<_>>());
    command.env("GITHUB_ACTIONS", "true").envs(env);
    for variable in ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV"] {
        command.env(variable, files.join(variable));
    }
    command
}

#[test]
fn the_build_job_runs_here_in_a_fresh_clone_and_leaves_what_it_uploads() {
    let (folder, clone) = fresh_clone();
    let workflow = load(&clone, "binaries.yml");
    let build = &workflow["jobs"]["build"];
    let triple = host_triple();
    let row = build["strategy"]["matrix"]["include"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|row| row["triple"].as_str() == Some(triple))
        .expect("the host triple is in the matrix")
        .clone();
    let files = folder.path().join("actions-files");
    std::fs::create_dir_all(&files).unwrap();
    let job_env = env_of(build, &row);

    let mut ran = Vec::new();
    let mut upload_paths = Vec::new();
    for step in steps(build) {
        if let Some(script) = step["run"].as_str() {
            let mut env = job_env.clone();
            env.extend(env_of(step, &row));
            let args = words(script.trim(), &env);
            assert_eq!(&args[..2], ["cargo", "xtask"], "{script}");
            let output = actions_command(&clone, &args[2..], &env, &files).output().unwrap();
            succeeded(&output, script);
            ran.push((args[2].clone(), text(&output.stdout)));
        }
        if step["uses"].as_str().is_some_and(|uses| uses.starts_with("actions/upload-artifact@")) {
            upload_paths.extend(step["with"]["path"].as_str().unwrap().lines().map(str::trim).map(String::from));
        }
    }
    let commands: Vec<&str> = ran.iter().map(|(command, _)| command.as_str()).collect();
    assert!(commands.contains(&"sidecar") && commands.contains(&"smoke"), "build job ran {commands:?}");
    assert!(ran.iter().any(|(_, stdout)| stdout.contains("::group::")), "no log group was opened");
    let summary = std::fs::read_to_string(files.join("GITHUB_STEP_SUMMARY")).unwrap();
    assert!(summary.contains("### Smoke test") && summary.contains("### Sidecars for"), "{summary}");
    let outputs = std::fs::read_to_string(files.join("GITHUB_OUTPUT")).unwrap();
    assert!(outputs.lines().any(|line| line.starts_with("files=")), "{outputs}");

    // The upload step names dist/: it must hold every binary, archive and SBOM with its .sha256 and
    // the manifest that records exactly those files.
    assert_eq!(upload_paths, ["dist/"]);
    let dist = clone.join("dist");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json")).unwrap()).unwrap();
    let recorded: BTreeSet<String> = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["file"].as_str().unwrap().to_string())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".sha256") && name != "manifest.json")
        .collect();
    assert_eq!(recorded, on_disk);
    assert_eq!(recorded.len(), 6, "two binaries, two archives and two SBOMs: {recorded:?}");
    for file in &recorded {
        let line = std::fs::read_to_string(dist.join(format!("{file}.sha256"))).unwrap();
        assert_eq!(line, format!("{}  {file}\n", sha256_hex(&dist.join(file))));
    }

    // The release job's merge, on this one runner's upload as download-artifact lays it out.
    let artifacts = folder.path().join("artifacts");
    let runner_folder = artifacts.join(format!("sidecars-{triple}"));
    copy_folder(&dist, &runner_folder);
    let merged = folder.path().join("merged");
    let collect = |extra: &[&str]| {
        let mut args = vec!["collect".to_string(), artifacts.display().to_string()];
        args.extend(["--into".to_string(), merged.display().to_string()]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        actions_command(&clone, &args, &BTreeMap::new(), &files).output().unwrap()
    };
    let partial = collect(&["--require-all-targets"]);
    assert_eq!(partial.status.code(), Some(1));
    let stderr = text(&partial.stderr);
    // Two sidecars, a binary, an archive and an SBOM each, on the four targets this runner does not build.
    assert!(stderr.contains("error: 24 release file(s) missing: ") && stderr.contains("hint:"), "{stderr}");
    assert!(!merged.exists(), "a refused merge wrote {}", merged.display());
    succeeded(&collect(&[]), "cargo xtask collect");
    for file in &recorded {
        assert_eq!(sha256_hex(&merged.join(file)), sha256_hex(&dist.join(file)), "{file}");
    }
    let checksums =
        actions_command(&clone, &["checksums".to_string(), merged.display().to_string()], &BTreeMap::new(), &files)
            .output()
            .unwrap();
    succeeded(&checksums, "cargo xtask checksums on the merged folder");
    let listed = std::fs::read_to_string(merged.join("checksums.txt")).unwrap();
    assert_eq!(listed.lines().count(), recorded.len() + 1, "every file and sidecars.json: {listed}");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("sidecars.json")).unwrap()).unwrap();
    let entries = index["sidecars"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "one entry per sidecar binary: {index}");
    for entry in entries {
        let file = entry["file"].as_str().unwrap();
        assert_eq!(entry["build_id"], format!("sha256:{}", sha256_hex(&dist.join(file))), "{file}");
        assert_eq!(entry["runner"], row["runner"].as_str().unwrap(), "the matrix's runner label is recorded");
    }
}

fn copy_folder(from: &Path, to: &PathBuf) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn pypi_publishes_only_after_the_packages_installed_from_testpypi_work() {
    let publish = load(&repository_root(), "publish.yml");
    let gate = &publish["jobs"]["install-check"];
    assert_eq!(gate["needs"].as_str(), Some("testpypi"), "the gate runs after the TestPyPI upload");
    assert_eq!(publish["jobs"]["pypi"]["needs"].as_str(), Some("install-check"), "PyPI waits for the gate");
    let runs: Vec<&str> = steps(gate).iter().filter_map(|step| step["run"].as_str()).collect();
    assert_eq!(runs, ["cargo xtask install-check --index-url https://test.pypi.org/simple/ --wheels dist/python"]);
    let download = steps(gate)
        .iter()
        .find(|step| step["uses"].as_str().is_some_and(|uses| uses.starts_with("actions/download-artifact@")))
        .expect("the gate downloads the wheels that were uploaded");
    assert_eq!(download["with"]["path"].as_str(), Some("dist/python"));
    assert_eq!(download["with"]["pattern"].as_str(), Some("python-*"));
}

#[test]
fn docker_tests_the_image_for_this_platform_before_the_multi_arch_push() {
    let docker = load(&repository_root(), "docker.yml");
    let image = steps(&docker["jobs"]["image"]);
    let builds: Vec<usize> = (0..image.len())
        .filter(|&i| image[i]["uses"].as_str().is_some_and(|uses| uses.starts_with("docker/build-push-action@")))
        .collect();
    assert_eq!(builds.len(), 2, "one build to test, one to push");
    let (tested, pushed) = (&image[builds[0]], &image[builds[1]]);
    assert_eq!(tested["with"]["load"].as_bool(), Some(true));
    assert_eq!(tested["with"]["push"].as_bool(), Some(false));
    assert!(tested["with"]["platforms"].is_badvalue(), "the tested build is for the runner's platform only");
    let tag = tested["with"]["tags"].as_str().unwrap();
    let check = image
        .iter()
        .position(|step| step["run"].as_str() == Some(&format!("cargo xtask image-check --image {tag}")))
        .expect("an image-check step of the loaded tag");
    assert!(builds[0] < check && check < builds[1], "the check runs between the two builds");
    assert_eq!(pushed["with"]["push"].as_bool(), Some(true));
    assert_eq!(pushed["with"]["platforms"].as_str(), Some("linux/amd64,linux/arm64"));
}

#[test]
fn dependabot_keeps_the_action_pins_and_the_locks_fresh() {
    let text = std::fs::read_to_string(repository_root().join(".github/dependabot.yml")).unwrap();
    let config = &YamlLoader::load_from_str(&text).unwrap()[0];
    assert_eq!(config["version"].as_i64(), Some(2));
    let updates = config["updates"].as_vec().expect("updates");
    let ecosystems: BTreeSet<&str> = updates.iter().filter_map(|update| update["package-ecosystem"].as_str()).collect();
    for needed in ["github-actions", "uv", "cargo", "docker"] {
        assert!(ecosystems.contains(needed), "dependabot.yml does not update {needed}: {ecosystems:?}");
    }
    for update in updates {
        let name = update["package-ecosystem"].as_str().unwrap_or("?");
        assert!(update["schedule"]["interval"].as_str().is_some(), "{name}: no schedule");
        assert!(update["groups"].as_hash().is_some_and(|groups| !groups.is_empty()), "{name}: updates are not grouped");
    }
}
