//! The real pipeline in a fresh clone: both sidecars built with PyInstaller, published into
//! dist/ with their SBOMs, rebuilt from the cache, rebuilt from scratch byte for byte, smoke
//! tested, then signed by a stand-in signer from the warm cache and smoke tested again.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

const BINARIES: [(&str, &str); 2] = [("lumen-argus", "proxy"), ("lumen-argus-agent", "agent")];
/// What ends a sidecar's file name here: `.exe` on Windows.
const EXE: &str = std::env::consts::EXE_SUFFIX;
/// The archive format of this machine's sidecars: `.zip` on Windows, else `.tar.gz`.
const ARCHIVE_EXTENSION: &str = if cfg!(windows) { "zip" } else { "tar.gz" };

/// One member of an archive: its name, mode and (uid, gid) owner (a zip records none).
type Member = (String, u32, Option<(u64, u64)>);

/// Each member of a sidecar's archive, read with the crates, not a system tool: `tar -tv` prints
/// owners differently with GNU tar and bsdtar, and Windows' are zips.
fn archive_members(path: &Path) -> Vec<Member> {
    let bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|extension| extension == "zip") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        return (0..zip.len())
            .map(|index| {
                let entry = zip.by_index(index).unwrap();
                (entry.name().to_string(), entry.unix_mode().unwrap_or(0) & 0o7777, None)
            })
            .collect();
    }
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes.as_slice()), &mut tar).unwrap();
    let octal = |field: &[u8]| {
        let digits = String::from_utf8_lossy(field).trim_matches(|c: char| c == '\0' || c == ' ').to_string();
        u64::from_str_radix(&digits, 8).unwrap()
    };
    let mut members = Vec::new();
    let mut offset = 0;
    while offset + 512 <= tar.len() && tar[offset..offset + 512].iter().any(|byte| *byte != 0) {
        let header = &tar[offset..offset + 512];
        let name = String::from_utf8_lossy(&header[..100]).trim_end_matches('\0').to_string();
        let size = octal(&header[124..136]) as usize;
        members.push((
            name,
            octal(&header[100..108]) as u32,
            Some((octal(&header[108..116]), octal(&header[116..124]))),
        ));
        offset += 512 + size.div_ceil(512) * 512;
    }
    members
}

fn package_version(clone: &Path, package: &str) -> String {
    let text = std::fs::read_to_string(clone.join("packages").join(package).join("pyproject.toml")).unwrap();
    let document: toml_edit::DocumentMut = text.parse().unwrap();
    document["project"]["version"].as_str().unwrap().to_string()
}

/// The versions `uv.lock` pins, by name.
fn locked_versions(clone: &Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(clone.join("uv.lock")).unwrap();
    let document: toml_edit::DocumentMut = text.parse().unwrap();
    let packages = document["package"].as_array_of_tables().unwrap();
    packages
        .iter()
        .map(|package| {
            (package["name"].as_str().unwrap().to_string(), package["version"].as_str().unwrap().to_string())
        })
        .collect()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The SBOM of `binary` in `dist`: its `.sha256` matches it, it is CycloneDX 1.6, and it describes
/// exactly the bytes of the published binary. Returns its components as `name version`.
fn checked_sbom(dist: &Path, binary: &str, triple: &str) -> Vec<String> {
    let sbom_name = format!("{binary}-{triple}.cdx.json");
    let line = std::fs::read_to_string(dist.join(format!("{sbom_name}.sha256"))).unwrap();
    assert_eq!(line, format!("{}  {sbom_name}\n", sha256_hex(&dist.join(&sbom_name))));
    let sbom = read_json(&dist.join(&sbom_name));
    assert_eq!((sbom["bomFormat"].as_str(), sbom["specVersion"].as_str()), (Some("CycloneDX"), Some("1.6")));
    let binary_line = std::fs::read_to_string(dist.join(format!("{binary}-{triple}{EXE}.sha256"))).unwrap();
    let binary_hash = binary_line.split_whitespace().next().unwrap();
    assert_eq!(binary_hash, sha256_hex(&dist.join(format!("{binary}-{triple}{EXE}"))));
    let main = &sbom["metadata"]["component"];
    assert_eq!(main["name"], binary);
    assert_eq!(main["hashes"][0]["alg"], "SHA-256");
    assert_eq!(main["hashes"][0]["content"], binary_hash, "the SBOM describes other bytes than {binary}'s");
    sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|component| {
            format!("{} {}", component["name"].as_str().unwrap(), component["version"].as_str().unwrap_or_default())
        })
        .collect()
}

