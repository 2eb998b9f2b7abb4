//! The Rust target triples a sidecar is built for, the GitHub runner that builds each natively,
//! and which of them this machine is. `cargo xtask targets` (targets_command.rs) prints the table:
//! binaries.yml's build matrix must equal it (a test compares the two).

use crate::archive::ArchiveFormat;
use crate::failure::refuse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    MacOs,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub triple: &'static str,
    pub os: Os,
    pub arch: Arch,
    /// The GitHub-hosted runner that builds this triple natively.
    pub runner: &'static str,
}

pub const SUPPORTED: [Target; 5] = [
    Target { triple: "x86_64-unknown-linux-gnu", os: Os::Linux, arch: Arch::X86_64, runner: "ubuntu-24.04" },
    Target { triple: "aarch64-unknown-linux-gnu", os: Os::Linux, arch: Arch::Aarch64, runner: "ubuntu-24.04-arm" },
    Target { triple: "x86_64-apple-darwin", os: Os::MacOs, arch: Arch::X86_64, runner: "macos-15-intel" },
    Target { triple: "aarch64-apple-darwin", os: Os::MacOs, arch: Arch::Aarch64, runner: "macos-15" },
    Target { triple: "x86_64-pc-windows-msvc", os: Os::Windows, arch: Arch::X86_64, runner: "windows-2025" },
];

impl Target {
    /// `.exe` on Windows, nothing elsewhere.
    pub fn executable_suffix(&self) -> &'static str {
        if self.os == Os::Windows { ".exe" } else { "" }
    }

    /// `.zip` for Windows triples, `.tar.gz` for the others.
    pub fn archive_format(&self) -> ArchiveFormat {
        if self.os == Os::Windows { ArchiveFormat::Zip } else { ArchiveFormat::TarGz }
    }
}

impl Os {
    pub fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::MacOs => "macos",
            Os::Windows => "windows",
        }
    }
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

pub fn supported_list() -> String {
    SUPPORTED.iter().map(|target| target.triple).collect::<Vec<_>>().join(", ")
}

/// A supported triple by its name (in file names, manifests and workflow inputs).
pub fn parse(triple: &str) -> anyhow::Result<&'static Target> {
    SUPPORTED.iter().find(|target| target.triple == triple).ok_or_else(|| {
        refuse(format!("unsupported target triple `{triple}`"), format!("use one of: {}", supported_list()))
    })
}

/// `--target TRIPLE` on the command line: an unsupported triple is a usage error (exit 2).
pub fn parse_flag(triple: &str) -> Result<&'static Target, String> {
    SUPPORTED
        .iter()
        .find(|target| target.triple == triple)
        .ok_or_else(|| format!("unsupported target triple; use one of: {}", supported_list()))
}

/// The triple of the machine running the xtask.
pub fn host() -> anyhow::Result<&'static Target> {
    host_for(std::env::consts::OS, std::env::consts::ARCH).ok_or_else(|| {
        refuse(
            format!(
                "this machine ({} {}) builds none of the supported triples",
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
            format!("build on a machine of one of: {}", supported_list()),
        )
    })
}

/// The supported triple of an OS and architecture as `std::env::consts` names them.
pub fn host_for(os: &str, arch: &str) -> Option<&'static Target> {
    let os = match os {
        "linux" => Os::Linux,
        "macos" => Os::MacOs,
        "windows" => Os::Windows,
        _ => return None,
    };
    let arch = match arch {
        "x86_64" => Arch::X86_64,
        "aarch64" => Arch::Aarch64,
        _ => return None,
    };
    SUPPORTED.iter().find(|target| target.os == os && target.arch == arch)
}

/// The triple to build for: the one asked for, which must be this machine's, or this machine's.
pub fn buildable(requested: Option<&'static Target>) -> anyhow::Result<&'static Target> {
    let host = host()?;
    let Some(target) = requested else { return Ok(host) };
    if target != host {
        return Err(refuse(
            format!("cannot build {} on this {} machine: PyInstaller does not cross-build", target.triple, host.triple),
            format!("build it on a {} runner (binaries.yml does), or drop --target here", target.runner),
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Lines;

    #[test]
    fn every_supported_triple_parses_to_itself() {
        for target in &SUPPORTED {
            assert_eq!(parse(target.triple).unwrap().triple, target.triple);
        }
    }

    #[test]
    fn windows_is_the_only_target_with_exe_and_zip() {
        for target in &SUPPORTED {
            let windows = target.triple.contains("windows");
            assert_eq!(target.executable_suffix() == ".exe", windows, "{}", target.triple);
            assert_eq!(target.archive_format() == ArchiveFormat::Zip, windows, "{}", target.triple);
        }
    }

    #[test]
    fn host_detection_maps_os_and_arch() {
        assert_eq!(host_for("linux", "x86_64").unwrap().triple, "x86_64-unknown-linux-gnu");
        assert_eq!(host_for("linux", "aarch64").unwrap().triple, "aarch64-unknown-linux-gnu");
        assert_eq!(host_for("macos", "aarch64").unwrap().triple, "aarch64-apple-darwin");
        assert_eq!(host_for("macos", "x86_64").unwrap().triple, "x86_64-apple-darwin");
        assert_eq!(host_for("windows", "x86_64").unwrap().triple, "x86_64-pc-windows-msvc");
        assert_eq!(host_for("windows", "aarch64"), None);
        assert_eq!(host_for("freebsd", "x86_64"), None);
    }

    #[test]
    fn a_target_flag_names_a_supported_triple() {
        for target in &SUPPORTED {
            assert_eq!(parse_flag(target.triple), Ok(target));
        }
        for garbage in ["garbage", "", "X86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"] {
            assert!(parse_flag(garbage).unwrap_err().contains("x86_64-pc-windows-msvc"), "{garbage:?}");
        }
    }

    #[test]
    fn unknown_triple_is_refused_with_the_list() {
        let error = parse("riscv64gc-unknown-linux-gnu").unwrap_err();
        let Lines { message, hint } = crate::failure::lines(&error);
        assert!(message.contains("riscv64gc-unknown-linux-gnu"));
        assert!(hint.unwrap().contains("x86_64-pc-windows-msvc"));
    }

    #[test]
    fn a_foreign_triple_is_refused_with_its_runner() {
        let host = host().unwrap();
        let foreign = SUPPORTED.iter().find(|target| *target != host).unwrap();
        let error = buildable(Some(foreign)).unwrap_err();
        let Lines { message, hint } = crate::failure::lines(&error);
        assert!(message.contains("does not cross-build"), "{message}");
        assert!(hint.unwrap().contains(foreign.runner));
        assert_eq!(buildable(None).unwrap(), host);
        assert_eq!(buildable(Some(host)).unwrap(), host);
    }
}
