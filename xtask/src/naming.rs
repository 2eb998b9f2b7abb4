//! Names of release artifacts: sidecar binaries, their archives, SBOMs and checksum files.

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
    format!("{binary}-{version}-{}.{}", target.triple, target.archive_format().extension())
}

/// What ends an SBOM's name: CycloneDX's registered JSON file extension.
pub const SBOM_EXTENSION: &str = ".cdx.json";

/// `<binary>-<triple>.cdx.json`: the CycloneDX SBOM of `sidecar_file_name(binary, target)` (no
/// `.exe` and no version: one per binary and triple, replaced by each build).
pub fn sbom_file_name(binary: &str, target: &Target) -> String {
    format!("{binary}-{}{SBOM_EXTENSION}", target.triple)
}

/// Split `<binary>-<triple>.cdx.json` into the binary name and the target, when the triple is known.
pub fn parse_sbom_file_name(file_name: &str) -> Option<(&str, &'static Target)> {
    let stem = file_name.strip_suffix(SBOM_EXTENSION)?;
    targets::SUPPORTED.iter().find_map(|target| {
        let binary = stem.strip_suffix(target.triple)?.strip_suffix('-')?;
        (!binary.is_empty()).then_some((binary, target))
    })
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

/// The target a release file is for, by its name: `<binary>-<triple>[.exe]`,
/// `<binary>-<triple>.cdx.json` or `<binary>-<version>-<triple>.<archive extension of that triple>`.
pub fn target_of_file_name(file_name: &str) -> Option<&'static Target> {
    if let Some((_, target)) = parse_sidecar_file_name(file_name).or_else(|| parse_sbom_file_name(file_name)) {
        return Some(target);
    }
    targets::SUPPORTED.iter().find(|target| {
        file_name.strip_suffix(target.archive_format().extension()).and_then(|rest| rest.strip_suffix('.')).is_some_and(
            |stem| stem.strip_suffix(target.triple).is_some_and(|head| head.ends_with('-') && head.len() > 1),
        )
    })
}

/// Archives of `binary` for `target` in `names` other than `keep_version`'s: what an earlier build
/// of another version left behind. Only names this module produces count, with a PEP 440 version
/// in the middle; a name that is also an archive of another declared binary (e.g. `tool-agent-…`
/// for `tool` when `tool-agent` is declared too) is never taken for one of `binary`'s.
pub fn stale_archives<'a>(
    names: &'a [String],
    binary: &str,
    keep_version: Option<&str>,
    target: &Target,
    declared_binaries: &[&str],
) -> Vec<&'a str> {
    let owner_of = |name: &str| {
        declared_binaries
            .iter()
            .copied()
            .filter(|candidate| archive_version(name, candidate, target).is_some())
            .max_by_key(|candidate| candidate.len())
    };
    names
        .iter()
        .map(String::as_str)
        .filter(|name| {
            archive_version(name, binary, target).is_some_and(|version| Some(version) != keep_version)
                && owner_of(name).is_none_or(|owner| owner == binary)
        })
        .collect()
}

/// The version in `<binary>-<version>-<triple>.<ext>`, when `name` is such an archive.
fn archive_version<'a>(name: &'a str, binary: &str, target: &Target) -> Option<&'a str> {
    let suffix = format!("-{}.{}", target.triple, target.archive_format().extension());
    let version = name.strip_prefix(binary)?.strip_prefix('-')?.strip_suffix(suffix.as_str())?;
    (check_version_for_file_names(version).is_ok()).then_some(version)
}

pub const BINARY_RULE: &str =
    "use 1 to 64 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit (it becomes a file name)";
pub const SPEC_RULE: &str =
    "write a relative path inside the package folder, such as \"tool.spec\" (no `..`, no absolute path)";
pub const IMPORT_PACKAGE_RULE: &str =
    "write the Python import name of the package that receives _build_info.py, such as \"lumen_argus\"";
