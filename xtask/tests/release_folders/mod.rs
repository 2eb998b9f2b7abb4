//! Release folders as `cargo xtask collect` and `checksums` leave them (three artifacts,
//! `checksums.txt`, `manifest.json`, `release-notes.md`), a stand-in GitHub API that knows their
//! tag, and `github-release` / `checksums --verify --release` run against it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub use xtask::github_stand_in::*;

use super::support::*;

pub const TAG: &str = "v0.2.0";
pub const VERSION: &str = "0.2.0";
/// The commit the folders' files were built from, and where the stand-in's tag points.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
pub const OTHER_COMMIT: &str = "fedcba9876543210fedcba9876543210fedcba98";
pub const BINARY: &str = "lumen-argus-x86_64-unknown-linux-gnu";
pub const ARCHIVE: &str = "lumen-argus-0.2.0-x86_64-unknown-linux-gnu.tar.gz";
pub const WINDOWS: &str = "lumen-argus-agent-x86_64-pc-windows-msvc.exe";
pub const NOTES: &str = "## Packages\n\n| package | version |\n";

/// A stand-in whose repository has `TAG` at `COMMIT`.
pub fn stand_in() -> StandIn {
    let stand_in = StandIn::start().unwrap();
    stand_in.lock().tags.insert(TAG.into(), COMMIT.into());
    stand_in
}

/// A release folder of version `VERSION` built from `COMMIT`.
pub fn release_folder() -> tempfile::TempDir {
    release_folder_at(VERSION, COMMIT)
}

pub fn release_folder_at(version: &str, commit: &str) -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    std::fs::write(dir.join(BINARY), b"proxy binary bytes").unwrap();
    std::fs::write(dir.join(ARCHIVE), b"\x1f\x8barchive bytes").unwrap();
    std::fs::write(dir.join(WINDOWS), b"MZ agent bytes").unwrap();
    std::fs::write(dir.join("release-notes.md"), NOTES).unwrap();
    seal(dir, version, commit);
    folder
}

/// `(file, package, triple, kind)` of every artifact a folder may hold.
const ARTIFACTS: [(&str, &str, &str, &str); 3] = [
    (BINARY, "proxy", "x86_64-unknown-linux-gnu", "binary"),
    (ARCHIVE, "proxy", "x86_64-unknown-linux-gnu", "archive"),
    (WINDOWS, "agent", "x86_64-pc-windows-msvc", "binary"),
];

/// Write `checksums.txt` and `manifest.json` for the files of `dir` (as `sidecar` + `checksums`
/// would after a rebuild), plus any `extra` names with records of their own.
pub fn seal(dir: &Path, version: &str, commit: &str) {
    seal_with(dir, version, commit, &[]);
}

pub fn seal_with(dir: &Path, version: &str, commit: &str, extra: &[&str]) {
    let mut entries: Vec<(String, &str, &str, &str)> = ARTIFACTS
        .iter()
        .filter(|(name, ..)| dir.join(name).exists())
        .map(|(name, package, triple, kind)| (name.to_string(), *package, *triple, *kind))
        .collect();
    // Extra files are not sidecar binaries: sidecars.json leaves them out.
    entries.extend(extra.iter().map(|name| (name.to_string(), "proxy", "x86_64-unknown-linux-gnu", "extra")));
    entries.sort();
    let records: Vec<serde_json::Value> = entries
        .iter()
        .map(|(name, package, triple, kind)| {
            serde_json::json!({
                "file": name, "kind": kind, "triple": triple, "package": package, "version": version,
                "size": std::fs::metadata(dir.join(name)).unwrap().len(), "sha256": sha256_hex(&dir.join(name)),
                "build_seconds": 1.0, "cached": false, "git_commit": commit, "python": "3.12.8", "pyinstaller": "6.11.1",
            })
        })
        .collect();
    std::fs::write(dir.join("manifest.json"), serde_json::json!({ "artifacts": records }).to_string()).unwrap();
    // sidecars.json as `checksums` writes it, listed with the rest.
    let mut listed: std::collections::BTreeMap<String, String> =
        entries.iter().map(|(name, ..)| (name.clone(), sha256_hex(&dir.join(name)))).collect();
    let on_disk = listed
        .iter()
        .map(|(name, sha256)| {
            let size = std::fs::metadata(dir.join(name)).unwrap().len();
            (name.clone(), xtask::sidecars_json::ListedFile { sha256: sha256.clone(), size })
        })
        .collect();
    let index_path = dir.join(xtask::sidecars_json::FILE_NAME);
    match xtask::sidecars_json::render(&records, &on_disk).unwrap() {
        Some(index) => {
            std::fs::write(&index_path, &index).unwrap();
            listed.insert(xtask::sidecars_json::FILE_NAME.into(), sha256_hex(&index_path));
        }
        None => {
            let _ = std::fs::remove_file(&index_path);
        }
    }
    let text: String = listed.iter().map(|(name, hex)| format!("{hex}  {name}\n")).collect();
    std::fs::write(dir.join("checksums.txt"), text).unwrap();
}

