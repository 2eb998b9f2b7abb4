//! The repository as data: where its root is, which Python packages it holds, their versions, their
//! requirements and the sidecars they declare under `[tool.xtask.sidecar]` in their own `pyproject.toml`; and the
//! lock that keeps two builds of one clone from writing the same outputs at once.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use toml_edit::{DocumentMut, Item};

use crate::failure::{refuse, refuse_usage};
use crate::naming;
use crate::requirements::{Requirement, parse_requirement};
use crate::version::Version;

/// The package whose version names a release: the tag is `v` + its version (docs/reference/versions.md).
pub const TAG_PACKAGE: &str = "proxy";

/// A release tag: `v` + a PEP 440 version of [`TAG_PACKAGE`], e.g. `v0.2.0`. The rule is written
/// here only: the workspace makes the tag of its checkout ([`Workspace::release_tag`]) or of a
/// release folder's recorded versions ([`release_tag_of`]), and a tag from the command line is read
/// with [`Tag::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    fn of_tag_package_version(version: &str) -> Tag {
        Tag(format!("v{version}"))
    }

    /// `--tag` / `--release`: git's rules for a tag's text, then `v` + a PEP 440 version. The error
    /// says what is wrong with the (shortened) value and what a tag looks like.
    pub fn parse(text: &str) -> Result<Tag, String> {
        let problem = tag_text_problem(text).or_else(|| {
            let version = text.strip_prefix('v').filter(|rest| !rest.starts_with(['v', 'V']));
            match version.map(Version::parse) {
                Some(Ok(_)) => None,
                _ => Some("is not v<PEP 440 version>".to_string()),
            }
        });
        match problem {
            Some(problem) => Err(format!(
                "{} {problem}; release tags look like v1.2.3 or v1.2.3rc1, exactly as `git tag` shows them",
                naming::shown(text)
            )),
            None => Ok(Tag(text.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The version after the `v`, as written.
    pub fn version(&self) -> &str {
        &self.0[1..]
    }

    /// A pre-release on GitHub exactly when the version is a PEP 440 pre-release (`a`, `b`, `rc`)
    /// or a dev release.
    pub fn is_prerelease(&self) -> bool {
        Version::parse(self.version()).is_ok_and(|version| version.pre.is_some() || version.dev.is_some())
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The tag of the packages' versions a release folder records (directory name → version), when
/// they include [`TAG_PACKAGE`].
pub fn release_tag_of(versions: &std::collections::BTreeMap<String, String>) -> Option<Tag> {
    versions.get(TAG_PACKAGE).map(|version| Tag::of_tag_package_version(version))
}

/// What git refuses in a tag's text (`git check-ref-format`), before any comparison.
fn tag_text_problem(tag: &str) -> Option<String> {
    if tag.is_empty() {
        Some("is empty".to_string())
    } else if tag.trim() != tag {
        Some("starts or ends with a space; a git tag has no spaces".to_string())
    } else if let Some(bad) = tag.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(format!("holds {bad:?}; a git tag has no spaces or control characters"))
    } else if let Some(bad) = tag.chars().find(|c| matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')) {
        Some(format!("holds {bad:?}, which git does not allow in a tag"))
    } else if tag.contains("..") || tag.contains("@{") || tag.contains("//") {
        Some("holds `..`, `@{` or `//`, which git does not allow in a tag".to_string())
    } else if tag.starts_with(['-', '.', '/']) || tag.ends_with(['.', '/']) || tag.ends_with(".lock") {
        Some("starts or ends in a way git does not allow in a tag".to_string())
    } else {
        None
    }
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    /// Sorted by directory name.
    pub packages: Vec<Package>,
}

#[derive(Debug, Clone)]
pub struct Package {
    /// The directory name under `packages/`: `core`, `agent`, `proxy`.
    pub name: String,
    /// The distribution name on PyPI: `lumen-argus-core`.
    pub distribution: String,
    pub version: String,
    pub dir: PathBuf,
    /// The requirements of `[project].dependencies` that name a distribution and version range;
    /// a URL requirement or one PEP 440 cannot read is left out (`bump` refuses those itself).
    pub dependencies: Vec<Requirement>,
    pub sidecar: Option<Sidecar>,
}

/// A package that ships a sidecar, with its declaration.
#[derive(Debug, Clone, Copy)]
pub struct SidecarPackage<'a> {
    pub package: &'a Package,
    pub sidecar: &'a Sidecar,
}

impl Package {
    /// This package with its sidecar, when it declares one.
    pub fn sidecar_package(&self) -> Option<SidecarPackage<'_>> {
        Some(SidecarPackage { package: self, sidecar: self.sidecar.as_ref()? })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sidecar {
    pub binary: String,
    /// Path of the PyInstaller spec, relative to the package directory.
    pub spec: String,
    /// The import package that receives `_build_info.py`.
    pub import_package: String,
    /// What the running sidecar reports as `service`: the binary's name unless declared.
    pub service: String,
    pub smoke: SmokeLaunch,
    /// `[tool.xtask.sidecar.budget]`: what the binary may weigh on any target.
    pub budget: crate::size_report::SizeBudget,
}

/// How `cargo xtask smoke` starts a sidecar and where it finds its endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct SmokeLaunch {
    pub args: Vec<String>,
    /// Label of the announced port that serves `/health` (`""`: the unlabelled `listening on` line).
    pub health_port: String,
    /// Label of the announced port that serves `/api/v1/*`.
    pub api_port: String,
    /// The environment variable that sets a dashboard password, when the service has auth.
    pub password_env: Option<String>,
}

impl Workspace {
    /// Find the root from the current directory upwards and read every package.
    pub fn discover() -> anyhow::Result<Workspace> {
        let current = std::env::current_dir().context("reading the current directory")?;
        let root = find_root(&current)?;
        Workspace::load(&root)
    }

    pub fn load(root: &Path) -> anyhow::Result<Workspace> {
        let packages_dir = root.join("packages");
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&packages_dir)
            .with_context(|| format!("listing {}", packages_dir.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.join("pyproject.toml").is_file())
            .collect();
        entries.sort();
        let mut packages = Vec::new();
        for dir in entries {
            let name = dir.file_name().and_then(|name| name.to_str()).context("package directory name is not UTF-8")?;
            let manifest = dir.join("pyproject.toml");
            let text = read_pyproject(&manifest)?;
            let package = parse_package(name, &dir, &text).with_context(|| format!("in {}", manifest.display()))?;
            packages.push(package);
        }
        if packages.is_empty() {
            return Err(refuse(
                format!("no package found under {}", packages_dir.display()),
                "each package is a folder packages/<name>/ with a pyproject.toml",
            ));
        }
        Ok(Workspace { root: root.to_path_buf(), packages })
    }

    /// The package a command line names (`bump proxy`, `--package proxy`), by directory or
    /// distribution name; another name is a usage error (exit 2).
    pub fn package(&self, name: &str) -> anyhow::Result<&Package> {
        self.packages.iter().find(|package| package.name == name || package.distribution == name).ok_or_else(|| {
            refuse_usage(
                format!("no package named `{name}`"),
                format!("use one of: {}", self.package_names().join(", ")),
            )
        })
    }

    /// The tag a release of this checkout gets: `v` + the version of [`TAG_PACKAGE`].
    pub fn release_tag(&self) -> anyhow::Result<Tag> {
        let package = self.packages.iter().find(|package| package.name == TAG_PACKAGE).ok_or_else(|| {
            refuse(
                format!(
                    "no package `{TAG_PACKAGE}` under {}: its version names a release",
                    self.root.join("packages").display()
                ),
                format!("the release tag is v + the version of packages/{TAG_PACKAGE}; restore that package"),
            )
        })?;
        Ok(Tag::of_tag_package_version(&package.version))
    }

    pub fn package_names(&self) -> Vec<&str> {
        self.packages.iter().map(|package| package.name.as_str()).collect()
    }

    /// Every package that ships a sidecar, in package order.
    pub fn sidecars(&self) -> impl Iterator<Item = SidecarPackage<'_>> {
        self.packages.iter().filter_map(Package::sidecar_package)
    }

    /// The packages that ship a sidecar, or just the one asked for; refused when there is none.
    pub fn sidecar_packages(&self, only: Option<&str>) -> anyhow::Result<Vec<SidecarPackage<'_>>> {
        let with_sidecar: Vec<SidecarPackage<'_>> = match only {
            Some(name) => self.package(name)?.sidecar_package().into_iter().collect(),
            None => self.sidecars().collect(),
        };
        if with_sidecar.is_empty() {
            let refusal = if only.is_some() { refuse_usage } else { refuse };
            return Err(refusal(
                format!("{} declares no sidecar", only.unwrap_or("no package")),
                "a package ships a binary by declaring [tool.xtask.sidecar] in its pyproject.toml",
            ));
        }
        Ok(with_sidecar)
    }

    /// Where the xtask keeps its own files (the build lock, the bootstrapped uv, the sidecar cache
    /// and work folders, the bench's output): Cargo's target folder, so `CARGO_TARGET_DIR` moves
    /// them with the build.
    pub fn target_dir(&self) -> PathBuf {
        target_dir_of(&self.root, std::env::var_os("CARGO_TARGET_DIR"))
    }

    pub fn dist_dir(&self) -> PathBuf {
        self.root.join("dist")
    }
}

