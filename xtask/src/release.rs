//! `cargo xtask release`: the maintainer's runbook. A dry run by default: preflight checks, then
//! the whole host pipeline into `dist/` (wheels and sdists, sidecars, smoke test, checksums and
//! notes) and a summary. `--execute` then cuts the changelog, commits and tags; `--push` pushes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::failure::refuse;
use crate::flags::ReleaseFlags;
use crate::sidecar::BuildOptions;
use crate::version::Version;
use crate::workspace::Workspace;
use crate::{bump, changelog, checksums, gha, smoke, targets, tools};

/// One reason a release from this checkout would be refused, and its fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub what: String,
    pub fix: String,
}

fn problem(what: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem { what: what.into(), fix: fix.into() }
}

pub fn run(flags: &ReleaseFlags) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    let git = tools::find_git()?;
    tools::find_python()?;
    let uv = tools::uv(&workspace)?;
    let tag_version = workspace.package("proxy")?.version.clone();
    let tag = format!("v{tag_version}");
    let mode = if flags.execute { "execute" } else { "dry run" };
    println!("release {tag} ({mode})\n");

    let problems = gha::group("preflight", || preflight(&workspace, &git, &uv, &tag));
    for found in &problems {
        println!("preflight: {}\n  fix: {}", found.what, found.fix);
    }
    if problems.is_empty() {
        println!("preflight: all checks passed");
    }

    let mut steps: Vec<(&str, String)> = Vec::new();
    let started = Instant::now();
    let wheels = gha::group("wheels and sdists", || build_python_distributions(&workspace, &uv))?;
    steps.push((
        "wheels and sdists",
        format!("{wheels} files in dist/python ({:.0} s)", started.elapsed().as_secs_f64()),
    ));

    let started = Instant::now();
    let target = targets::host()?;
    let packages = workspace.sidecar_packages(None)?;
    let published = gha::group("sidecars", || {
        crate::sidecar::build_and_publish(&workspace, target, &packages, BuildOptions { use_cache: true })
    })?;
    let artifacts: usize = published.iter().map(|item| item.records.len()).sum();
    steps.push((
        "sidecars",
        format!("{artifacts} files for {} ({:.0} s)", target.triple, started.elapsed().as_secs_f64()),
    ));

    // The commit the sidecars were just built from: the one they must report.
    let commit = published.iter().flat_map(|item| &item.records).map(|record| record.git_commit.clone()).next();
    let commit = commit.unwrap_or_else(|| "unknown".to_string());
    let cases = smoke::cases_for_target(&workspace, None, &commit)?;
    let results = gha::group("smoke", || smoke::verify(&cases, Duration::from_secs(60)))?;
    let slowest = results.iter().filter_map(|result| result.startup_ms).max().unwrap_or(0);
    steps.push(("smoke", format!("{} sidecars report their own build_id (slowest {slowest} ms)", results.len())));

    let listed = gha::group("checksums", || checksums::write_release_files(&workspace, &workspace.dist_dir()))?;
    steps.push(("checksums and notes", format!("{listed} files in dist/checksums.txt, dist/release-notes.md")));

    let summary = render_summary(&tag, &steps, &problems);
    println!("\n{summary}");
    gha::step_summary(&summary)?;
    gha::step_output("tag", &tag)?;
    if !problems.is_empty() {
        return Err(refuse(
            format!(
                "the pipeline passed, but a release from here would be refused: {} preflight problem(s)",
                problems.len()
            ),
            "fix the preflight lines printed above, then run `cargo xtask release` again",
        ));
    }
    if flags.execute {
        cut_release(&workspace, &git, &tag)?;
        if flags.push {
            for refspec in ["main", tag.as_str()] {
                run_git(&workspace, &git, &["push", "origin", refspec])?;
            }
            println!("pushed main, then {tag}: the tag starts publish.yml, docker.yml and binaries.yml");
        } else {
            println!("committed and tagged {tag}; push with `git push origin main && git push origin {tag}`");
        }
    }
    Ok(())
}