/// The xtask in the repository, aimed at the stand-in, with no token unless `token` is given.
pub fn command(stand_in: &StandIn, args: &[&str], token: Option<&str>) -> Command {
    let mut command = xtask_command(&repository_root(), args);
    command
        .env("GITHUB_API_URL", &stand_in.url)
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("XTASK_GITHUB_RETRY_BASE_MS", "10")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT");
    if let Some(token) = token {
        command.env("GITHUB_TOKEN", token);
    }
    command
}

/// `github-release --tag TAG --dir DIR EXTRA...` with the stand-in's token; every output is also
/// checked for the token.
pub fn github_release(stand_in: &StandIn, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["github-release", "--tag", TAG, "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = command(stand_in, &args, Some(&stand_in.token)).output().unwrap();
    assert_token_absent(&output, &stand_in.token);
    output
}

pub fn verify_release(stand_in: &StandIn, extra: &[&str], token: Option<&str>) -> Output {
    let mut args = vec!["checksums", "--verify", "--release", TAG];
    args.extend_from_slice(extra);
    command(stand_in, &args, token).output().unwrap()
}

pub fn assert_token_absent(output: &Output, token: &str) {
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!all.contains(token), "the token appears in the output:\n{all}");
}

pub fn stdout(output: &Output) -> String {
    text(&output.stdout)
}

pub fn uploads(requests: &[Recorded]) -> Vec<String> {
    requests.iter().filter(|r| r.is_upload()).filter_map(Recorded::upload_name).collect()
}

pub fn count(requests: &[Recorded], method: &str) -> usize {
    requests.iter().filter(|r| r.method == method).count()
}

pub fn writes(requests: &[Recorded]) -> Vec<String> {
    requests.iter().filter(|r| r.method != "GET").map(|r| format!("{} {}", r.method, r.target)).collect()
}

/// The release's assets as (name, digest), sorted.
pub fn assets(stand_in: &StandIn, tag: &str) -> Vec<(String, Option<String>)> {
    let state = stand_in.lock();
    let mut assets: Vec<_> =
        state.release(tag).unwrap().assets.iter().map(|a| (a.name.clone(), a.digest.clone())).collect();
    assets.sort();
    assets
}

/// The (name, sha256 of the bytes) of a release's assets: what a download would give.
pub fn asset_bytes(stand_in: &StandIn, tag: &str) -> Vec<(String, String)> {
    let state = stand_in.lock();
    let mut assets: Vec<_> =
        state.release(tag).unwrap().assets.iter().map(|a| (a.name.clone(), sha256_hex_of_bytes(&a.bytes))).collect();
    assets.sort();
    assets
}

pub fn sha256_hex_of_bytes(bytes: &[u8]) -> String {
    xtask::hashing::sha256_hex_of_bytes(bytes)
}

/// What the release must hold for `dir`: every listed file and checksums.txt with its sha256.
pub fn expected_assets(dir: &Path) -> Vec<(String, Option<String>)> {
    let listed = std::fs::read_to_string(dir.join("checksums.txt")).unwrap();
    let mut expected: Vec<_> = listed
        .lines()
        .map(|line| line.split_once("  ").unwrap().1.to_string())
        .chain(["checksums.txt".to_string()])
        .map(|name| {
            let digest = Some(format!("sha256:{}", sha256_hex(&dir.join(&name))));
            (name, digest)
        })
        .collect();
    expected.sort();
    expected
}

pub fn failed_with(output: &Output, code: i32, expected: &[&str]) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stdout:\n{}\nstderr:\n{stderr}", stdout(output));
    for part in expected {
        assert!(stderr.contains(part), "expected {part:?} in:\n{stderr}");
    }
    stderr
}

/// The command between backquotes in the `hint:` line that starts with `cargo xtask`.
pub fn hinted_command(stderr: &str) -> String {
    let hint = stderr.lines().find(|line| line.starts_with("hint: ")).expect("a hint line");
    let start = hint.find("`cargo xtask").expect("a cargo xtask command in the hint") + 1;
    let end = start + hint[start..].find('`').expect("the closing backquote");
    hint[start..end].to_string()
}

/// Run a hinted `cargo xtask ...` command line as a shell would: `sh -c` with the xtask binary in
/// place of `cargo xtask`. On Windows that is Git Bash's `sh` (on PATH in CI's bash steps), given
/// the binary's path with forward slashes, which it runs as it is.
pub fn run_pasted(stand_in: &StandIn, command_line: &str) -> Output {
    let rest = command_line.strip_prefix("cargo xtask ").expect("a cargo xtask command");
    let script = format!("exec \"$XTASK_BINARY\" {rest}");
    let binary = env!("CARGO_BIN_EXE_xtask").replace('\\', "/");
    let mut shell = Command::new("sh");
    shell
        .args(["-c", &script])
        .current_dir(repository_root())
        .env("XTASK_BINARY", binary)
        .env("GITHUB_API_URL", &stand_in.url)
        .env("GITHUB_REPOSITORY", OWNER_REPO)
        .env("XTASK_GITHUB_RETRY_BASE_MS", "10")
        .env("GITHUB_TOKEN", &stand_in.token)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT");
    shell.output().unwrap()
}
