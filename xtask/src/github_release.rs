//! `cargo xtask github-release`: publish `checksums.txt` and exactly the files it lists to the
//! GitHub Release of their tag. Safe to re-run, and a published release is never left worse than
//! before: files are compared by digest (or, where the server keeps none, by downloading them),
//! only what is missing is uploaded, what differs is refused unless named by `--replace`, every
//! write to a published release lands under a staging name first and is renamed in once verified,
//! and a draft is published only when it holds exactly the listed files, each verified.
//!
//! This file is the command (its checks, the draft, verify and publish); the plan is
//! `github_release/release_plan.rs`, carrying it out `uploads.rs` and `asset_swaps.rs`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;

use crate::checksums_file::{CHECKSUMS_FILE, NOTES_FILE};
use crate::failure::{self, refuse, shell_quote};
use crate::flags::GithubReleaseFlags;
use crate::gha;
use crate::github_api::releases::{self, Asset, Release, asset_sha256};
use crate::github_api::{self, Connection, Token};
use crate::release_folder::{self, LocalFile, ReleaseFolder};

mod asset_swaps;
mod release_plan;
mod uploads;

// `fault_rehearsal` takes it from here.
pub use release_plan::is_in_transit;
use release_plan::{
    Action, Plan, Standing, logical_name, plan, render_plan, render_plan_table, render_result_table, staged_for,
};
use uploads::{execute, withdraw_staged_copies};

/// ` --flag a b --flag=-c`: names for a flag, quoted; a name that starts with `-` is attached with
/// `=`, or it would be read as a flag of its own.
pub fn names_flag(flag: &str, names: &[&str]) -> String {
    let (dashed, plain): (Vec<&str>, Vec<&str>) = names.iter().partition(|name| name.starts_with('-'));
    let mut text = String::new();
    if !plain.is_empty() {
        text.push_str(&format!(" {flag}"));
        for name in plain {
            text.push_str(&format!(" {}", shell_quote(name)));
        }
    }
    for name in dashed {
        text.push_str(&format!(" {flag}={}", shell_quote(name)));
    }
    text
}

/// The command line that resumes this run, every part quoted for a shell, with `more` appended.
fn rerun_command(flags: &GithubReleaseFlags, more_replace: &[&str], more_remove: &[&str]) -> String {
    let mut command = format!("cargo xtask github-release --tag {}", shell_quote(flags.tag.as_str()));
    if let Some(repo) = &flags.repo {
        command.push_str(&format!(" --repo {}", shell_quote(repo)));
    }
    if let Some(dir) = &flags.dir {
        command.push_str(&format!(" --dir {}", shell_quote(&dir.to_string_lossy())));
    }
    let mut replace: Vec<&str> = flags.replace.iter().map(String::as_str).collect();
    replace.extend(more_replace.iter().filter(|name| !flags.replace.iter().any(|given| given == *name)));
    command.push_str(&names_flag("--replace", &replace));
    let mut remove: Vec<&str> = flags.remove.iter().map(String::as_str).collect();
    remove.extend(more_remove.iter().filter(|name| !flags.remove.iter().any(|given| given == *name)));
    command.push_str(&names_flag("--remove", &remove));
    if flags.dry_run {
        command.push_str(" --dry-run");
    }
    command
}

pub fn run(flags: &GithubReleaseFlags) -> anyhow::Result<()> {
    let repo = github_api::repository(flags.repo.as_deref())?;
    let token = Token::from_environment();
    publish(flags, &repo, token.clone()).map_err(|error| github_api::scrub_error(error, token.as_ref()))
}