/// `CARGO_TARGET_DIR` when set (a relative one is relative to the current directory, as Cargo reads
/// it), else `target/` in the repository.
/// A `CARGO_TARGET_DIR` is often shared by every clone on a machine, while the xtask's files are
/// one clone's (its build lock, its `uv sync` marker, its sidecar work folders): each clone gets a
/// folder of its own in it, `xtask/<clone folder name>-<12 hex of its path>`.
fn target_dir_of(root: &Path, cargo_target_dir: Option<std::ffi::OsString>) -> PathBuf {
    match cargo_target_dir.filter(|dir| !dir.is_empty()) {
        Some(dir) => {
            let shared = std::path::absolute(&dir).unwrap_or_else(|_| PathBuf::from(dir));
            // One clone, one folder, however its path is spelled (a symlink, a drive letter's case).
            let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
            let path_digest = crate::hashing::sha256_hex_of_bytes(root.as_os_str().as_encoded_bytes());
            let name = root.file_name().map_or_else(|| "root".into(), |name| name.to_string_lossy().into_owned());
            shared.join("xtask").join(format!("{name}-{}", &path_digest[..12]))
        }
        None => root.join("target"),
    }
}

/// Where a running build records that it owns the clone's outputs.
pub const BUILD_LOCK_FILE: &str = "xtask-build.lock";

