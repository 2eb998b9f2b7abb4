//! `cargo xtask install-check` against a stand-in of TestPyPI: a real PEP 503 simple index served
//! on loopback by Python's http.server, holding the wheels built from this checkout (and a
//! squatter of a third-party name). Third-party dependencies come from PyPI itself, as in
//! publish.yml (uv's cache makes that quick after the first run).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::*;

/// A simple index on loopback, stopped when dropped.
struct StandInIndex {
    server: Child,
    url: String,
    _folder: tempfile::TempDir,
}

impl Drop for StandInIndex {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Serve `wheels` as a PEP 503 index: `/simple/<project>/` lists each project's files with their
/// sha256 in the link, as TestPyPI does.
fn serve_index(wheels: &[PathBuf]) -> StandInIndex {
    let folder = tempfile::tempdir().unwrap();
    let files = folder.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let mut projects: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for wheel in wheels {
        let name = wheel.file_name().unwrap().to_str().unwrap().to_string();
        std::fs::copy(wheel, files.join(&name)).unwrap();
        let project = name.split('-').next().unwrap().replace('_', "-").to_lowercase();
        let link = format!("<a href=\"/files/{name}#sha256={}\">{name}</a><br>\n", sha256_hex(&files.join(&name)));
        projects.entry(project).or_default().push(link);
    }
    let mut root_page = String::from("<!DOCTYPE html><html><body>\n");
    for (project, links) in &projects {
        let dir = folder.path().join("simple").join(project);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("index.html"),
            format!("<!DOCTYPE html><html><body>\n{}</body></html>\n", links.concat()),
        )
        .unwrap();
        root_page.push_str(&format!("<a href=\"/simple/{project}/\">{project}</a><br>\n"));
    }
    std::fs::write(folder.path().join("simple").join("index.html"), root_page + "</body></html>\n").unwrap();
    let mut server = Command::new(python())
        .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory"])
        .arg(folder.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // "Serving HTTP on 127.0.0.1 port 43121 (http://127.0.0.1:43121/) ..."
    let port: u16 =
        line.split(" port ").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap().parse().unwrap();
    StandInIndex { server, url: format!("http://127.0.0.1:{port}/simple/"), _folder: folder }
}

/// The wheels of every package, built from this checkout with uv.
fn built_wheels(into: &Path) -> Vec<PathBuf> {
    let output = Command::new(uv_path())
        .args(["build", "--all-packages", "--wheel", "--quiet", "--out-dir"])
        .arg(into)
        .current_dir(repository_root())
        .output()
        .unwrap();
    succeeded(&output, "uv build --all-packages --wheel");
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(into)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "whl"))
        .collect();
    wheels.sort();
    assert_eq!(wheels.len(), 3, "{wheels:?}");
    wheels
}

