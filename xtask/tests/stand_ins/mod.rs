//! Stand-in sidecars for smoke tests: a real executable of this machine (so the header check
//! passes, as a built sidecar would) that execs the script next to it, `<file>.script`, keeping
//! its pid and arguments. The script then misbehaves on purpose.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const LAUNCHER_SOURCE: &str = r#"
use std::os::unix::process::CommandExt;
fn main() {
    let me = std::env::current_exe().expect("current_exe");
    let script = format!("{}.script", me.display());
    let error = std::process::Command::new(&script).args(std::env::args_os().skip(1)).exec();
    eprintln!("stand-in: cannot run {script}: {error}");
    std::process::exit(127);
}
"#;

/// The launcher, compiled with the rustc next to the cargo running the tests; kept under the
/// target folder and reused while its source is unchanged.
pub fn launcher() -> &'static Path {
    static LAUNCHER: OnceLock<PathBuf> = OnceLock::new();
    LAUNCHER.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        LAUNCHER_SOURCE.hash(&mut hasher);
        let folder = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let binary = folder.join(format!("stand-in-launcher-{:016x}", hasher.finish()));
        if binary.is_file() {
            return binary;
        }
        // Built under a name of this process, then renamed: concurrent test binaries never see
        // half a file.
        let source = folder.join(format!("stand-in-launcher-{}.rs", std::process::id()));
        let built = folder.join(format!("stand-in-launcher-{}.partial", std::process::id()));
        std::fs::write(&source, LAUNCHER_SOURCE).unwrap();
        let rustc = std::env::var_os("CARGO")
            .map(PathBuf::from)
            .and_then(|cargo| cargo.parent().map(|bin| bin.join("rustc")))
            .filter(|rustc| rustc.is_file())
            .unwrap_or_else(|| PathBuf::from("rustc"));
        let output = Command::new(rustc)
            .args(["--edition", "2021", "-C", "opt-level=1", "-C", "debuginfo=0", "-o"])
            .arg(&built)
            .arg(&source)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "compiling the stand-in launcher: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::remove_file(&source).unwrap();
        std::fs::rename(&built, &binary).unwrap();
        binary
    })
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `folder/file_name`: the launcher, running `script`.
pub fn stand_in(folder: &Path, file_name: &str, script: &str) -> PathBuf {
    let path = folder.join(file_name);
    std::fs::copy(launcher(), &path).unwrap();
    make_executable(&path);
    let script_path = PathBuf::from(format!("{}.script", path.display()));
    std::fs::write(&script_path, script).unwrap();
    make_executable(&script_path);
    path
}