/// Both SBOMs pass the official CycloneDX 1.6 JSON schema, checked by CycloneDX's own library in
/// the repository's locked environment (the `test` group, which `cargo xtask test` syncs; the
/// clone's holds only the `build` group its sidecar builds sync); a copy with a component type the
/// schema does not know fails it, so the check can fail.
fn assert_valid_cyclonedx(clone: &Path, dist: &Path, triple: &str) {
    let validator = repository_root().join("xtask/tests/fixtures/validate_cyclonedx.py");
    let sboms: Vec<std::path::PathBuf> =
        BINARIES.iter().map(|(binary, _)| dist.join(format!("{binary}-{triple}.cdx.json"))).collect();
    let broken = clone.join("broken.cdx.json");
    let mut document = read_json(&sboms[0]);
    document["components"][0]["type"] = serde_json::json!("gadget");
    std::fs::write(&broken, document.to_string()).unwrap();
    let validate = |files: &[&Path]| {
        Command::new(uv_path())
            .args(["run", "--locked", "--no-sync", "python"])
            .arg(&validator)
            .args(files)
            .current_dir(repository_root())
            .output()
            .unwrap()
    };
    let output = validate(&[&sboms[0], &sboms[1]]);
    succeeded(&output, "validating the SBOMs against the CycloneDX 1.6 schema");
    assert_eq!(text(&output.stdout).matches("valid ").count(), 2, "{}", text(&output.stdout));
    let output = validate(&[&broken]);
    assert_eq!(output.status.code(), Some(1), "a broken SBOM passed: {}", text(&output.stdout));
    assert!(text(&output.stdout).contains("at components/0/type: 'gadget' is not one of"), "{}", text(&output.stdout));
    std::fs::remove_file(broken).unwrap();
}

