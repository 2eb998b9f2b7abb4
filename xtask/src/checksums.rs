//! `cargo xtask checksums`: gather the `*.sha256` files of a folder into one `checksums.txt` and
//! `release-notes.md`, or with `--verify` check a downloaded release against its `checksums.txt`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::failure::refuse;
use crate::flags::ChecksumsFlags;
use crate::workspace::Workspace;
use crate::{changelog, files, gha, hashing};

pub const CHECKSUMS_FILE: &str = "checksums.txt";
pub const NOTES_FILE: &str = "release-notes.md";
pub const DOCKER_IMAGE: &str = "ghcr.io/lumen-argus/lumen-argus-community";
/// Files of a release folder that are not artifacts.
const NOT_ARTIFACTS: [&str; 3] = [CHECKSUMS_FILE, NOTES_FILE, "manifest.json"];

pub fn run(flags: &ChecksumsFlags) -> anyhow::Result<()> {
    if let Some(tag) = &flags.release {
        return crate::github_release::verify_release(tag, flags.repo.as_deref(), flags.download.as_deref());
    }
    let dir = &flags.dir;
    if !dir.is_dir() {
        return Err(refuse(
            format!("{} is not a folder", dir.display()),
            "pass the folder holding the artifacts and their .sha256 files (default dist/)",
        ));
    }
    if flags.verify {
        let checked = verify(dir)?;
        println!("{checked} file(s) match {}", dir.join(CHECKSUMS_FILE).display());
        return Ok(());
    }
    write_release_files(&Workspace::discover()?, dir)?;
    Ok(())
}

/// Gather, check and write `checksums.txt` and `release-notes.md`; the number of files listed.
pub fn write_release_files(workspace: &Workspace, dir: &Path) -> anyhow::Result<usize> {
    let hashes = gather(dir)?;
    let notes = render_release_notes(&notes_input(workspace, &hashes)?);
    files::write_atomically(&dir.join(CHECKSUMS_FILE), render_checksums(&hashes).as_bytes())?;
    files::write_atomically(&dir.join(NOTES_FILE), notes.as_bytes())?;
    let (list, notes_path) = (dir.join(CHECKSUMS_FILE), dir.join(NOTES_FILE));
    println!("wrote {} ({} files) and {}", list.display(), hashes.len(), notes_path.display());
    gha::step_summary(&notes)?;
    Ok(hashes.len())
}

/// A name that may appear in a checksum line: a plain file name inside the folder.
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an empty file name".into());
    }
    if name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err(format!("{name:?} is not a plain file name in the folder"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{name:?} contains control characters"));
    }
    Ok(())
}

/// Parse checksum lines: `<64 hex>  <name>` (text mode) or `<64 hex> *<name>` (binary mode).
pub fn parse_lines(text: &str, source: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("{source}:{}", index + 1);
        let parsed = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .filter(|(hex, _)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some((hex, name)) = parsed else {
            return Err(refuse(
                format!("{location}: {line:?} is not `<64 hex>  <file name>`"),
                "regenerate the file with `cargo xtask sidecar` or `sha256sum FILE > FILE.sha256`",
            ));
        };
        check_file_name(name).map_err(|problem| {
            refuse(format!("{location}: {problem}"), "checksum lines name files in the same folder")
        })?;
        entries.push((hex.to_ascii_lowercase(), name.to_string()));
    }
    Ok(entries)
}

/// Every `*.sha256` of `dir`, merged by file name, each checked against its file when present.
pub fn gather(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut sources: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sha256"))
        .collect();
    sources.sort();
    if sources.is_empty() {
        return Err(refuse(
            format!("{} holds no .sha256 files", dir.display()),
            "build first (cargo xtask sidecar), or point at the folder of downloaded artifacts",
        ));
    }
    let mut hashes: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut conflicts = Vec::new();
    for source in &sources {
        let text = std::fs::read_to_string(dir.join(source)).with_context(|| format!("reading {source}"))?;
        for (hex, name) in parse_lines(&text, source)? {
            match hashes.get(&name) {
                Some((known, first_source)) if *known != hex => {
                    conflicts.push(format!("{name}: {known} in {first_source}, {hex} in {source}"))
                }
                Some(_) => {}
                None => {
                    hashes.insert(name, (hex, source.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(refuse(
            format!("conflicting checksums: {}", conflicts.join("; ")),
            "one file name has two hashes: remove the stale .sha256 file or rebuild",
        ));
    }
    let present: Vec<(String, String)> = hashes
        .iter()
        .filter(|(name, _)| dir.join(name).is_file())
        .map(|(name, (hex, _))| (name.clone(), hex.clone()))
        .collect();
    let mismatches: Vec<String> = hash_concurrently(dir, &present)?
        .into_iter()
        .zip(&present)
        .filter(|(actual, (_, expected))| actual != expected)
        .map(|(actual, (name, expected))| format!("{name} (listed {expected}, file is {actual})"))
        .collect();
    if !mismatches.is_empty() {
        return Err(refuse(
            format!("files do not match their .sha256: {}", mismatches.join("; ")),
            "rebuild the artifact or regenerate its .sha256; never edit a hash by hand",
        ));
    }
    Ok(hashes.into_iter().map(|(name, (hex, _))| (name, hex)).collect())
}

/// SHA-256 of each named file, computed on as many threads as the machine has cores.
fn hash_concurrently(dir: &Path, files: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let workers = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, files.len().max(1));
    let chunk_size = files.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk_size)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, _)| hashing::sha256_hex_of_file(&dir.join(name)))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for handle in handles {
            all.extend(handle.join().map_err(|_| anyhow::anyhow!("a hashing thread panicked"))??);
        }
        Ok(all)
    })
}

