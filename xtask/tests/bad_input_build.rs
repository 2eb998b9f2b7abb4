//! The build commands (`sidecar`, `build-info`, `doctor`) walked through bad input: malformed and
//! partial `pyproject.toml`, odd encodings, hostile declared names, output folders that cannot be
//! written, missing tools, and unusual git states. Each case asserts the exit code, the `error:`
//! line naming the cause (and the `hint:` where there is one), no panic, and that nothing outside
//! the intended output changed (the tree is compared before and after, `target/` aside). Every
//! failing case stops before `uv sync` and PyInstaller, so the suite takes seconds.

// Unix only: permission bits, symlinks, `sh -c` wrappers with `ulimit -f`, and `geteuid`.
#![cfg(unix)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

const AGENT_PYPROJECT: &str = "packages/agent/pyproject.toml";
const AGENT_BUILD_INFO: &str = "packages/agent/lumen_argus_agent/_build_info.py";
const PROXY_BUILD_INFO: &str = "packages/proxy/lumen_argus/_build_info.py";

/// What a case must produce.
struct Expect<'a> {
    code: i32,
    /// Text the `error:` line contains; `None`: there must be no `error:` line.
    error: Option<&'a str>,
    /// Text the `hint:` line contains.
    hint: Option<&'a str>,
    /// Paths (relative to the clone) the case may create or change.
    may_change: &'a [&'a str],
}

fn refused<'a>(error: &'a str, hint: &'a str) -> Expect<'a> {
    Expect { code: 1, error: Some(error), hint: Some(hint), may_change: &[] }
}

fn refused_without_hint(error: &str) -> Expect<'_> {
    Expect { code: 1, error: Some(error), hint: None, may_change: &[] }
}

fn succeeds<'a>(may_change: &'a [&'a str]) -> Expect<'a> {
    Expect { code: 0, error: None, hint: None, may_change }
}

/// Path → (mode, SHA-256 of the contents or the link target) of everything under `root` but `target/`.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            if relative == Path::new("target") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                found.insert(relative, (mode, String::from("folder")));
                pending.push(path);
            } else if meta.is_symlink() {
                found.insert(relative, (mode, format!("-> {}", std::fs::read_link(&path).unwrap().display())));
            } else {
                found.insert(relative, (mode, sha256_hex(&path)));
            }
        }
    }
    found
}

/// Run one case and check it; returns the output for extra checks.
fn check(clone: &Path, label: &str, mut command: Command, expect: &Expect<'_>) -> Output {
    let before = snapshot(clone);
    let output = command.env("RUST_BACKTRACE", "1").output().unwrap();
    let after = snapshot(clone);
    let stderr = text(&output.stderr);
    let shown = format!("case `{label}`\nstdout:\n{}\nstderr:\n{stderr}", text(&output.stdout));
    assert_eq!(output.status.code(), Some(expect.code), "{shown}");
    assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "{shown}");
    let error_line = stderr.lines().find(|line| line.starts_with("error: "));
    match expect.error {
        Some(expected) => {
            let line = error_line.unwrap_or_else(|| panic!("no error: line\n{shown}"));
            assert!(line.contains(expected), "the error line does not say `{expected}`\n{shown}");
            assert!(line.len() < 600, "an error line of {} characters\n{shown}", line.len());
            let next = stderr.lines().skip_while(|candidate| *candidate != line).nth(1);
            assert!(next.is_none_or(|next| next.starts_with("hint: ")), "the error spans several lines\n{shown}");
        }
        None => assert!(error_line.is_none(), "{shown}"),
    }
    if let Some(expected) = expect.hint {
        let line = stderr.lines().find(|line| line.starts_with("hint: ")).unwrap_or_else(|| panic!("no hint\n{shown}"));
        assert!(line.contains(expected), "the hint does not say `{expected}`\n{shown}");
    }
    let allowed = |path: &Path| expect.may_change.iter().any(|allowed| path == Path::new(allowed));
    let keys: std::collections::BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    for path in keys {
        if before.get(path) != after.get(path) && !allowed(path) {
            panic!("{} changed ({:?} -> {:?})\n{shown}", path.display(), before.get(path), after.get(path));
        }
    }
    output
}

