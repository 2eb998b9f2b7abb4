//! A folder checked against its `checksums.txt` (`checksums --verify`, and the release folder's
//! check before anything is published), and the reading of a folder both `checksums` modes
//! share: what each name is (only regular files directly in the folder count), the text of a
//! checksum file, and hashing on every core.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::checksums_file::{CHECKSUMS_FILE, NOTES_FILE, check_file_name, parse_lines};
use crate::failure::{refuse, shell_quote};
use crate::{hashing, sidecars_json};

/// Files of a release folder that are not artifacts.
const NOT_ARTIFACTS: [&str; 3] = [CHECKSUMS_FILE, NOTES_FILE, crate::manifest::FILE_NAME];

/// The listed files that are in `dir`, with their hash and size (the ones `sidecars.json` may describe).
pub fn listed_files(
    dir: &Path,
    hashes: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, sidecars_json::ListedFile>> {
    let mut listed = BTreeMap::new();
    for (name, sha256) in hashes {
        let path = dir.join(name);
        if entry_kind(&path) != EntryKind::Regular {
            continue;
        }
        let size = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?.len();
        listed.insert(name.clone(), sidecars_json::ListedFile { sha256: sha256.clone(), size });
    }
    Ok(listed)
}

/// What a name in the folder is, without following a symlink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EntryKind {
    Regular,
    Symlink,
    Folder,
    /// A fifo, socket or device.
    Special,
    Missing,
}

pub fn entry_kind(path: &Path) -> EntryKind {
    match std::fs::symlink_metadata(path) {
        Err(_) => EntryKind::Missing,
        Ok(metadata) if metadata.file_type().is_symlink() => EntryKind::Symlink,
        Ok(metadata) if metadata.is_dir() => EntryKind::Folder,
        Ok(metadata) if metadata.is_file() => EntryKind::Regular,
        Ok(_) => EntryKind::Special,
    }
}

/// The names directly in `dir` (lossy for names that are not UTF-8), sorted.
pub fn folder_entries(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// The text of a checksum file, with a hint when it is a folder, a symlink or not UTF-8.
pub fn read_checksum_file(dir: &Path, name: &str, fix: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    let kind = entry_kind(&path);
    if kind != EntryKind::Regular {
        let what = match kind {
            EntryKind::Symlink => "a symlink",
            EntryKind::Folder => "a folder",
            EntryKind::Missing => "missing",
            _ => "not a regular file",
        };
        return Err(refuse(
            format!("{} is {what}: only regular files directly in the folder count", path.display()),
            fix.to_string(),
        ));
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| {
        refuse(format!("{} is not UTF-8 text", path.display()), format!("{fix} (one `<hex>  <name>` line per file)"))
    })
}

/// SHA-256 of each named file, computed on as many threads as the machine has cores.
pub fn hash_concurrently(dir: &Path, files: &[(String, String)]) -> anyhow::Result<Vec<String>> {
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

/// `checksums.txt` of `dir` (a regular file directly in it): its text and its `(hex, name)` lines.
pub fn read_list(dir: &Path, fix: &str) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let text = read_checksum_file(dir, CHECKSUMS_FILE, fix)?;
    let listed = parse_lines(&text, CHECKSUMS_FILE)?;
    Ok((text, listed))
}

/// Check `dir` against its `checksums.txt`; the `(name, hex)` of every file checked, in its order.
pub fn verify(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let write_list = format!("cargo xtask checksums {}", shell_quote(&dir.to_string_lossy()));
    let list_hint = format!(
        "to check a build, write the list first: `{write_list}`; to check a download, point --verify at the \
         folder that holds the release's checksums.txt, or download it from the same release into this one"
    );
    let (_, listed) = read_list(dir, &list_hint)?;
    if listed.is_empty() {
        return Err(refuse(
            format!("{} lists no files: there is nothing to verify", dir.join(CHECKSUMS_FILE).display()),
            "download checksums.txt from the release again; a release always lists its files",
        ));
    }
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut present: Vec<(String, String)> = Vec::new();
    for (hex, name) in &listed {
        if let Some(first) = seen.insert(name, hex) {
            let how = if first == hex { "listed twice" } else { "listed twice with different hashes" };
            problems.push(format!("{name}: {how}"));
            continue;
        }
        if NOT_ARTIFACTS.contains(&name.as_str()) {
            problems.push(format!("{name}: listed, but it is never an artifact"));
            continue;
        }
        match entry_kind(&dir.join(name)) {
            EntryKind::Regular => present.push((name.clone(), hex.clone())),
            EntryKind::Missing => problems.push(format!("{name}: missing")),
            EntryKind::Symlink => problems.push(format!("{name}: a symlink, not a regular file")),
            EntryKind::Folder => problems.push(format!("{name}: a folder, not a regular file")),
            EntryKind::Special => problems.push(format!("{name}: not a regular file")),
        }
    }
    let actual_hashes = hash_concurrently(dir, &present)?;
    crate::process::check_interrupted()?;
    for (actual, (name, expected)) in actual_hashes.into_iter().zip(&present) {
        if actual != *expected {
            problems.push(format!("{name}: hash is {actual}, checksums.txt says {expected}"));
        }
    }
    for name in folder_entries(dir)? {
        if name.ends_with(".sha256") || name.starts_with('.') || NOT_ARTIFACTS.contains(&name.as_str()) {
            continue;
        }
        let listed_here = seen.contains_key(name.as_str());
        // A name that could not be listed (a newline, a backtick ...) is quoted, so the error stays one line.
        let shown = if check_file_name(&name).is_ok() { name.clone() } else { format!("{name:?}") };
        match entry_kind(&dir.join(&name)) {
            EntryKind::Regular if !listed_here => problems.push(format!("{shown}: not listed in checksums.txt")),
            EntryKind::Symlink if !listed_here => problems.push(format!("{shown}: a symlink, not listed")),
            _ => {}
        }
    }
    if !problems.is_empty() {
        return Err(refuse(
            format!("{} does not match its checksums.txt: {}", dir.display(), problems.join("; ")),
            "download the named files again from the release; do not run a file that fails this check",
        ));
    }
    Ok(present)
}