/// `checksums.txt`: `<hex>  <name>` per file, sorted by name (byte order), LF, final newline.
pub fn render_checksums(hashes: &BTreeMap<String, String>) -> String {
    hashes.iter().map(|(name, hex)| hashing::checksum_line(hex, name)).collect()
}

/// Check `dir` against its `checksums.txt`; the number of files checked.
pub fn verify(dir: &Path) -> anyhow::Result<usize> {
    let list = dir.join(CHECKSUMS_FILE);
    let text =
        std::fs::read_to_string(&list).with_context(|| format!("reading {}", list.display())).map_err(|error| {
            refuse(format!("{error:#}"), "download checksums.txt from the same release into this folder")
        })?;
    let listed = parse_lines(&text, CHECKSUMS_FILE)?;
    let mut problems = Vec::new();
    let present: Vec<(String, String)> = listed
        .iter()
        .filter(|(_, name)| {
            let exists = dir.join(name).is_file();
            if !exists {
                problems.push(format!("{name}: missing"));
            }
            exists
        })
        .map(|(hex, name)| (name.clone(), hex.clone()))
        .collect();
    for (actual, (name, expected)) in hash_concurrently(dir, &present)?.into_iter().zip(&present) {
        if actual != *expected {
            problems.push(format!("{name}: hash is {actual}, checksums.txt says {expected}"));
        }
    }
    let mut unlisted: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".sha256") && !name.starts_with('.') && !NOT_ARTIFACTS.contains(&name.as_str()))
        .filter(|name| !listed.iter().any(|(_, listed_name)| listed_name == name))
        .collect();
    unlisted.sort();
    problems.extend(unlisted.into_iter().map(|name| format!("{name}: not listed in checksums.txt")));
    if !problems.is_empty() {
        return Err(refuse(
            format!("{} does not match its checksums.txt: {}", dir.display(), problems.join("; ")),
            "download the named files again from the release; do not run a file that fails this check",
        ));
    }
    Ok(present.len())
}

/// What the release notes are made of.
#[derive(Debug, Clone, PartialEq)]
pub struct NotesInput {
    /// (distribution, version), in display order.
    pub packages: Vec<(String, String)>,
    pub proxy_version: String,
    /// (file name, hex) of every artifact, sorted by name.
    pub artifacts: Vec<(String, String)>,
    /// The changelog section of this release, when there is one.
    pub changelog: Option<String>,
}

fn notes_input(workspace: &Workspace, hashes: &BTreeMap<String, String>) -> anyhow::Result<NotesInput> {
    let proxy_version = workspace.package("proxy").map(|p| p.version.clone()).unwrap_or_else(|_| "unknown".into());
    let changelog_text = std::fs::read_to_string(workspace.root.join(changelog::PATH)).unwrap_or_default();
    let changelog = changelog::section(&changelog_text, &format!("v{proxy_version}"))
        .or_else(|| changelog::section(&changelog_text, "Unreleased"));
    Ok(NotesInput {
        packages: workspace.packages.iter().map(|p| (p.distribution.clone(), p.version.clone())).collect(),
        proxy_version,
        artifacts: hashes.iter().map(|(name, hex)| (name.clone(), hex.clone())).collect(),
        changelog,
    })
}

fn is_archive(name: &str) -> bool {
    name.ends_with(".tar.gz") || name.ends_with(".zip")
}