/// `program prefix... <xtask> args...` in `clone`, with the environment the tests give the xtask.
fn xtask_wrapped_in(clone: &Path, program: &str, prefix: &[&str], args: &[&str]) -> Command {
    let template = xtask_command(clone, args);
    let mut command = Command::new(program);
    command.current_dir(clone).args(prefix).arg(template.get_program()).args(template.get_args());
    for (name, value) in template.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command
}

/// Run `case` with `relative` holding `contents`, then put the original bytes back.
fn with_file(clone: &Path, relative: &str, contents: &[u8], case: impl FnOnce()) {
    let path = clone.join(relative);
    let original = std::fs::read(&path).unwrap();
    std::fs::write(&path, contents).unwrap();
    case();
    std::fs::write(&path, original).unwrap();
}

fn remove_generated(clone: &Path) {
    for generated in [AGENT_BUILD_INFO, PROXY_BUILD_INFO] {
        let _ = std::fs::remove_file(clone.join(generated));
    }
}

/// A clone of HEAD: `--depth 1` for a shallow one.
fn clone_into(folder: &Path, name: &str, shallow: bool) -> PathBuf {
    let clone = folder.join(name);
    let mut git = Command::new("git");
    git.args(["clone", "--quiet"]);
    if shallow {
        git.args(["--depth", "1"]);
    }
    let status = git.arg(format!("file://{}", repository_root().display())).arg(&clone).status().unwrap();
    assert!(status.success(), "git clone failed");
    clone
}

fn head_of(clone: &Path) -> String {
    text(&Command::new("git").args(["rev-parse", "HEAD"]).current_dir(clone).output().unwrap().stdout).trim().into()
}

/// Malformed, partial and oddly encoded `pyproject.toml` files, for each build command.
#[test]
fn malformed_and_oddly_encoded_pyproject_files() {
    let (_folder, clone) = fresh_clone();
    let original = std::fs::read_to_string(clone.join(AGENT_PYPROJECT)).unwrap();
    let replaced = |from: &str, to: &str| {
        assert!(original.contains(from), "{from}");
        original.replacen(from, to, 1).into_bytes()
    };
    let truncated = original.as_bytes()[..original.find("Loopback").unwrap() + 4].to_vec();
    let without_spec = original.lines().filter(|line| !line.starts_with("spec = ")).collect::<Vec<_>>().join("\n");
    let version_line = "version = \"0.4.0\"";
    let bad_toml_hint = "fix the TOML syntax";
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("truncated in a string", truncated, "TOML syntax error at line", bad_toml_hint),
        ("empty file", Vec::new(), "there is no [project] table", "add [project]"),
        ("unclosed string", replaced(version_line, "version = \"0.4.0"), "TOML syntax error at line", bad_toml_hint),
        (
            "duplicate key",
            replaced(version_line, "version = \"0.4.0\"\nversion = \"0.5.0\""),
            "duplicate key",
            bad_toml_hint,
        ),
        ("no version", replaced(version_line, ""), "[project].version is missing", "add version"),
        (
            "dynamic version",
            replaced(version_line, "dynamic = [\"version\"]"),
            "declares its version as dynamic",
            "only source of truth",
        ),
        ("version not PEP 440", replaced(version_line, "version = \"0.4.x\""), "is not a PEP 440 version", "PEP 440"),
        (
            "version with a path",
            replaced(version_line, "version = \"0.4.0/../../../escape\""),
            "is not a PEP 440 version",
            "PEP 440",
        ),
        ("version not a string", replaced(version_line, "version = 4"), "[project].version is missing", "add version"),
        ("no spec", without_spec.into_bytes(), "has no string `spec`", "add spec"),
        (
            "binary not a string",
            replaced("binary = \"lumen-argus-agent\"", "binary = 3"),
            "has no string `binary`",
            "add binary",
        ),
        (
            "sidecar not a table",
            format!("{}[tool.xtask]\nsidecar = \"yes\"\n", &original[..original.find("[tool.xtask.sidecar]").unwrap()])
                .into_bytes(),
            "is not a table",
            "[tool.xtask.sidecar] table",
        ),
        (
            "smoke args not strings",
            replaced("args = [\"relay\"", "args = [1, \"relay\""),
            "no `args` list of strings",
            "add args",
        ),
        (
            "latin-1 byte",
            [b"# caf\xe9\n".as_slice(), original.as_bytes()].concat(),
            "is not UTF-8 (invalid byte at offset 5)",
            "save it as UTF-8",
        ),
        (
            "UTF-16 with BOM",
            [0xff, 0xfe].into_iter().chain(original.encode_utf16().flat_map(u16::to_le_bytes)).collect(),
            "is not UTF-8",
            "save it as UTF-8",
        ),
    ];
    let mut count = 0;
    for (label, contents, error, hint) in &cases {
        with_file(&clone, AGENT_PYPROJECT, contents, || {
            for args in [&["sidecar", "--package", "agent"][..], &["build-info"], &["doctor"]] {
                let command = xtask_command(&clone, args);
                check(&clone, &format!("{label}: {}", args.join(" ")), command, &refused(error, hint));
                count += 1;
            }
        });
    }
    // Encodings that are fine: a UTF-8 byte order mark, CRLF line ends.
    let with_bom: Vec<u8> = b"\xef\xbb\xbf".iter().copied().chain(original.bytes()).collect();
    let crlf = original.replace('\n', "\r\n").into_bytes();
    for (label, contents) in [("UTF-8 BOM", with_bom), ("CRLF line ends", crlf)] {
        with_file(&clone, AGENT_PYPROJECT, &contents, || {
            let command = xtask_command(&clone, &["build-info", "--package", "agent"]);
            check(&clone, label, command, &succeeds(&[AGENT_BUILD_INFO]));
            let generated = std::fs::read_to_string(clone.join(AGENT_BUILD_INFO)).unwrap();
            assert!(generated.contains("VERSION = \"0.4.0\""), "{label}: {generated}");
            remove_generated(&clone);
            count += 1;
        });
    }
    eprintln!("{count} pyproject cases");
    assert_eq!(count, cases.len() * 3 + 2);
}

