//! Content-addressed cache of built sidecars under `target/sidecar-cache/<key>/`: when nothing
//! that shapes a binary changed, the binary is copied from here instead of running PyInstaller.
//!
//! A key is per package: it covers the package's own sources and those of the workspace packages
//! it requires, not another sidecar's, so bumping or editing the proxy leaves the agent's entry
//! valid (and the other way round). What every build shares (`uv.lock`, the root `pyproject.toml`,
//! the Python and PyInstaller versions, the triple) is in every key.
//!
//! An entry is a folder holding the unsigned binary, what it bundles (`bundled-contents.json`, the
//! SBOM's source) and a `.sha256` of each, filled under a temporary name and renamed into place; a
//! lookup hashes both again and ignores (and removes) any entry that is incomplete or does not
//! match its checksums.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::bundled_contents::{self, BundledContents};
use crate::requirements::normalized_name;
use crate::workspace::{Package, Workspace};
use crate::{files, hashing, naming};

/// Bump when the key's recipe or an entry's contents change, so old entries stop matching.
/// v3: entries carry `bundled-contents.json`; signing is no longer part of the build (it is done
/// after the cache, on a copy), so CODESIGN_IDENTITY and ENTITLEMENTS_FILE left the key.
/// v4: a key covers its package's sources and those of the packages it requires, not every
/// package's, and `uv.lock` without the entries of the workspace packages it does not require.
const KEY_RECIPE: &str = "xtask sidecar cache v4";

/// The bundled contents' file in an entry.
const BUNDLED_CONTENTS_FILE: &str = "bundled-contents.json";

/// Everything that shapes one sidecar binary besides the source files.
pub struct KeyInputs<'a> {
    pub triple: &'a str,
    pub binary: &'a str,
    pub python_version: &'a str,
    pub pyinstaller_version: &'a str,
    /// The exact `_build_info.py` baked in (version, commit, build time).
    pub build_info: &'a str,
}

/// Length-prefixed fields into one SHA-256, as hex.
struct KeyHasher(Sha256);

impl KeyHasher {
    fn field(&mut self, name: &str, value: &[u8]) {
        self.0.update(format!("{name} {}\n", value.len()).as_bytes());
        self.0.update(value);
    }