fn publish(flags: &GithubReleaseFlags, repo: &str, token: Option<Token>) -> anyhow::Result<()> {
    // An explicit --dir is relative to the current directory; the default is the repository's dist/.
    let dir = match &flags.dir {
        Some(dir) => dir.clone(),
        None => crate::workspace::Workspace::discover()?.dist_dir(),
    };
    if dir.to_str().is_none() {
        return Err(failure::refuse_usage(
            format!("--dir {} is not UTF-8: no hint could name it for a shell", dir.to_string_lossy()),
            "rename the folder (or move the files) to a path of UTF-8 characters",
        ));
    }
    let tag = flags.tag.as_str();
    let prerelease = flags.tag.is_prerelease();
    if token.is_none() && !flags.dry_run {
        return Err(refuse(
            "GITHUB_TOKEN is not set: publishing a release needs a token",
            "export GITHUB_TOKEN (a token with `contents: write`; in Actions: `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`); \
             `--dry-run` needs none for a public repository",
        ));
    }
    let folder = gha::group("Check the release folder", || release_folder::read(&dir))?;
    println!("{}", release_folder::files_match_line(folder.listed_count(), &dir));
    let expected_tag = folder.release_tag()?;
    release_folder::check_tag_matches(&flags.tag, &expected_tag, &folder)?;
    release_folder::check_built_from_head(&dir, &folder.commit)?;
    check_named_files(flags, &folder)?;
    let anonymous = token.is_none();
    let connection = github_api::connect(repo, token)?;
    if anonymous {
        println!(
            "note: no GITHUB_TOKEN: reading {} as anyone can; drafts are invisible, so a draft of {tag} would not show",
            connection.repo
        );
    }

    let mut verified = BTreeMap::new();
    let (found, assets) = gha::group("Find the release", || -> anyhow::Result<_> {
        check_remote_tag(&connection, tag, &folder, anonymous)?;
        let found = releases::find_release(&connection, tag)?;
        let assets = match &found {
            Some(release) => known_assets(&connection, release, &folder.files, &mut verified)?,
            None => Vec::new(),
        };
        Ok((found, assets))
    })?;
    let replace: BTreeSet<String> = flags.replace.iter().cloned().collect();
    let remove: BTreeSet<String> = flags.remove.iter().cloned().collect();
    let plan = plan(&folder.files, &assets, Standing::of(found.as_ref()), &replace, &remove);
    let heading = match &found {
        Some(release) if release.draft => format!("release {tag} of {}: draft {}", connection.repo, release.id),
        Some(release) if release.immutable => {
            format!("release {tag} of {}: published, immutable ({})", connection.repo, release.html_url)
        }
        Some(release) => format!("release {tag} of {}: published ({})", connection.repo, release.html_url),
        None => format!("release {tag} of {}: none yet, create a draft", connection.repo),
    };
    println!("{heading}");
    print!("{}", render_plan(&plan));
    gha::step_summary(&format!("### github-release {tag}\n\n{heading}\n\n{}", render_plan_table(&plan)))?;
    refuse_plan(&plan, flags, tag)?;
    if flags.dry_run {
        println!(
            "dry run: {} to write, {} already there; nothing was sent but reads; run without --dry-run to do it",
            plan.writes(),
            plan.files.iter().filter(|(_, action)| *action == Action::Skip).count()
        );
        return Ok(());
    }

    let rerun = rerun_command(flags, &[], &[]);
    let (release, plan) = match found {
        Some(release) => (release, plan),
        None => {
            let release = create_draft_once(&connection, tag, &folder, prerelease, &rerun)?;
            // Another run may have created or published the release meanwhile: plan against what is there.
            let replanned = known_assets(&connection, &release, &folder.files, &mut verified).and_then(|assets| {
                let plan = self::plan(&folder.files, &assets, Standing::of(Some(&release)), &replace, &remove);
                refuse_plan(&plan, flags, tag).map(|()| plan)
            });
            let plan = replanned.map_err(|error| rerun_hint(error, &release, &rerun))?;
            (release, plan)
        }
    };
    if !release.draft && plan.writes() == 0 {
        println!("nothing to change: {tag} is published with every file and its sha256: {}", release.html_url);
        gha::step_output("url", &release.html_url)?;
        return Ok(());
    }
    if !release.draft {
        println!(
            "note: {tag} is already published: new files go up under staging names and are renamed in once verified; \
             nothing else is touched"
        );
    }
    let resume = |error: anyhow::Error| rerun_hint(error, &release, &rerun);
    if let Err(error) = gha::group("Upload", || execute(&connection, &release, &plan, &mut verified)) {
        if !release.draft && !failure::is_interrupt(&error) {
            withdraw_staged_copies(&connection, &release);
        }
        return Err(resume(error));
    }
    let published = gha::group("Verify and publish", || {
        verify_and_publish(&connection, &release, &folder.files, prerelease, &mut verified)
    })
    .map_err(resume)?;
    let immutable = if published.immutable { " (immutable: its files can no longer change)" } else { "" };
    println!("published {tag}: {}{immutable}", published.html_url);
    gha::step_summary(&format!("#### Result\n\n{}\nPublished: {}\n", render_result_table(&plan), published.html_url))?;
    gha::step_output("url", &published.html_url)?;
    Ok(())
}