/// The release body, rendered from data only (equal inputs, equal text).
pub fn render_release_notes(input: &NotesInput) -> String {
    let mut notes = String::from("## Packages\n\n| package | version |\n|---|---|\n");
    for (distribution, version) in &input.packages {
        notes.push_str(&format!("| `{distribution}` | {version} |\n"));
    }
    let line = |(name, hex): &(String, String)| format!("- `{name}` — `sha256:{hex}`\n");
    notes.push_str("\n## Sidecar binaries\n\n");
    notes.extend(input.artifacts.iter().filter(|(name, _)| !is_archive(name)).map(line));
    let archives: Vec<&(String, String)> = input.artifacts.iter().filter(|(name, _)| is_archive(name)).collect();
    if !archives.is_empty() {
        notes.push_str("\n## Archives\n\n");
        notes.extend(archives.into_iter().map(line));
    }
    notes.push_str(
        "\n## Verify\n\n\
         Download the files and `checksums.txt` into one folder, then:\n\n\
         ```sh\nsha256sum -c --ignore-missing --strict checksums.txt      # Linux\n\
         shasum -a 256 -c --ignore-missing --strict checksums.txt  # macOS\n```\n\n\
         A running sidecar reports the same hash: `GET /api/v1/build` answers\n\
         `\"build_id\": \"sha256:<hex>\"`, equal to the file's line above.\n",
    );
    notes.push_str(&format!("\n## Docker\n\n```sh\ndocker pull {DOCKER_IMAGE}:{}\n```\n", input.proxy_version));
    if let Some(changes) = &input.changelog {
        notes.push_str(&format!("\n## Changes\n\n{changes}\n"));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HEX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn parses_text_and_binary_mode_lines() {
        let text = format!("{HEX_A}  one\r\n\n{} *two\n", HEX_B.to_uppercase());
        assert_eq!(
            parse_lines(&text, "x").unwrap(),
            [(HEX_A.to_string(), "one".to_string()), (HEX_B.to_string(), "two".to_string())]
        );
    }

    #[test]
    fn refuses_bad_lines_and_names() {
        for bad in [
            format!("{HEX_A} one"),
            format!("{}  one", &HEX_A[1..]),
            format!("{HEX_A}  ../escape"),
            format!("{HEX_A}  /etc/passwd"),
            format!("{HEX_A}  dir/file"),
            format!("{HEX_A}  .."),
            format!("{HEX_A}  bell\u{7}"),
            format!("{HEX_A}  "),
            "not a checksum".to_string(),
        ] {
            assert!(parse_lines(&bad, "x.sha256").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn checksums_are_sorted_by_byte_order_with_two_spaces_and_lf() {
        let hashes = BTreeMap::from([("b".to_string(), HEX_B.to_string()), ("B".to_string(), HEX_A.to_string())]);
        assert_eq!(render_checksums(&hashes), format!("{HEX_A}  B\n{HEX_B}  b\n"));
    }

    #[test]
    fn release_notes_fixture() {
        let input = NotesInput {
            packages: vec![("lumen-argus-core".into(), "0.1.1".into()), ("lumen-argus-proxy".into(), "0.2.0".into())],
            proxy_version: "0.2.0".into(),
            artifacts: vec![
                ("lumen-argus-0.2.0-x86_64-unknown-linux-gnu.tar.gz".into(), HEX_B.into()),
                ("lumen-argus-x86_64-unknown-linux-gnu".into(), HEX_A.into()),
            ],
            changelog: Some("- Fixed the relay.".into()),
        };
        let expected = format!(
            "## Packages\n\n| package | version |\n|---|---|\n| `lumen-argus-core` | 0.1.1 |\n| `lumen-argus-proxy` | 0.2.0 |\n\n\
             ## Sidecar binaries\n\n- `lumen-argus-x86_64-unknown-linux-gnu` — `sha256:{HEX_A}`\n\n\
             ## Archives\n\n- `lumen-argus-0.2.0-x86_64-unknown-linux-gnu.tar.gz` — `sha256:{HEX_B}`\n\n\
             ## Verify\n\nDownload the files and `checksums.txt` into one folder, then:\n\n\
             ```sh\nsha256sum -c --ignore-missing --strict checksums.txt      # Linux\n\
             shasum -a 256 -c --ignore-missing --strict checksums.txt  # macOS\n```\n\n\
             A running sidecar reports the same hash: `GET /api/v1/build` answers\n\
             `\"build_id\": \"sha256:<hex>\"`, equal to the file's line above.\n\n\
             ## Docker\n\n```sh\ndocker pull ghcr.io/lumen-argus/lumen-argus-community:0.2.0\n```\n\n\
             ## Changes\n\n- Fixed the relay.\n"
        );
        assert_eq!(render_release_notes(&input), expected);
    }
}