    fn finish(self) -> String {
        self.0.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// The key of one sidecar: its own inputs on top of its package's [`sources_digest`].
pub fn key(sources_digest: &str, inputs: &KeyInputs<'_>) -> String {
    let mut hasher = KeyHasher(Sha256::new());
    hasher.field("recipe", KEY_RECIPE.as_bytes());
    // The cache keeps the bundled-contents report beside the binary: a change to the script that
    // reads it must not serve a report the new script would not write.
    hasher.field("bundled_contents", bundled_contents::SCRIPT.as_bytes());
    hasher.field("sources", sources_digest.as_bytes());
    hasher.field("triple", inputs.triple.as_bytes());
    hasher.field("binary", inputs.binary.as_bytes());
    hasher.field("python", inputs.python_version.as_bytes());
    hasher.field("pyinstaller", inputs.pyinstaller_version.as_bytes());
    hasher.field("build_info", inputs.build_info.as_bytes());
    hasher.finish()
}

/// One digest of the files a package's sidecar is built from: the root `pyproject.toml`, `uv.lock`
/// without the entries of the workspace packages `package` does not require, and the sources of
/// `package` and of every workspace package it requires. Read before the build and again after it.
/// (Signing is not an input: the cache keeps unsigned binaries, and `code_signing` signs a copy of
/// each.)
pub fn sources_digest(workspace: &Workspace, package: &Package) -> anyhow::Result<String> {
    let read = |path: &Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let built_in = packages_built_into(workspace, package);
    let others: Vec<&str> = workspace
        .packages
        .iter()
        .filter(|candidate| !built_in.iter().any(|member| member.dir == candidate.dir))
        .map(|other| other.distribution.as_str())
        .collect();
    let mut hasher = KeyHasher(Sha256::new());
    let lock = read(&workspace.root.join("uv.lock"))?;
    hasher.field("uv.lock", &lock_without(&lock, &others));
    hasher.field("pyproject.toml", &read(&workspace.root.join("pyproject.toml"))?);
    for member in built_in {
        for path in source_files(&member.dir)? {
            let relative = path.strip_prefix(&workspace.root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            hasher.field(&format!("file {relative}"), &read(&path)?);
        }
    }
    Ok(hasher.finish())
}

/// `package` and the workspace packages it requires, directly or through another, in workspace
/// order: what PyInstaller can bundle of the workspace into its sidecar.
fn packages_built_into<'a>(workspace: &'a Workspace, package: &'a Package) -> Vec<&'a Package> {
    let mut found = vec![package];
    let mut next = 0;
    while let Some(member) = found.get(next).copied() {
        next += 1;
        for required in &member.dependencies {
            let in_workspace = workspace.packages.iter().find(|candidate| required.is_on(&candidate.distribution));
            if let Some(required) = in_workspace
                && !found.iter().any(|known| known.dir == required.dir)
            {
                found.push(required);
            }
        }
    }
    workspace.packages.iter().filter(|candidate| found.iter().any(|member| member.dir == candidate.dir)).collect()
}

/// `uv.lock` without the `[[package]]` entries of `distributions`: a workspace package's entry holds
/// its version, which a sidecar that does not require it must not depend on. A lock that is not
/// TOML is taken whole (`uv sync --locked` refuses it before any build anyway).
fn lock_without(lock: &[u8], distributions: &[&str]) -> Vec<u8> {
    let left_out: Vec<String> = distributions.iter().map(|name| normalized_name(name)).collect();
    let Some(mut document) =
        std::str::from_utf8(lock).ok().and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
    else {
        return lock.to_vec();
    };
    if let Some(entries) = document.get_mut("package").and_then(|item| item.as_array_of_tables_mut()) {
        entries.retain(|entry| {
            let name = entry.get("name").and_then(|name| name.as_str()).map(normalized_name);
            !name.is_some_and(|name| left_out.contains(&name))
        });
    }
    document.to_string().into_bytes()
}

/// Files under `dir` that go into a build, sorted: no tests, caches, hidden or generated files.
fn source_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("listing {}", folder.display()))? {
            let entry = entry.with_context(|| format!("listing {}", folder.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let skipped_dir =
                matches!(name.as_str(), "tests" | "__pycache__" | "build" | "dist") || name.starts_with('.');
            let skipped_file = name == "_build_info.py" || name.ends_with(".pyc") || name.starts_with('.');
            let kind = entry.file_type().with_context(|| format!("reading {}", entry.path().display()))?;
            if kind.is_dir() && !skipped_dir {
                pending.push(entry.path());
            } else if kind.is_file() && !skipped_file {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

pub fn cache_dir(workspace: &Workspace) -> PathBuf {
    workspace.target_dir().join("sidecar-cache")
}

/// A cache hit: the unsigned binary and what it bundles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedBuild {
    pub binary: PathBuf,
    pub bundled: BundledContents,
}

/// The cached build for `key`, if a complete entry exists whose binary and bundled contents match
/// their checksums.
pub fn lookup(workspace: &Workspace, key: &str, file_name: &str) -> Option<CachedBuild> {
    let entry = cache_dir(workspace).join(key);
    if !entry.exists() {
        return None;
    }
    let intact = |name: &str| {
        let recorded = std::fs::read_to_string(entry.join(naming::checksum_file_name(name))).ok();
        recorded.is_some_and(|line| {
            line == hashing::checksum_line(&hashing::sha256_hex_of_file(&entry.join(name)).unwrap_or_default(), name)
        })
    };
    let bundled = std::fs::read_to_string(entry.join(BUNDLED_CONTENTS_FILE))
        .ok()
        .filter(|_| intact(file_name) && intact(BUNDLED_CONTENTS_FILE))
        .and_then(|text| BundledContents::from_json(&text).ok());
    if let Some(bundled) = bundled {
        return Some(CachedBuild { binary: entry.join(file_name), bundled });
    }
    eprintln!("warning: the cache entry {} is incomplete or damaged; removing it and building again", entry.display());
    let _ = std::fs::remove_dir_all(&entry);
    None
}

/// Store a freshly built (unsigned) binary under `key` with what it bundles, and a checksum of each
/// (a folder renamed into place: never half an entry).
pub fn store(
    workspace: &Workspace,
    key: &str,
    file_name: &str,
    built: &Path,
    bundled: &BundledContents,
) -> anyhow::Result<()> {
    let root = cache_dir(workspace);
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&root)
        .with_context(|| format!("creating a folder in {}", root.display()))?;
    let contents = std::fs::read(built).with_context(|| format!("reading {}", built.display()))?;
    let checksum = hashing::checksum_line(&hashing::sha256_hex_of_bytes(&contents), file_name);
    files::write_atomically_with_mode(&staging.path().join(file_name), &contents, Some(0o755))?;
    files::write_atomically(&staging.path().join(naming::checksum_file_name(file_name)), checksum.as_bytes())?;
    let bundled_text = bundled.to_json();
    let bundled_checksum =
        hashing::checksum_line(&hashing::sha256_hex_of_bytes(bundled_text.as_bytes()), BUNDLED_CONTENTS_FILE);
    files::write_atomically(&staging.path().join(BUNDLED_CONTENTS_FILE), bundled_text.as_bytes())?;
    files::write_atomically(
        &staging.path().join(naming::checksum_file_name(BUNDLED_CONTENTS_FILE)),
        bundled_checksum.as_bytes(),
    )?;
    let entry = root.join(key);
    if entry.exists() {
        std::fs::remove_dir_all(&entry).with_context(|| format!("replacing {}", entry.display()))?;
    }
    std::fs::rename(staging.path(), &entry).with_context(|| format!("filling {}", entry.display()))?;
    // Renamed away: the TempDir has nothing left to delete.
    drop(staging.keep());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_workspace() -> (tempfile::TempDir, Workspace) {
        let folder = tempfile::tempdir().unwrap();
        let root = folder.path();
        std::fs::create_dir_all(root.join("packages/tool/tool/__pycache__")).unwrap();
        std::fs::create_dir_all(root.join("packages/tool/tests")).unwrap();
        std::fs::write(root.join("uv.lock"), "lock").unwrap();
        std::fs::write(root.join("pyproject.toml"), "[tool.uv.workspace]").unwrap();
        std::fs::write(root.join("packages/tool/pyproject.toml"), "[project]\nname='tool'\nversion='1.0'\n").unwrap();
        std::fs::write(root.join("packages/tool/tool/app.py"), "print('v1')").unwrap();
        let workspace = Workspace { root: root.to_path_buf(), packages: vec![package(root, "tool", &[])] };
        (folder, workspace)
    }

    /// The package `packages/<name>` (distribution `lumen-argus-<name>`), requiring the workspace
    /// packages `requires`.
    fn package(root: &Path, name: &str, requires: &[&str]) -> Package {
        let requirement =
            |required: &str| crate::requirements::parse_requirement(&format!("lumen-argus-{required}>=0.1"));
        Package {
            name: name.to_string(),
            distribution: format!("lumen-argus-{name}"),
            version: "0.1.0".to_string(),
            dir: root.join("packages").join(name),
            dependencies: requires.iter().map(|required| requirement(required).unwrap()).collect(),
            sidecar: None,
        }
    }

    const THREE_PACKAGE_LOCK: &str = r#"version = 1
requires-python = ">=3.11"

[manifest]
members = ["lumen-argus-agent", "lumen-argus-core", "lumen-argus-proxy"]

[[package]]
name = "aiohttp"
version = "3.14.5"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "lumen-argus-agent"
version = "0.4.0"
source = { editable = "packages/agent" }
dependencies = [{ name = "lumen-argus-core" }]

[[package]]
name = "lumen-argus-core"
version = "0.3.1"
source = { editable = "packages/core" }

[[package]]
name = "lumen-argus-proxy"
version = "0.5.0"
source = { editable = "packages/proxy" }
dependencies = [{ name = "aiohttp" }, { name = "lumen-argus-core" }]
"#;

    /// The repository's shape: a library (core) and two sidecar packages that require it.
    fn three_packages() -> (tempfile::TempDir, Workspace) {
        let folder = tempfile::tempdir().unwrap();
        let root = folder.path();
        for (name, import) in [("agent", "lumen_argus_agent"), ("core", "lumen_argus_core"), ("proxy", "lumen_argus")] {
            std::fs::create_dir_all(root.join("packages").join(name).join(import)).unwrap();
            let manifest = format!("[project]\nname = 'lumen-argus-{name}'\nversion = '0.1.0'\n");
            std::fs::write(root.join("packages").join(name).join("pyproject.toml"), manifest).unwrap();
            std::fs::write(root.join("packages").join(name).join(import).join("app.py"), "print('v1')").unwrap();
        }
        std::fs::write(root.join("uv.lock"), THREE_PACKAGE_LOCK).unwrap();
        std::fs::write(root.join("pyproject.toml"), "[tool.uv.workspace]").unwrap();
        let packages =
            vec![package(root, "agent", &["core"]), package(root, "core", &[]), package(root, "proxy", &["core"])];
        let workspace = Workspace { root: root.to_path_buf(), packages };
        (folder, workspace)
    }

    fn bundled() -> BundledContents {
        BundledContents::from_json(
            r#"{"distributions": [{"name": "aiohttp", "version": "3.14.5"}],
                "python": {"implementation": "cpython", "version": "3.12.1"}, "system_libraries": []}"#,
        )
        .unwrap()
    }

    fn key_of(workspace: &Workspace, inputs: &KeyInputs<'_>) -> anyhow::Result<String> {
        Ok(key(&sources_digest(workspace, &workspace.packages[0])?, inputs))
    }

    fn inputs<'a>(build_info: &'a str) -> KeyInputs<'a> {
        KeyInputs {
            triple: "x86_64-unknown-linux-gnu",
            binary: "tool",
            python_version: "3.11.7",
            pyinstaller_version: "6.19.0",
            build_info,
        }
    }

    #[test]
    fn key_changes_with_sources_and_build_facts_only() {
        let (_folder, workspace) = fixture_workspace();
        let root = workspace.root.clone();
        let original = key_of(&workspace, &inputs("VERSION = '1.0'")).unwrap();
        // Tests, bytecode and the generated build info file do not shape the binary.
        std::fs::write(root.join("packages/tool/tests/test_app.py"), "assert True").unwrap();
        std::fs::write(root.join("packages/tool/tool/__pycache__/app.pyc"), "bytes").unwrap();
        std::fs::write(root.join("packages/tool/tool/_build_info.py"), "VERSION = '1.0'").unwrap();
        assert_eq!(key_of(&workspace, &inputs("VERSION = '1.0'")).unwrap(), original);
        assert_ne!(key_of(&workspace, &inputs("VERSION = '1.1'")).unwrap(), original);
        std::fs::write(root.join("packages/tool/tool/app.py"), "print('v2')").unwrap();
        let edited = key_of(&workspace, &inputs("VERSION = '1.0'")).unwrap();
        assert_ne!(edited, original);
        std::fs::write(root.join("uv.lock"), "lock 2").unwrap();
        assert_ne!(key_of(&workspace, &inputs("VERSION = '1.0'")).unwrap(), edited);
    }

    #[test]
    fn a_sidecar_key_covers_its_package_and_what_it_requires_not_the_other_sidecar() {
        let (folder, workspace) = three_packages();
        let root = folder.path();
        let (agent, proxy) = (&workspace.packages[0], &workspace.packages[2]);
        let keys = || {
            let key_of = |package| key(&sources_digest(&workspace, package).unwrap(), &inputs("VERSION = '0.1.0'"));
            (key_of(agent), key_of(proxy))
        };
        let mut before = keys();
        // Which of (agent, proxy) changed their key after `edit`.
        let mut changed_after = |edit: &dyn Fn()| {
            edit();
            let after = keys();
            let changed = (after.0 != before.0, after.1 != before.1);
            before = after;
            changed
        };
        let write = |path: &str, text: &str| std::fs::write(root.join(path), text).unwrap();
        let edit_lock = |from: &str, to: &str| {
            let lock = std::fs::read_to_string(root.join("uv.lock")).unwrap();
            assert!(lock.contains(from), "{from}");
            write("uv.lock", &lock.replace(from, to));
        };

        let proxy_edited = changed_after(&|| write("packages/proxy/lumen_argus/app.py", "print('v2')"));
        assert_eq!(proxy_edited, (false, true), "only the proxy's sources changed");
        let proxy_bumped = changed_after(&|| {
            write("packages/proxy/pyproject.toml", "[project]\nname = 'lumen-argus-proxy'\nversion = '0.5.1'\n");
            edit_lock("version = \"0.5.0\"", "version = \"0.5.1\"");
        });
        assert_eq!(proxy_bumped, (false, true), "the proxy's version was bumped (its pyproject.toml and lock entry)");
        let agent_edited = changed_after(&|| write("packages/agent/lumen_argus_agent/app.py", "print('v2')"));
        assert_eq!(agent_edited, (true, false), "only the agent's sources changed");
        let agent_bumped = changed_after(&|| edit_lock("version = \"0.4.0\"", "version = \"0.4.1\""));
        assert_eq!(agent_bumped, (true, false), "the agent's lock entry changed");
        // What both are built from.
        let core_edited = changed_after(&|| write("packages/core/lumen_argus_core/app.py", "print('v2')"));
        assert_eq!(core_edited, (true, true), "the core both require changed");
        let core_bumped = changed_after(&|| edit_lock("version = \"0.3.1\"", "version = \"0.3.2\""));
        assert_eq!(core_bumped, (true, true), "the core's lock entry changed");
        let pin_moved = changed_after(&|| edit_lock("version = \"3.14.5\"", "version = \"3.14.6\""));
        assert_eq!(pin_moved, (true, true), "a third-party pin in uv.lock is shared");
        let root_edited = changed_after(&|| write("pyproject.toml", "[tool.uv.workspace]\nmembers = ['packages/*']"));
        assert_eq!(root_edited, (true, true), "the root pyproject.toml is shared");
        // Python, PyInstaller and the triple are in every key.
        let digest = sources_digest(&workspace, agent).unwrap();
        let base = inputs("VERSION = '0.1.0'");
        let same = key(&digest, &base);
        assert_ne!(key(&digest, &KeyInputs { python_version: "3.12.1", ..base }), same);
        assert_ne!(key(&digest, &KeyInputs { pyinstaller_version: "6.20.0", ..base }), same);
        assert_ne!(key(&digest, &KeyInputs { triple: "aarch64-unknown-linux-gnu", ..base }), same);
    }

    #[test]
    fn a_package_is_built_from_the_workspace_packages_it_requires_directly_or_not() {
        let root = Path::new("/workspace");
        let workspace = Workspace {
            root: root.to_path_buf(),
            packages: vec![
                package(root, "agent", &["core"]),
                package(root, "base", &[]),
                package(root, "core", &["base"]),
                package(root, "proxy", &["core"]),
            ],
        };
        let names = |package: &Package| -> Vec<String> {
            packages_built_into(&workspace, package).iter().map(|member| member.name.clone()).collect()
        };
        assert_eq!(names(&workspace.packages[0]), ["agent", "base", "core"]);
        assert_eq!(names(&workspace.packages[3]), ["base", "core", "proxy"]);
        assert_eq!(names(&workspace.packages[1]), ["base"]);
    }

    #[test]
    fn the_lock_leaves_out_the_entries_of_packages_not_required() {
        let without_proxy =
            String::from_utf8(lock_without(THREE_PACKAGE_LOCK.as_bytes(), &["Lumen_Argus.Proxy"])).unwrap();
        assert!(!without_proxy.contains("version = \"0.5.0\""), "{without_proxy}");
        for kept in ["name = \"aiohttp\"", "name = \"lumen-argus-agent\"", "name = \"lumen-argus-core\"", "members = "]
        {
            assert!(without_proxy.contains(kept), "{kept} is missing:\n{without_proxy}");
        }
        assert_eq!(lock_without(THREE_PACKAGE_LOCK.as_bytes(), &[]), THREE_PACKAGE_LOCK.as_bytes());
        assert_eq!(lock_without(b"not [toml", &["lumen-argus-proxy"]), b"not [toml", "taken whole");
    }

    #[test]
    fn store_then_lookup() {
        let (folder, workspace) = fixture_workspace();
        let built = folder.path().join("built");
        std::fs::write(&built, "binary bytes").unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        let cached = lookup(&workspace, "abc", "tool").unwrap();
        assert_eq!(std::fs::read(cached.binary).unwrap(), b"binary bytes");
        assert_eq!(cached.bundled, bundled(), "a cached build writes the same SBOM");
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        assert!(lookup(&workspace, "abc", "tool").is_some());
        let leftovers: Vec<_> =
            std::fs::read_dir(cache_dir(&workspace)).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, ["abc"], "no staging folder is left behind");
    }

    #[test]
    fn a_damaged_or_partial_entry_is_never_used_and_is_removed() {
        let (folder, workspace) = fixture_workspace();
        let built = folder.path().join("built");
        std::fs::write(&built, "binary bytes").unwrap();
        let entry = cache_dir(&workspace).join("abc");
        // Same size, other bytes: only the hash tells.
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        std::fs::write(entry.join("tool"), "binary BYTES").unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        assert!(!entry.exists(), "the damaged entry is removed");
        // An entry without its checksum (an old or half-made one).
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        std::fs::remove_file(entry.join("tool.sha256")).unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        // A truncated binary.
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        std::fs::write(entry.join("tool"), "binary").unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        // Bundled contents edited (another version), or an entry from before they were kept.
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        let text = std::fs::read_to_string(entry.join(BUNDLED_CONTENTS_FILE)).unwrap();
        std::fs::write(entry.join(BUNDLED_CONTENTS_FILE), text.replace("3.14.5", "3.14.6")).unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        assert!(!entry.exists());
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        std::fs::remove_file(entry.join(BUNDLED_CONTENTS_FILE)).unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
    }
}
