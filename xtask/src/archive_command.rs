//! `cargo xtask archive`: put one file into a deterministic `.tar.gz` or `.zip`, exactly as
//! `cargo xtask sidecar` archives a binary, so the archiver can be used and timed on its own.

use std::fs::Metadata;
use std::io::Read;
use std::path::Path;

use anyhow::Context;

use crate::failure::{refuse, refuse_usage};
use crate::flags::ArchiveFlags;
use crate::naming::check_entry_name;
use crate::{archive, files};

pub fn run(flags: &ArchiveFlags) -> anyhow::Result<()> {
    let entry_name = match &flags.name {
        // clap read it with `naming::check_entry_name` (flags.rs).
        Some(name) => name.clone(),
        None => plain_name(&flags.file)?,
    };
    let input = input_metadata(&flags.file)?;
    check_out(&flags.out, &flags.file)?;
    let contents = read_regular_file(&flags.file)?;
    let mtime = modification_time(&flags.file, &input)?;
    let mode = if files::is_executable(&input) { 0o755 } else { 0o644 };
    let mut entries = [archive::Entry { name: &entry_name, contents: &contents, mode }];
    let bytes = archive::pack(flags.format, &mut entries, mtime)?;
    files::write_atomically(&flags.out, &bytes)?;
    println!("wrote {} ({} bytes from {} bytes)", flags.out.display(), bytes.len(), contents.len());
    Ok(())
}

/// FILE's own name as the entry's, when it is a plain file name (else `--name` must give one).
fn plain_name(file: &Path) -> anyhow::Result<String> {
    let name = file.file_name().ok_or_else(|| {
        refuse_usage(format!("{} does not name a file", file.display()), "pass the path of a file, or --name NAME")
    })?;
    let name = name.to_str().ok_or_else(|| {
        refuse_usage(format!("the name of {} is not UTF-8", file.display()), "give the entry a name: --name NAME")
    })?;
    check_entry_name(name)
        .map_err(|problem| refuse_usage(format!("FILE's name {problem}"), "give the entry a name: --name NAME"))?;
    Ok(name.to_string())
}

/// FILE must be a regular file: a device or a fifo would be read without end.
fn input_metadata(file: &Path) -> anyhow::Result<Metadata> {
    let metadata = std::fs::metadata(file).map_err(|error| {
        refuse(format!("reading {}: {error}", file.display()), "pass the path of an existing file to archive")
    })?;
    if !metadata.is_file() {
        return Err(refuse(
            format!("{} is not a regular file", file.display()),
            "pass the file to archive (a folder, a device or a fifo cannot be archived); nothing was written",
        ));
    }
    Ok(metadata)
}

/// `--out` is a new path or a regular file to replace, and never FILE itself: the archive is
/// renamed over it, which would replace a device or a fifo with a file, or FILE with its archive.
fn check_out(out: &Path, file: &Path) -> anyhow::Result<()> {
    let existing = match std::fs::metadata(out) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("reading --out {}", out.display())),
    };
    if !existing.is_file() {
        return Err(refuse(
            format!("--out {} exists and is not a regular file", out.display()),
            "give --out a new path, or a regular file to replace; nothing was written",
        ));
    }
    if same_file(out, file) {
        return Err(refuse_usage(
            format!("--out {} is FILE {} itself", out.display(), file.display()),
            "write the archive to another path; FILE was not touched",
        ));
    }
    Ok(())
}

/// Whether two existing paths name one file: the same device and inode on Unix (so a hard link or
/// a symlink to it counts), the same canonical path elsewhere.
fn same_file(first: &Path, second: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let identity = |path: &Path| std::fs::metadata(path).ok().map(|metadata| (metadata.dev(), metadata.ino()));
        identity(first).is_some_and(|found| identity(second) == Some(found))
    }
    #[cfg(not(unix))]
    {
        std::fs::canonicalize(first).ok().is_some_and(|path| std::fs::canonicalize(second).ok() == Some(path))
    }
}

/// The bytes of FILE, checked again through the open handle: it was a regular file when looked at.
fn read_regular_file(file: &Path) -> anyhow::Result<Vec<u8>> {
    let mut opened = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let metadata = opened.metadata().with_context(|| format!("reading {}", file.display()))?;
    if !metadata.is_file() {
        return Err(refuse(
            format!("{} is not a regular file", file.display()),
            "pass the file to archive; nothing was written",
        ));
    }
    let mut contents = Vec::new();
    opened.read_to_end(&mut contents).with_context(|| format!("reading {}", file.display()))?;
    Ok(contents)
}

/// `SOURCE_DATE_EPOCH` when set (as in a reproducible build), else the file's own mtime.
fn modification_time(file: &Path, metadata: &Metadata) -> anyhow::Result<i64> {
    if let Ok(text) = std::env::var("SOURCE_DATE_EPOCH") {
        return text.trim().parse().map_err(|_| {
            refuse(format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds"), "unset it or set whole seconds")
        });
    }
    let modified = metadata.modified().with_context(|| format!("reading the mtime of {}", file.display()))?;
    Ok(modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_without_a_plain_name_needs_name() {
        for (file, expected) in [("..", "does not name a file"), ("folder/bell\u{7}", "FILE's name")] {
            let error = plain_name(Path::new(file)).unwrap_err();
            assert_eq!(crate::failure::exit_code_of(&error), 2, "{file:?}");
            assert!(crate::failure::lines(&error).message.contains(expected), "{file:?}: {error:#}");
        }
        assert_eq!(plain_name(Path::new("dist/lumen-argus")).unwrap(), "lumen-argus");
    }
}
