//! `cargo xtask checksums`: gather the `*.sha256` files of a folder into one `checksums.txt` and
//! `release-notes.md`, or with `--verify` check a downloaded release against its `checksums.txt`.
//!
//! Only regular files directly in the folder count: a symlink is refused by name in both modes, a listed name that is a folder or a device is refused, and the files this command
//! writes (or the build writes next to them: `manifest.json`) may not be listed. Each file is
//! listed once: a duplicate line, identical or not, is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::failure::refuse;
use crate::flags::ChecksumsFlags;
use crate::workspace::Workspace;
use crate::{files, gha, hashing, release_notes, sidecars_json};

pub const CHECKSUMS_FILE: &str = "checksums.txt";
pub const NOTES_FILE: &str = "release-notes.md";
/// Files of a release folder that are not artifacts.
const NOT_ARTIFACTS: [&str; 3] = [CHECKSUMS_FILE, NOTES_FILE, crate::manifest::FILE_NAME];
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
    let index_path = dir.join(sidecars_json::FILE_NAME);
    let index = sidecars_json::render(&records, &listed_files(dir, &hashes)?)?;
    if let Some(text) = &index {
        hashes.insert(sidecars_json::FILE_NAME.to_string(), hashing::sha256_hex_of_bytes(text.as_bytes()));
    }
    let notes = release_notes::render(&release_notes::input(workspace, &hashes));
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

/// `manifest.json` describes the files: when present it must be a JSON object; its records.
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

/// Invisible characters that reorder or hide text (bidi controls, zero-width marks, BOM): a name
/// holding one shows as another name in the notes and in a terminal.
fn is_invisible_format_character(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

/// A name that may appear in a checksum line: a plain file name inside the folder, safe to print
/// in a Markdown code span (no backtick, no leading or trailing space, nothing invisible).
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
    if name.chars().any(is_invisible_format_character) {
        return Err(format!("{name:?} contains invisible formatting characters"));
    }
    if name.contains('`') {
        return Err(format!("{name:?} contains a backtick, which breaks the release notes' Markdown"));
    }
    if name.trim() != name {
        return Err(format!("{name:?} starts or ends with a space"));
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

/// What a name in the folder is, without following a symlink.
#[derive(Debug, Clone, Copy, PartialEq)]
enum EntryKind {
    Regular,
    Symlink,
    Folder,
    /// A fifo, socket or device.
    Special,
    Missing,
}

fn entry_kind(path: &Path) -> EntryKind {
    match std::fs::symlink_metadata(path) {
        Err(_) => EntryKind::Missing,
        Ok(metadata) if metadata.file_type().is_symlink() => EntryKind::Symlink,
        Ok(metadata) if metadata.is_dir() => EntryKind::Folder,
        Ok(metadata) if metadata.is_file() => EntryKind::Regular,
        Ok(_) => EntryKind::Special,
    }
}

/// The names directly in `dir` (lossy for names that are not UTF-8), sorted.
fn folder_entries(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// The text of a checksum file, with a hint when it is a folder, a symlink or not UTF-8.
fn read_checksum_file(dir: &Path, name: &str, fix: &str) -> anyhow::Result<String> {
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
            "build first (cargo xtask sidecar), or point at the folder of downloaded artifacts",
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
                    conflicts.push(format!("{name}: {known} in {first_source}, {hex} in {source}"))
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

/// `checksums.txt` of `dir` (a regular file directly in it): its text and its `(hex, name)` lines.
pub fn read_list(dir: &Path, fix: &str) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let text = read_checksum_file(dir, CHECKSUMS_FILE, fix)?;
    let listed = parse_lines(&text, CHECKSUMS_FILE)?;
    Ok((text, listed))
}

/// Check `dir` against its `checksums.txt`; the `(name, hex)` of every file checked, in its order.
pub fn verify(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let (_, listed) = read_list(dir, "download checksums.txt from the same release into this folder")?;
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
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// File names as they come: printable, spaces, Markdown characters, non-ASCII; those the
    /// parser refuses are filtered out of the round trip (and covered by the no-panic property).
    fn listable_name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ._+*|#()\\[\\]é漢-]{1,24}".prop_filter("a listable name", |name| check_file_name(name).is_ok())
    }

    proptest! {
        // Cheap properties: 2048 cases each keeps the whole crate's property run to a few seconds.
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn parsing_never_panics(text in any::<String>(), near in "([0-9a-fA-F]{60,66}[ *]{1,3}[^\n]{0,12}\r?\n){0,4}") {
            let _ = parse_lines(&text, "fuzz.sha256");
            let _ = parse_lines(&near, "fuzz.sha256");
        }

        #[test]
        fn render_then_parse_gives_the_same_entries(
            entries in prop::collection::btree_map(listable_name(), "[0-9a-f]{64}", 0..8)
        ) {
            let rendered = render_checksums(&entries);
            let parsed = parse_lines(&rendered, CHECKSUMS_FILE).expect("a rendered list parses");
            let parsed: Vec<(String, String)> = parsed.into_iter().map(|(hex, name)| (name, hex)).collect();
            let expected: Vec<(String, String)> = entries.into_iter().collect();
            prop_assert_eq!(parsed, expected);
            prop_assert!(!rendered.contains("\n\n") && !rendered.contains('\r'));
        }
    }
}
