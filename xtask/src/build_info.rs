//! `cargo xtask build-info`: bake VERSION, GIT_COMMIT and BUILT_AT into
//! `<import package>/_build_info.py` of each package that ships a sidecar.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::flags::BuildInfoFlags;
use crate::workspace::{Package, Workspace};
use crate::{clock, files, tools};

/// What a frozen binary reports about how it was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFacts {
    pub version: String,
    pub git_commit: String,
    pub built_at: String,
}

/// The facts that are the same for every package of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// 40 hex, or `unknown` outside a git checkout.
    pub git_commit: String,
    /// Seconds since the epoch used for BUILT_AT and archive timestamps.
    pub source_date_epoch: i64,
}

pub fn run(flags: &BuildInfoFlags) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    let packages = workspace.sidecar_packages(flags.package.as_deref())?;
    // A running sidecar build reads these files: never rewrite them under it.
    let _build_lock = workspace.lock_builds()?;
    let provenance = provenance(&workspace.root, false)?;
    for package in packages {
        let (path, _) = write(package, &provenance)?;
        println!("wrote {}", path.strip_prefix(&workspace.root).unwrap_or(&path).display());
    }
    Ok(())
}

/// The commit (HEAD, also in a shallow clone) and the build time: `SOURCE_DATE_EPOCH` when set,
/// else HEAD's commit time when `prefer_commit_time` (reproducible builds), else now. Outside git
/// the commit is `unknown` (with a warning); in a checkout that git cannot read (git missing, no
/// commit yet, a damaged `.git`) it is refused: a build would record `unknown` by mistake.
pub fn provenance(root: &Path, prefer_commit_time: bool) -> anyhow::Result<Provenance> {
    let from_environment = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => Some(text.trim().parse::<i64>().map_err(|_| {
            crate::failure::refuse(
                format!("SOURCE_DATE_EPOCH={text:?} is not a whole number of seconds"),
                "unset it, or set it to a Unix time such as $(git log -1 --format=%ct)",
            )
        })?),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(crate::failure::refuse(
                "SOURCE_DATE_EPOCH is not text",
                "unset it, or set it to a Unix time such as $(git log -1 --format=%ct)",
            ));
        }
    };
    let head = head_commit(root)?;
    if head.is_none() {
        eprintln!("warning: {} is not a git checkout: GIT_COMMIT will be `unknown`", root.display());
    }
    let source_date_epoch = match (from_environment, &head) {
        (Some(seconds), _) => seconds,
        (None, Some(head)) if prefer_commit_time => head.commit_time,
        _ => clock::now_unix(),
    };
    let git_commit = head.map_or_else(|| "unknown".to_string(), |head| head.commit);
    Ok(Provenance { git_commit, source_date_epoch })
}

struct Head {
    commit: String,
    commit_time: i64,
}

/// HEAD of the checkout holding `root`; `None` when `root` is in no checkout (an export).
fn head_commit(root: &Path) -> anyhow::Result<Option<Head>> {
    let Some(checkout) = root.ancestors().find(|dir| dir.join(".git").exists()) else {
        return Ok(None);
    };
    let git = tools::find_git().map_err(|_| {
        crate::failure::refuse(
            format!("git is not on PATH, but {} is a git checkout: its commit cannot be recorded", checkout.display()),
            "install git (git-scm.com or your package manager), or build from an export without .git to record `unknown`",
        )
    })?;
    let output = std::process::Command::new(&git)
        .arg("-C")
        .arg(root)
        .args(["log", "-1", "--format=%H %ct", "HEAD"])
        .output()
        .with_context(|| format!("running {}", git.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let parsed = text.trim().split_once(' ').and_then(|(commit, time)| {
        let hex = commit.len() == 40 && commit.bytes().all(|byte| byte.is_ascii_hexdigit());
        hex.then(|| Head { commit: commit.to_string(), commit_time: time.parse().unwrap_or(0) })
    });
    match parsed {
        Some(head) if output.status.success() => Ok(Some(head)),
        _ => {
            let reason = String::from_utf8_lossy(&output.stderr);
            let reason = reason.lines().find(|line| !line.trim().is_empty()).unwrap_or("no output").trim();
            Err(crate::failure::refuse(
                format!("git cannot read HEAD of the checkout {}: {reason}", checkout.display()),
                "commit at least once, or repair the clone (`git status` says what is wrong)",
            ))
        }
    }
}

pub fn facts_for(package: &Package, provenance: &Provenance) -> BuildFacts {
    BuildFacts {
        version: package.version.clone(),
        git_commit: provenance.git_commit.clone(),
        built_at: clock::format_utc(provenance.source_date_epoch),
    }
}

/// The text of `_build_info.py`.
pub fn render(facts: &BuildFacts) -> String {
    // JSON strings of these ASCII values are valid Python string literals.
    let quote = |value: &str| serde_json::Value::from(value).to_string();
    format!(
        "# Generated by `cargo xtask build-info` for a frozen build. Not committed, never in a wheel.\n\
         VERSION = {}\nGIT_COMMIT = {}\nBUILT_AT = {}\n",
        quote(&facts.version),
        quote(&facts.git_commit),
        quote(&facts.built_at)
    )
}

pub fn build_info_path(package: &Package) -> anyhow::Result<PathBuf> {
    let sidecar = package.sidecar.as_ref().with_context(|| format!("{} ships no sidecar", package.name))?;
    // `import-package` is checked to be a (dotted) Python name: each part is a folder.
    let folder = sidecar.import_package.split('.').fold(package.dir.clone(), |path, part| path.join(part));
    Ok(folder.join("_build_info.py"))
}

/// Write the file atomically; return its path and its text.
pub fn write(package: &Package, provenance: &Provenance) -> anyhow::Result<(PathBuf, String)> {
    let path = build_info_path(package)?;
    let text = render(&facts_for(package, provenance));
    files::write_atomically(&path, text.as_bytes())?;
    Ok((path, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_python_constants() {
        let facts = BuildFacts {
            version: "0.2.0rc1".into(),
            git_commit: "0123456789abcdef0123456789abcdef01234567".into(),
            built_at: "2026-01-02T03:04:05Z".into(),
        };
        let text = render(&facts);
        assert!(text.starts_with("# Generated by `cargo xtask build-info`"));
        assert!(text.ends_with(
            "VERSION = \"0.2.0rc1\"\nGIT_COMMIT = \"0123456789abcdef0123456789abcdef01234567\"\n\
             BUILT_AT = \"2026-01-02T03:04:05Z\"\n"
        ));
    }
}
