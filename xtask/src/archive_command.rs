//! `cargo xtask archive`: put one file into a deterministic `.tar.gz` or `.zip`, exactly as
//! `cargo xtask sidecar` archives a binary, so the archiver can be used and timed on its own.

use std::path::Path;

use anyhow::Context;

use crate::failure::refuse;
use crate::flags::ArchiveFlags;
use crate::{archive, files};

pub fn run(flags: &ArchiveFlags) -> anyhow::Result<()> {
    let contents = std::fs::read(&flags.file).with_context(|| format!("reading {}", flags.file.display()))?;
    let entry_name = match &flags.name {
        Some(name) => name.clone(),
        None => plain_name(&flags.file)?,
    };
    let mtime = modification_time(&flags.file)?;
    let mode = if std::fs::metadata(&flags.file).is_ok_and(|metadata| files::is_executable(&metadata)) {
        0o755
    } else {
        0o644
    };
    let mut entries = [archive::Entry { name: &entry_name, contents: &contents, mode }];
    let bytes = archive::pack(flags.format, &mut entries, mtime)?;
    files::write_atomically(&flags.out, &bytes)?;
    println!("wrote {} ({} bytes from {} bytes)", flags.out.display(), bytes.len(), contents.len());
    Ok(())
}

fn plain_name(file: &Path) -> anyhow::Result<String> {
    file.file_name().map(|name| name.to_string_lossy().into_owned()).ok_or_else(|| {
        refuse(format!("{} does not name a file", file.display()), "pass the path of a file, or --name NAME")
    })
}

/// `SOURCE_DATE_EPOCH` when set (as in a reproducible build), else the file's own mtime.
fn modification_time(file: &Path) -> anyhow::Result<i64> {
    if let Ok(text) = std::env::var("SOURCE_DATE_EPOCH") {
        return text.trim().parse().map_err(|_| {
            refuse(format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds"), "unset it or set whole seconds")
        });
    }
    let modified = std::fs::metadata(file)
        .and_then(|metadata| metadata.modified())
        .with_context(|| format!("reading the mtime of {}", file.display()))?;
    Ok(modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64))
}
