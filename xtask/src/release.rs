//! `cargo xtask release`: the maintainer's runbook. A dry run by default: preflight checks, then
//! the whole host pipeline into `dist/` (wheels and sdists, sidecars, smoke test, checksums and
//! notes) and a summary. `--execute` then cuts the changelog, commits and tags; `--push` pushes.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use xshell::{Shell, cmd};

use crate::code_signing::{self, SigningEnvironment};
use crate::failure::{Lines, WithHint, lines, refuse};
use crate::flags::ReleaseFlags;
use crate::sidecar::BuildOptions;
use crate::uv::Uv;
use crate::version::Version;
use crate::workspace::Workspace;
use crate::{changelog, checksums, gha, process, smoke, targets, tools};

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
    let uv = Uv::get(&workspace)?;
    let release_tag = workspace.release_tag()?;
    let tag = release_tag.as_str();
    let mode = if flags.execute { "execute" } else { "dry run" };
    println!("release {tag} ({mode})\n");

    let intent = Intent { execute: flags.execute, push: flags.push };
    let problems = gha::group("preflight", || preflight(&workspace, &git, &uv, tag, intent));
    for found in &problems {
        println!("preflight: {}\n  fix: {}", found.what, found.fix);
    }
    if problems.is_empty() {
        println!("preflight: all checks passed");
    }
    // A dry run goes on to show the whole pipeline; --execute stops before building anything.
    if flags.execute && !problems.is_empty() {
        return Err(refuse(
            format!("release --execute refused: {} preflight problem(s), nothing was built or changed", problems.len()),
            "fix the preflight lines printed above, then run `cargo xtask release --execute` again",
        ));
    }

    // One build at a time in a clone: the lock covers the whole pipeline, not only the sidecars.
    let _build_lock = workspace.lock_builds()?;
    let mut steps: Vec<(&str, String)> = Vec::new();
    let started = Instant::now();
    let wheels = gha::group("wheels and sdists", || crate::wheels::build(&workspace, &uv, None))?.len();
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
    let slowest = results.iter().filter_map(|result| result.verdict.as_ref().ok()).max().copied().unwrap_or(0);
    steps.push(("smoke", format!("{} sidecars report their own build_id (slowest {slowest} ms)", results.len())));

    let listed = gha::group("checksums", || checksums::write_release_files(&workspace, &workspace.dist_dir()))?;
    steps.push(("checksums and notes", format!("{listed} files in dist/checksums.txt, dist/release-notes.md")));

    let summary = render_summary(tag, &steps, &problems);
    println!("\n{summary}");
    gha::step_summary(&summary)?;
    gha::step_output("tag", tag)?;
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
        crate::process::check_interrupted()?;
        let today = crate::clock::format_utc(crate::clock::now_unix());
        let versions = header_versions(&workspace);
        let pairs: Vec<(&str, &str)> =
            versions.iter().map(|(name, version)| (name.as_str(), version.as_str())).collect();
        let header = changelog::release_header(&release_tag, today.get(..10).unwrap_or(&today), &pairs);
        let cut = cut_release(&workspace.root, &git, tag, &header)?;
        println!("{header}");
        if flags.push {
            push_release(&workspace.root, &git, tag, &cut)?;
            println!("pushed main, then {tag}: the tag starts publish.yml, docker.yml and binaries.yml");
        } else {
            println!("committed and tagged {tag}; push with `git push origin main && git push origin {tag}`");
        }
    }
    Ok(())
}

/// What the maintainer asked for: preflight checks more when the run will commit or push.
#[derive(Debug, Clone, Copy)]
pub struct Intent {
    pub execute: bool,
    pub push: bool,
}

/// What `cut_release` made, so that a later failure can undo exactly that.
#[derive(Debug, Clone)]
pub struct Cut {
    /// HEAD before the release commit.
    pub previous_head: String,
    /// The release commit.
    pub release_commit: String,
}