/// The clone's build lock, held by this process. Builds write shared things (`dist/`, the cache and
/// work folders under `target/`, each package's generated `_build_info.py`), so only one runs at a
/// time. The lock is an OS file lock: it ends with the process, so a crash never leaves it behind.
pub struct BuildLock(());

/// This process's lock file and how many [`BuildLock`]s share it (a release holds it and builds
/// sidecars inside, which take it again).
static HELD_BUILD_LOCK: Mutex<Option<(File, usize)>> = Mutex::new(None);

impl Workspace {
    /// Take the build lock, or refuse naming the process that holds it.
    pub fn lock_builds(&self) -> anyhow::Result<BuildLock> {
        let mut held = HELD_BUILD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, count)) = held.as_mut() {
            *count += 1;
            return Ok(BuildLock(()));
        }
        let folder = self.target_dir();
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        let path = folder.join(BUILD_LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the build lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).ok().and_then(|text| text.trim().parse::<u32>().ok());
                let holder = holder.map_or_else(|| "pid unknown".to_string(), |pid| format!("pid {pid}"));
                return Err(refuse(
                    format!(
                        "another build is running ({holder}) in {}: it holds {}, and two builds of one clone \
                         would overwrite each other's dist/, cache and _build_info.py",
                        self.root.display(),
                        path.display()
                    ),
                    "wait for it to finish (or stop it), then run again; the lock ends with that process",
                ));
            }
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("locking {}", path.display()));
            }
        }
        // The pid is only for the message above: failing to write it (a full disk) changes nothing.
        let _ = file.set_len(0).and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
        *held = Some((file, 1));
        Ok(BuildLock(()))
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let mut held = HELD_BUILD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, count)) = held.as_mut() {
            *count -= 1;
            if *count == 0 {
                // Closing the file releases the lock.
                *held = None;
            }
        }
    }
}