/// `--replace` names files of `checksums.txt`; `--remove` names none of them. Both are flag values,
/// so a name that breaks the rule is a usage error (exit 2).
fn check_named_files(flags: &GithubReleaseFlags, folder: &ReleaseFolder) -> anyhow::Result<()> {
    let local = |name: &String| folder.files.iter().any(|file| &file.name == name);
    let unknown: Vec<&String> = flags.replace.iter().filter(|name| !local(name)).collect();
    if !unknown.is_empty() {
        return Err(failure::refuse_usage(
            format!("--replace names files that are not in {}: {unknown:?}", folder.dir.join(CHECKSUMS_FILE).display()),
            "pass the asset names exactly as checksums.txt lists them",
        ));
    }
    let listed: Vec<&String> = flags.remove.iter().filter(|name| local(name)).collect();
    if !listed.is_empty() {
        return Err(failure::refuse_usage(
            format!("--remove names files that checksums.txt lists, so they belong on the release: {listed:?}"),
            "--remove is for assets of the release that checksums.txt does not list",
        ));
    }
    Ok(())
}

/// The tag must be on GitHub, at the commit the files were built from: creating a release of a
/// tag GitHub does not have would make the tag on the default branch's head.
fn check_remote_tag(connection: &Connection, tag: &str, folder: &ReleaseFolder, anonymous: bool) -> anyhow::Result<()> {
    let built = &folder.commit;
    match releases::tag_commit(connection, tag)? {
        None => {
            let private = if anonymous { " (or the repository is private: set GITHUB_TOKEN)" } else { "" };
            Err(refuse(
                format!(
                    "tag {tag} is not on {}{private}: a release of it would make GitHub create the tag on the default \
                     branch, not on {}, the commit the files were built from",
                    connection.repo,
                    &built[..12]
                ),
                format!(
                    "push the tag first (`git push origin {tag}`, or `cargo xtask release --push`), then run this again"
                ),
            ))
        }
        Some(commit) if commit != *built => Err(refuse(
            format!(
                "tag {tag} on {} points at commit {}, but the files in {} were built from {}",
                connection.repo,
                &commit[..12],
                folder.dir.display(),
                &built[..12]
            ),
            format!(
                "publish the files built from the tag: the binaries workflow builds them; by hand, `git checkout {tag}`, \
                 `cargo xtask sidecar`, `cargo xtask checksums`"
            ),
        )),
        Some(_) => {
            println!(
                "tag {tag} on {} points at {}, the commit the files were built from",
                connection.repo,
                &built[..12]
            );
            Ok(())
        }
    }
}