/// A wheel named like a popular third-party package at a version above any real one: if the check
/// took third-party packages from the gate, uv would pick it.
fn squatter_wheel(into: &Path) -> PathBuf {
    let path = into.join("aiohttp-99.0.0-py3-none-any.whl");
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default();
    for (name, body) in [
        ("aiohttp/__init__.py", "raise SystemExit('the squatter was installed')\n"),
        ("aiohttp-99.0.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: aiohttp\nVersion: 99.0.0\n"),
        (
            "aiohttp-99.0.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        ("aiohttp-99.0.0.dist-info/RECORD", ""),
    ] {
        zip.start_file(name, options).unwrap();
        std::io::Write::write_all(&mut zip, body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    path
}

fn install_check(index: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["install-check", "--index-url", index, "--wait", "0"];
    args.extend_from_slice(extra);
    xtask(&repository_root(), &args)
}

#[test]
fn the_published_packages_install_and_their_services_answer_and_nothing_else_comes_from_the_gate() {
    let folder = tempfile::tempdir().unwrap();
    let wheels_dir = folder.path().join("wheels");
    let mut served = built_wheels(&wheels_dir);
    served.push(squatter_wheel(folder.path()));
    let index = serve_index(&served);
    let wheels_arg = wheels_dir.to_str().unwrap();

    let output = install_check(&index.url, &["--wheels", wheels_arg]);
    succeeded(&output, "install-check against the stand-in index");
    let stdout = text(&output.stdout);
    let gate = index.url.trim_end_matches('/');
    let from_gate =
        stdout.lines().find(|line| line.starts_with(&format!("installed from {gate}:"))).unwrap_or_else(|| {
            panic!("no line for the gate in:\n{stdout}");
        });
    for distribution in ["lumen-argus-core", "lumen-argus-agent", "lumen-argus-proxy"] {
        assert!(from_gate.contains(distribution), "{from_gate}");
    }
    assert!(!from_gate.contains("aiohttp"), "a third-party package came from the gate: {from_gate}");
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("installed from https://pypi.org/simple:") && line.contains("aiohttp ")),
        "{stdout}"
    );
    for binary in ["lumen-argus ", "lumen-argus-agent "] {
        assert!(stdout.lines().any(|line| line.starts_with(binary) && line.ends_with(" pass")), "{stdout}");
    }

    // The index serves other bytes than were built: refused before any service starts.
    let changed = folder.path().join("changed");
    std::fs::create_dir(&changed).unwrap();
    for wheel in std::fs::read_dir(&wheels_dir).unwrap() {
        let wheel = wheel.unwrap().path();
        std::fs::copy(&wheel, changed.join(wheel.file_name().unwrap())).unwrap();
    }
    let core = std::fs::read_dir(&changed)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().unwrap().to_str().unwrap().starts_with("lumen_argus_core-"))
        .unwrap();
    let mut bytes = std::fs::read(&core).unwrap();
    bytes.push(0);
    std::fs::write(&core, bytes).unwrap();
    let output = install_check(&index.url, &["--wheels", changed.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("the index serves lumen_argus_core-") && stderr.contains("the built file is"), "{stderr}");
    assert!(stderr.contains("PyPI is not published"), "{stderr}");
}

#[test]
fn a_package_the_index_does_not_list_fails_the_gate_with_what_to_do() {
    let folder = tempfile::tempdir().unwrap();
    let wheels: Vec<PathBuf> = built_wheels(&folder.path().join("wheels"))
        .into_iter()
        .filter(|wheel| !wheel.file_name().unwrap().to_str().unwrap().starts_with("lumen_argus_proxy-"))
        .collect();
    let index = serve_index(&wheels);
    let output = install_check(&index.url, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: the packages could not be installed from the index"), "{stderr}");
    assert!(stderr.contains("lumen-argus-proxy"), "{stderr}");
    assert!(stderr.contains("hint: was every package uploaded?"), "{stderr}");
}

#[test]
fn an_index_that_is_not_http_or_is_the_fallback_is_a_usage_error() {
    for args in [
        &["install-check", "--index-url", "test.pypi.org/simple"][..],
        &["install-check", "--index-url", "https://pypi.org/simple/"][..],
    ] {
        let output = xtask(&repository_root(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output.stderr));
        assert!(text(&output.stderr).contains("hint: "), "{args:?}: {}", text(&output.stderr));
    }
}

/// A `--wheels` folder that is not there or is a file is refused like every path the xtask cannot
/// find (exit 1), as is a wheel in it that cannot be read; a `*.whl` that is a fifo is refused, not
/// read without end. All before any index is asked.
#[cfg(unix)]
#[test]
fn wheels_that_cannot_be_read_are_refused_before_any_index_is_asked() {
    let folder = tempfile::tempdir().unwrap();
    let as_file = folder.path().join("wheels.txt");
    std::fs::write(&as_file, b"not a folder").unwrap();
    /// What to put in the --wheels folder.
    type Fill = fn(&Path);
    let cases: [(&str, Fill, i32, &str); 5] = [
        ("a file as --wheels", |_| {}, 1, "--wheels"),
        ("a folder that is not there", |_| {}, 1, "--wheels"),
        (
            "a dangling symlink",
            |dir| std::os::unix::fs::symlink("gone.whl", dir.join("lumen_argus_core-0.3.1-py3-none-any.whl")).unwrap(),
            1,
            "cannot read",
        ),
        (
            "a fifo",
            |dir| {
                let fifo = dir.join("lumen_argus_core-0.3.1-py3-none-any.whl");
                assert!(Command::new("mkfifo").arg(fifo).status().unwrap().success());
            },
            1,
            "it is not a regular file",
        ),
        (
            "a folder",
            |dir| std::fs::create_dir(dir.join("lumen_argus_core-0.3.1-py3-none-any.whl")).unwrap(),
            1,
            "it is not a regular file",
        ),
    ];
    for (what, make, code, expected) in cases {
        let wheels = tempfile::tempdir().unwrap();
        make(wheels.path());
        let wheels_flag = match what {
            "a file as --wheels" => as_file.clone(),
            "a folder that is not there" => folder.path().join("gone"),
            _ => wheels.path().to_path_buf(),
        };
        // Under `timeout`: before the fix a fifo was read without end.
        let plain =
            xtask_command(&repository_root(), &["install-check", "--index-url", "https://test.pypi.org/simple/"]);
        let mut command = Command::new("timeout");
        command.arg("60").arg(plain.get_program()).args(plain.get_args()).arg("--wheels").arg(&wheels_flag);
        command.current_dir(repository_root());
        for (key, value) in plain.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let output = command.output().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{what}: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains("hint: "), "{what}: {stderr}");
    }
}