pub const SERVICE_RULE: &str = "use 1 to 128 printable characters: it is what the sidecar reports as `service`";
pub const VERSION_RULE: &str = "write a PEP 440 version such as 1.2.3 or 1.2.3rc1 (it becomes part of file names)";

/// A sidecar's binary name is a file name of its own in `dist/`: no path, no oddities.
pub fn check_binary_name(name: &str) -> Result<(), String> {
    let starts_well = name.chars().next().is_some_and(|first| first.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 64 {
        return Err(format!("is {} characters long", name.len()));
    }
    if !starts_well || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(format!("{} is not a plain file name", shown(name)));
    }
    Ok(())
}

/// A path relative to the package folder that stays inside it.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    use std::path::Component;
    let inside = !path.is_empty()
        && !path.contains('\\')
        && std::path::Path::new(path).components().all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
    if !inside || path.chars().any(char::is_control) || path.len() > 255 {
        return Err(format!("{} is not a relative path inside the package", shown(path)));
    }
    Ok(())
}

/// A Python import name (dotted names allowed): each part an ASCII identifier.
pub fn check_import_package(name: &str) -> Result<(), String> {
    let identifier = |part: &str| {
        part.chars().next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if name.len() > 128 || !name.split('.').all(identifier) {
        return Err(format!("{} is not a Python import name", shown(name)));
    }
    Ok(())
}

pub fn check_service_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(format!("{} is not a printable name of 1 to 128 characters", shown(name)));
    }
    Ok(())
}

/// The most characters of a version: it is part of archive names.
pub const LONGEST_VERSION: usize = 64;

/// A version is part of archive names: PEP 440, only the characters PEP 440 spells it with, at most
/// [`LONGEST_VERSION`] of them, and no number uv cannot lock. The rule of `[project].version` as
/// the workspace reads it, and of every version `bump` writes.
pub fn check_version_for_file_names(version: &str) -> Result<(), String> {
    use crate::version::{LARGEST_NUMBER, Version};
    let plain = !version.is_empty()
        && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '!'));
    let Some(parsed) = Version::parse(version).ok().filter(|_| plain) else {
        return Err(format!("{} is not a PEP 440 version", shown(version)));
    };
    if version.len() > LONGEST_VERSION {
        return Err(format!("{} is longer than {LONGEST_VERSION} characters", shown(version)));
    }
    if parsed.largest_number() > LARGEST_NUMBER {
        return Err(format!("{} has a number over {LARGEST_NUMBER}, more than uv can lock", shown(version)));
    }
    Ok(())
}

/// A declared value as it goes into a message: quoted, escaped, at most 80 characters.
pub fn shown(value: &str) -> String {
    let escaped = format!("{value:?}");
    if escaped.chars().count() > 80 {
        format!("{}…\" ({} characters)", escaped.chars().take(60).collect::<String>(), value.chars().count())
    } else {
        escaped
    }
}

/// The most bytes of an entry's name: a ustar header holds 100.
const LONGEST_ENTRY_NAME: usize = 100;

/// What a refused entry name says to do.
pub const ENTRY_NAME_HINT: &str = "pass --name NAME: a plain file name such as lumen-argus or lumen-argus.exe";