/// Rewrite the changelog, commit `chore(release): vX.Y.Z` and create the annotated tag. When a
/// step fails, what the earlier steps did is undone (the changelog and the index restored, the
/// release commit removed if HEAD is still that commit) and the error says what was undone.
pub fn cut_release(root: &Path, git: &Path, tag: &str, header: &str) -> anyhow::Result<Cut> {
    let path = root.join(changelog::PATH);
    let original = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))
        .hint("restore the changelog: git checkout -- docs/development/changelog.md")?;
    let text = changelog::cut_release(&original, header)?;
    let previous_head = git_output(root, git, &["rev-parse", "--verify", "HEAD"])?;
    crate::files::write_atomically(&path, text.as_bytes())?;
    let restore_changelog = || -> Vec<String> {
        let mut left = Vec::new();
        if run_git(root, git, &["reset", "--quiet", "--", changelog::PATH]).is_err() {
            left.push(format!("the index still has the new changelog: git reset -- {}", changelog::PATH));
        }
        if crate::files::write_atomically(&path, original.as_bytes()).is_err() {
            left.push(format!("{} is still rewritten: git checkout -- {}", changelog::PATH, changelog::PATH));
        }
        left
    };
    let committed = run_git(root, git, &["add", "--", changelog::PATH])
        .and_then(|()| run_git(root, git, &["commit", "--quiet", "-m", &format!("chore(release): {tag}")]));
    if let Err(error) = committed {
        return Err(undone(error, "the commit failed", restore_changelog()));
    }
    let release_commit = git_output(root, git, &["rev-parse", "--verify", "HEAD"])?;
    let cut = Cut { previous_head, release_commit };
    let tagged = crate::process::check_interrupted().and_then(|()| run_git(root, git, &["tag", "-a", tag, "-m", tag]));
    if let Err(error) = tagged {
        let mut left = undo_local_release(root, git, tag, &cut, false);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(original.as_str()) {
            left.extend(restore_changelog());
        }
        return Err(undone(error, "the tag was not created", left));
    }
    Ok(cut)
}

/// Push main, then the tag. When main cannot be pushed, the local commit and tag are undone (the
/// remote has nothing); when main is pushed but the tag is not, nothing is undone (main is
/// public) and the error gives the exact commands to finish, or to undo.
pub fn push_release(root: &Path, git: &Path, tag: &str, cut: &Cut) -> anyhow::Result<()> {
    let pushed = crate::process::check_interrupted().and_then(|()| run_git(root, git, &["push", "origin", "main"]));
    if let Err(error) = pushed {
        let left = undo_local_release(root, git, tag, cut, true);
        return Err(undone(error, "main was not pushed", left));
    }
    if let Err(error) = run_git(root, git, &["push", "origin", &format!("refs/tags/{tag}")]) {
        let (release, previous) = (&cut.release_commit, &cut.previous_head);
        return Err(refuse(
            format!(
                "{}; main (with the release commit {release}) is on origin, the tag {tag} is not",
                lines(&error).message
            ),
            format!(
                "finish the release with `git push origin {tag}`; or undo it with \
                 `git push --force-with-lease=main:{release} origin {previous}:main && git tag -d {tag} && git reset --keep {previous}`"
            ),
        ));
    }
    Ok(())
}

/// Delete the tag (when asked and it points at the release commit) and remove the release commit
/// when HEAD is still that commit; what could not be undone, as commands for the maintainer.
fn undo_local_release(root: &Path, git: &Path, tag: &str, cut: &Cut, delete_tag: bool) -> Vec<String> {
    let mut left = Vec::new();
    if delete_tag {
        let tagged =
            git_output(root, git, &["rev-parse", "--verify", "--quiet", &format!("refs/tags/{tag}^{{commit}}")]);
        if tagged.as_deref().ok() == Some(cut.release_commit.as_str()) {
            if run_git(root, git, &["tag", "--delete", tag]).is_err() {
                left.push(format!("git tag -d {tag}"));
            }
        } else if tagged.is_ok() {
            left.push(format!("the tag {tag} now points elsewhere; check it: git show {tag}"));
        }
    }
    let head = git_output(root, git, &["rev-parse", "--verify", "HEAD"]).unwrap_or_default();
    if head == cut.release_commit {
        if run_git(root, git, &["reset", "--quiet", "--keep", &cut.previous_head]).is_err() {
            left.push(format!("git reset --keep {}", cut.previous_head));
        }
    } else {
        left.push(format!(
            "HEAD moved after the release commit {}: remove it by hand if you want it gone",
            cut.release_commit
        ));
    }
    left
}

