//! Names of release artifacts: sidecar binaries, their archives and checksum files.

use crate::targets::{self, Target};

/// `<binary>-<triple>[.exe]`: the name a sidecar is published under (Tauri's convention).
pub fn sidecar_file_name(binary: &str, target: &Target) -> String {
    format!("{binary}-{}{}", target.triple, target.executable_suffix())
}

/// `<binary>[.exe]`: the name inside an archive.
pub fn plain_file_name(binary: &str, target: &Target) -> String {
    format!("{binary}{}", target.executable_suffix())
}

/// `<binary>-<version>-<triple>.tar.gz`, or `.zip` for Windows.
pub fn archive_file_name(binary: &str, version: &str, target: &Target) -> String {
    format!("{binary}-{version}-{}.{}", target.triple, target.archive_extension())
}

/// `<file>.sha256`.
pub fn checksum_file_name(file_name: &str) -> String {
    format!("{file_name}.sha256")
}

/// Split `<binary>-<triple>[.exe]` into the binary name and the target, when the triple is known.
pub fn parse_sidecar_file_name(file_name: &str) -> Option<(&str, &'static Target)> {
    targets::SUPPORTED.iter().find_map(|target| {
        let stem = file_name.strip_suffix(target.executable_suffix())?;
        let binary = stem.strip_suffix(target.triple)?.strip_suffix('-')?;
        (!binary.is_empty()).then_some((binary, target))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::parse;

    #[test]
    fn names_for_every_supported_triple() {
        let expected = [
            (
                "x86_64-unknown-linux-gnu",
                "lumen-argus-x86_64-unknown-linux-gnu",
                "lumen-argus",
                "lumen-argus-0.2.0rc1-x86_64-unknown-linux-gnu.tar.gz",
            ),
            (
                "aarch64-unknown-linux-gnu",
                "lumen-argus-aarch64-unknown-linux-gnu",
                "lumen-argus",
                "lumen-argus-0.2.0rc1-aarch64-unknown-linux-gnu.tar.gz",
            ),
            (
                "x86_64-apple-darwin",
                "lumen-argus-x86_64-apple-darwin",
                "lumen-argus",
                "lumen-argus-0.2.0rc1-x86_64-apple-darwin.tar.gz",
            ),
            (
                "aarch64-apple-darwin",
                "lumen-argus-aarch64-apple-darwin",
                "lumen-argus",
                "lumen-argus-0.2.0rc1-aarch64-apple-darwin.tar.gz",
            ),
            (
                "x86_64-pc-windows-msvc",
                "lumen-argus-x86_64-pc-windows-msvc.exe",
                "lumen-argus.exe",
                "lumen-argus-0.2.0rc1-x86_64-pc-windows-msvc.zip",
            ),
        ];
        for (triple, sidecar, plain, archive) in expected {
            let target = parse(triple).unwrap();
            assert_eq!(sidecar_file_name("lumen-argus", target), sidecar);
            assert_eq!(plain_file_name("lumen-argus", target), plain);
            assert_eq!(archive_file_name("lumen-argus", "0.2.0rc1", target), archive);
            assert_eq!(checksum_file_name(sidecar), format!("{sidecar}.sha256"));
        }
    }

    #[test]
    fn file_names_parse_back_to_binary_and_target() {
        for target in &targets::SUPPORTED {
            for binary in ["lumen-argus", "lumen-argus-agent"] {
                let name = sidecar_file_name(binary, target);
                assert_eq!(parse_sidecar_file_name(&name), Some((binary, target)), "{name}");
            }
        }
    }

    #[test]
    fn names_without_a_known_triple_do_not_parse() {
        assert_eq!(parse_sidecar_file_name("lumen-argus"), None);
        assert_eq!(parse_sidecar_file_name("lumen-argus-x86_64-unknown-linux-musl"), None);
        assert_eq!(parse_sidecar_file_name("x86_64-unknown-linux-gnu"), None);
        assert_eq!(parse_sidecar_file_name("lumen-argus-x86_64-pc-windows-msvc"), None);
    }
}