/// Declared names that would escape `dist/` or the package, or garble a file name or a message.
#[test]
fn hostile_declared_names() {
    let (_folder, clone) = fresh_clone();
    let original = std::fs::read_to_string(clone.join(AGENT_PYPROJECT)).unwrap();
    let declare = |key: &str, value: &str| {
        // A TOML basic string with every character escaped: control characters survive.
        let escaped: String = value.chars().map(|c| format!("\\U{:08X}", c as u32)).collect();
        let declared = format!("{key} = \"{escaped}\"");
        match original.lines().find(|line| line.starts_with(&format!("{key} = "))) {
            Some(line) => original.replacen(line, &declared, 1).into_bytes(),
            // A key the declaration leaves to its default (`service`) is added under the table.
            None => original
                .replacen("[tool.xtask.sidecar]\n", &format!("[tool.xtask.sidecar]\n{declared}\n"), 1)
                .into_bytes(),
        }
    };
    let absurd = "a".repeat(10_000);
    let binary_rule = "use 1 to 64 ASCII letters";
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("binary with a slash", declare("binary", "bin/agent"), "\"bin/agent\" is not a plain file name", binary_rule),
        ("binary ..", declare("binary", ".."), "\"..\" is not a plain file name", binary_rule),
        ("binary climbing out", declare("binary", "../../outside"), "is not a plain file name", binary_rule),
        (
            "binary with spaces",
            declare("binary", "lumen argus"),
            "\"lumen argus\" is not a plain file name",
            binary_rule,
        ),
        (
            "binary with an escape",
            declare("binary", "agent\u{1b}[31m"),
            "\"agent\\u{1b}[31m\" is not a plain file name",
            binary_rule,
        ),
        ("binary with a newline", declare("binary", "agent\nerror: fake"), "is not a plain file name", binary_rule),
        ("binary with NUL", declare("binary", "agent\0"), "is not a plain file name", binary_rule),
        ("binary like a flag", declare("binary", "--help"), "is not a plain file name", binary_rule),
        ("binary empty", declare("binary", ""), "is 0 characters long", binary_rule),
        ("binary absurdly long", declare("binary", &absurd), "is 10000 characters long", binary_rule),
        ("binary not ASCII", declare("binary", "agënt"), "is not a plain file name", binary_rule),
        (
            "spec outside the package",
            declare("spec", "../proxy/lumen-argus.spec"),
            "is not a relative path inside the package",
            "relative path",
        ),
        ("spec absolute", declare("spec", "/etc/passwd"), "is not a relative path inside the package", "relative path"),
        (
            "import package climbing out",
            declare("import-package", "../../outside"),
            "is not a Python import name",
            "Python import name",
        ),
        (
            "import package with a slash",
            declare("import-package", "lumen_argus_agent/sub"),
            "is not a Python import name",
            "Python import name",
        ),
        ("service with a control character", declare("service", "agent\u{7}"), "is not a printable name", "printable"),
    ];
    let mut count = 0;
    for (label, contents, error, hint) in &cases {
        with_file(&clone, AGENT_PYPROJECT, contents, || {
            for args in [&["sidecar", "--package", "agent"][..], &["build-info"], &["doctor"]] {
                let command = xtask_command(&clone, args);
                let output = check(&clone, &format!("{label}: {}", args.join(" ")), command, &refused(error, hint));
                // The name is shown escaped: no terminal escape or fake line reaches the output.
                let stderr = text(&output.stderr);
                assert!(!stderr.contains('\u{1b}') && !stderr.contains("\nerror: fake"), "{label}: {stderr}");
                count += 1;
            }
        });
    }
    // A missing spec file and unknown packages are refused before any work.
    with_file(&clone, AGENT_PYPROJECT, &declare("spec", "missing.spec"), || {
        let command = xtask_command(&clone, &["sidecar", "--package", "agent"]);
        check(&clone, "spec file missing", command, &refused("declares spec", "fix `spec`"));
        count += 1;
    });
    for (args, error, hint) in [
        (&["sidecar", "--package", "nosuch"][..], "no package named `nosuch`", "use one of: agent, core, proxy"),
        (&["build-info", "--package", "../agent"], "no package named `../agent`", "use one of"),
        (&["sidecar", "--package", "core"], "core declares no sidecar", "[tool.xtask.sidecar]"),
    ] {
        let usage = Expect { code: 2, ..refused(error, hint) };
        check(&clone, &args.join(" "), xtask_command(&clone, args), &usage);
        count += 1;
    }
    eprintln!("{count} hostile name cases");
    assert_eq!(count, cases.len() * 3 + 4);
}

