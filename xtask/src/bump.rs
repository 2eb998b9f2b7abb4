//! `cargo xtask bump`: change one package's version in its `pyproject.toml`, format-preserving,
//! keep the other members' requirements on it satisfiable (`requirements`), and refresh `uv.lock`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use toml_edit::{ImDocument, Item, Value};

use crate::failure::{WithHint, refuse, refuse_usage};
use crate::flags::BumpFlags;
use crate::process::Supervised;
use crate::requirements::{normalized_name, parse_requirement, widened};
use crate::uv::Uv;
use crate::version::{BumpTo, Version};
use crate::workspace::{Package, Workspace};
use crate::{diff, files, naming};

pub fn run(flags: &BumpFlags) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    if flags.show {
        print!("{}", if flags.json { versions_json(&workspace) } else { versions_table(&workspace) });
        return Ok(());
    }
    let (Some(name), Some(to)) = (flags.package.as_deref(), flags.kind.as_ref()) else {
        return Err(refuse_usage("bump needs a PACKAGE and a KIND|VERSION", "cargo xtask bump proxy patch"));
    };
    let package = workspace.package(name)?;
    let current = Version::parse(&package.version)
        .with_context(|| format!("the current version of {} in {}", package.distribution, package.dir.display()))?;
    let next = next_version(&current, to)?;
    let mut edits = plan(&workspace, package, &next)?;
    let uv = Uv::get(&workspace)?;
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
    write_all_or_nothing(&edits)?;
    println!("{} {current} -> {next}", package.distribution);
    Ok(())
}

/// Every changed file is first written to a temporary file next to it; an interrupt (Ctrl-C,
/// SIGTERM) or an error up to then writes nothing. The commit point is the last interrupt check
/// before the renames: after it, every file is renamed into place (a few renames in one folder
/// tree), so the package, its dependants and `uv.lock` always change together.
fn write_all_or_nothing(edits: &[Edit]) -> anyhow::Result<()> {
    let mut staged = Vec::new();
    for edit in edits.iter().filter(|edit| edit.old != edit.new) {
        crate::process::check_interrupted()?;
        staged.push(files::stage(&edit.path, edit.new.as_bytes()).hint(format!(
            "nothing was changed; make {} writable (or free some space) and bump again",
            edit.path.parent().unwrap_or(&edit.path).display()
        ))?);
    }
    crate::process::check_interrupted()?;
    files::rename_all_into_place(staged)
}

/// A kind applied to `current`, or an explicit version; either must be newer than `current`, and
/// one the workspace can read back (the rule `[project].version` is read with), so that nothing is
/// written that no later command could read or uv lock.
pub fn next_version(current: &Version, to: &BumpTo) -> anyhow::Result<Version> {
    let next = match to {
        BumpTo::Kind(kind) => current.bump(*kind)?,
        BumpTo::Version(explicit) => explicit.clone(),
    };
    if next <= *current {
        return Err(refuse_usage(
            format!("{next} is not newer than the current {current}"),
            "versions only go forward: pick a higher version or a bump kind",
        ));
    }
    naming::check_version_for_file_names(&next.to_string())
        .map_err(|problem| refuse_usage(format!("the new version {problem}"), naming::VERSION_RULE))?;
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
    let old = read_pyproject(&own_path)?;
    let new =
        set_project_version(&old, &next.to_string()).with_context(|| format!("editing {}", own_path.display()))?;
    let mut edits = vec![Edit { path: own_path, old, new }];
    for member in workspace.packages.iter().filter(|member| member.name != package.name) {
        let path = member.dir.join("pyproject.toml");
        let old = read_pyproject(&path)?;
        let new =
            update_requirements(&old, &package.distribution, next).with_context(|| format!("in {}", path.display()))?;
        if new != old {
            edits.push(Edit { path, old, new });
        }
    }
    Ok(edits)
}

/// A TOML document parsed with the byte positions of its values, and the BOM it started with.
struct SpannedDocument<'a> {
    document: ImDocument<&'a str>,
    /// Bytes before the TOML text (a UTF-8 BOM or nothing): added to every span.
    offset: usize,
}

fn parse_spanned(text: &str) -> anyhow::Result<SpannedDocument<'_>> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let document = ImDocument::parse(body).map_err(|error| {
        let first_line = error.to_string().lines().next().unwrap_or_default().trim().to_string();
        refuse(format!("not valid TOML ({first_line})"), "fix the TOML syntax, then bump again (nothing was written)")
    })?;
    Ok(SpannedDocument { document, offset: text.len() - body.len() })
}