/// The error of a failed step, saying what was undone and what is left to do by hand. An interrupt
/// stays an interrupt (exit 130), with what was undone as its context.
fn undone(error: anyhow::Error, step: &str, left: Vec<String>) -> anyhow::Error {
    if error.is::<crate::failure::Interrupted>() {
        let undo = if left.is_empty() {
            "everything this run changed was undone".to_string()
        } else {
            format!("finish the undo by hand: {}", left.join("; then "))
        };
        return error.context(format!("{step}: {undo}"));
    }
    let Lines { message, .. } = lines(&error);
    if left.is_empty() {
        refuse(
            format!("{message}; {step}, and everything this run changed was undone"),
            "read git's message above, fix the cause, then run `cargo xtask release --execute` again",
        )
    } else {
        refuse(
            format!("{message}; {step}, and the undo is incomplete"),
            format!("finish the undo by hand: {}", left.join("; then ")),
        )
    }
}

/// (short name, version) with core, agent, proxy first, then any other package.
fn header_versions(workspace: &Workspace) -> Vec<(String, String)> {
    let rank = |name: &str| ["core", "agent", "proxy"].iter().position(|known| *known == name).unwrap_or(3);
    let mut versions: Vec<(String, String)> =
        workspace.packages.iter().map(|package| (package.name.clone(), package.version.clone())).collect();
    versions.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
    versions
}

/// Run git in `root`; its messages go to the terminal.
fn run_git(root: &Path, git: &Path, args: &[&str]) -> anyhow::Result<()> {
    let sh = process::shell_in(root)?;
    process::run(cmd!(sh, "{git} {args...}").env("GIT_TERMINAL_PROMPT", "0")).hint("read git's message above")
}

/// The trimmed stdout of a git command that must succeed.
fn git_output(root: &Path, git: &Path, args: &[&str]) -> anyhow::Result<String> {
    let sh = process::shell_in(root)?;
    process::read(cmd!(sh, "{git} {args...}")).hint("run from a git clone of the repository")
}

/// Whether `refs/tags/<tag>` exists on origin; an error (with git's reason) when origin cannot be
/// asked: an unreachable origin is not an absent tag.
fn tag_on_origin(root: &Path, git: &Path, tag: &str) -> anyhow::Result<bool> {
    let (sh, tag_ref) = (process::shell_in(root)?, format!("refs/tags/{tag}"));
    let listed = process::read(cmd!(sh, "{git} ls-remote --tags origin {tag_ref}").env("GIT_TERMINAL_PROMPT", "0"))?;
    Ok(!listed.is_empty())
}