/// `dist/` that cannot take the build, a full output folder (a file size limit), a corrupt
/// manifest, and environment values that are not usable: all refused before `uv sync`.
#[test]
fn output_folders_that_cannot_take_the_build() {
    let (_folder, clone) = fresh_clone();
    let dist = clone.join("dist");
    let sidecar = ["sidecar", "--package", "agent"];
    let folder_hint = "make dist/ a writable folder";
    let mut count = 0;

    std::fs::write(&dist, "a file where the folder goes").unwrap();
    check(
        &clone,
        "dist is a file",
        xtask_command(&clone, &sidecar),
        &refused("dist exists but is not a folder", folder_hint),
    );
    std::fs::remove_file(&dist).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dist", &dist).unwrap();
    check(
        &clone,
        "dist is a dangling link",
        xtask_command(&clone, &sidecar),
        &refused("dist is a link to something that does not exist", folder_hint),
    );
    std::fs::remove_file(&dist).unwrap();
    count += 2;

    // Read-only dist/: permissions for a normal user; root ignores them, so a read-only bind mount
    // in a mount namespace of its own.
    std::fs::create_dir(&dist).unwrap();
    std::fs::write(dist.join("keep.txt"), "kept").unwrap();
    // SAFETY: geteuid reads the process's user id and cannot fail.
    let read_only = if unsafe { libc::geteuid() } == 0 {
        let probe = Command::new("unshare").args(["-m", "true"]).status();
        assert!(
            probe.is_ok_and(|status| status.success()),
            "running as root without `unshare -m`: no way to make a read-only folder"
        );
        let remount = "mount --bind -o ro \"$1\" \"$1\" && shift && exec \"$@\"";
        xtask_wrapped_in(&clone, "unshare", &["-m", "sh", "-c", remount, "sh", dist.to_str().unwrap()], &sidecar)
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dist, std::fs::Permissions::from_mode(0o555)).unwrap();
        xtask_command(&clone, &sidecar)
    };
    check(&clone, "read-only dist", read_only, &refused("cannot take the build", folder_hint));
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dist, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    count += 1;

    // A full output folder: `ulimit -f` (512-byte blocks in sh) makes big writes fail.
    let limited = |blocks: &str, args: &[&str]| {
        let script = format!("ulimit -f {blocks} && exec \"$0\" \"$@\"");
        xtask_wrapped_in(&clone, "sh", &["-c", &script], args)
    };
    check(&clone, "sidecar with a file size limit", limited("8", &sidecar), &refused("File too large", folder_hint));
    check(
        &clone,
        "build-info with a file size limit",
        limited("0", &["build-info"]),
        &refused_without_hint("File too large"),
    );
    count += 2;

    std::fs::write(dist.join("manifest.json"), "{\"artifacts\": [").unwrap();
    check(
        &clone,
        "corrupt manifest",
        xtask_command(&clone, &sidecar),
        &refused("manifest.json is not valid JSON", "remove it"),
    );
    std::fs::remove_file(dist.join("manifest.json")).unwrap();
    count += 1;

    for (label, name, value, error, hint) in [
        (
            "SOURCE_DATE_EPOCH not a number",
            "SOURCE_DATE_EPOCH",
            "yesterday",
            "SOURCE_DATE_EPOCH=\"yesterday\" is not a whole number",
            "unset it",
        ),
        (
            "XTASK_UV missing",
            "XTASK_UV",
            "/nonexistent/uv",
            "XTASK_UV=/nonexistent/uv is not a file",
            "point XTASK_UV at a uv",
        ),
        (
            "XTASK_PYTHON missing",
            "XTASK_PYTHON",
            "/nonexistent/python3",
            "XTASK_PYTHON=/nonexistent/python3 does not run",
            "point XTASK_PYTHON",
        ),
    ] {
        for args in [&sidecar[..], &["build-info"]] {
            // build-info needs neither uv nor Python.
            if args[0] == "build-info" && name != "SOURCE_DATE_EPOCH" {
                continue;
            }
            let mut command = xtask_command(&clone, args);
            command.env(name, value);
            check(&clone, &format!("{label}: {}", args[0]), command, &refused(error, hint));
            count += 1;
        }
    }
    assert!(dist.join("keep.txt").is_file());
    eprintln!("{count} output and environment cases");
    assert_eq!(count, 10);
}