/// The text of a `pyproject.toml`: UTF-8 (a leading byte order mark is skipped), else a refusal.
fn read_pyproject(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec()).map_err(|error| {
        refuse(
            format!("{} is not UTF-8 (invalid byte at offset {})", path.display(), error.utf8_error().valid_up_to()),
            "save it as UTF-8: TOML files are UTF-8 by definition",
        )
    })
}

/// The nearest folder at or above `start` holding `Cargo.toml`, `pyproject.toml` and `packages/`.
pub fn find_root(start: &Path) -> anyhow::Result<PathBuf> {
    start
        .ancestors()
        .find(|dir| {
            dir.join("Cargo.toml").is_file() && dir.join("pyproject.toml").is_file() && dir.join("packages").is_dir()
        })
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            refuse(
                format!("{} is not inside the lumen-argus repository", start.display()),
                "run cargo xtask from the repository (the folder with Cargo.toml, pyproject.toml and packages/)",
            )
        })
}

/// Read one package from the text of its `pyproject.toml`.
pub fn parse_package(name: &str, dir: &Path, pyproject: &str) -> anyhow::Result<Package> {
    let document: DocumentMut = pyproject.parse().map_err(|error: toml_edit::TomlError| {
        // One line, as every error: where, then what (toml_edit's own text spans several lines).
        let at = error.span().map_or(0, |span| span.start).min(pyproject.len());
        let before = pyproject.get(..at).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
        let what = error.message().split_whitespace().collect::<Vec<_>>().join(" ");
        refuse(
            format!("TOML syntax error at line {line}, column {column}: {what}"),
            "fix the TOML syntax of this pyproject.toml",
        )
    })?;
    let project = document
        .get("project")
        .and_then(Item::as_table_like)
        .ok_or_else(|| refuse("there is no [project] table", "add [project] with name and version"))?;
    let distribution = project
        .get("name")
        .and_then(Item::as_str)
        .ok_or_else(|| refuse("[project].name is missing", "add name = \"lumen-argus-<name>\" under [project]"))?
        .to_string();
    let dynamic_version = project
        .get("dynamic")
        .and_then(Item::as_array)
        .is_some_and(|dynamic| dynamic.iter().any(|value| value.as_str() == Some("version")));
    if dynamic_version {
        return Err(refuse(
            format!("{distribution} declares its version as dynamic"),
            "write the version in [project].version: it is the only source of truth (docs/reference/versions.md)",
        ));
    }
    let version = project
        .get("version")
        .and_then(Item::as_str)
        .ok_or_else(|| {
            refuse(format!("[project].version is missing in {distribution}"), "add version = \"0.1.0\" under [project]")
        })?
        .to_string();
    naming::check_version_for_file_names(&version)
        .map_err(|problem| refuse(format!("[project].version of {distribution} {problem}"), naming::VERSION_RULE))?;
    let dependencies = project
        .get("dependencies")
        .and_then(Item::as_array)
        .map(|array| array.iter().filter_map(|value| value.as_str()).filter_map(parse_requirement).collect())
        .unwrap_or_default();
    let sidecar = document
        .get("tool")
        .and_then(|tool| tool.get("xtask"))
        .and_then(|xtask| xtask.get("sidecar"))
        .map(|table| parse_sidecar(table, &distribution))
        .transpose()?;
    Ok(Package { name: name.to_string(), distribution, version, dir: dir.to_path_buf(), dependencies, sidecar })
}

