//! The real pipeline in a fresh clone: both sidecars built with PyInstaller, published into
//! dist/, rebuilt from the cache, rebuilt from scratch byte for byte, and smoke tested.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

const BINARIES: [(&str, &str); 2] = [("lumen-argus", "proxy"), ("lumen-argus-agent", "agent")];

fn package_version(clone: &Path, package: &str) -> String {
    let text = std::fs::read_to_string(clone.join("packages").join(package).join("pyproject.toml")).unwrap();
    let document: toml_edit::DocumentMut = text.parse().unwrap();
    document["project"]["version"].as_str().unwrap().to_string()
}

fn dist_files(dist: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dist)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name() != "manifest.json")
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn build_cache_rebuild_and_smoke_in_a_fresh_clone() {
    let (_folder, clone) = fresh_clone();
    let triple = host_triple();
    let dist = clone.join("dist");

    // 1. First build: both sidecars, their checksums and archives.
    succeeded(&xtask(&clone, &["sidecar"]), "first sidecar build");
    // The generated build info goes into the binaries only: source runs keep reporting `unknown`.
    for generated in ["packages/proxy/lumen_argus/_build_info.py", "packages/agent/lumen_argus_agent/_build_info.py"] {
        assert!(!clone.join(generated).exists(), "{generated} left behind");
    }
    for (binary, package) in BINARIES {
        let version = package_version(&clone, package);
        let file = format!("{binary}-{triple}");
        let archive = format!("{binary}-{version}-{triple}.tar.gz");
        for name in [&file, &archive] {
            let line = std::fs::read_to_string(dist.join(format!("{name}.sha256"))).unwrap();
            assert_eq!(line, format!("{}  {name}\n", sha256_hex(&dist.join(name))));
        }
        // The archive holds the binary alone, under its plain name, mode 0755, owner 0/0.
        let listing = Command::new("tar").arg("-tvzf").arg(dist.join(&archive)).output().unwrap();
        let listing = text(&listing.stdout);
        let lines: Vec<_> = listing.lines().collect();
        assert_eq!(lines.len(), 1, "{listing}");
        assert!(lines[0].starts_with("-rwxr-xr-x 0/0"), "{listing}");
        assert!(lines[0].ends_with(&format!(" {binary}")), "{listing}");
        let header = std::fs::read(dist.join(&file)).unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(&header[..4], b"\x7fELF");
        }
    }
    let checksum_files = std::fs::read_dir(&dist)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sha256"));
    for name in checksum_files {
        assert_standard_tools_accept(&dist, &name);
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json")).unwrap()).unwrap();
    let artifacts = manifest["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 4);
    let head = text(&Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&clone).output().unwrap().stdout);
    for artifact in artifacts {
        let file = artifact["file"].as_str().unwrap();
        assert_eq!(artifact["sha256"].as_str().unwrap(), sha256_hex(&dist.join(file)));
        assert_eq!(artifact["size"].as_u64().unwrap(), std::fs::metadata(dist.join(file)).unwrap().len());
        assert_eq!(artifact["git_commit"].as_str().unwrap(), head.trim());
        assert_eq!(artifact["triple"], triple);
        assert_eq!(artifact["cached"], false);
        assert!(artifact["pyinstaller"].as_str().unwrap().starts_with('6'));
    }
    let first = dist_files(&dist);

    // 2. Same inputs again: PyInstaller is skipped, the bytes are the same.
    let cached = succeeded(&xtask(&clone, &["sidecar"]), "cached rebuild");
    assert_eq!(cached.matches("cached:").count(), 2, "{cached}");
    assert!(!cached.contains("building with PyInstaller"), "{cached}");
    assert_eq!(dist_files(&dist), first);

    // 3. --no-cache from a clean work folder: byte-identical binaries and archives.
    std::fs::remove_dir_all(clone.join("target/sidecar")).unwrap();
    std::fs::remove_dir_all(&dist).unwrap();
    let rebuilt = succeeded(&xtask(&clone, &["sidecar", "--no-cache"]), "reproducibility rebuild");
    assert_eq!(rebuilt.matches("building with PyInstaller").count(), 2, "{rebuilt}");
    let second = dist_files(&dist);
    let names = |files: &[(String, Vec<u8>)]| files.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&second), names(&first));
    for ((name, bytes), (_, again)) in first.iter().zip(&second) {
        assert!(bytes == again, "{name} differs between two clean builds of one commit");
    }

    // 4. Smoke test of the real sidecars: both report their own build_id.
    let smoke = xtask(&clone, &["smoke"]);
    let report = text(&smoke.stdout);
    succeeded(&smoke, "smoke");
    for (binary, _) in BINARIES {
        assert!(
            report.lines().any(|line| line.contains(&format!("{binary}-{triple}")) && line.contains("pass")),
            "{report}"
        );
    }
}