/// A PATH holding only symlinks to `keep` (and `sh`).
fn path_with_only(folder: &Path, keep: &[&str]) -> PathBuf {
    let bin = folder.join(format!("bin-{}", keep.join("-")));
    std::fs::create_dir_all(&bin).unwrap();
    for tool in keep.iter().chain(&["sh"]) {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|dir| dir.join(tool))
            .find(|path| path.is_file())
            .unwrap_or_else(|| panic!("{tool} is not on PATH"));
        // A version manager's shim needs its own PATH: link the interpreter it runs instead.
        let found = if *tool == "python3" {
            let output = Command::new(&found).args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
            PathBuf::from(text(&output.stdout).trim())
        } else {
            found
        };
        let link = bin.join(tool);
        if !link.exists() {
            std::os::unix::fs::symlink(found, link).unwrap();
        }
    }
    bin
}

/// No git, no Python, no uv: each named before any work, and by doctor.
#[test]
fn missing_tools_on_path() {
    let (folder, clone) = fresh_clone();
    let uv = uv_path();
    let mut count = 0;
    let with_path = |args: &[&str], keep: &[&str]| {
        let mut command = xtask_command(&clone, args);
        command.env("PATH", path_with_only(folder.path(), keep)).env_remove("XTASK_PYTHON");
        command
    };

    let no_git = ["python3"];
    let git_hint = "install git";
    let git_error = "git is not on PATH, but";
    check(
        &clone,
        "no git: sidecar",
        with_path(&["sidecar", "--package", "agent"], &no_git),
        &refused(git_error, git_hint),
    );
    check(&clone, "no git: build-info", with_path(&["build-info"], &no_git), &refused(git_error, git_hint));
    let doctor = check(
        &clone,
        "no git: doctor",
        with_path(&["doctor"], &no_git),
        &refused("1 required tool(s) missing", "fix:"),
    );
    assert!(text(&doctor.stdout).contains("MISSING  git"), "{}", text(&doctor.stdout));
    count += 3;

    let no_python = ["git"];
    let python_error = "Python 3.11 or newer is required: no Python found on PATH";
    check(
        &clone,
        "no python: sidecar",
        with_path(&["sidecar", "--package", "agent"], &no_python),
        &refused(python_error, "install Python 3.11+"),
    );
    let doctor = check(
        &clone,
        "no python: doctor",
        with_path(&["doctor"], &no_python),
        &refused("1 required tool(s) missing", "fix:"),
    );
    assert!(text(&doctor.stdout).contains("MISSING  python"), "{}", text(&doctor.stdout));
    // build-info needs no Python: it writes the files and succeeds.
    check(
        &clone,
        "no python: build-info",
        with_path(&["build-info"], &no_python),
        &succeeds(&[AGENT_BUILD_INFO, PROXY_BUILD_INFO]),
    );
    remove_generated(&clone);
    count += 3;

    // No uv anywhere: the xtask installs it with pip; with no package index reachable that fails
    // with a hint (and only target/ is touched).
    let no_uv = ["git", "python3"];
    let mut sidecar = with_path(&["sidecar", "--package", "agent"], &no_uv);
    sidecar
        .env_remove("XTASK_UV")
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "1")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_CONFIG_FILE", "/dev/null");
    check(&clone, "no uv, no index: sidecar", sidecar, &refused("pip could not install uv", "install uv yourself"));
    let mut doctor = with_path(&["doctor"], &no_uv);
    doctor.env_remove("XTASK_UV");
    let output = check(&clone, "no uv: doctor", doctor, &succeeds(&[]));
    assert!(text(&output.stdout).contains("installed automatically"), "{}", text(&output.stdout));
    count += 2;
    assert!(uv.is_file());
    eprintln!("{count} missing tool cases");
    assert_eq!(count, 8);
}