/// The delimiter of a TOML string as written (`"`, `'`, `"""` or `'''`) and the byte range of its
/// contents in `text`; `None` when the value is not a string or has no position.
fn string_contents(text: &str, value: &Value, offset: usize) -> Option<(&'static str, Range<usize>)> {
    if !value.is_str() {
        return None;
    }
    let span = value.span()?;
    let span = span.start + offset..span.end + offset;
    let raw = text.get(span.clone())?;
    let delimiter = ["\"\"\"", "'''", "\"", "'"].into_iter().find(|delimiter| raw.starts_with(delimiter))?;
    if raw.len() < 2 * delimiter.len() || !raw.ends_with(delimiter) {
        return None;
    }
    Some((delimiter, span.start + delimiter.len()..span.end - delimiter.len()))
}

/// `text` with `range` replaced: the only kind of change a bump makes to a file.
fn splice(text: &str, range: Range<usize>, replacement: &str) -> String {
    format!("{}{replacement}{}", &text[..range.start], &text[range.end..])
}

fn read_pyproject(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))
        .hint("pyproject.toml must be a readable UTF-8 file; restore it from git (git checkout -- FILE)")
}

/// Replace the string of `[project].version`; every other byte (quoting style, spacing, comments,
/// line ends, a BOM, a missing final newline) stays as it was.
pub fn set_project_version(pyproject: &str, version: &str) -> anyhow::Result<String> {
    let parsed = parse_spanned(pyproject)?;
    let item = parsed
        .document
        .get("project")
        .and_then(|project| project.get("version"))
        .ok_or_else(|| refuse("[project].version is missing", "add version = \"0.1.0\" under [project]"))?;
    let value = item.as_value().filter(|value| value.is_str()).ok_or_else(|| {
        refuse("[project].version is not a string", "write it as a quoted string: version = \"0.1.0\"")
    })?;
    let (_, contents) = string_contents(pyproject, value, parsed.offset)
        .ok_or_else(|| refuse("cannot locate [project].version in the file", "write it as version = \"0.1.0\""))?;
    Ok(splice(pyproject, contents, version))
}

/// Rewrite the requirements on `distribution` in `[project].dependencies` that exclude `next`:
/// only the version numbers inside the string change, with its spacing and quoting.
pub fn update_requirements(pyproject: &str, distribution: &str, next: &Version) -> anyhow::Result<String> {
    let parsed = parse_spanned(pyproject)?;
    let Some(dependencies) =
        parsed.document.get("project").and_then(|project| project.get("dependencies")).and_then(Item::as_array)
    else {
        return Ok(pyproject.to_string());
    };
    let mut changes: Vec<(Range<usize>, String)> = Vec::new();
    for value in dependencies.iter() {
        let Some(text) = value.as_str() else { continue };
        let leading_name = text.trim_start().split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))).next();
        if normalized_name(leading_name.unwrap_or("")) != normalized_name(distribution) {
            continue;
        }
        let Some(requirement) = parse_requirement(text) else {
            return Err(refuse(
                format!("cannot read the requirement {text:?} on {distribution}"),
                format!("check by hand that it allows {next}, then bump again"),
            ));
        };
        if requirement.satisfied_by(next) {
            continue;
        }
        let Some((lower, upper)) = widened(&requirement, next) else {
            return Err(refuse(
                format!("the requirement {text:?} excludes {distribution} {next}"),
                format!("edit it to allow {next} (for example {distribution}>={next}), then bump again"),
            ));
        };
        let located = string_contents(pyproject, value, parsed.offset)
            .filter(|(_, contents)| pyproject.get(contents.clone()) == Some(text));
        let Some((_, contents)) = located else {
            return Err(refuse(
                format!("the requirement {text:?} uses escapes or line breaks that a bump cannot edit in place"),
                format!("write it as one plain string, or edit it by hand to allow {next}"),
            ));
        };
        for ((_, range), replacement) in requirement.specifiers.iter().zip([lower, upper]) {
            changes.push((contents.start + range.start..contents.start + range.end, replacement));
        }
    }
    // From the end of the file backwards, so the earlier positions still hold.
    changes.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut text = pyproject.to_string();
    for (range, replacement) in changes {
        text = splice(&text, range, &replacement);
    }
    Ok(text)
}

/// Nothing is written to the repository before the scratch copy is complete.
const SCRATCH_HINT: &str =
    "nothing was changed; free some space (or set TMPDIR to a writable folder with room) and bump again";

