//! Bad input and hostile environments for `bump`, `checksums`, `release` and `archive`: malformed
//! and partial TOML, odd encodings, hostile names, read-only and full output folders, special files,
//! missing tools, shallow clones, exports without `.git` and a detached HEAD. Every case checks the exit code, the
//! `error:` line naming the cause (and the `hint:` where there is one), that nothing panicked, and
//! that nothing outside the intended output changed (a snapshot of the whole tree, git state included).
//!
//! A full folder is `ulimit -f` in a `sh -c` wrapper, with SIGXFSZ ignored so a write fails with
//! EFBIG as one to a full disk fails with ENOSPC. A read-only folder is a read-only bind mount in a
//! user namespace (`unshare -rm`): permission bits do not stop root, a read-only mount does.

// Linux only: `unshare -rm` (user namespaces) and ulimit/SIGXFSZ behaviour as described above.
#![cfg(target_os = "linux")]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use support::*;

static CASES: AtomicUsize = AtomicUsize::new(0);

/// Every file under `root` (but `.git/`) with its size and hash, plus the git state when there is one.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() && relative != ".git" {
                folders.push(path);
            } else if kind.is_file() {
                files.insert(relative, format!("{} {}", entry.metadata().unwrap().len(), sha256_hex(&path)));
            } else if !kind.is_dir() {
                files.insert(relative, format!("{kind:?}"));
            }
        }
    }
    if root.join(".git").exists() {
        for args in [&["rev-parse", "HEAD"][..], &["for-each-ref"], &["status", "--porcelain"], &["stash", "list"]] {
            let output = Command::new("git").args(args).current_dir(root).output().unwrap();
            files.insert(format!("git {}", args.join(" ")), text(&output.stdout));
        }
    }
    files
}

/// What a case expects.
struct Expect<'a> {
    code: i32,
    /// Texts the `error:` output must contain (the cause, the file, ...); empty for a success.
    error: &'a [&'a str],
    hint: bool,
    /// Paths (relative to the snapshot root) the command is meant to write.
    writes: &'a [&'a str],
}

const SUCCEEDS: Expect<'static> = Expect { code: 0, error: &[], hint: false, writes: &[] };

/// Run `command` and check it against `expect`, with `root` snapshotted before and after.
fn case(label: &str, root: &Path, command: &mut Command, expect: Expect<'_>) -> Output {
    CASES.fetch_add(1, Ordering::SeqCst);
    let before = snapshot(root);
    let output = command.output().unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    let shown = format!("{label}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(output.status.code(), Some(expect.code), "{shown}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace") && !stderr.contains("RUST_BACKTRACE"),
        "{shown}"
    );
    if expect.code != 0 {
        let error_line =
            stderr.lines().find(|line| line.starts_with("error: ")).unwrap_or_else(|| panic!("no error line: {shown}"));
        let error_text = &stderr[stderr.find(error_line).unwrap()..];
        for needle in expect.error {
            assert!(
                error_text.contains(needle) || (expect.code == 1 && stdout.contains(needle)),
                "{needle:?} missing: {shown}"
            );
        }
        assert_eq!(stderr.lines().any(|line| line.starts_with("hint: ")), expect.hint, "hint: {shown}");
    }
    let after = snapshot(root);
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .filter(|path| !expect.writes.contains(&path.as_str()))
        .collect();
    assert!(changed.is_empty(), "{label} changed {changed:?} outside its intended output\n{shown}");
    output
}

/// The xtask under `sh -c PREFIX; exec xtask ARGS` with the same environment as `xtask_command`.
fn wrapped(dir: &Path, prefix: &str, args: &[&str]) -> Command {
    let plain = xtask_command(dir, args);
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("{prefix}\nexec \"$0\" \"$@\"")).arg(plain.get_program()).args(plain.get_args());
    command.current_dir(dir);
    for (key, value) in plain.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
}

/// Writes of more than one 512-byte block fail with EFBIG, as to a full disk.
fn with_full_disk(dir: &Path, args: &[&str]) -> Command {
    wrapped(dir, "trap '' XFSZ; ulimit -f 1", args)
}

/// `folder` is a read-only mount for the command (and its children).
fn with_read_only(dir: &Path, folder: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("unshare");
    let script = "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" \"$1\" && shift && exec \"$@\"";
    let plain = xtask_command(dir, args);
    command.args(["-rm", "sh", "-c", script, "sh"]).arg(folder).arg(plain.get_program()).args(plain.get_args());
    command.current_dir(dir);
    for (key, value) in plain.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
}