/// A stand-in for codesign: takes codesign's arguments, appends a visible trailer naming the
/// identity to the file (named last) and logs its arguments. PyInstaller's Linux bootloader
/// finds its archive through the ELF section table, so the trailer leaves the binary working.
// Linux only: a `#!/bin/sh` script, and only the ELF bootloader is known to run with a trailer.
#[cfg(target_os = "linux")]
fn stand_in_signer(folder: &Path, exit_code: i32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = folder.join("signer.log");
    let script = folder.join(format!("signer-{exit_code}"));
    let body = format!(
        "#!/bin/sh\n\
         echo \"$@\" >> '{log}'\n\
         if [ {exit_code} -ne 0 ]; then echo 'stand-in: no identity found' >&2; exit {exit_code}; fi\n\
         identity=''; previous=''\n\
         for argument; do [ \"$previous\" = --sign ] && identity=$argument; previous=$argument; done\n\
         printf '\\n%s %s\\n' {TRAILER} \"$identity\" >> \"$previous\"\n",
        log = log.display()
    );
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[cfg(target_os = "linux")]
const TRAILER: &str = "xtask-stand-in-signature";

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
        let file = format!("{binary}-{triple}{EXE}");
        let archive = format!("{binary}-{version}-{triple}.{ARCHIVE_EXTENSION}");
        for name in [&file, &archive] {
            let line = std::fs::read_to_string(dist.join(format!("{name}.sha256"))).unwrap();
            assert_eq!(line, format!("{}  {name}\n", sha256_hex(&dist.join(name))));
        }
        // The archive holds the binary alone, under its plain name, mode 0755, owner 0/0 (a tar).
        let owner = if cfg!(windows) { None } else { Some((0, 0)) };
        assert_eq!(archive_members(&dist.join(&archive)), [(format!("{binary}{EXE}"), 0o755, owner)], "{archive}");
        if !cfg!(windows) {
            // ... and the system's tar reads it so.
            let listing = Command::new("tar").arg("-tzf").arg(dist.join(&archive)).output().unwrap();
            assert_eq!(text(&listing.stdout), format!("{binary}\n"), "{}", text(&listing.stderr));
        }
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
    assert_eq!(artifacts.len(), 6, "a binary, an archive and an SBOM per sidecar");
    let kinds: Vec<&str> = artifacts.iter().map(|artifact| artifact["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|kind| **kind == "sbom").count(), 2, "{kinds:?}");
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
    // The SBOMs list what PyInstaller bundled, at the versions uv.lock pins.
    let locked = locked_versions(&clone);
    let proxy_components = checked_sbom(&dist, "lumen-argus", triple);
    for name in ["aiohttp", "yarl", "multidict", "lumen-argus-core", "lumen-argus-proxy", "pyinstaller"] {
        let expected = format!("{name} {}", locked[name]);
        assert!(proxy_components.contains(&expected), "{expected} not in {proxy_components:?}");
    }
    let agent_components = checked_sbom(&dist, "lumen-argus-agent", triple);
    assert!(agent_components.contains(&format!("lumen-argus-agent {}", locked["lumen-argus-agent"])));
    assert!(!agent_components.iter().any(|component| component.starts_with("aiohttp ")), "{agent_components:?}");
    for components in [&proxy_components, &agent_components] {
        assert!(components.iter().any(|component| component.starts_with("cpython 3.")), "{components:?}");
    }
    eprintln!("SBOM components: lumen-argus {}, lumen-argus-agent {}", proxy_components.len(), agent_components.len());
    assert_valid_cyclonedx(&clone, &dist, triple);
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

    // 5. Signing, from the warm cache: the stand-in signs a copy, and everything published (the
    //    .sha256, the manifest, the archive, the SBOM, the build_id smoke reads) is the signed bytes.
    //    Linux only (see `stand_in_signer`): on macOS the trailer would follow the Mach-O signature.
    #[cfg(target_os = "linux")]
    signed_from_the_warm_cache(&clone, triple, &first);
}

#[cfg(target_os = "linux")]
fn signed_from_the_warm_cache(clone: &Path, triple: &str, unsigned: &[(String, Vec<u8>)]) {
    let dist = clone.join("dist");
    let signer_folder = tempfile::tempdir().unwrap();
    let signer = stand_in_signer(signer_folder.path(), 0);
    let signed_build = xtask_command(clone, &["sidecar"])
        .env("CODESIGN_IDENTITY", "Stand-in Identity (TEAM)")
        .env("XTASK_CODESIGN_PROGRAM", &signer)
        .output()
        .unwrap();
    let stderr = succeeded(&signed_build, "signed build");
    assert_eq!(stderr.matches("cached:").count(), 2, "signing reuses the unsigned cache:\n{stderr}");
    assert!(!stderr.contains("building with PyInstaller"), "{stderr}");
    let log = std::fs::read_to_string(signer_folder.path().join("signer.log")).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.lines().all(|line| line.starts_with("--force --timestamp --options runtime --sign Stand-in")), "{log}");
    let manifest = read_json(&dist.join("manifest.json"));
    let unsigned_bytes = |name: &str| unsigned.iter().find(|(file, _)| file == name).unwrap().1.clone();
    for (binary, package) in BINARIES {
        let file = format!("{binary}-{triple}");
        let signed = std::fs::read(dist.join(&file)).unwrap();
        let trailer = format!("\n{TRAILER} Stand-in Identity (TEAM)\n");
        assert!(signed.ends_with(trailer.as_bytes()), "{file} carries no signature");
        assert_eq!(
            &signed[..signed.len() - trailer.len()],
            unsigned_bytes(&file).as_slice(),
            "signed a copy of the build"
        );
        let signed_hash = sha256_hex(&dist.join(&file));
        let record = manifest["artifacts"].as_array().unwrap().iter().find(|a| a["file"] == file.as_str()).unwrap();
        assert_eq!(record["sha256"], signed_hash.as_str());
        assert_eq!(record["size"].as_u64(), Some(signed.len() as u64));
        // checked_sbom also checks the .sha256 against the file and the SBOM's hash against both.
        checked_sbom(&dist, binary, triple);
        let version = package_version(clone, package);
        let archive = dist.join(format!("{binary}-{version}-{triple}.tar.gz"));
        let inside = Command::new("tar").arg("-xzOf").arg(&archive).arg(binary).output().unwrap();
        assert!(inside.stdout == signed, "the archive of {binary} does not hold the signed binary");
    }
    let smoke = xtask(clone, &["smoke"]);
    succeeded(&smoke, "smoke of the signed sidecars");

    // A signer that fails: that sidecar is not published, and the error carries the signer's words.
    let failing = stand_in_signer(signer_folder.path(), 3);
    let failed_build = xtask_command(clone, &["sidecar", "--package", "agent"])
        .env("CODESIGN_IDENTITY", "Stand-in Identity (TEAM)")
        .env("XTASK_CODESIGN_PROGRAM", &failing)
        .output()
        .unwrap();
    assert_eq!(failed_build.status.code(), Some(1));
    let stderr = text(&failed_build.stderr);
    assert!(
        stderr.contains("error: 1 sidecar(s) failed: lumen-argus-agent: signing lumen-argus-agent with"),
        "{stderr}"
    );
    assert!(stderr.contains("stand-in: no identity found"), "{stderr}");
    for gone in [format!("lumen-argus-agent-{triple}"), format!("lumen-argus-agent-{triple}.cdx.json")] {
        assert!(!dist.join(&gone).exists(), "{gone} stayed in dist/ after its signing failed");
        assert!(!dist.join(format!("{gone}.sha256")).exists());
    }

    // Unsigned again from the same cache: the first build's bytes, SBOMs included.
    std::fs::remove_dir_all(&dist).unwrap();
    succeeded(&xtask(clone, &["sidecar"]), "unsigned build after the signed one");
    assert!(dist_files(&dist) == unsigned, "the cache kept unsigned bytes");
}

// Not on macOS: there CODESIGN_IDENTITY without a stand-in means the real codesign, which signs.
#[cfg(not(target_os = "macos"))]
#[test]
fn signing_off_macos_without_a_stand_in_is_refused_before_any_work() {
    let (_folder, clone) = fresh_clone();
    let output = xtask_command(&clone, &["sidecar"])
        .env("CODESIGN_IDENTITY", "Developer ID Application: Example (TEAM)")
        .env_remove("XTASK_CODESIGN_PROGRAM")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: CODESIGN_IDENTITY is set, but this is not macOS"), "{stderr}");
    assert!(stderr.contains("hint: unset CODESIGN_IDENTITY"), "{stderr}");
    assert!(!stderr.contains("PyInstaller for"), "{stderr}");
    assert!(!clone.join("dist").exists(), "nothing was written");
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
            archive.file_names().collect::<Vec<_>>().join("\n")
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
// Unix only: SIGINT sent with `kill -INT`, leftovers found with `ps`; Windows has neither.
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