/// A tool that is there but fails, or says more than its version: doctor names it MISSING with
/// the failing command line and the tool's own reason, and keeps only the first line of a version.
#[test]
fn tools_that_fail_or_say_too_much() {
    use std::os::unix::fs::PermissionsExt;
    let (folder, clone) = fresh_clone();
    let script = |name: &str, body: &str| {
        let path = folder.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    };

    // A doctor run that reports `tool` MISSING, naming `program --version` and the tool's complaint.
    let assert_missing = |label: &str, doctor: Command, tool: &str, program: &Path| {
        // (The interpreter line fails too when UV_PYTHON is set, as it is under `cargo xtask test`.)
        let output = check(&clone, label, doctor, &refused("required tool(s) missing", "fix:"));
        let report = text(&output.stdout);
        let line = report
            .lines()
            .find(|line| line.contains(&format!("MISSING  {tool}")))
            .unwrap_or_else(|| panic!("{report}"));
        assert!(line.contains(&format!("{} --version", program.display())), "{report}");
        assert!(line.contains(&format!("{tool} is broken here")), "{report}");
    };

    let broken_uv = script("broken-uv", "echo 'uv is broken here' >&2; exit 3");
    let mut doctor = xtask_command(&clone, &["doctor"]);
    doctor.env("XTASK_UV", &broken_uv);
    assert_missing("a uv that fails: doctor", doctor, "uv", &broken_uv);

    let broken_git_folder = folder.path().join("broken-git");
    std::fs::create_dir(&broken_git_folder).unwrap();
    let broken_git = script("broken-git/git", "echo 'git is broken here' >&2; exit 3");
    let path = std::env::join_paths(
        std::iter::once(broken_git_folder).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut doctor = xtask_command(&clone, &["doctor"]);
    doctor.env("PATH", &path);
    assert_missing("a git that fails: doctor", doctor, "git", &broken_git);

    // The real Python behind a wrapper that greets after answering (as a sitecustomize might).
    let python = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    let python = text(&python.stdout).trim().to_string();
    let chatty_python = script(
        "chatty-python",
        &format!("\"{python}\" \"$@\"; status=$?; echo 'hello from sitecustomize'; exit $status"),
    );
    let mut doctor = xtask_command(&clone, &["doctor"]);
    doctor.env("XTASK_PYTHON", &chatty_python);
    let report = text(&doctor.output().unwrap().stdout);
    let python_line = report.lines().find(|line| line.contains(" python ")).unwrap_or_else(|| panic!("{report}"));
    assert!(python_line.starts_with("ok"), "{report}");
    assert!(python_line.contains(&format!("({})", chatty_python.display())), "{report}");
    assert!(!report.lines().any(|line| line.starts_with("hello from sitecustomize")), "{report}");
}

/// Shallow clones, exports without `.git`, a detached HEAD, a checkout without a commit or with a
/// damaged `.git`: the commit is recorded where there is one, `unknown` only outside git.
#[test]
fn unusual_git_states() {
    let folder = tempfile::tempdir().unwrap();
    let mut count = 0;

    let shallow = clone_into(folder.path(), "shallow", true);
    let head = head_of(&shallow);
    check(
        &shallow,
        "shallow: build-info",
        xtask_command(&shallow, &["build-info"]),
        &succeeds(&[AGENT_BUILD_INFO, PROXY_BUILD_INFO]),
    );
    let generated = std::fs::read_to_string(shallow.join(AGENT_BUILD_INFO)).unwrap();
    assert!(generated.contains(&format!("GIT_COMMIT = \"{head}\"")), "{generated}");
    let doctor = check(&shallow, "shallow: doctor", xtask_command(&shallow, &["doctor"]), &succeeds(&[]));
    assert!(text(&doctor.stdout).contains("shallow"), "{}", text(&doctor.stdout));
    count += 2;

    // Detached HEAD at the parent commit of a full clone.
    let detached = clone_into(folder.path(), "detached", false);
    let parent =
        text(&Command::new("git").args(["rev-parse", "HEAD~1"]).current_dir(&detached).output().unwrap().stdout);
    let status = Command::new("git")
        .args(["checkout", "--quiet", "--detach", parent.trim()])
        .current_dir(&detached)
        .status()
        .unwrap();
    assert!(status.success());
    check(
        &detached,
        "detached HEAD: build-info",
        xtask_command(&detached, &["build-info", "--package", "agent"]),
        &succeeds(&[AGENT_BUILD_INFO]),
    );
    let generated = std::fs::read_to_string(detached.join(AGENT_BUILD_INFO)).unwrap();
    assert!(generated.contains(&format!("GIT_COMMIT = \"{}\"", parent.trim())), "{generated}");
    count += 1;

    // An export: the files of HEAD without .git.
    let export = folder.path().join("export");
    std::fs::create_dir(&export).unwrap();
    let archive =
        Command::new("git").args(["archive", "--format=tar", "HEAD"]).current_dir(&detached).output().unwrap();
    let mut untar = Command::new("tar")
        .args(["-xf", "-"])
        .current_dir(&export)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(untar.stdin.as_mut().unwrap(), &archive.stdout).unwrap();
    drop(untar.stdin.take());
    assert!(untar.wait().unwrap().success());
    let output = check(
        &export,
        "export: build-info",
        xtask_command(&export, &["build-info"]),
        &succeeds(&[AGENT_BUILD_INFO, PROXY_BUILD_INFO]),
    );
    assert!(text(&output.stderr).contains("is not a git checkout: GIT_COMMIT will be `unknown`"));
    remove_generated(&export);
    let doctor = check(&export, "export: doctor", xtask_command(&export, &["doctor"]), &succeeds(&[]));
    assert!(text(&doctor.stdout).contains("not a git checkout"), "{}", text(&doctor.stdout));
    count += 2;

    // The export made a checkout with no commit yet: refused, not recorded as `unknown`.
    let status = Command::new("git").args(["init", "--quiet"]).current_dir(&export).status().unwrap();
    assert!(status.success());
    for args in [&["build-info"][..], &["sidecar", "--package", "agent"]] {
        let label = format!("no commit: {}", args[0]);
        check(
            &export,
            &label,
            xtask_command(&export, args),
            &refused("git cannot read HEAD of the checkout", "commit at least once"),
        );
        count += 1;
    }
    // A damaged .git: HEAD points nowhere.
    std::fs::write(export.join(".git/HEAD"), "ref: refs/heads/\n").unwrap();
    check(
        &export,
        "damaged .git: build-info",
        xtask_command(&export, &["build-info"]),
        &refused("git cannot read HEAD of the checkout", "repair the clone"),
    );
    count += 1;
    eprintln!("{count} git state cases");
    assert_eq!(count, 8);
}