fn unshare_works() -> bool {
    Command::new("unshare").args(["-rm", "true"]).status().is_ok_and(|status| status.success())
}

/// An empty folder to use as PATH: no git, no uv, no Python.
fn empty_path() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// `git commit -a` with an identity of its own (the machine may have none).
fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "--all"]);
    git(dir, &["-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "--quiet", "-m", message]);
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", text(&output.stderr));
}

/// A fresh clone on a local `main` branch (releases are cut from main).
fn clone_on_main() -> (tempfile::TempDir, PathBuf) {
    let (folder, clone) = fresh_clone();
    git(&clone, &["checkout", "--quiet", "-B", "main"]);
    (folder, clone)
}

/// `git archive HEAD` of this repository, unpacked: the tree without `.git`.
fn export() -> (tempfile::TempDir, PathBuf) {
    let (folder, clone) = fresh_clone();
    let exported = folder.path().join("export");
    std::fs::create_dir(&exported).unwrap();
    let archive = folder.path().join("export.tar");
    git(&clone, &["archive", "--format=tar", "-o", archive.to_str().unwrap(), "HEAD"]);
    assert!(Command::new("tar").arg("-xf").arg(&archive).current_dir(&exported).status().unwrap().success());
    (folder, exported)
}

fn shallow_clone() -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap();
    let clone = folder.path().join("shallow");
    let source = format!("file://{}", repository_root().display());
    git(folder.path(), &["clone", "--quiet", "--depth", "1", &source, clone.to_str().unwrap()]);
    git(&clone, &["checkout", "--quiet", "-B", "main"]);
    (folder, clone)
}

fn report(group: &str) {
    eprintln!("bad-input cases run so far (after {group}): {}", CASES.load(Ordering::SeqCst));
}

