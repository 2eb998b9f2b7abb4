//! `cargo xtask checksums`: gather the `*.sha256` files of a folder into one `checksums.txt` and
//! `release-notes.md`, or with `--verify` check a downloaded release against its `checksums.txt`.
//!
//! Only regular files directly in the folder count: a symlink is refused by name in both modes, a listed name that is a folder or a device is refused, and the files this command
//! writes (or the build writes next to them: `manifest.json`) may not be listed. Each file is
//! listed once: a duplicate line, identical or not, is refused. The file format is
//! `checksums_file.rs`, the `--verify` check `folder_verification.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::checksums_file::{CHECKSUMS_FILE, NOTES_FILE, check_file_name, parse_lines, render_checksums};
use crate::failure::refuse;
use crate::flags::ChecksumsFlags;
use crate::folder_verification::{
    EntryKind, entry_kind, folder_entries, hash_concurrently, listed_files, read_checksum_file, verify,
};
use crate::workspace::Workspace;
use crate::{files, gha, hashing, release_notes, sidecars_json};

/// Files this command writes, which no `.sha256` may list (`sidecars.json` is listed in
/// `checksums.txt` by this command itself, from the bytes it writes).
pub const WRITTEN_HERE: [&str; 4] = [CHECKSUMS_FILE, NOTES_FILE, crate::manifest::FILE_NAME, sidecars_json::FILE_NAME];

pub fn run(flags: &ChecksumsFlags) -> anyhow::Result<()> {
    if let Some(tag) = &flags.release {
        return crate::release_verification::run(tag, flags.repo.as_deref(), flags.download.as_deref());
    }
    // An explicit DIR is relative to the current directory; the default is the repository's dist/,
    // wherever in the repository the command runs (as for `sidecar` and `smoke`).
    let (dir, workspace): (PathBuf, Option<Workspace>) = match &flags.dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let workspace = Workspace::discover().map_err(|error| {
                refuse(
                    format!(
                        "no DIR given and no repository to take dist/ from: {}",
                        crate::failure::lines(&error).message
                    ),
                    "pass the folder explicitly: cargo xtask checksums DIR [--verify]",
                )
            })?;
            (workspace.dist_dir(), Some(workspace))
        }
    };
    if workspace.is_some() && std::fs::symlink_metadata(&dir).is_err() {
        return Err(no_build_yet(&dir, flags.verify));
    }
    if !dir.is_dir() {
        return Err(refuse(
            format!("{} is not a folder", dir.display()),
            "pass the folder holding the artifacts and their .sha256 files (default: dist/ of the repository)",
        ));
    }
    if flags.verify {
        let checked = verify(&dir)?;
        crate::release_folder::check_built_from_head_if_recorded(&dir, &checked)?;
        println!("{}", crate::release_folder::files_match_line(checked.len(), &dir));
        return Ok(());
    }
    let workspace = match workspace {
        Some(workspace) => workspace,
        None => Workspace::discover()?,
    };
    write_release_files(&workspace, &dir)?;
    Ok(())
}

/// The repository's `dist/` does not exist (a fresh clone): what builds it, or which folder to
/// pass instead.
fn no_build_yet(dist: &Path, verify: bool) -> anyhow::Error {
    let dist_shown = dist.display();
    let hint = if verify {
        format!(
            "build and list the files first: `cargo xtask sidecar` writes the binaries and their .sha256 files \
             into {dist_shown}, then `cargo xtask checksums` writes its checksums.txt; or point --verify at the \
             folder that holds a release's checksums.txt: cargo xtask checksums DIR --verify"
        )
    } else {
        format!(
            "build first: `cargo xtask sidecar` writes the binaries and their .sha256 files into {dist_shown}, \
             then run `cargo xtask checksums` again; or pass the folder of downloaded artifacts: \
             cargo xtask checksums DIR"
        )
    };
    refuse(format!("{dist_shown} does not exist: nothing has been built in this checkout yet"), hint)
}