/// The workspace's manifests and lock, with the planned edits applied, copied into `scratch`.
fn copy_manifests(workspace: &Workspace, scratch: &Path, edits: &[Edit]) -> anyhow::Result<()> {
    let copy = |relative: &Path| -> anyhow::Result<()> {
        let source = workspace.root.join(relative);
        if source.is_file() {
            let destination = scratch.join(relative);
            let parent = destination.parent().expect("file has a parent");
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
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
        let copy = scratch.join(relative);
        std::fs::write(&copy, &edit.new).with_context(|| format!("writing {}", copy.display()))?;
    }
    Ok(())
}

/// The `uv.lock` after the edits: `uv lock` in a scratch copy of the workspace's manifests, so a
/// failure changes nothing in the repository.
fn relock(workspace: &Workspace, uv: &Uv, edits: &[Edit]) -> anyhow::Result<String> {
    let scratch = tempfile::tempdir().context("creating a scratch folder for uv lock").hint(SCRATCH_HINT)?;
    copy_manifests(workspace, scratch.path(), edits).hint(SCRATCH_HINT)?;
    // stderr goes to a file: nothing to drain while waiting, and the reason survives the child.
    let stderr_path = scratch.path().join(".uv-lock-stderr");
    let stderr = std::fs::File::create(&stderr_path).context("creating a file for uv's messages")?;
    let sh = uv.shell_in(scratch.path())?;
    let mut command = Command::from(xshell::cmd!(sh, "{uv} lock --quiet"));
    command.stdin(Stdio::null()).stderr(stderr);
    let status = Supervised::spawn(&mut command, "uv lock")?.wait()?;
    if !status.success() {
        let message = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let reason = match (message.trim(), status.code()) {
            ("", Some(code)) => format!("uv exited with {code} and no message"),
            ("", None) => "uv was stopped by a signal".to_string(),
            (message, _) => message.to_string(),
        };
        return Err(refuse(
            format!("uv lock failed after the bump: {reason}"),
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
    use crate::failure::Lines;

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    const PYPROJECT: &str = "[project]\nname = \"lumen-argus-proxy\"\n# Bumped by cargo xtask bump.\nversion   =   '0.2.5'   # trailing note\ndependencies = [\n    \"lumen-argus-core>=0.3,<0.4\",  # the library\n    \"aiohttp>=3.11\",\n]\n\n[tool.other]\nversion = \"9.9.9\"\n";

    #[test]
    fn only_the_version_string_changes() {
        let edited = set_project_version(PYPROJECT, "0.3.0rc1").unwrap();
        assert_eq!(edited, PYPROJECT.replace("'0.2.5'", "'0.3.0rc1'"));
    }

    /// Fixture files with CRLF, a BOM, no final newline, literal and multi-line strings, comments
    /// and odd spacing: (file, its bytes, the requirement text before and after a bump of core to 0.4.0).
    const FIXTURES: [(&str, &str, &str, &str); 4] = [
        (
            "crlf.toml",
            include_str!("../tests/fixtures/bump/crlf.toml"),
            "lumen-argus-core >= 0.3 , < 0.4",
            "lumen-argus-core >= 0.4 , < 0.5",
        ),
        (
            "bom_no_final_newline.toml",
            include_str!("../tests/fixtures/bump/bom_no_final_newline.toml"),
            "lumen_argus.core>=0.3,<0.4",
            "lumen_argus.core>=0.4,<0.5",
        ),
        (
            "multiline_strings.toml",
            include_str!("../tests/fixtures/bump/multiline_strings.toml"),
            "lumen-argus-core[extra]   >=0.3,<0.4 ;",
            "lumen-argus-core[extra]   >=0.4,<0.5 ;",
        ),
        (
            "odd_spacing.toml",
            include_str!("../tests/fixtures/bump/odd_spacing.toml"),
            "lumen-argus-core(>=0.3,<0.4)",
            "lumen-argus-core(>=0.4,<0.5)",
        ),
    ];

    /// Regression (issue 12, class 10): CRLF became LF, the BOM was dropped, a final newline was
    /// added, `'''x'''` became `'x'` and the requirement lost its inner spaces. Now the version
    /// string and the requirement's version numbers are the only bytes that change.
    #[test]
    fn a_bump_changes_only_the_version_bytes_in_every_fixture() {
        for (file, text, requirement_before, requirement_after) in FIXTURES {
            let edited = set_project_version(text, "0.3.0").unwrap_or_else(|e| panic!("{file}: {e:#}"));
            assert_eq!(edited, text.replacen("0.2.5", "0.3.0", 1), "{file}");
            assert!(text.contains(requirement_before), "{file} fixture");
            let edited = update_requirements(text, "lumen-argus-core", &version("0.4.0")).unwrap();
            assert_eq!(edited, text.replace(requirement_before, requirement_after), "{file}");
            assert_eq!(update_requirements(text, "lumen-argus-core", &version("0.3.9")).unwrap(), text, "{file}");
        }
    }

    #[test]
    fn a_requirement_that_excludes_the_new_version_is_widened_in_place() {
        let edited = update_requirements(PYPROJECT, "lumen_argus.core", &version("0.4.0")).unwrap();
        assert_eq!(edited, PYPROJECT.replace("lumen-argus-core>=0.3,<0.4", "lumen-argus-core>=0.4,<0.5"));
        assert_eq!(update_requirements(PYPROJECT, "lumen-argus-core", &version("0.3.9")).unwrap(), PYPROJECT);
    }

    /// A prefix requirement that allows the new version stays as written; one that excludes it
    /// cannot be widened and is refused.
    #[test]
    fn prefix_requirements_are_kept_or_refused() {
        let text = PYPROJECT.replace("lumen-argus-core>=0.3,<0.4", "lumen-argus-core==0.3.*");
        assert_eq!(update_requirements(&text, "lumen-argus-core", &version("0.3.1")).unwrap(), text);
        assert!(update_requirements(&text, "lumen-argus-core", &version("0.4.0")).is_err());
    }

    #[test]
    fn a_requirement_that_cannot_be_widened_is_refused_with_the_fix() {
        let text = PYPROJECT.replace("lumen-argus-core>=0.3,<0.4", "lumen-argus-core==0.3.1");
        let error = update_requirements(&text, "lumen-argus-core", &version("0.3.2")).unwrap_err();
        let Lines { message, hint } = crate::failure::lines(&error);
        assert!(message.contains("excludes lumen-argus-core 0.3.2"), "{message}");
        assert!(hint.unwrap().contains("lumen-argus-core>=0.3.2"));
    }

    #[test]
    fn malformed_or_odd_toml_is_refused_with_a_hint() {
        for text in ["[project\nname = ", "[project]\nversion = 1\n", "[project]\nname = \"x\"\n", "version = \"1\""] {
            let error = set_project_version(text, "1.0.0").unwrap_err();
            assert!(crate::failure::lines(&error).hint.is_some(), "{text:?}: {error:#}");
        }
    }

    #[test]
    fn explicit_versions_must_go_forward_and_refusals_are_usage_errors() {
        let current = version("1.2.3");
        let to = |text: &str| BumpTo::parse(text).unwrap();
        assert_eq!(next_version(&current, &to("1.2.4-RC.1")).unwrap().to_string(), "1.2.4rc1");
        assert_eq!(next_version(&current, &to("minor")).unwrap().to_string(), "1.3.0");
        for refused in ["1.2.3", "1.2.2", "1.2.3rc1", "1.2.3.dev0"] {
            let error = next_version(&current, &to(refused)).unwrap_err();
            let Lines { message, hint } = crate::failure::lines(&error);
            assert!(message.ends_with("is not newer than the current 1.2.3"), "{refused}: {message}");
            assert!(hint.is_some_and(|hint| hint.contains("higher version")), "{refused}");
            assert_eq!(crate::failure::exit_code_of(&error), 2, "{refused}");
        }
    }

    /// What a bump writes must read back: a version longer than the workspace reads, or with a
    /// number uv cannot lock, is refused as a usage error before anything is written; so is a kind
    /// that cannot apply to the current version.
    #[test]
    fn versions_the_workspace_could_not_read_back_and_kinds_that_cannot_apply_are_usage_errors() {
        let to = |text: &str| BumpTo::parse(text).unwrap();
        let long = format!("1{}", ".0".repeat(40));
        for (current, to, expected) in [
            ("0.2.5", to(&long), "is longer than 64 characters"),
            ("0.2.5", to("1.0.0.post18446744073709551615"), "has a number over 18446744073709551614"),
            ("0.2.5", to("18446744073709551615.0"), "has a number over 18446744073709551614"),
            ("0.2.5", to("release"), "is already a release"),
            ("0.2.5rc1", to("alpha"), "would go backwards"),
            ("0.2.5.dev1", to("post"), "a post-release of it makes no sense"),
            ("1.0.0.post18446744073709551614", to("post"), "the largest version number"),
        ] {
            let error = next_version(&version(current), &to).unwrap_err();
            let Lines { message, hint } = crate::failure::lines(&error);
            assert!(message.contains(expected), "{current} {to:?}: {message}");
            assert!(hint.is_some(), "{current} {to:?}");
            assert_eq!(crate::failure::exit_code_of(&error), 2, "{current} {to:?}");
        }
        let longest = format!("1{}", ".0".repeat(31));
        assert_eq!(next_version(&version("0.2.5"), &to(&longest)).unwrap().to_string(), longest);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        // Cheap properties: 2048 cases each keeps the whole crate's property run to a few seconds.
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn editing_never_panics(text in any::<String>()) {
            let _ = update_requirements(&text, "x", &Version::parse("1.0").unwrap());
            let _ = set_project_version(&text, "1.0");
        }
    }
}
