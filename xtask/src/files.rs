//! Writing files so that a reader never sees half of one: a temporary file in the same folder,
//! renamed into place.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

pub fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    write_atomically_with_mode(path, contents, Some(0o644))
}

/// Like [`write_atomically`], with Unix permission bits (ignored elsewhere; `None` keeps the mode of
/// the file it replaces, 0644 for a new one).
pub fn write_atomically_with_mode(path: &Path, contents: &[u8], mode: Option<u32>) -> anyhow::Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let staged = match mode {
        Some(mode) => stage_with_mode(path, contents, mode)?,
        None => stage(path, contents)?,
    };
    rename_all_into_place(vec![staged])
}

/// A file written and flushed next to its destination, not yet renamed into place. Dropping it
/// deletes the temporary file, so a run that stops before [`rename_all_into_place`] writes nothing.
pub struct Staged {
    temporary: tempfile::NamedTempFile,
    destination: std::path::PathBuf,
}

/// Write `contents` to a temporary file in `path`'s folder, keeping the mode of the file it will
/// replace (0644 for a new one).
pub fn stage(path: &Path, contents: &[u8]) -> anyhow::Result<Staged> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temporary = tempfile::Builder::new()
        .prefix(".xtask-")
        .suffix(".partial")
        .tempfile_in(folder)
        .with_context(|| format!("creating a temporary file in {}", folder.display()))?;
    temporary.write_all(contents).with_context(|| format!("writing {}", path.display()))?;
    temporary.as_file().sync_all().with_context(|| format!("flushing {}", path.display()))?;
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).map_or(0o644, |metadata| metadata.permissions().mode() & 0o7777)
    };
    #[cfg(not(unix))]
    let mode = 0o644;
    set_mode(temporary.path(), Some(mode))?;
    Ok(Staged { temporary, destination: path.to_path_buf() })
}

/// Like [`stage`], with the given Unix permission bits (ignored elsewhere).
pub fn stage_with_mode(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<Staged> {
    let staged = stage(path, contents)?;
    set_mode(staged.temporary.path(), Some(mode))?;
    Ok(staged)
}

/// The commit point of a multi-file write: rename every staged file into place, in order.
pub fn rename_all_into_place(staged: Vec<Staged>) -> anyhow::Result<()> {
    for file in staged {
        let destination = file.destination;
        file.temporary.persist(&destination).with_context(|| format!("renaming into {}", destination.display()))?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: Option<u32>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: Option<u32>) -> anyhow::Result<()> {
    Ok(())
}

/// Whether a file may be run: an executable bit on Unix; on Windows (no such bit) whether it runs
/// shows only when it is started.
#[cfg(unix)]
pub fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let folder = tempfile::tempdir().unwrap();
        let target = folder.path().join("checksums.txt");
        std::fs::write(&target, "old").unwrap();
        write_atomically(&target, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
        let names: Vec<_> = std::fs::read_dir(folder.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("checksums.txt")]);
    }
}