/// Gather, check and write `checksums.txt`, `release-notes.md` and, when the folder holds sidecar
/// binaries, `sidecars.json` (listed in `checksums.txt`); the number of files listed.
///
/// The files are written to temporary files first; an interrupt (Ctrl-C, SIGTERM) up to the
/// commit point (the check right before the renames) writes nothing and exits 130. A file whose
/// contents would not change is not rewritten. A `sidecars.json` left from an earlier run is
/// removed when the folder no longer holds a binary.
pub fn write_release_files(workspace: &Workspace, dir: &Path) -> anyhow::Result<usize> {
    let mut hashes = gather(dir)?;
    let records = check_manifest(dir)?;
    check_built_at_these_versions(workspace, dir, &records)?;
    let index_path = dir.join(sidecars_json::FILE_NAME);
    let index = sidecars_json::render(&records, &listed_files(dir, &hashes)?)?;
    if let Some(text) = &index {
        hashes.insert(sidecars_json::FILE_NAME.to_string(), hashing::sha256_hex_of_bytes(text.as_bytes()));
    }
    let notes = release_notes::render(&release_notes::input(workspace, &hashes)?);
    let (list, notes_path) = (dir.join(CHECKSUMS_FILE), dir.join(NOTES_FILE));
    let mut staged = Vec::new();
    let mut written = vec![(&list, render_checksums(&hashes)), (&notes_path, notes.clone())];
    if let Some(text) = index.clone() {
        written.push((&index_path, text));
    }
    for (path, contents) in written {
        crate::process::check_interrupted()?;
        if std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink()) {
            return Err(refuse(
                format!("{} is a symlink", path.display()),
                "remove it: checksums writes a regular file there",
            ));
        }
        if std::fs::read(path).is_ok_and(|existing| existing == contents.as_bytes()) {
            continue;
        }
        staged.push(files::stage(path, contents.as_bytes()).map_err(|error| {
            refuse(
                format!("{error:#}"),
                format!("nothing was written; make {} writable or free some space, then run again", dir.display()),
            )
        })?);
    }
    crate::process::check_interrupted()?;
    if index.is_none() && entry_kind(&index_path) == EntryKind::Regular {
        std::fs::remove_file(&index_path).with_context(|| format!("removing the stale {}", index_path.display()))?;
    }
    files::rename_all_into_place(staged)?;
    let index_said = if index.is_some() { format!(", {}", index_path.display()) } else { String::new() };
    println!("wrote {} ({} files){index_said} and {}", list.display(), hashes.len(), notes_path.display());
    gha::step_summary(&notes)?;
    Ok(hashes.len())
}

/// `manifest.json` describes the files: when present it must be a JSON object; its records.
/// The notes name this checkout's versions and tag: the folder's files must have been built at
/// them. Files built before a `bump` (or in another checkout) are refused, not listed under
/// versions they do not have.
fn check_built_at_these_versions(
    workspace: &Workspace,
    dir: &Path,
    records: &[serde_json::Value],
) -> anyhow::Result<()> {
    let mut differing = std::collections::BTreeSet::new();
    for record in records {
        let (Some(name), Some(built)) = (record["package"].as_str(), record["version"].as_str()) else { continue };
        if let Some(package) = workspace.packages.iter().find(|package| package.name == name)
            && package.version != built
        {
            differing.insert(format!("{name} {built} (this checkout: {})", package.version));
        }
    }
    if differing.is_empty() {
        return Ok(());
    }
    Err(refuse(
        format!(
            "the files in {} were built at other versions than this checkout's: {}; their notes would name the wrong release",
            dir.display(),
            differing.into_iter().collect::<Vec<_>>().join(", ")
        ),
        "rebuild them here (`cargo xtask sidecar`), or run checksums in the checkout they were built from",
    ))
}

fn check_manifest(dir: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let path = dir.join(crate::manifest::FILE_NAME);
    let Ok(metadata) = std::fs::symlink_metadata(&path) else { return Ok(Vec::new()) };
    let hint = "rebuild it with `cargo xtask sidecar`, or delete it if this folder has no sidecars";
    if !metadata.is_file() {
        return Err(refuse(format!("{} is not a regular file", path.display()), hint));
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(value) if value.is_object() => Ok(value["artifacts"].as_array().cloned().unwrap_or_default()),
        Ok(_) => Err(refuse(format!("{} is JSON but not an object", path.display()), hint)),
        Err(error) => Err(refuse(format!("{} is not valid JSON ({error})", path.display()), hint)),
    }
}