#[test]
fn bump_refuses_bad_input_and_changes_nothing() {
    let (_folder, clone) = fresh_clone();
    let proxy = clone.join("packages/proxy/pyproject.toml");
    let agent = clone.join("packages/agent/pyproject.toml");
    let (proxy_original, agent_original) = (std::fs::read(&proxy).unwrap(), std::fs::read(&agent).unwrap());
    let restore = || {
        std::fs::write(&proxy, &proxy_original).unwrap();
        std::fs::write(&agent, &agent_original).unwrap();
    };
    let bump = |args: &[&str]| xtask_command(&clone, &[&["bump"], args].concat());
    let refused = |error: &'static [&'static str], hint: bool| Expect { code: 1, error, hint, writes: &[] };
    // A flag value the command cannot take: clap's (no hint line) or the xtask's (with one).
    let usage = |error: &'static [&'static str], hint: bool| Expect { code: 2, error, hint, writes: &[] };

    // Malformed and partial TOML.
    std::fs::write(&proxy, "[project\nname = ").unwrap();
    case(
        "malformed TOML",
        &clone,
        &mut bump(&["proxy", "patch"]),
        refused(&["packages/proxy/pyproject.toml", "TOML syntax error"], true),
    );
    let text = String::from_utf8(proxy_original.clone()).unwrap();
    let cut = text.find("dependencies").unwrap();
    std::fs::write(&proxy, &text[..cut + 20]).unwrap();
    case("truncated TOML", &clone, &mut bump(&["proxy", "patch"]), refused(&["packages/proxy/pyproject.toml"], true));
    restore();
    std::fs::write(&agent, String::from_utf8(agent_original.clone()).unwrap() + "\n[project.extra\n").unwrap();
    case(
        "malformed TOML in a dependant",
        &clone,
        &mut bump(&["core", "minor"]),
        refused(&["packages/agent/pyproject.toml"], true),
    );
    restore();
    std::fs::write(&proxy, text.replacen("version = \"", "version = 1 # \"", 1)).unwrap();
    case("a version that is not a string", &clone, &mut bump(&["proxy", "patch"]), refused(&["version"], true));
    restore();

    // Odd encodings: UTF-16 and a Latin-1 byte. The error names the file, the hint says to save it
    // as UTF-8.
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&proxy, &utf16).unwrap();
    case(
        "UTF-16 pyproject",
        &clone,
        &mut bump(&["proxy", "patch"]),
        refused(&["packages/proxy/pyproject.toml", "UTF-8"], true),
    );
    let mut latin1 = proxy_original.clone();
    latin1.extend(b"# caf\xe9\n");
    std::fs::write(&proxy, &latin1).unwrap();
    case(
        "Latin-1 byte in a comment",
        &clone,
        &mut bump(&["proxy", "patch"]),
        refused(&["packages/proxy/pyproject.toml", "UTF-8"], true),
    );
    restore();

    // Requirements the bump cannot rewrite in place.
    let agent_text = String::from_utf8(agent_original.clone()).unwrap();
    let line = agent_text.lines().find(|line| line.contains("\"lumen-argus-core")).unwrap();
    let requirement = line.split('"').nth(1).unwrap();
    std::fs::write(&agent, agent_text.replace(requirement, "lumen-argus-core @ file:///elsewhere")).unwrap();
    case(
        "a URL requirement",
        &clone,
        &mut bump(&["core", "minor"]),
        refused(&["cannot read the requirement", "lumen-argus-core @ file:///elsewhere"], true),
    );
    let escaped = requirement.replace('<', "\\u003c");
    std::fs::write(&agent, agent_text.replace(requirement, &escaped)).unwrap();
    case("a requirement with escapes", &clone, &mut bump(&["core", "minor"]), refused(&["escapes"], true));
    restore();

    // Hostile arguments.
    case(
        "a path as package",
        &clone,
        &mut bump(&["../../etc", "patch"]),
        usage(&["no package named `../../etc`"], true),
    );
    case(
        "a shell line as version",
        &clone,
        &mut bump(&["proxy", "1.0.0; rm -rf /"]),
        usage(&["neither a bump kind nor a PEP 440 version"], false),
    );
    case(
        "a number past u64",
        &clone,
        &mut bump(&["proxy", "99999999999999999999999.0"]),
        usage(&["neither a bump kind nor a PEP 440 version"], false),
    );
    case(
        "an unknown flag",
        &clone,
        &mut bump(&["proxy", "patch", "--force"]),
        Expect { code: 2, error: &["--force"], hint: false, writes: &[] },
    );

    // Full and read-only output folders.
    case(
        "full disk",
        &clone,
        &mut with_full_disk(&clone, &["bump", "proxy", "patch"]),
        refused(&["File too large"], true),
    );
    if unshare_works() {
        let folder = clone.join("packages/proxy");
        case(
            "read-only package folder",
            &clone,
            &mut with_read_only(&clone, &folder, &["bump", "proxy", "patch"]),
            refused(&["packages/proxy", "Read-only file system"], true),
        );
    } else {
        eprintln!("note: no user namespaces here: the read-only folder case of bump did not run");
    }

    // Missing tools: no uv and no Python to bootstrap it.
    let path = empty_path();
    case(
        "no uv, no Python",
        &clone,
        bump(&["proxy", "patch"]).env("PATH", path.path()).env_remove("XTASK_UV"),
        refused(&["Python"], true),
    );

    // Detached HEAD: bump does not care, and a dry run changes nothing.
    git(&clone, &["checkout", "--quiet", "--detach"]);
    case("detached HEAD dry run", &clone, &mut bump(&["proxy", "patch", "--dry-run"]), SUCCEEDS);
    report("bump");
}

#[test]
fn bump_works_in_shallow_clones_and_exports() {
    let (_shallow_folder, shallow) = shallow_clone();
    let written = Expect {
        code: 0,
        error: &[],
        hint: false,
        writes: &["packages/proxy/pyproject.toml", "uv.lock", "git status --porcelain"],
    };
    case("shallow clone", &shallow, &mut xtask_command(&shallow, &["bump", "proxy", "patch"]), written);
    let (_export_folder, exported) = export();
    let written = Expect { code: 0, error: &[], hint: false, writes: &["packages/proxy/pyproject.toml", "uv.lock"] };
    case("export without .git", &exported, &mut xtask_command(&exported, &["bump", "proxy", "patch"]), written);
    report("bump in shallow clones and exports");
}

fn artifact(dir: &Path, name: &str, contents: &[u8]) {
    std::fs::write(dir.join(name), contents).unwrap();
    std::fs::write(dir.join(format!("{name}.sha256")), format!("{}  {name}\n", sha256_hex(&dir.join(name)))).unwrap();
}