fn parse_sidecar(table: &Item, distribution: &str) -> anyhow::Result<Sidecar> {
    let text = |item: Option<&Item>, key: &str| -> anyhow::Result<String> {
        item.and_then(Item::as_str).map(str::to_string).ok_or_else(|| {
            refuse(
                format!("[tool.xtask.sidecar] of {distribution} has no string `{key}`"),
                format!("add {key} = \"...\" (see docs/reference/sidecar-declaration.md)"),
            )
        })
    };
    let table = table.as_table_like().ok_or_else(|| {
        refuse(
            format!("`tool.xtask.sidecar` of {distribution} is not a table"),
            "write it as a [tool.xtask.sidecar] table (see docs/reference/sidecar-declaration.md)",
        )
    })?;
    let binary = text(table.get("binary"), "binary")?;
    let spec = text(table.get("spec"), "spec")?;
    let import_package = text(table.get("import-package"), "import-package")?;
    // What the product reports is the binary's name; a declaration only says otherwise on purpose.
    let service = match table.get("service") {
        None => binary.clone(),
        Some(_) => text(table.get("service"), "service")?,
    };
    let declared = |key: &str, value: &str, check: fn(&str) -> Result<(), String>, rule: &str| {
        check(value).map_err(|problem| {
            refuse(format!("[tool.xtask.sidecar].{key} of {distribution} {problem}"), rule.to_string())
        })
    };
    declared("binary", &binary, naming::check_binary_name, naming::BINARY_RULE)?;
    declared("spec", &spec, naming::check_relative_path, naming::SPEC_RULE)?;
    declared("import-package", &import_package, naming::check_import_package, naming::IMPORT_PACKAGE_RULE)?;
    declared("service", &service, naming::check_service_name, naming::SERVICE_RULE)?;
    let smoke = table.get("smoke");
    let args = smoke
        .and_then(|smoke| smoke.get("args"))
        .and_then(Item::as_array)
        .and_then(|array| array.iter().map(|value| value.as_str().map(str::to_string)).collect::<Option<Vec<_>>>())
        .ok_or_else(|| {
            refuse(
                format!("[tool.xtask.sidecar.smoke] of {distribution} has no `args` list of strings"),
                "add args = [\"serve\", \"--port\", \"0\"]: how to start the binary on free loopback ports",
            )
        })?;
    let optional = |key: &str| smoke.and_then(|smoke| smoke.get(key)).and_then(Item::as_str).map(str::to_string);
    let budget = parse_budget(table.get("budget"), distribution)?;
    Ok(Sidecar {
        binary,
        spec,
        import_package,
        service,
        smoke: SmokeLaunch {
            args,
            health_port: optional("health-port").unwrap_or_default(),
            api_port: optional("api-port").unwrap_or_default(),
            password_env: optional("password-env"),
        },
        budget,
    })
}