#[test]
fn a_foreign_triple_is_refused_before_any_work() {
    let foreign =
        if host_triple() == "x86_64-pc-windows-msvc" { "aarch64-apple-darwin" } else { "x86_64-pc-windows-msvc" };
    let root = repository_root();
    let output = xtask(&root, &["sidecar", "--target", foreign]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("error: cannot build {foreign}")), "{stderr}");
    assert!(stderr.contains("hint: build it on a"), "{stderr}");
    assert!(!stderr.contains("PyInstaller for"), "{stderr}");
}

#[test]
fn wheels_and_sdists_never_carry_build_info() {
    let (_folder, clone) = fresh_clone();
    succeeded(&xtask(&clone, &["build-info"]), "build-info");
    let generated = clone.join("packages/proxy/lumen_argus/_build_info.py");
    let text_of_file = std::fs::read_to_string(&generated).unwrap();
    assert!(text_of_file.contains("GIT_COMMIT = \""), "{text_of_file}");
    let out = clone.join("wheels");
    for package in ["lumen-argus-proxy", "lumen-argus-agent"] {
        let build = Command::new(uv_path())
            .args(["build", "--quiet", "--package", package, "--out-dir"])
            .arg(&out)
            .current_dir(&clone)
            .output()
            .unwrap();
        succeeded(&build, &format!("uv build {package}"));
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let members = if name.ends_with(".whl") {
            let archive = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
            archive.file_names().map(|name| name.unwrap().into_owned()).collect::<Vec<_>>().join("\n")
        } else if name.ends_with(".tar.gz") {
            text(&Command::new("tar").arg("-tzf").arg(&path).output().unwrap().stdout)
        } else {
            continue;
        };
        assert!(members.contains("cli.py"), "{name} looks empty:\n{members}");
        assert!(!members.contains("_build_info"), "{name} carries _build_info.py:\n{members}");
        checked += 1;
    }
    assert_eq!(checked, 4, "two wheels and two sdists");
}

/// Ctrl-C while PyInstaller runs: exit 130, no process of the build left, no half-written file.
#[cfg(unix)]
#[test]
fn ctrl_c_during_a_build_stops_everything_and_leaves_nothing_half_written() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let (_folder, clone) = fresh_clone();
    let mut build =
        xtask_command(&clone, &["sidecar", "--no-cache"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = build.stderr.take().unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("building with PyInstaller") {
                let _ = started_tx.send(());
            }
        }
    });
    started_rx.recv_timeout(Duration::from_secs(120)).expect("the xtask never said it starts PyInstaller");
    // The event this test is about: PyInstaller itself at work, which its work folder (created by
    // PyInstaller, never by the xtask) shows.
    let sidecar_builds = clone.join("target/sidecar").join(host_triple());
    let pyinstaller_at_work = || {
        std::fs::read_dir(&sidecar_builds)
            .map(|builds| builds.filter_map(Result::ok).any(|build| build.path().join("work").is_dir()))
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !pyinstaller_at_work() {
        assert!(Instant::now() < deadline, "PyInstaller never created its work folder in {}", sidecar_builds.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", &build.id().to_string()]).status().unwrap().success());
    let status = build.wait().unwrap();
    assert_eq!(status.code(), Some(130), "an interrupted build exits 130");

    let clone_text = clone.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let processes = text(&Command::new("ps").args(["-eo", "args"]).output().unwrap().stdout);
        let leftovers: Vec<&str> = processes.lines().filter(|line| line.contains(&clone_text)).collect();
        if leftovers.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "processes of the build survived Ctrl-C: {leftovers:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let dist = clone.join("dist");
    if dist.is_dir() {
        for entry in std::fs::read_dir(&dist).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".partial"), "half-written {name} left in dist/");
            if !name.ends_with(".sha256") && name != "manifest.json" {
                assert!(dist.join(format!("{name}.sha256")).is_file(), "{name} has no .sha256");
            }
        }
    }
    assert!(!clone.join("packages/proxy/lumen_argus/_build_info.py").exists(), "build info left behind");
}
