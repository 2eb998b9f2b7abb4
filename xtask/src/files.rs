//! Writing files so that a reader never sees half of one: a temporary file in the same folder,
//! renamed into place.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

pub fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    write_atomically_with_mode(path, contents, Some(0o644))
}

/// Like [`write_atomically`], with Unix permission bits (ignored elsewhere).
pub fn write_atomically_with_mode(path: &Path, contents: &[u8], mode: Option<u32>) -> anyhow::Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".xtask-")
        .suffix(".partial")
        .tempfile_in(folder)
        .with_context(|| format!("creating a temporary file in {}", folder.display()))?;
    temporary.write_all(contents).with_context(|| format!("writing {}", path.display()))?;
    temporary.as_file().sync_all().with_context(|| format!("flushing {}", path.display()))?;
    set_mode(temporary.path(), mode)?;
    temporary.persist(path).with_context(|| format!("renaming into {}", path.display()))?;
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