#[test]
fn checksums_refuses_bad_input_and_changes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let dist = folder.path().join("dist");
    std::fs::create_dir(&dist).unwrap();
    artifact(&dist, "lumen-argus-x86_64-unknown-linux-gnu", b"proxy binary");
    artifact(&dist, "lumen-argus-0.0.1-x86_64-unknown-linux-gnu.tar.gz", &vec![7u8; 4096]);
    let root = folder.path();
    let dist_arg = dist.to_str().unwrap().to_string();
    let checksums = |args: &[&str]| xtask_command(&repository_root(), &[&["checksums"], args].concat());
    let refused = |error: &'static [&'static str]| Expect { code: 1, error, hint: true, writes: &[] };

    std::fs::write(root.join("a-file"), b"x").unwrap();
    case(
        "DIR is a file",
        root,
        &mut checksums(&[root.join("a-file").to_str().unwrap()]),
        refused(&["a-file is not a folder"]),
    );
    case(
        "DIR is missing",
        root,
        &mut checksums(&[root.join("nowhere").to_str().unwrap()]),
        refused(&["nowhere is not a folder"]),
    );

    case(
        "no DIR outside a repository",
        root,
        &mut xtask_command(root, &["checksums", "--verify"]),
        refused(&["no DIR given and no repository to take dist/ from"]),
    );

    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(format!("{}  x\n", "a".repeat(64)).encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(dist.join("utf16.sha256"), &utf16).unwrap();
    case("UTF-16 .sha256", root, &mut checksums(&[&dist_arg]), refused(&["utf16.sha256 is not UTF-8 text"]));
    std::fs::remove_file(dist.join("utf16.sha256")).unwrap();
    std::fs::write(dist.join("partial.sha256"), "0123456789abcdef").unwrap();
    case(
        "truncated .sha256",
        root,
        &mut checksums(&[&dist_arg]),
        refused(&["partial.sha256:1", "is not `<64 hex>  <file name>`"]),
    );
    std::fs::remove_file(dist.join("partial.sha256")).unwrap();
    assert!(Command::new("mkfifo").arg(dist.join("fifo.sha256")).status().unwrap().success());
    case(
        "a .sha256 that is a fifo",
        root,
        &mut checksums(&[&dist_arg]),
        refused(&["fifo.sha256 is not a regular file"]),
    );
    std::fs::remove_file(dist.join("fifo.sha256")).unwrap();
    assert!(Command::new("mkfifo").arg(dist.join("listed-fifo")).status().unwrap().success());
    std::fs::write(dist.join("listed-fifo.sha256"), format!("{}  listed-fifo\n", "b".repeat(64))).unwrap();
    case("a listed fifo", root, &mut checksums(&[&dist_arg]), refused(&["listed-fifo is not a regular file"]));
    std::fs::remove_file(dist.join("listed-fifo")).unwrap();
    std::fs::remove_file(dist.join("listed-fifo.sha256")).unwrap();

    // Full and read-only output folders: nothing written, no temporary file left.
    case(
        "full disk",
        root,
        &mut with_full_disk(&repository_root(), &["checksums", &dist_arg]),
        refused(&["File too large"]),
    );
    if unshare_works() {
        case(
            "read-only DIR",
            root,
            &mut with_read_only(&repository_root(), &dist, &["checksums", &dist_arg]),
            refused(&["Read-only file system"]),
        );
    } else {
        eprintln!("note: no user namespaces here: the read-only folder case of checksums did not run");
    }
    case(
        "--verify without checksums.txt",
        root,
        &mut checksums(&[&dist_arg, "--verify"]),
        refused(&["checksums.txt is missing"]),
    );

    // Hostile names that are still plain file names: listed, never run, nothing created.
    artifact(&dist, "$(touch pwned)", b"a file with a shell name");
    std::fs::write(
        dist.join("CRLF.sha256"),
        format!("{}  CRLF\r\n", xtask::hashing::sha256_hex_of_bytes(b"crlf").to_uppercase()),
    )
    .unwrap();
    std::fs::write(dist.join("CRLF"), b"crlf").unwrap();
    let written = Expect { code: 0, error: &[], hint: false, writes: &["dist/checksums.txt", "dist/release-notes.md"] };
    case("shell-looking names and a CRLF .sha256 with uppercase hex", root, &mut checksums(&[&dist_arg]), written);
    assert!(!root.join("pwned").exists() && !dist.join("pwned").exists() && !repository_root().join("pwned").exists());
    case("no tools on PATH", root, checksums(&[&dist_arg]).env("PATH", empty_path().path()), SUCCEEDS);
    std::fs::write(dist.join("evil\nname"), b"stray").unwrap();
    case(
        "--verify names an unlisted file with a newline on one line",
        root,
        &mut checksums(&[&dist_arg, "--verify"]),
        refused(&["\"evil\\nname\": not listed"]),
    );
    report("checksums");
}

