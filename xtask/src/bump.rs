//! `cargo xtask bump`: change one package's version in its `pyproject.toml`, format-preserving,
//! keep the other members' requirements on it satisfiable, and refresh `uv.lock`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use toml_edit::{DocumentMut, Item, Value};

use crate::failure::refuse;
use crate::flags::BumpFlags;
use crate::version::Version;
use crate::workspace::{Package, Workspace};
use crate::{diff, files, tools};

pub const KINDS: [&str; 9] = ["major", "minor", "patch", "alpha", "beta", "rc", "post", "dev", "release"];

pub fn run(flags: &BumpFlags) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    if flags.show {
        print!("{}", if flags.json { versions_json(&workspace) } else { versions_table(&workspace) });
        return Ok(());
    }
    let (name, kind) = (flags.package.as_deref().unwrap_or_default(), flags.kind.as_deref().unwrap_or_default());
    let package = workspace.package(name)?;
    let current = Version::parse(&package.version)
        .with_context(|| format!("the current version of {} in {}", package.distribution, package.dir.display()))?;
    let next = next_version(&current, kind)?;
    let mut edits = plan(&workspace, package, &next)?;
    let uv = tools::uv(&workspace)?;
    let lock_path = workspace.root.join("uv.lock");
    let old_lock = std::fs::read_to_string(&lock_path).with_context(|| format!("reading {}", lock_path.display()))?;
    let new_lock = relock(&workspace, &uv, &edits)?;
    edits.push(Edit { path: lock_path, old: old_lock, new: new_lock });

    for edit in &edits {
        let relative =
            edit.path.strip_prefix(&workspace.root).unwrap_or(&edit.path).to_string_lossy().replace('\\', "/");
        print!("{}", diff::unified(&relative, &edit.old, &edit.new));
    }
    if flags.dry_run {
        println!("dry run: {} {current} -> {next}; nothing written", package.distribution);
        return Ok(());
    }
    for edit in edits.iter().filter(|edit| edit.old != edit.new) {
        files::write_atomically(&edit.path, edit.new.as_bytes())?;
    }
    println!("{} {current} -> {next}", package.distribution);
    Ok(())
}

/// A kind applied to `current`, or an explicit version that must be newer and have no local part.
pub fn next_version(current: &Version, kind_or_version: &str) -> anyhow::Result<Version> {
    let next = if KINDS.contains(&kind_or_version) {
        current.bump(kind_or_version)?
    } else {
        let explicit = Version::parse(kind_or_version).map_err(|_| {
            refuse(
                format!("`{kind_or_version}` is neither a bump kind nor a PEP 440 version"),
                format!("use one of {} or a version such as 1.2.3", KINDS.join(", ")),
            )
        })?;
        if explicit.local.is_some() {
            return Err(refuse(
                format!("{explicit} has a local part (+...): PyPI refuses local versions"),
                "drop the +... suffix",
            ));
        }
        explicit
    };
    if next <= *current {
        return Err(refuse(
            format!("{next} is not newer than the current {current}"),
            "versions only go forward: pick a higher version or a bump kind",
        ));
    }
    Ok(next)
}

/// One file's planned change.
pub struct Edit {
    pub path: PathBuf,
    pub old: String,
    pub new: String,
}

/// The version edit of the package and the requirement edits of the members that depend on it.
fn plan(workspace: &Workspace, package: &Package, next: &Version) -> anyhow::Result<Vec<Edit>> {
    let own_path = package.dir.join("pyproject.toml");
    let old = std::fs::read_to_string(&own_path)?;
    let new =
        set_project_version(&old, &next.to_string()).with_context(|| format!("editing {}", own_path.display()))?;
    let mut edits = vec![Edit { path: own_path, old, new }];
    for member in workspace.packages.iter().filter(|member| member.name != package.name) {
        let path = member.dir.join("pyproject.toml");
        let old = std::fs::read_to_string(&path)?;
        let new =
            update_requirements(&old, &package.distribution, next).with_context(|| format!("in {}", path.display()))?;
        if new != old {
            edits.push(Edit { path, old, new });
        }
    }
    Ok(edits)
}

/// Replace `[project].version`, keeping its quoting, spacing and comments.
pub fn set_project_version(pyproject: &str, version: &str) -> anyhow::Result<String> {
    let mut document: DocumentMut = pyproject.parse().context("parsing TOML")?;
    let item = document
        .get_mut("project")
        .and_then(|project| project.get_mut("version"))
        .ok_or_else(|| refuse("[project].version is missing", "add version = \"0.1.0\" under [project]"))?;
    let value = item.as_value_mut().context("[project].version is not a value")?;
    replace_string(value, version)?;
    Ok(document.to_string())
}

fn replace_string(value: &mut Value, text: &str) -> anyhow::Result<()> {
    let literal = match &*value {
        Value::String(formatted) => {
            formatted.as_repr().and_then(|repr| repr.as_raw().as_str()).is_some_and(|raw| raw.starts_with('\''))
        }
        _ => false,
    };
    let quote = if literal { '\'' } else { '"' };
    let mut replacement: Value = format!("{quote}{text}{quote}").parse().context("building a TOML string")?;
    *replacement.decor_mut() = value.decor().clone();
    *value = replacement;
    Ok(())
}