/// Every `*.sha256` of `dir`, merged by file name, each checked against its file when present.
pub fn gather(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let entries = folder_entries(dir)?;
    let symlinks: Vec<&String> =
        entries.iter().filter(|name| entry_kind(&dir.join(name)) == EntryKind::Symlink).collect();
    if !symlinks.is_empty() {
        let names: Vec<String> = symlinks
            .iter()
            .map(|name| if check_file_name(name).is_ok() { name.to_string() } else { format!("{name:?}") })
            .collect();
        return Err(refuse(
            format!("{} holds symlinks: {}", dir.display(), names.join(", ")),
            "only regular files directly in the folder are released: copy the file in instead, or remove the link",
        ));
    }
    let sources: Vec<&String> = entries.iter().filter(|name| name.ends_with(".sha256")).collect();
    if sources.is_empty() {
        return Err(refuse(
            format!("{} holds no .sha256 files", dir.display()),
            "build first: `cargo xtask sidecar` writes each binary and its .sha256 file into the repository's \
             dist/; or pass the folder of downloaded artifacts and their .sha256 files",
        ));
    }
    let mut hashes: BTreeMap<String, (String, String)> = BTreeMap::new();
    let (mut conflicts, mut duplicates, mut reserved) = (Vec::new(), Vec::new(), Vec::new());
    for source in sources {
        let fix = format!("remove {source} or regenerate it: sha256sum FILE > FILE.sha256");
        let text = read_checksum_file(dir, source, &fix)?;
        for (hex, name) in parse_lines(&text, source)? {
            if WRITTEN_HERE.contains(&name.as_str()) {
                reserved.push(format!("{source} lists {name}"));
                continue;
            }
            match hashes.get(&name) {
                Some((known, first_source)) if *known != hex => {
                    conflicts.push(format!("{name}: {known} in {first_source}, {hex} in {source}"));
                }
                Some((_, first_source)) => duplicates.push(format!("{name} in {first_source} and {source}")),
                None => {
                    hashes.insert(name, (hex, source.clone()));
                }
            }
        }
    }
    if !reserved.is_empty() {
        return Err(refuse(
            format!("a .sha256 lists a file that checksums writes itself: {}", reserved.join("; ")),
            format!("remove that line: {} are written here, never by a .sha256", WRITTEN_HERE.join(", ")),
        ));
    }
    if !conflicts.is_empty() {
        return Err(refuse(
            format!("conflicting checksums: {}", conflicts.join("; ")),
            "one file name has two hashes: remove the stale .sha256 file or rebuild",
        ));
    }
    if !duplicates.is_empty() {
        return Err(refuse(
            format!("files listed more than once: {}", duplicates.join("; ")),
            "each file is listed by one line of one .sha256: remove the extra line or file",
        ));
    }
    let mut present: Vec<(String, String)> = Vec::new();
    let mut not_regular = Vec::new();
    for (name, (hex, _)) in &hashes {
        match entry_kind(&dir.join(name)) {
            EntryKind::Regular => present.push((name.clone(), hex.clone())),
            EntryKind::Missing => {}
            EntryKind::Folder => not_regular.push(format!("{name} is a folder")),
            EntryKind::Symlink => not_regular.push(format!("{name} is a symlink")),
            EntryKind::Special => not_regular.push(format!("{name} is not a regular file")),
        }
    }
    if !not_regular.is_empty() {
        return Err(refuse(
            format!("listed names that are not regular files: {}", not_regular.join("; ")),
            "only regular files directly in the folder are released: replace them with the built files",
        ));
    }
    let actual_hashes = hash_concurrently(dir, &present)?;
    // An interrupt while hashing is reported as one, not as the mismatch of a half-read file.
    crate::process::check_interrupted()?;
    let mismatches: Vec<String> = actual_hashes
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