#[test]
fn checksums_default_folder_works_in_an_export() {
    let (_folder, exported) = export();
    let dist = exported.join("dist");
    std::fs::create_dir(&dist).unwrap();
    artifact(&dist, "lumen-argus-x86_64-unknown-linux-gnu", b"proxy binary");
    let written = Expect { code: 0, error: &[], hint: false, writes: &["dist/checksums.txt", "dist/release-notes.md"] };
    case(
        "export without .git, default DIR",
        &exported,
        &mut xtask_command(&exported.join("packages"), &["checksums"]),
        written,
    );
    report("checksums in an export");
}

/// `release --execute` refused by preflight: nothing built, committed or tagged.
fn release_refused(error: &'static [&'static str]) -> Expect<'static> {
    Expect { code: 1, error, hint: true, writes: &[] }
}

fn release_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = xtask_command(dir, &[&["release"], args].concat());
    for (key, value) in [
        ("GIT_AUTHOR_NAME", "Release Test"),
        ("GIT_AUTHOR_EMAIL", "release@example.invalid"),
        ("GIT_COMMITTER_NAME", "Release Test"),
        ("GIT_COMMITTER_EMAIL", "release@example.invalid"),
    ] {
        command.env(key, value);
    }
    command
}

#[test]
fn release_refuses_bad_input_and_changes_nothing() {
    let (_folder, clone) = clone_on_main();
    let changelog = clone.join("docs/development/changelog.md");
    let original = std::fs::read(&changelog).unwrap();

    case(
        "no git on PATH",
        &clone,
        release_command(&clone, &["--execute"]).env("PATH", empty_path().path()),
        release_refused(&["git is not installed"]),
    );
    case(
        "--push without --execute",
        &clone,
        &mut release_command(&clone, &["--push"]),
        Expect { code: 2, error: &["--execute"], hint: false, writes: &[] },
    );

    std::fs::write(&changelog, b"# Changelog\n\n## Unreleased\n\n- caf\xe9\n").unwrap();
    commit(&clone, "latin-1 changelog");
    case(
        "a changelog that is not UTF-8",
        &clone,
        &mut release_command(&clone, &["--execute"]),
        release_refused(&["cannot read docs/development/changelog.md"]),
    );
    std::fs::remove_file(&changelog).unwrap();
    commit(&clone, "no changelog");
    case(
        "no changelog",
        &clone,
        &mut release_command(&clone, &["--execute"]),
        release_refused(&["cannot read docs/development/changelog.md"]),
    );
    std::fs::write(&changelog, &original).unwrap();
    commit(&clone, "changelog back");

    let proxy = clone.join("packages/proxy/pyproject.toml");
    let proxy_original = std::fs::read(&proxy).unwrap();
    std::fs::write(&proxy, "[project]\nname = \"lumen-argus-proxy\"\nversion = \"1.2.x\"\n").unwrap();
    case("an invalid version", &clone, &mut release_command(&clone, &["--execute"]), release_refused(&["1.2.x"]));
    std::fs::write(&proxy, &proxy_original).unwrap();

    git(&clone, &["checkout", "--quiet", "--detach"]);
    case("detached HEAD", &clone, &mut release_command(&clone, &["--execute"]), release_refused(&["not on a branch"]));
    git(&clone, &["checkout", "--quiet", "main"]);

    let (_shallow_folder, shallow) = shallow_clone();
    let path = shallow.join("docs/development/changelog.md");
    let emptied = std::fs::read_to_string(&path).unwrap().replacen(
        "\n## Unreleased\n",
        "\n## Unreleased\n\n## v0.0.0 — 2026-01-01\n",
        1,
    );
    std::fs::write(&path, emptied).unwrap();
    commit(&shallow, "empty Unreleased");
    case(
        "shallow clone, empty Unreleased",
        &shallow,
        &mut release_command(&shallow, &["--execute"]),
        release_refused(&["`## Unreleased` section of docs/development/changelog.md is empty"]),
    );

    let (_export_folder, exported) = export();
    case(
        "export without .git",
        &exported,
        &mut release_command(&exported, &["--execute"]),
        release_refused(&["not on a branch", "git status failed"]),
    );
    report("release");
}