/// Names compare as PEP 503 normalized names.
fn normalized_name(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// A requirement `name<specifiers>` (no extras or markers) as (name, [(operator, version)]).
pub fn parse_requirement(text: &str) -> Option<(String, Vec<(String, Version)>)> {
    let name_end =
        text.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))).unwrap_or(text.len());
    let (name, rest) = text.split_at(name_end);
    let rest = rest.trim();
    if rest.contains([';', '[', '@']) {
        return None;
    }
    let mut specifiers = Vec::new();
    for part in rest.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let operator_end = part.find(|c: char| !matches!(c, '<' | '>' | '=' | '!' | '~')).unwrap_or(part.len());
        let (operator, version) = part.split_at(operator_end);
        let version = Version::parse(version.trim().trim_end_matches(".*")).ok()?;
        specifiers.push((operator.to_string(), version));
    }
    Some((name.to_string(), specifiers))
}

pub fn satisfies(specifiers: &[(String, Version)], version: &Version) -> bool {
    specifiers.iter().all(|(operator, bound)| match operator.as_str() {
        ">=" => version >= bound,
        ">" => version > bound,
        "<=" => version <= bound,
        // `<V` excludes the pre-releases of V itself (PEP 440).
        "<" => version < bound && !(version.pre.is_some() && same_release(&version.release, &bound.release)),
        "==" | "===" => version == bound,
        "!=" => version != bound,
        "~=" => {
            let prefix = &bound.release[..bound.release.len().saturating_sub(1).max(1)];
            version >= bound && version.release.starts_with(prefix)
        }
        _ => false,
    })
}

/// `0.4` and `0.4.0` are the same release.
fn same_release(a: &[u64], b: &[u64]) -> bool {
    let trimmed = |parts: &[u64]| parts.iter().rposition(|part| *part != 0).map_or(0, |last| last + 1);
    a[..trimmed(a)] == b[..trimmed(b)]
}

/// For a `>=A,<B` range that excludes `next`, the same-width range starting at `next`.
pub fn widened(specifiers: &[(String, Version)], next: &Version) -> Option<String> {
    let [(low_op, low), (high_op, high)] = specifiers else { return None };
    if low_op != ">=" || high_op != "<" {
        return None;
    }
    let width = low.release.len();
    let step_at = high.release.iter().zip(&low.release).position(|(h, l)| h != l)?;
    let lower = if next.pre.is_none() && next.dev.is_none() && next.post.is_none() {
        next.release.iter().take(width).map(u64::to_string).collect::<Vec<_>>().join(".")
    } else {
        next.to_string()
    };
    let mut upper: Vec<u64> = next.release.iter().take(step_at + 1).copied().collect();
    upper.resize(step_at + 1, 0);
    upper[step_at] += 1;
    upper.resize(high.release.len(), 0);
    let upper = upper.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    Some(format!(">={lower},<{upper}"))
}

/// Rewrite the requirements on `distribution` in `[project].dependencies` that exclude `next`.
pub fn update_requirements(pyproject: &str, distribution: &str, next: &Version) -> anyhow::Result<String> {
    let mut document: DocumentMut = pyproject.parse().context("parsing TOML")?;
    let Some(dependencies) =
        document.get_mut("project").and_then(|project| project.get_mut("dependencies")).and_then(Item::as_array_mut)
    else {
        return Ok(pyproject.to_string());
    };
    for value in dependencies.iter_mut() {
        let Some(text) = value.as_str().map(str::to_string) else { continue };
        let Some((name, specifiers)) = parse_requirement(&text) else {
            if normalized_name(
                text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))).next().unwrap_or(""),
            ) == normalized_name(distribution)
            {
                return Err(refuse(
                    format!("cannot read the requirement {text:?} on {distribution}"),
                    format!("check by hand that it allows {next}, then bump again"),
                ));
            }
            continue;
        };
        if normalized_name(&name) != normalized_name(distribution) || satisfies(&specifiers, next) {
            continue;
        }
        let Some(range) = widened(&specifiers, next) else {
            return Err(refuse(
                format!("the requirement {text:?} excludes {distribution} {next}"),
                format!("edit it to allow {next} (for example {distribution}>={next}), then bump again"),
            ));
        };
        replace_string(value, &format!("{name}{range}"))?;
    }
    Ok(document.to_string())
}