/// The release's assets, with the sha256 of every one that matters (a local file's name, or a
/// staged copy) known: from GitHub's digest, or downloaded and hashed where GitHub keeps none.
fn known_assets(
    connection: &Connection,
    release: &Release,
    local: &[LocalFile],
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<Vec<Asset>> {
    let mut assets = releases::list_assets(connection, release.id)?;
    for asset in assets.iter_mut().filter(|asset| asset.is_uploaded() && asset.sha256.is_none()) {
        // A local name, a copy of one moved aside (it may hold the name's content), or a staged copy.
        let of_interest = local.iter().any(|file| file.name == logical_name(asset))
            || staged_for(&asset.name).is_some_and(|(name, _)| local.iter().any(|file| file.name == name));
        if of_interest {
            let hash = asset_sha256(connection, asset, verified)?;
            asset.sha256 = Some(hash);
        }
    }
    Ok(assets)
}

/// Refusals found by the plan, before any write.
fn refuse_plan(plan: &Plan, flags: &GithubReleaseFlags, tag: &str) -> anyhow::Result<()> {
    let differs = plan.files.iter().any(|(_, action)| *action != Action::Skip);
    if plan.standing == Standing::PublishedImmutable && (differs || !plan.extras.is_empty()) {
        let mut what: Vec<String> = plan
            .files
            .iter()
            .filter(|(_, action)| *action != Action::Skip)
            .map(|(file, action)| match action {
                Action::Refuse { .. } | Action::Replace { .. } => format!("{} differs", file.name),
                Action::Restore { .. } => format!("{} is moved aside", file.name),
                _ => format!("{} is missing", file.name),
            })
            .collect();
        what.extend(plan.extras.iter().map(|(asset, _)| format!("{} is not in checksums.txt", asset.name)));
        return Err(refuse(
            format!(
                "release {tag} is published and immutable, and it does not match checksums.txt ({}): GitHub will never \
                 let its files change, so running this again cannot complete it",
                what.join("; ")
            ),
            format!(
                "publish the fix as a new version: bump it (`cargo xtask bump {} patch`), then release that \
                 (RELEASE.md); say in the new release's notes that it replaces this one",
                crate::workspace::TAG_PACKAGE
            ),
        ));
    }
    let refused_files = plan.refused_files();
    if !refused_files.is_empty() {
        return Err(refuse(
            format!("the release already has different files: {}", plan.file_refusals().join("; ")),
            format!(
                "nothing was changed; if the local files are the right ones, run `{}` (users may already have \
                 downloaded the old ones: a new version is often the better fix)",
                rerun_command(flags, &refused_files, &[])
            ),
        ));
    }
    let refused_extras = plan.refused_extras();
    if !refused_extras.is_empty() {
        return Err(refuse(
            format!(
                "published release {tag} holds files that checksums.txt does not list: {}; users would take them for \
                 part of the release, and `checksums --verify --release` rejects it",
                refused_extras.join(", ")
            ),
            format!(
                "nothing was changed; if they do not belong, run `{}` to delete them; if they do, list them in \
                 checksums.txt (give each a .sha256, then `cargo xtask checksums`)",
                rerun_command(flags, &[], &refused_extras)
            ),
        ));
    }
    Ok(())
}

/// Create the draft, then settle a race: two runs that started together each created one, and
/// every run keeps the oldest release of the tag (a published one first), deleting its own if it
/// lost.
fn create_draft_once(
    connection: &Connection,
    tag: &str,
    folder: &ReleaseFolder,
    prerelease: bool,
    rerun: &str,
) -> anyhow::Result<Release> {
    let notes_path = folder.dir.join(NOTES_FILE);
    let notes = std::fs::read_to_string(&notes_path)
        .with_context(|| format!("reading {}", notes_path.display()))
        .map_err(|error| {
            refuse(
                format!("{error:#}"),
                format!(
                    "`cargo xtask checksums {}` writes the release notes next to checksums.txt",
                    shell_quote(&folder.dir.to_string_lossy())
                ),
            )
        })?;
    let created = releases::create_draft(connection, tag, &folder.commit, prerelease, &notes).map_err(|error| {
        if failure::is_interrupt(&error) {
            return error.context(format!(
                "a draft of {tag} may or may not have been created; re-run `{rerun}`, which finds it"
            ));
        }
        refuse(
            format!("{error:#}"),
            format!("a draft may or may not have been created: re-run `{rerun}`, which finds it"),
        )
    })?;
    let Some(created) = created else {
        // GitHub has a release of the tag already: another run published it since this one looked.
        return match releases::find_release(connection, tag)? {
            Some(release) => {
                println!("another run of {tag} made the release meanwhile (id {}): continuing with it", release.id);
                Ok(release)
            }
            None => Err(refuse(
                format!("GitHub says a release of {tag} exists, but none can be found"),
                format!("look at the repository's Releases page, then re-run `{rerun}`"),
            )),
        };
    };
    println!("created draft {} of {tag} at {}", created.id, &folder.commit[..12]);
    let same_tag = releases::releases_of(connection, tag)?;
    let winner = releases::settled_release(&same_tag).cloned().unwrap_or_else(|| created.clone());
    if winner.id == created.id {
        return Ok(created);
    }
    let what = if winner.draft { "a draft" } else { "the release" };
    match releases::delete_release(connection, created.id) {
        Ok(()) => println!(
            "another run of {tag} made {what} first (id {}): continuing with it; deleted this run's draft {}",
            winner.id, created.id
        ),
        Err(error) => eprintln!(
            "warning: another run of {tag} made {what} first (id {}); deleting this run's draft {} failed ({}): \
             delete it on the Releases page",
            winner.id,
            created.id,
            failure::lines(&error).message
        ),
    }
    Ok(winner)
}

/// Re-read the assets; publish the draft only when the release holds exactly the local files,
/// each uploaded with its sha256.
fn verify_and_publish(
    connection: &Connection,
    release: &Release,
    local: &[LocalFile],
    prerelease: bool,
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<Release> {
    // Copies in transit left by this run or by another one running at the same time (which may
    // put up a new one meanwhile): deleted until none is left, a few rounds at most.
    let mut assets = releases::list_assets(connection, release.id)?;
    for round in 0..5u32 {
        let leftovers: Vec<Asset> = assets
            .iter()
            .filter(|asset| is_in_transit(&asset.name) && !local.iter().any(|file| file.name == asset.name))
            .cloned()
            .collect();
        if leftovers.is_empty() {
            break;
        }
        for asset in &leftovers {
            println!("deleting {}: a copy in transit, not a file of checksums.txt", asset.name);
            releases::delete_asset(connection, asset.id)?;
        }
        github_api::sleep_interruptibly(connection.backoff_base.saturating_mul(round + 1))?;
        assets = releases::list_assets(connection, release.id)?;
    }
    let mut problems = Vec::new();
    for file in local {
        match assets.iter().find(|asset| asset.name == file.name) {
            None => problems.push(format!("{}: missing", file.name)),
            Some(asset) if !asset.is_uploaded() => problems.push(format!("{}: state {}", file.name, asset.state)),
            Some(asset) => {
                let stored = asset_sha256(connection, asset, verified)?;
                if stored != file.sha256 {
                    problems.push(format!(
                        "{}: the release has sha256:{stored}, the local file is sha256:{}",
                        file.name, file.sha256
                    ));
                }
            }
        }
    }
    for asset in assets.iter().filter(|asset| !local.iter().any(|file| file.name == asset.name)) {
        problems.push(format!("{}: on the release but not in checksums.txt", asset.name));
    }
    if !problems.is_empty() {
        anyhow::bail!("after the uploads the release does not match checksums.txt: {}", problems.join("; "));
    }
    println!("the release holds exactly the {} files of checksums.txt, each with its sha256", local.len());
    if !release.draft {
        return Ok(release.clone());
    }
    let published = releases::publish(connection, release, prerelease)?;
    if published.draft {
        return Err(refuse(
            format!("GitHub accepted the request to publish {}, but the release is still a draft", release.tag),
            "nothing is lost: every file is on the draft, verified; if another run finishes it first, fine; otherwise \
             check the repository's release settings",
        ));
    }
    Ok(published)
}

/// An error of a run that stopped after it started writing: say where the release stands and
/// what to run to resume.
fn rerun_hint(error: anyhow::Error, release: &Release, rerun: &str) -> anyhow::Error {
    let tag = &release.tag;
    let state = if release.draft {
        "still a draft, not published".to_string()
    } else if failure::is_interrupt(&error) {
        "published; files being added or replaced wait under staging names for a re-run".to_string()
    } else {
        "published, and its files are as they were unless said otherwise above".to_string()
    };
    if failure::is_interrupt(&error) {
        return error.context(format!("release {tag} is {state}; re-run `{rerun}` to finish"));
    }
    let failure::Lines { message, hint } = failure::lines(&error);
    if message.contains("immutable") {
        return error;
    }
    let hint = match hint {
        Some(hint) if hint.contains("cargo xtask github-release") => hint,
        Some(hint) => format!("{hint}; then re-run `{rerun}`: it uploads only what is missing, then publishes"),
        None => format!("re-run `{rerun}`: it uploads only what is missing, then publishes"),
    };
    refuse(format!("{message}; release {tag} is {state}"), hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_a_paste() {
        assert_eq!(shell_quote("dist/v1"), "dist/v1");
        assert_eq!(shell_quote("my dist"), "'my dist'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
    }
}