/// A value from the command line reaches the terminal escaped and cut, whoever refuses it: clap (an
/// unsupported `--target`, an unknown flag) or the xtask (an unknown package). No escape sequence
/// gets through, no line is endless, and the exit code is the usage error's.
#[test]
fn hostile_values_reach_the_terminal_escaped_and_cut() {
    let root = repository_root();
    let hostile = format!("x\u{1b}]0;owned\u{7}\u{1b}[2J\r{}", "y".repeat(100_000));
    let cases: [&[&str]; 4] = [
        &["sidecar", "--target", &hostile],
        &["bump", &hostile, "patch"],
        &["bump", "proxy", &hostile],
        &["smoke", &format!("--{hostile}")],
    ];
    for args in cases {
        let output = xtask_command(&root, args).output().unwrap();
        let stderr = text(&output.stderr);
        let shown = &stderr[..stderr.len().min(300)];
        assert_eq!(output.status.code(), Some(2), "{shown}");
        assert!(stderr.starts_with("error: ") && stderr.contains("\\u{1b}"), "{shown}");
        assert!(!stderr.contains('\u{1b}') && !stderr.contains('\r') && !stderr.contains('\u{7}'), "{shown}");
        assert!(stderr.lines().all(|line| line.chars().count() < 2100), "an endless line: {shown}");
    }
}

/// `cargo xtask archive` under `timeout`: a run that would read a fifo without end fails the case
/// (exit 124) instead of hanging the test.
fn archive_with_deadline(dir: &Path, args: &[&str]) -> Command {
    let plain = xtask_command(dir, &[&["archive"], args].concat());
    let mut command = Command::new("timeout");
    command.arg("60").arg(plain.get_program()).args(plain.get_args()).current_dir(dir);
    for (key, value) in plain.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command.env("SOURCE_DATE_EPOCH", "1700000000");
    command
}

/// `archive` in a folder of temporary files: a `--name` that is not a plain file name, an `--out`
/// that is FILE itself (by its path, a symlink or a hard link) or is not a regular file, and an input
/// that is not a regular file are refused, and nothing in the folder changes: FILE keeps its bytes,
/// a fifo stays a fifo. Only fifos and folders stand in for special files: never a device as --out.
#[test]
fn archive_refuses_bad_names_and_paths_and_changes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let root = folder.path();
    std::fs::write(root.join("tool"), b"#!/bin/sh\necho tool\n").unwrap();
    std::os::unix::fs::symlink("tool", root.join("link-to-tool")).unwrap();
    std::fs::hard_link(root.join("tool"), root.join("hard-link")).unwrap();
    assert!(Command::new("mkfifo").arg(root.join("fifo")).status().unwrap().success());
    std::fs::create_dir(root.join("folder")).unwrap();
    let usage = |error: &'static [&'static str]| Expect { code: 2, error, hint: true, writes: &[] };
    let refused = |error: &'static [&'static str]| Expect { code: 1, error, hint: true, writes: &[] };

    let long = "x".repeat(101);
    for name in ["", "a/b", "/etc/passwd", "a\\b", ".", "..", "bell\u{7}", "line\nbreak", &long] {
        case(
            &format!("--name {name:?}"),
            root,
            &mut archive_with_deadline(root, &["tool", "--out", "out.tar.gz", "--name", name]),
            usage(&["--name ", "is not a plain file name", "hint: pass --name NAME"]),
        );
    }
    for out in ["tool", "./tool", "link-to-tool", "hard-link"] {
        case(
            &format!("--out {out} is FILE"),
            root,
            &mut archive_with_deadline(root, &["tool", "--out", out]),
            usage(&["is FILE", "itself", "FILE was not touched"]),
        );
    }
    for out in ["fifo", "folder"] {
        case(
            &format!("--out {out}"),
            root,
            &mut archive_with_deadline(root, &["tool", "--out", out]),
            refused(&["exists and is not a regular file", "nothing was written"]),
        );
    }
    for input in ["fifo", "folder"] {
        case(
            &format!("input {input}"),
            root,
            &mut archive_with_deadline(root, &[input, "--out", "out.tar.gz", "--name", "x"]),
            refused(&["is not a regular file"]),
        );
    }
    // The same folder still archives: a regular --out is replaced, under the name given.
    std::fs::write(root.join("old.tar.gz"), b"an old archive").unwrap();
    case(
        "a regular --out is replaced",
        root,
        &mut archive_with_deadline(root, &["tool", "--out", "old.tar.gz", "--name", "lumen-argus"]),
        Expect { code: 0, error: &[], hint: false, writes: &["old.tar.gz"] },
    );
    assert_ne!(std::fs::read(root.join("old.tar.gz")).unwrap(), b"an old archive");
    report("archive");
}