/// `[tool.xtask.sidecar.budget]`: `max-size-mb` and `max-growth-percent`, positive numbers, both
/// optional; any other key is refused (a misspelt limit would silently allow anything).
fn parse_budget(item: Option<&Item>, distribution: &str) -> anyhow::Result<crate::size_report::SizeBudget> {
    let Some(item) = item else { return Ok(Default::default()) };
    let fix = "write e.g. [tool.xtask.sidecar.budget] with max-size-mb = 40 and max-growth-percent = 25 \
               (see docs/reference/sidecar-declaration.md)";
    let table = item.as_table_like().ok_or_else(|| {
        refuse(format!("`tool.xtask.sidecar.budget` of {distribution} is not a table"), fix.to_string())
    })?;
    const KEYS: [&str; 2] = ["max-size-mb", "max-growth-percent"];
    if let Some((unknown, _)) = table.iter().find(|(key, _)| !KEYS.contains(key)) {
        return Err(refuse(
            format!("[tool.xtask.sidecar.budget] of {distribution} has an unknown key `{unknown}`"),
            format!("the keys are {}; {fix}", KEYS.join(" and ")),
        ));
    }
    // A size must be positive; a growth of 0% (no growth at all) is a limit one may want.
    let number = |key: &str, zero_allowed: bool| -> anyhow::Result<Option<f64>> {
        let Some(value) = table.get(key) else { return Ok(None) };
        let parsed = value.as_float().or_else(|| value.as_integer().map(|whole| whole as f64));
        match parsed {
            Some(number) if number.is_finite() && (number > 0.0 || (zero_allowed && number == 0.0)) => Ok(Some(number)),
            _ => Err(refuse(
                format!(
                    "[tool.xtask.sidecar.budget].{key} of {distribution} is not {}",
                    if zero_allowed { "a number of 0 or more" } else { "a positive number" }
                ),
                fix.to_string(),
            )),
        }
    };
    Ok(crate::size_report::SizeBudget {
        max_size_mb: number("max-size-mb", false)?,
        max_growth_percent: number("max-growth-percent", true)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_v_and_a_pep_440_version_git_accepts() {
        for good in ["v0.2.0", "v1.0.0rc1", "v2.0.0.post1", "v1.2.3.dev4", "v1!2.0"] {
            assert_eq!(Tag::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "v0.2.0 ",
            " v0.2.0",
            "v0.2\t0",
            "v0..2",
            "v0.2.0.lock",
            "-v1",
            "v1:2",
            "v1\n",
            "0.2.0",
            "vv1.0",
            "v",
            "nightly",
            "V1.0",
            "v1.0/",
        ] {
            let message = Tag::parse(bad).unwrap_err();
            assert!(message.contains("release tags look like v1.2.3"), "{bad:?}: {message}");
        }
        assert!(Tag::parse("v0.2.0 ").unwrap_err().contains("space"));
        assert!(Tag::parse(&"v1".repeat(5_000_000)).unwrap_err().len() < 300, "a huge value is shortened");
    }

    #[test]
    fn pre_and_dev_releases_are_github_pre_releases() {
        for (tag, expected) in [("v1.0.0", false), ("v1.0.0rc1", true), ("v1.0.0a2", true), ("v1.0.0.dev1", true)] {
            assert_eq!(Tag::parse(tag).unwrap().is_prerelease(), expected, "{tag}");
        }
        assert!(!Tag::parse("v1.0.0.post1").unwrap().is_prerelease());
    }

    #[test]
    fn the_tag_is_v_and_the_tag_packages_version() {
        let versions = [("agent".to_string(), "0.4.0".to_string()), ("proxy".to_string(), "0.2.5".to_string())];
        assert_eq!(release_tag_of(&versions.into_iter().collect()).unwrap().as_str(), "v0.2.5");
        assert_eq!(release_tag_of(&Default::default()), None);
        let root = find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let workspace = Workspace::load(&root).unwrap();
        let tag = workspace.release_tag().unwrap();
        assert_eq!(tag.version(), workspace.package(TAG_PACKAGE).unwrap().version);
    }

    #[test]
    fn the_target_folder_follows_cargo_target_dir() {
        let root = Path::new("/repo");
        assert_eq!(target_dir_of(root, None), root.join("target"));
        assert_eq!(target_dir_of(root, Some("".into())), root.join("target"));
        let elsewhere = std::env::temp_dir().join("shared-target");
        let mine = target_dir_of(root, Some(elsewhere.clone().into()));
        assert_eq!(mine.parent().unwrap(), elsewhere.join("xtask"));
        assert!(mine.file_name().unwrap().to_str().unwrap().starts_with("repo-"), "{}", mine.display());
        // Two clones sharing one CARGO_TARGET_DIR never share a lock, a marker or a work folder.
        let other_clone = target_dir_of(Path::new("/elsewhere/repo"), Some(elsewhere.clone().into()));
        assert_ne!(mine, other_clone);
        assert_eq!(target_dir_of(root, Some(elsewhere.into())), mine, "the same clone, the same folder");
        let relative = target_dir_of(root, Some("build/out".into()));
        assert!(relative.starts_with(std::env::current_dir().unwrap().join("build/out/xtask")));
    }
    use crate::failure::Lines;

    const WITH_SIDECAR: &str = r#"
[project]
name = "lumen-argus-gadget"
version = "1.2.3rc1"

[tool.xtask.sidecar]
binary = "gadget"
spec = "gadget.spec"
import-package = "gadget"
service = "gadget-service"

[tool.xtask.sidecar.smoke]
args = ["serve", "--port", "0"]
api-port = "dashboard"
password-env = "GADGET_PASSWORD"
"#;

    fn parse(text: &str) -> anyhow::Result<Package> {
        parse_package("gadget", Path::new("packages/gadget"), text)
    }

    #[test]
    fn reads_a_package_with_a_sidecar() {
        let package = parse(WITH_SIDECAR).unwrap();
        assert_eq!(package.distribution, "lumen-argus-gadget");
        assert_eq!(package.version, "1.2.3rc1");
        let sidecar = package.sidecar.unwrap();
        assert_eq!(sidecar.binary, "gadget");
        assert_eq!(sidecar.service, "gadget-service");
        assert_eq!(sidecar.smoke.args, ["serve", "--port", "0"]);
        assert_eq!(sidecar.smoke.health_port, "");
        assert_eq!(sidecar.smoke.api_port, "dashboard");
        assert_eq!(sidecar.smoke.password_env.as_deref(), Some("GADGET_PASSWORD"));
    }

    #[test]
    fn the_service_is_the_binary_name_unless_declared() {
        let undeclared = WITH_SIDECAR.replace("service = \"gadget-service\"\n", "");
        assert_eq!(parse(&undeclared).unwrap().sidecar.unwrap().service, "gadget");
        let not_text = WITH_SIDECAR.replace("service = \"gadget-service\"", "service = 3");
        assert!(crate::failure::lines(&parse(&not_text).unwrap_err()).message.contains("no string `service`"));
    }

    #[test]
    fn dependencies_are_read_with_their_version_ranges() {
        let text = WITH_SIDECAR.replace(
            "version = \"1.2.3rc1\"\n",
            "version = \"1.2.3rc1\"\ndependencies = [\"lumen-argus-core >= 0.3, < 0.4\", \"x @ https://example.invalid/x.whl\", 3]\n",
        );
        let package = parse(&text).unwrap();
        let texts: Vec<&str> = package.dependencies.iter().map(|requirement| requirement.text.as_str()).collect();
        assert_eq!(texts, ["lumen-argus-core >= 0.3, < 0.4"], "a URL requirement and a non-string are left out");
        assert!(package.dependencies[0].is_on("lumen_argus_core"));
        assert!(parse(WITH_SIDECAR).unwrap().dependencies.is_empty());
    }

    #[test]
    fn a_package_without_the_table_ships_no_sidecar() {
        let package = parse("[project]\nname = \"lumen-argus-core\"\nversion = \"0.1.0\"\n").unwrap();
        assert_eq!(package.sidecar, None);
    }

    #[test]
    fn refusals_name_the_problem_and_the_fix() {
        let cases = [
            ("[project\n", "TOML"),
            ("[tool.x]\n", "[project]"),
            ("[project]\nname = \"p\"\n", "[project].version is missing"),
            ("[project]\nname = \"p\"\ndynamic = [\"version\"]\n", "dynamic"),
            ("[project]\nname = \"p\"\nversion = \"1.0\"\n[tool.xtask.sidecar]\nbinary = \"b\"\n", "no string `spec`"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            let Lines { message, hint } = crate::failure::lines(&error);
            assert!(
                message.contains(expected) || hint.as_deref().unwrap_or("").contains(expected),
                "{text:?}: {message}"
            );
            assert!(hint.is_some(), "{text:?} has no hint");
        }
    }

    #[test]
    fn the_build_lock_is_exclusive_reentrant_and_released_when_dropped() {
        let folder = tempfile::tempdir().unwrap();
        let workspace = Workspace { root: folder.path().to_path_buf(), packages: vec![] };
        let path = workspace.target_dir().join(BUILD_LOCK_FILE);
        let outer = workspace.lock_builds().unwrap();
        let inner = workspace.lock_builds().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), std::process::id().to_string());
        // Another open file description is what another process has: it must not get the lock.
        let other = File::open(&path).unwrap();
        assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(inner);
        assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(outer);
        other.try_lock().expect("the lock is free once every holder is dropped");
    }

    #[test]
    fn declared_names_are_checked_where_they_are_read() {
        let with = |key: &str, value: &str| {
            WITH_SIDECAR.replace(&format!("{key} = \"gadget\""), &format!("{key} = {value:?}"))
        };
        for (key, value, expected) in [
            ("binary", "../gadget", "binary of lumen-argus-gadget \"../gadget\" is not a plain file name"),
            ("binary", "bad name", "is not a plain file name"),
            ("import-package", "../../etc", "is not a Python import name"),
        ] {
            let error = parse(&with(key, value)).unwrap_err();
            let Lines { message, hint } = crate::failure::lines(&error);
            assert!(message.contains(expected), "{message}");
            assert!(hint.is_some());
        }
        let error = parse(&WITH_SIDECAR.replace("1.2.3rc1", "1.0/../../x")).unwrap_err();
        assert!(crate::failure::lines(&error).message.contains("is not a PEP 440 version"));
        let error = parse(&WITH_SIDECAR.replace("spec = \"gadget.spec\"", "spec = \"/etc/passwd\"")).unwrap_err();
        assert!(crate::failure::lines(&error).message.contains("not a relative path inside the package"));
    }

    #[test]
    fn a_size_budget_is_read_and_a_misspelt_or_negative_limit_is_refused() {
        let with_budget = |lines: &str| format!("{WITH_SIDECAR}\n[tool.xtask.sidecar.budget]\n{lines}\n");
        assert_eq!(parse(WITH_SIDECAR).unwrap().sidecar.unwrap().budget, Default::default());
        let budget =
            parse(&with_budget("max-size-mb = 40\nmax-growth-percent = 12.5")).unwrap().sidecar.unwrap().budget;
        assert_eq!((budget.max_size_mb, budget.max_growth_percent), (Some(40.0), Some(12.5)));
        let frozen = parse(&with_budget("max-growth-percent = 0")).unwrap().sidecar.unwrap().budget;
        assert_eq!(frozen.max_growth_percent, Some(0.0), "no growth at all is a budget one may declare");
        for (lines, expected) in [
            ("max-size-mib = 40", "unknown key `max-size-mib`"),
            ("max-size-mb = -1", "max-size-mb of lumen-argus-gadget is not a positive number"),
            ("max-growth-percent = \"10%\"", "max-growth-percent of lumen-argus-gadget is not a number of 0 or more"),
            ("max-growth-percent = -1", "is not a number of 0 or more"),
            ("max-size-mb = 0", "max-size-mb of lumen-argus-gadget is not a positive number"),
            ("max-size-mb = nan", "is not a positive number"),
        ] {
            let Lines { message, hint } = crate::failure::lines(&parse(&with_budget(lines)).unwrap_err());
            assert!(message.contains(expected), "{lines}: {message}");
            assert!(hint.unwrap().contains("max-size-mb = 40"));
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped_and_other_encodings_are_refused() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("pyproject.toml");
        std::fs::write(&path, b"\xef\xbb\xbf[project]\n").unwrap();
        assert_eq!(read_pyproject(&path).unwrap(), "[project]\n");
        std::fs::write(&path, b"# caf\xe9\n[project]\n").unwrap();
        let Lines { message, hint } = crate::failure::lines(&read_pyproject(&path).unwrap_err());
        assert!(message.contains("is not UTF-8 (invalid byte at offset 5)"), "{message}");
        assert!(hint.unwrap().contains("save it as UTF-8"));
    }

    #[test]
    fn the_repository_declares_two_sidecars() {
        let root = find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let workspace = Workspace::load(&root).unwrap();
        assert_eq!(workspace.package_names(), ["agent", "core", "proxy"]);
        let binaries: Vec<_> =
            workspace.sidecar_packages(None).unwrap().iter().map(|entry| entry.sidecar.binary.clone()).collect();
        assert_eq!(binaries, ["lumen-argus-agent", "lumen-argus"]);
        for SidecarPackage { sidecar, .. } in workspace.sidecar_packages(None).unwrap() {
            assert_eq!(sidecar.service, sidecar.binary, "apps compare `service` with the binary's name");
        }
        let proxy = workspace.sidecar_packages(Some("proxy")).unwrap();
        assert_eq!(proxy.iter().map(|entry| entry.package.name.as_str()).collect::<Vec<_>>(), ["proxy"]);
        assert!(workspace.sidecar_packages(Some("core")).is_err());
    }
}