/// `--name`: the one entry's name is a plain file name: 1 to 100 bytes (a ustar header's name
/// field), no `/` or `\`, not `.` or `..`, no control character. `--name` of `cargo xtask archive`
/// is parsed with it (and FILE's own name checked with it).
pub fn check_entry_name(text: &str) -> Result<(), String> {
    let plain = !text.is_empty()
        && text.len() <= LONGEST_ENTRY_NAME
        && !text.contains(['/', '\\'])
        && text != "."
        && text != ".."
        && !text.chars().any(char::is_control);
    if !plain {
        return Err(format!(
            "{} is not a plain file name of 1 to {LONGEST_ENTRY_NAME} bytes (no `/`, `\\`, `.`, `..` or control \
             character)",
            shown(text)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_name_is_a_plain_file_name() {
        for good in ["lumen-argus", "lumen-argus.exe", "a b", ".hidden", "...", &"x".repeat(100)] {
            assert_eq!(check_entry_name(good), Ok(()), "{good:?}");
        }
        for bad in ["", "a/b", "/abs", "a\\b", ".", "..", "bell\u{7}", "line\nbreak", "tab\t", &"x".repeat(101)] {
            let problem = check_entry_name(bad).expect_err(bad);
            assert!(problem.starts_with(&shown(bad)) && problem.contains("is not a plain file name"), "{problem}");
        }
        // 100 bytes, not 100 characters: the tar header counts bytes.
        assert!(check_entry_name(&"é".repeat(51)).is_err());
    }
    use crate::targets::parse;

    #[test]
    fn a_file_name_tells_its_target() {
        let triple = |name: &str| target_of_file_name(name).map(|target| target.triple);
        assert_eq!(triple("lumen-argus-x86_64-unknown-linux-gnu"), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(triple("lumen-argus-agent-x86_64-pc-windows-msvc.exe"), Some("x86_64-pc-windows-msvc"));
        assert_eq!(triple("lumen-argus-0.2.0-aarch64-apple-darwin.tar.gz"), Some("aarch64-apple-darwin"));
        assert_eq!(triple("lumen-argus-0.2.0-x86_64-pc-windows-msvc.zip"), Some("x86_64-pc-windows-msvc"));
        assert_eq!(triple("lumen-argus-x86_64-unknown-linux-gnu.cdx.json"), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(triple("lumen-argus-agent-x86_64-pc-windows-msvc.cdx.json"), Some("x86_64-pc-windows-msvc"));
        // The SBOM of a Windows binary carries no `.exe`, and a bare triple names no binary.
        assert_eq!(triple("lumen-argus-x86_64-pc-windows-msvc.exe.cdx.json"), None);
        assert_eq!(triple("x86_64-unknown-linux-gnu.cdx.json"), None);
        assert_eq!(triple("-x86_64-unknown-linux-gnu.cdx.json"), None);
        // A Windows archive is a .zip, a Linux one a .tar.gz: another extension names no target.
        assert_eq!(triple("lumen-argus-0.2.0-x86_64-pc-windows-msvc.tar.gz"), None);
        assert_eq!(triple("checksums.txt"), None);
        assert_eq!(triple("x86_64-unknown-linux-gnu"), None);
    }

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
            assert_eq!(sbom_file_name("lumen-argus", target), format!("lumen-argus-{triple}.cdx.json"));
            assert_eq!(checksum_file_name(sidecar), format!("{sidecar}.sha256"));
        }
    }

    #[test]
    fn file_names_parse_back_to_binary_and_target() {
        for target in &targets::SUPPORTED {
            for binary in ["lumen-argus", "lumen-argus-agent"] {
                let name = sidecar_file_name(binary, target);
                assert_eq!(parse_sidecar_file_name(&name), Some((binary, target)), "{name}");
                let sbom = sbom_file_name(binary, target);
                assert_eq!(parse_sbom_file_name(&sbom), Some((binary, target)), "{sbom}");
                assert_eq!(parse_sidecar_file_name(&sbom), None, "{sbom} is no binary");
                assert_eq!(parse_sbom_file_name(&name), None, "{name} is no SBOM");
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

    #[test]
    fn stale_archives_are_other_versions_of_this_binary_and_triple_only() {
        let linux = parse("x86_64-unknown-linux-gnu").unwrap();
        let names: Vec<String> = [
            "tool-1.0-x86_64-unknown-linux-gnu.tar.gz",
            "tool-1.1-x86_64-unknown-linux-gnu.tar.gz",
            "tool-0.9rc1-x86_64-unknown-linux-gnu.tar.gz",
            "tool-0.9-x86_64-unknown-linux-gnu.tar.gz.sha256",
            "tool-0.9-aarch64-unknown-linux-gnu.tar.gz",
            "tool-agent-0.9-x86_64-unknown-linux-gnu.tar.gz",
            "tool-1.0.post1-x86_64-unknown-linux-gnu.tar.gz",
            "tool-notes-x86_64-unknown-linux-gnu.tar.gz",
            "tool-x86_64-unknown-linux-gnu",
            "tool-x86_64-unknown-linux-gnu.cdx.json",
            "tool-agent-x86_64-unknown-linux-gnu.cdx.json",
            "mytool-0.9-x86_64-unknown-linux-gnu.tar.gz",
            "checksums.txt",
        ]
        .map(String::from)
        .to_vec();
        let stale = stale_archives(&names, "tool", Some("1.1"), linux, &["tool", "tool-agent"]);
        assert_eq!(
            stale,
            [
                "tool-1.0-x86_64-unknown-linux-gnu.tar.gz",
                "tool-0.9rc1-x86_64-unknown-linux-gnu.tar.gz",
                "tool-1.0.post1-x86_64-unknown-linux-gnu.tar.gz"
            ]
        );
        let agent = stale_archives(&names, "tool-agent", None, linux, &["tool", "tool-agent"]);
        assert_eq!(agent, ["tool-agent-0.9-x86_64-unknown-linux-gnu.tar.gz"]);
        // Without the longer binary declared, `agent-0.9` is still no version: nothing is taken.
        assert_eq!(stale_archives(&names[5..6], "tool", None, linux, &["tool"]), Vec::<&str>::new());
    }

    #[test]
    fn declared_names_that_would_escape_or_garble_a_file_name_are_refused() {
        for good in ["lumen-argus", "lumen-argus-agent", "tool_2.x", "a"] {
            assert_eq!(check_binary_name(good), Ok(()), "{good}");
        }
        let long = "a".repeat(65);
        for bad in ["", "a/b", "..", ".hidden", "../x", "two words", "tab\there", "nul\0", "-flag", "é", long.as_str()]
        {
            assert!(check_binary_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["tool.spec", "specs/tool.spec", "./tool.spec"] {
            assert_eq!(check_relative_path(good), Ok(()), "{good}");
        }
        for bad in ["", "/etc/passwd", "../other/tool.spec", "a/../../b", "line\nbreak", "c:\\x"] {
            assert!(check_relative_path(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["lumen_argus", "pkg.sub", "_private"] {
            assert_eq!(check_import_package(good), Ok(()), "{good}");
        }
        for bad in ["", "../x", "a/b", "1abc", "a..b", "a b", "a-b"] {
            assert!(check_import_package(bad).is_err(), "{bad:?} accepted");
        }
        for bad in ["1.0/../../x", "1.0 ", "1.x", "", "1.0\n"] {
            assert!(check_version_for_file_names(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(check_version_for_file_names("0.2.0rc1"), Ok(()));
        let long_version = format!("1{}", ".0".repeat(40));
        let refused = check_version_for_file_names(&long_version).unwrap_err();
        assert!(refused.ends_with("(81 characters) is longer than 64 characters"), "{refused}");
        assert!(check_version_for_file_names(&long_version[..63]).is_ok());
        for (version, ok) in [
            ("1.0.0.post18446744073709551614", true),
            ("1.0.0.post18446744073709551615", false),
            ("18446744073709551615!1.0", false),
            ("18446744073709551615.0", false),
            ("1.0rc18446744073709551615", false),
            ("1.0.dev18446744073709551615", false),
            // uv reads a local label's numbers, however large.
            ("1.0+18446744073709551615", true),
        ] {
            let checked = check_version_for_file_names(version);
            assert_eq!(checked.is_ok(), ok, "{version}: {checked:?}");
            if !ok {
                assert!(checked.unwrap_err().contains("has a number over 18446744073709551614"), "{version}");
            }
        }
        assert_eq!(check_service_name("lumen-argus"), Ok(()));
        assert!(check_service_name("bell\u{7}").is_err());
        assert!(shown(&long.repeat(3)).ends_with("(195 characters)"));
    }
}