/// Everything that must hold before a tag is cut; each failed check is reported, none stops the rest.
pub fn preflight(workspace: &Workspace, git: &Path, uv: &Uv, tag: &str, intent: Intent) -> Vec<Problem> {
    let mut problems = Vec::new();
    // A git query that fails is an answer here: no branch, no upstream, no such tag, no origin.
    let git_line = |args: &[&str]| git_output(&workspace.root, git, args).ok();
    match git_line(&["symbolic-ref", "--short", "HEAD"]).as_deref() {
        Some("main") => {}
        Some(branch) => problems.push(problem(
            format!("on branch {branch}, not main"),
            "git switch main (releases are cut from main only)",
        )),
        None => problems.push(problem("not on a branch (detached HEAD or no git repository)", "git switch main")),
    }
    let root = &workspace.root;
    let status = Shell::new().and_then(|sh| cmd!(sh, "{git} -C {root} status --porcelain").output());
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
    if let Some(behind) = git_line(&["rev-list", "--count", "HEAD..@{upstream}"])
        && behind != "0"
    {
        problems.push(problem(
            format!("main is {behind} commit(s) behind its upstream (as of the last fetch)"),
            "git pull --ff-only",
        ));
    }
    if git_line(&["rev-parse", "--quiet", "--verify", &format!("refs/tags/{tag}")]).is_some() {
        problems.push(problem(
            format!("tag {tag} already exists locally"),
            "bump the proxy version (cargo xtask bump proxy patch) or delete the stale tag",
        ));
    }
    match git_line(&["remote", "get-url", "origin"]) {
        None if intent.push => problems.push(problem(
            "there is no remote named origin to push to",
            "git remote add origin URL, or run without --push",
        )),
        None => {}
        Some(url) => match tag_on_origin(&workspace.root, git, tag) {
            Ok(true) => problems.push(problem(
                format!("tag {tag} already exists on origin"),
                "bump the proxy version: a published tag is never reused",
            )),
            Ok(false) => {}
            Err(reason) => problems.push(problem(
                format!("cannot reach origin ({url}) to check that tag {tag} is absent there: {reason}"),
                "check the network and `git remote get-url origin`, then run again",
            )),
        },
    }
    if intent.execute {
        for (variable, role) in [("GIT_AUTHOR_IDENT", "author"), ("GIT_COMMITTER_IDENT", "committer")] {
            if git_output(&workspace.root, git, &["var", variable]).is_err() {
                problems.push(problem(
                    format!("git has no {role} identity for the release commit (user.name / user.email)"),
                    "git config user.name \"Your Name\" && git config user.email you@example.com",
                ));
                break;
            }
        }
    }
    match std::fs::read_to_string(workspace.root.join(changelog::PATH)) {
        Ok(changelog_text) => {
            if let Err(error) = changelog::unreleased_heading(&changelog_text) {
                let Lines { message: what, hint: fix } = lines(&error);
                problems.push(problem(what, fix.unwrap_or_default()));
            }
        }
        Err(error) => problems.push(problem(
            format!("cannot read {}: {error}", changelog::PATH),
            "restore it as UTF-8 text with a `## Unreleased` section (git checkout -- docs/development/changelog.md)",
        )),
    }
    problems.extend(version_problems(workspace));
    // The sidecar build refuses the same signing setup, but only after preflight: say it here,
    // with every other problem, before anything is built.
    if let Err(error) = code_signing::plan(&SigningEnvironment::read(), cfg!(target_os = "macos")) {
        let Lines { message: what, hint: fix } = lines(&error);
        problems.push(problem(what, fix.unwrap_or_default()));
    }
    let lock = uv.shell_in(root).and_then(|sh| process::read(cmd!(sh, "{uv} lock --check --quiet")));
    match lock {
        Ok(_) => {}
        Err(error) if format!("{error:#}").contains("needs to be updated") => problems
            .push(problem("uv.lock is out of date with the pyproject.toml files", "uv lock, then commit uv.lock")),
        Err(error) => problems.push(problem(
            format!("cannot check uv.lock: {error:#}"),
            "make `uv lock --check` run in the repository (see its message), then run again",
        )),
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
            for requirement in member.dependencies.iter().filter(|requirement| requirement.is_on(&package.distribution))
            {
                if !requirement.satisfied_by(&version) {
                    problems.push(problem(
                        format!(
                            "{} requires {}, but {} is {version}",
                            member.distribution, requirement.text, package.distribution
                        ),
                        format!("widen the requirement in packages/{}/pyproject.toml", member.name),
                    ));
                }
            }
        }
    }
    problems
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

    #[test]
    fn a_requirement_on_a_member_that_its_version_breaks_is_a_problem() {
        let package = |name: &str, version: &str, dependencies: &str| {
            let text = format!(
                "[project]\nname = \"lumen-argus-{name}\"\nversion = \"{version}\"\ndependencies = [{dependencies}]\n"
            );
            crate::workspace::parse_package(name, Path::new(name), &text).unwrap()
        };
        let workspace = |core_version: &str| Workspace {
            root: "/nowhere".into(),
            packages: vec![
                package("agent", "0.1.0", "\"lumen-argus-core>=0.3,<0.4\", \"aiohttp>=3\""),
                package("core", core_version, ""),
            ],
        };
        assert_eq!(version_problems(&workspace("0.3.2")), []);
        assert_eq!(
            version_problems(&workspace("0.4.0")),
            [problem(
                "lumen-argus-agent requires lumen-argus-core>=0.3,<0.4, but lumen-argus-core is 0.4.0",
                "widen the requirement in packages/agent/pyproject.toml"
            )]
        );
    }

    /// A repository with a changelog on main, pushed to a bare `origin` next to it.
    struct Repository {
        _folder: tempfile::TempDir,
        root: std::path::PathBuf,
        origin: std::path::PathBuf,
        git: std::path::PathBuf,
    }

    const CHANGELOG: &str = "# Changelog\n\n## Unreleased\n\n- Faster.\n";
    const HEADER: &str = "## v1.0.0 — 2026-01-01";

    fn git_in(git: &Path, dir: &Path, args: &[&str]) -> String {
        git_output(dir, git, args).unwrap()
    }

    fn repository() -> Repository {
        let folder = tempfile::tempdir().unwrap();
        let (root, origin) = (folder.path().join("work"), folder.path().join("origin.git"));
        let git = tools::find_git().unwrap();
        std::fs::create_dir_all(root.join("docs/development")).unwrap();
        git_in(&git, folder.path(), &["init", "--quiet", "--bare", "--initial-branch=main", "origin.git"]);
        git_in(&git, &root, &["init", "--quiet", "--initial-branch=main"]);
        for (key, value) in [("user.name", "Release Test"), ("user.email", "release@example.invalid")] {
            git_in(&git, &root, &["config", key, value]);
        }
        std::fs::write(root.join(changelog::PATH), CHANGELOG).unwrap();
        git_in(&git, &root, &["add", "."]);
        git_in(&git, &root, &["commit", "--quiet", "-m", "first"]);
        git_in(&git, &root, &["remote", "add", "origin", origin.to_str().unwrap()]);
        git_in(&git, &root, &["push", "--quiet", "origin", "main"]);
        Repository { _folder: folder, root, origin, git }
    }

    impl Repository {
        fn git(&self, args: &[&str]) -> String {
            git_in(&self.git, &self.root, args)
        }

        /// HEAD, `git status`, the changelog's bytes and the tags: everything a cut may change.
        fn state(&self) -> (String, String, String, String) {
            (
                self.git(&["rev-parse", "HEAD"]),
                self.git(&["status", "--porcelain"]),
                std::fs::read_to_string(self.root.join(changelog::PATH)).unwrap(),
                self.git(&["tag", "--list"]),
            )
        }

        fn origin_ref(&self, name: &str) -> Option<String> {
            git_output(&self.origin, &self.git, &["rev-parse", "--verify", "--quiet", name]).ok()
        }

        fn hook(&self, dir: &Path, name: &str, script: &str) {
            let hooks = if dir == self.root { dir.join(".git/hooks") } else { dir.join("hooks") };
            std::fs::create_dir_all(&hooks).unwrap();
            std::fs::write(hooks.join(name), script).unwrap();
            // Git for Windows runs a hook through its own sh whatever the file's mode.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(hooks.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
    }

    fn message_of(error: &anyhow::Error) -> (String, String) {
        let Lines { message, hint } = lines(error);
        (message, hint.unwrap_or_default())
    }

    #[test]
    fn cut_and_push_make_the_commit_the_annotated_tag_and_push_both() {
        let repository = repository();
        let cut = cut_release(&repository.root, &repository.git, "v1.0.0", HEADER).unwrap();
        push_release(&repository.root, &repository.git, "v1.0.0", &cut).unwrap();
        assert_eq!(repository.git(&["log", "-1", "--format=%s"]), "chore(release): v1.0.0");
        assert_eq!(repository.git(&["cat-file", "-t", "v1.0.0"]), "tag");
        assert_eq!(repository.origin_ref("main"), Some(cut.release_commit.clone()));
        assert_eq!(repository.origin_ref("v1.0.0^{commit}"), Some(cut.release_commit));
        assert_eq!(repository.git(&["status", "--porcelain"]), "");
    }

    /// Regression (issue 12, class 3): a failing `git commit` left the changelog rewritten and staged.
    #[test]
    fn a_failing_commit_restores_the_changelog_and_the_index() {
        let repository = repository();
        let before = repository.state();
        repository.hook(&repository.root, "pre-commit", "#!/bin/sh\necho 'refused by a hook' >&2\nexit 1\n");
        let error = cut_release(&repository.root, &repository.git, "v1.0.0", HEADER).unwrap_err();
        let (message, hint) = message_of(&error);
        assert!(message.contains("the commit failed, and everything this run changed was undone"), "{message}");
        assert!(hint.contains("run `cargo xtask release --execute` again"), "{hint}");
        assert_eq!(repository.state(), before);
    }

    /// Regression (issue 12, class 3): a failing `git tag` left the release commit without its tag.
    /// Tag signing with a signer that fails is a real `git tag` failure after the commit.
    #[test]
    fn a_failing_tag_removes_the_release_commit() {
        let repository = repository();
        let before = repository.state();
        repository.git(&["config", "tag.gpgSign", "true"]);
        repository.git(&["config", "gpg.program", "false"]);
        let error = cut_release(&repository.root, &repository.git, "v1.0.0", HEADER).unwrap_err();
        let (message, _) = message_of(&error);
        assert!(message.contains("the tag was not created, and everything this run changed was undone"), "{message}");
        assert_eq!(repository.state(), before);
    }

    /// A push of main that origin rejects undoes the local commit and tag: nothing is half-released.
    #[test]
    fn a_rejected_push_of_main_undoes_the_local_commit_and_tag() {
        let repository = repository();
        let before = repository.state();
        let origin_main = repository.origin_ref("main");
        repository.hook(&repository.origin, "pre-receive", "#!/bin/sh\necho 'origin is read-only' >&2\nexit 1\n");
        let cut = cut_release(&repository.root, &repository.git, "v1.0.0", HEADER).unwrap();
        let error = push_release(&repository.root, &repository.git, "v1.0.0", &cut).unwrap_err();
        let (message, _) = message_of(&error);
        assert!(message.contains("main was not pushed, and everything this run changed was undone"), "{message}");
        assert_eq!(repository.state(), before);
        assert_eq!(repository.origin_ref("main"), origin_main);
    }

    /// Main pushed but the tag refused: main is public, so nothing is undone and the error gives the
    /// exact commands to finish or undo.
    #[test]
    fn a_rejected_tag_push_says_exactly_how_to_finish_or_undo() {
        let repository = repository();
        let previous = repository.git(&["rev-parse", "HEAD"]);
        repository.hook(
            &repository.origin,
            "pre-receive",
            "#!/bin/sh\nwhile read old new name; do case $name in refs/tags/*) echo 'no tags' >&2; exit 1;; esac; done\n",
        );
        let cut = cut_release(&repository.root, &repository.git, "v1.0.0", HEADER).unwrap();
        let error = push_release(&repository.root, &repository.git, "v1.0.0", &cut).unwrap_err();
        let (message, hint) = message_of(&error);
        assert!(
            message.contains("main (with the release commit") && message.contains("the tag v1.0.0 is not"),
            "{message}"
        );
        assert!(hint.contains("git push origin v1.0.0"), "{hint}");
        let release = &cut.release_commit;
        let undo = format!(
            "git push --force-with-lease=main:{release} origin {previous}:main && git tag -d v1.0.0 && git reset --keep {previous}"
        );
        assert!(hint.contains(&undo), "{hint}");
        assert_eq!(repository.origin_ref("main").as_ref(), Some(release));
        assert_eq!(repository.origin_ref("refs/tags/v1.0.0"), None);
        assert_eq!(repository.git(&["rev-parse", "v1.0.0^{commit}"]), *release, "the local tag stays to be pushed");
        // The printed finish command works.
        repository.hook(&repository.origin, "pre-receive", "#!/bin/sh\nexit 0\n");
        repository.git(&["push", "--quiet", "origin", "v1.0.0"]);
        assert_eq!(repository.origin_ref("v1.0.0^{commit}").as_ref(), Some(release));
    }
}