/// Rewrite the changelog, commit `chore(release): vX.Y.Z` and create the annotated tag.
fn cut_release(workspace: &Workspace, git: &Path, tag: &str) -> anyhow::Result<()> {
    let path = workspace.root.join(changelog::PATH);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let today = &crate::clock::format_utc(crate::clock::now_unix())[..10];
    let versions = header_versions(workspace);
    let pairs: Vec<(&str, &str)> = versions.iter().map(|(name, version)| (name.as_str(), version.as_str())).collect();
    let header = changelog::release_header(tag.trim_start_matches('v'), today, &pairs);
    crate::files::write_atomically(&path, changelog::cut_release(&text, &header)?.as_bytes())?;
    run_git(workspace, git, &["add", changelog::PATH])?;
    run_git(workspace, git, &["commit", "--quiet", "-m", &format!("chore(release): {tag}")])?;
    run_git(workspace, git, &["tag", "-a", tag, "-m", tag])?;
    println!("{header}");
    Ok(())
}

/// (short name, version) with core, agent, proxy first, then any other package.
fn header_versions(workspace: &Workspace) -> Vec<(String, String)> {
    let rank = |name: &str| ["core", "agent", "proxy"].iter().position(|known| *known == name).unwrap_or(3);
    let mut versions: Vec<(String, String)> =
        workspace.packages.iter().map(|package| (package.name.clone(), package.version.clone())).collect();
    versions.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
    versions
}

fn run_git(workspace: &Workspace, git: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(git).current_dir(&workspace.root).args(args).status().context("running git")?;
    if !status.success() {
        return Err(refuse(
            format!("git {} failed", args.join(" ")),
            "read git's message above; nothing after this step ran",
        ));
    }
    Ok(())
}

/// Everything that must hold before a tag is cut; each failed check is reported, none stops the rest.
pub fn preflight(workspace: &Workspace, git: &Path, uv: &Path, tag: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let git_line = |args: &[&str]| {
        let mut all = vec!["-C", workspace.root.to_str().unwrap_or(".")];
        all.extend_from_slice(args);
        tools::first_line_of(git, &all)
    };
    match git_line(&["symbolic-ref", "--short", "HEAD"]).as_deref() {
        Some("main") => {}
        Some(branch) => problems.push(problem(
            format!("on branch {branch}, not main"),
            "git switch main (releases are cut from main only)",
        )),
        None => problems.push(problem("not on a branch (detached HEAD or no git repository)", "git switch main")),
    }
    let status = Command::new(git).arg("-C").arg(&workspace.root).args(["status", "--porcelain"]).output();
    match status {
        Ok(output) if output.status.success() && output.stdout.is_empty() => {}
        Ok(output) if output.status.success() => {
            let changed = String::from_utf8_lossy(&output.stdout).lines().count();
            problems.push(problem(
                format!("the working tree has {changed} uncommitted change(s)"),
                "commit or stash them (git status)",
            ));
        }
        _ => problems.push(problem("git status failed", "run from a git clone of the repository")),
    }
    if let Some(behind) = git_line(&["rev-list", "--count", "HEAD..@{upstream}"]) {
        if behind != "0" {
            problems.push(problem(
                format!("main is {behind} commit(s) behind its upstream (as of the last fetch)"),
                "git pull --ff-only",
            ));
        }
    }
    if git_line(&["rev-parse", "--quiet", "--verify", &format!("refs/tags/{tag}")]).is_some() {
        problems.push(problem(
            format!("tag {tag} already exists locally"),
            "bump the proxy version (cargo xtask bump proxy patch) or delete the stale tag",
        ));
    }
    let has_origin = git_line(&["remote", "get-url", "origin"]).is_some();
    if has_origin
        && git_line(&["ls-remote", "--tags", "origin", &format!("refs/tags/{tag}")])
            .is_some_and(|line| !line.is_empty())
    {
        problems.push(problem(
            format!("tag {tag} already exists on origin"),
            "bump the proxy version: a published tag is never reused",
        ));
    }
    let changelog_text = std::fs::read_to_string(workspace.root.join(changelog::PATH)).unwrap_or_default();
    if let Err(error) = changelog::unreleased_heading(&changelog_text) {
        let (what, fix) = crate::failure::lines(&error);
        problems.push(problem(what, fix.unwrap_or_default()));
    }
    problems.extend(version_problems(workspace));
    let lock = Command::new(uv)
        .current_dir(&workspace.root)
        .args(["lock", "--check", "--quiet"])
        .stderr(Stdio::null())
        .status();
    if !lock.is_ok_and(|status| status.success()) {
        problems.push(problem("uv.lock is out of date with the pyproject.toml files", "uv lock, then commit uv.lock"));
    }
    problems
}