/// The `uv.lock` after the edits: `uv lock` in a scratch copy of the workspace's manifests, so a
/// failure changes nothing in the repository.
fn relock(workspace: &Workspace, uv: &Path, edits: &[Edit]) -> anyhow::Result<String> {
    let scratch = tempfile::tempdir().context("creating a scratch folder for uv lock")?;
    let copy = |relative: &Path| -> anyhow::Result<()> {
        let source = workspace.root.join(relative);
        if source.is_file() {
            let destination = scratch.path().join(relative);
            std::fs::create_dir_all(destination.parent().expect("file has a parent"))?;
            std::fs::copy(&source, &destination).with_context(|| format!("copying {}", source.display()))?;
        }
        Ok(())
    };
    copy(Path::new("pyproject.toml"))?;
    copy(Path::new("uv.lock"))?;
    for package in &workspace.packages {
        let relative = package.dir.strip_prefix(&workspace.root).unwrap_or(&package.dir);
        copy(&relative.join("pyproject.toml"))?;
        copy(&relative.join("README.md"))?;
    }
    for edit in edits {
        let relative = edit.path.strip_prefix(&workspace.root).unwrap_or(&edit.path);
        std::fs::write(scratch.path().join(relative), &edit.new)?;
    }
    let output =
        Command::new(uv).current_dir(scratch.path()).args(["lock", "--quiet"]).output().context("running uv lock")?;
    if !output.status.success() {
        return Err(refuse(
            format!("uv lock failed after the bump: {}", String::from_utf8_lossy(&output.stderr).trim()),
            "nothing was changed; fix the requirement uv names, then bump again",
        ));
    }
    std::fs::read_to_string(scratch.path().join("uv.lock")).context("reading the refreshed uv.lock")
}

pub fn versions_table(workspace: &Workspace) -> String {
    let mut table = String::from("| package | distribution | version |\n|---|---|---|\n");
    for package in &workspace.packages {
        table.push_str(&format!("| {} | {} | {} |\n", package.name, package.distribution, package.version));
    }
    table
}

pub fn versions_json(workspace: &Workspace) -> String {
    let entries: Vec<serde_json::Value> = workspace
        .packages
        .iter()
        .map(|package| {
            serde_json::json!({"package": package.name, "distribution": package.distribution, "version": package.version})
        })
        .collect();
    format!("{}\n", serde_json::Value::from(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    const PYPROJECT: &str = "[project]\nname = \"lumen-argus-proxy\"\n# Bumped by cargo xtask bump.\nversion   =   '0.2.5'   # trailing note\ndependencies = [\n    \"lumen-argus-core>=0.3,<0.4\",  # the library\n    \"aiohttp>=3.11\",\n]\n\n[tool.other]\nversion = \"9.9.9\"\n";

    #[test]
    fn only_the_version_string_changes() {
        let edited = set_project_version(PYPROJECT, "0.3.0rc1").unwrap();
        assert_eq!(edited, PYPROJECT.replace("'0.2.5'", "'0.3.0rc1'"));
    }

    #[test]
    fn a_requirement_that_excludes_the_new_version_is_widened_in_place() {
        let edited = update_requirements(PYPROJECT, "lumen_argus.core", &version("0.4.0")).unwrap();
        assert_eq!(edited, PYPROJECT.replace("lumen-argus-core>=0.3,<0.4", "lumen-argus-core>=0.4,<0.5"));
        assert_eq!(update_requirements(PYPROJECT, "lumen-argus-core", &version("0.3.9")).unwrap(), PYPROJECT);
    }

    #[test]
    fn requirement_semantics() {
        let (_, range) = parse_requirement("lumen-argus-core>=0.3,<0.4").unwrap();
        assert!(satisfies(&range, &version("0.3.1")));
        assert!(!satisfies(&range, &version("0.4.0")));
        assert!(!satisfies(&range, &version("0.4.0rc1")), "<0.4 excludes 0.4 pre-releases");
        assert_eq!(widened(&range, &version("1.0.0")).unwrap(), ">=1.0,<1.1");
        assert_eq!(widened(&range, &version("0.4.0rc1")).unwrap(), ">=0.4.0rc1,<0.5");
        let (_, major) = parse_requirement("x>=1,<2").unwrap();
        assert_eq!(widened(&major, &version("2.1.0")).unwrap(), ">=2,<3");
        let (_, pinned) = parse_requirement("x==0.3.1").unwrap();
        assert_eq!(widened(&pinned, &version("0.3.2")), None);
        let (_, compatible) = parse_requirement("x~=0.3.1").unwrap();
        assert!(satisfies(&compatible, &version("0.3.7")) && !satisfies(&compatible, &version("0.4.0")));
    }

    #[test]
    fn a_requirement_that_cannot_be_widened_is_refused_with_the_fix() {
        let text = PYPROJECT.replace("lumen-argus-core>=0.3,<0.4", "lumen-argus-core==0.3.1");
        let error = update_requirements(&text, "lumen-argus-core", &version("0.3.2")).unwrap_err();
        let (message, hint) = crate::failure::lines(&error);
        assert!(message.contains("excludes lumen-argus-core 0.3.2"), "{message}");
        assert!(hint.unwrap().contains("lumen-argus-core>=0.3.2"));
    }

    #[test]
    fn explicit_versions_are_normalized_and_must_go_forward() {
        let current = version("1.2.3");
        assert_eq!(next_version(&current, "1.2.4-RC.1").unwrap().to_string(), "1.2.4rc1");
        for refused in ["1.2.3", "1.2.2", "1.2.3rc1", "1.2.x", "1.3.0+abc", "huge"] {
            assert!(next_version(&current, refused).is_err(), "{refused} accepted");
        }
    }
}