/// Every version parses, and every member's requirement on another member is met.
fn version_problems(workspace: &Workspace) -> Vec<Problem> {
    let mut problems = Vec::new();
    for package in &workspace.packages {
        let Ok(version) = Version::parse(&package.version) else {
            problems.push(problem(
                format!("{} has the invalid version {:?}", package.distribution, package.version),
                format!("cargo xtask bump {} X.Y.Z", package.name),
            ));
            continue;
        };
        for member in workspace.packages.iter().filter(|member| member.name != package.name) {
            let text = std::fs::read_to_string(member.dir.join("pyproject.toml")).unwrap_or_default();
            let Ok(document) = text.parse::<toml_edit::DocumentMut>() else { continue };
            let requirements = document
                .get("project")
                .and_then(|project| project.get("dependencies"))
                .and_then(toml_edit::Item::as_array)
                .map(|array| array.iter().filter_map(|value| value.as_str().map(str::to_string)).collect::<Vec<_>>())
                .unwrap_or_default();
            for requirement in requirements {
                let Some(parsed) = bump::parse_requirement(&requirement) else { continue };
                let same_name = bump::normalized_name(&parsed.name) == bump::normalized_name(&package.distribution);
                if same_name && !parsed.satisfied_by(&version) {
                    problems.push(problem(
                        format!(
                            "{} requires {requirement}, but {} is {version}",
                            member.distribution, package.distribution
                        ),
                        format!("widen the requirement in packages/{}/pyproject.toml", member.name),
                    ));
                }
            }
        }
    }
    problems
}

/// `uv build` of every package into `dist/python/`; the number of files there.
fn build_python_distributions(workspace: &Workspace, uv: &Path) -> anyhow::Result<usize> {
    let out = workspace.dist_dir().join("python");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    for package in &workspace.packages {
        let status = Command::new(uv)
            .current_dir(&workspace.root)
            .args(["build", "--quiet", "--package", &package.distribution, "--out-dir"])
            .arg(&out)
            .status()
            .context("running uv build")?;
        if !status.success() {
            return Err(refuse(
                format!("uv build failed for {}", package.distribution),
                "read uv's message above; `uv build --package NAME` reproduces it",
            ));
        }
    }
    Ok(std::fs::read_dir(&out)?
        .filter_map(Result::ok)
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .count())
}

pub fn render_summary(tag: &str, steps: &[(&str, String)], problems: &[Problem]) -> String {
    let mut summary = format!("### Release {tag}\n\n| step | result |\n|---|---|\n");
    let preflight = if problems.is_empty() { "passed".to_string() } else { format!("{} problem(s)", problems.len()) };
    summary.push_str(&format!("| preflight | {preflight} |\n"));
    for (step, result) in steps {
        summary.push_str(&format!("| {step} | {result} |\n"));
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_preflight_then_steps() {
        let summary = render_summary("v1.0.0", &[("smoke", "2 sidecars".into())], &[problem("dirty", "commit")]);
        assert_eq!(
            summary,
            "### Release v1.0.0\n\n| step | result |\n|---|---|\n| preflight | 1 problem(s) |\n| smoke | 2 sidecars |\n"
        );
    }
}
