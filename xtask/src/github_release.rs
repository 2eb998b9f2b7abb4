//! `cargo xtask github-release`: publish `checksums.txt` and exactly the files it lists to the
//! GitHub Release of their tag. Safe to re-run, and a published release is never left worse than
//! before: files are compared by digest (or, where the server keeps none, by downloading them),
//! only what is missing is uploaded, what differs is refused unless named by `--replace`, every
//! write to a published release lands under a staging name first and is renamed in once verified,
//! and a draft is published only when it holds exactly the listed files, each verified.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;

use crate::checksums_file::{CHECKSUMS_FILE, NOTES_FILE};
use crate::failure::{self, refuse, shell_quote};
use crate::flags::GithubReleaseFlags;
use crate::gha;
use crate::github_api::releases::{self, Asset, Release, Written};
// `collect` takes it from here.
pub use crate::github_api::scrub_error;
use crate::github_api::{self, Connection, Token};
use crate::process::check_interrupted;
use crate::release_folder::{self, LocalFile, ReleaseFolder};
use crate::version::Version;

/// What marks an asset as a staged copy: `<name>.xtask-staged-<first 12 hex of its sha256>`.
const STAGING_MARK: &str = ".xtask-staged-";
/// What marks an old asset moved aside while its replacement is renamed in.
const REPLACED_MARK: &str = ".xtask-replaced-";

fn short_hex(hex: &str) -> &str {
    &hex[..12.min(hex.len())]
}

/// The name a file is uploaded under before it is renamed in.
pub fn staging_name(file: &LocalFile) -> String {
    format!("{}{STAGING_MARK}{}", file.name, short_hex(&file.sha256))
}

fn marked<'a>(asset_name: &'a str, mark: &str) -> Option<(&'a str, &'a str)> {
    let (name, hex) = asset_name.rsplit_once(mark)?;
    (!name.is_empty() && hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some((name, hex))
}

/// `(name, 12 hex)` of a staged copy's asset name.
pub fn staged_for(asset_name: &str) -> Option<(&str, &str)> {
    marked(asset_name, STAGING_MARK)
}

/// Whether an asset name is one this tool gives to copies in transit (staged or moved aside).
pub fn is_in_transit(asset_name: &str) -> bool {
    staged_for(asset_name).is_some() || marked(asset_name, REPLACED_MARK).is_some()
}

/// Where the release of the tag stands before this run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Standing {
    Absent,
    Draft,
    Published,
    /// Published with immutable releases on: nothing about it can change.
    PublishedImmutable,
}

impl Standing {
    fn of(release: Option<&Release>) -> Standing {
        match release {
            None => Standing::Absent,
            Some(release) if release.draft => Standing::Draft,
            Some(release) if release.immutable => Standing::PublishedImmutable,
            Some(_) => Standing::Published,
        }
    }

    fn is_published(self) -> bool {
        matches!(self, Standing::Published | Standing::PublishedImmutable)
    }
}

/// What happens to one local file.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The release has it with the same sha256.
    Skip,
    /// The release does not have it: uploaded (to a published release under a staging name first).
    Upload,
    /// The release has an unfinished upload of it (state not `uploaded`, no digest): nobody can
    /// download that, so it is deleted and the file uploaded again.
    Redo { asset_id: u64, state: String },
    /// Named in `--replace` and different on the release: the new file is uploaded under a staging
    /// name and verified, then swapped in for `old` (moved aside first, deleted once all are in).
    Replace { old: Old },
    /// An earlier run left a verified staged copy of this very file: renamed in, taking the place
    /// of `old`, the unfinished or replaced asset under the name.
    Resume { staged_id: u64, old: Option<Old> },
    /// The name is missing, but a swap that was cut off moved this very file aside
    /// (`<name>.xtask-replaced-<hex>`): renamed back.
    Restore { asset_id: u64 },
    /// Different on the release and not named in `--replace`.
    Refuse { release_sha256: Option<String> },
}

/// The asset that holds a name's published content: the asset under the name, or, while the name
/// is missing, an uploaded copy that a swap which was cut off moved aside.
fn holder_of<'a>(assets: &'a [Asset], name: &str) -> Option<&'a Asset> {
    assets.iter().find(|asset| asset.name == name).or_else(|| {
        assets.iter().find(|asset| {
            asset.is_uploaded() && marked(&asset.name, REPLACED_MARK).is_some_and(|(original, _)| original == name)
        })
    })
}

/// The name an asset stands for: its own, or for a copy moved aside, the name it was moved from.
fn logical_name(asset: &Asset) -> &str {
    marked(&asset.name, REPLACED_MARK).map_or(asset.name.as_str(), |(original, _)| original)
}

/// What happens to an asset of the release that `checksums.txt` does not list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extra {
    /// A staged copy an earlier run left behind, or a moved-aside one whose name is back: deleted.
    Cleanup,
    /// On a draft, unfinished, or named by `--remove`: deleted, said out loud.
    Remove,
    /// On a published release and not named by `--remove`: the run is refused.
    Refuse,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub standing: Standing,
    /// One entry per local file, in the order of `checksums.txt` (itself last).
    pub files: Vec<(LocalFile, Action)>,
    /// The release's assets that are not local files, sorted by name.
    pub extras: Vec<(Asset, Extra)>,
}

impl Plan {
    fn file_refusals(&self) -> Vec<String> {
        self.files
            .iter()
            .filter_map(|(file, action)| match action {
                Action::Refuse { release_sha256 } => Some(format!(
                    "{}: the release has {}, the local file is sha256:{}",
                    file.name,
                    described_hash(release_sha256),
                    file.sha256
                )),
                _ => None,
            })
            .collect()
    }

    fn refused_files(&self) -> Vec<&str> {
        self.files
            .iter()
            .filter(|(_, action)| matches!(action, Action::Refuse { .. }))
            .map(|(file, _)| file.name.as_str())
            .collect()
    }

    fn refused_extras(&self) -> Vec<&str> {
        self.extras.iter().filter(|(_, extra)| *extra == Extra::Refuse).map(|(asset, _)| logical_name(asset)).collect()
    }

    fn file_writes(&self) -> usize {
        self.files.iter().filter(|(_, action)| !matches!(action, Action::Skip | Action::Refuse { .. })).count()
    }

    /// Requests that change the release: file writes and deletions of extras.
    fn writes(&self) -> usize {
        self.file_writes() + self.extras.iter().filter(|(_, extra)| *extra != Extra::Refuse).count()
    }
}

fn described_hash(hex: &Option<String>) -> String {
    hex.as_deref().map_or("no digest".to_string(), |hex| format!("sha256:{hex}"))
}

/// Compare the local files with the release's assets (their `sha256` known, from GitHub's digest
/// or a download).
pub fn plan(
    local: &[LocalFile],
    assets: &[Asset],
    standing: Standing,
    replace: &BTreeSet<String>,
    remove: &BTreeSet<String>,
) -> Plan {
    let mut consumed = BTreeSet::new();
    let files = local
        .iter()
        .map(|file| {
            let current = holder_of(assets, &file.name);
            let staged = assets.iter().find(|asset| {
                asset.is_uploaded()
                    && asset.sha256.as_deref() == Some(file.sha256.as_str())
                    && staged_for(&asset.name) == Some((file.name.as_str(), short_hex(&file.sha256)))
            });
            let same = |asset: &Asset| asset.sha256.as_deref() == Some(file.sha256.as_str());
            let old_of = |asset: &Asset| match asset.is_uploaded() {
                true => Old::Replaced {
                    id: asset.id,
                    sha256: asset.sha256.clone().unwrap_or_default(),
                    moved_aside: asset.name != file.name,
                },
                false => Old::Unfinished(asset.id),
            };
            let action = match (current, staged) {
                (Some(asset), _) if asset.is_uploaded() && same(asset) && asset.name == file.name => Action::Skip,
                (Some(asset), _) if asset.is_uploaded() && same(asset) => Action::Restore { asset_id: asset.id },
                (Some(asset), _) if asset.is_uploaded() && !replace.contains(&file.name) => {
                    Action::Refuse { release_sha256: asset.sha256.clone() }
                }
                (current, Some(staged)) => Action::Resume { staged_id: staged.id, old: current.map(old_of) },
                (Some(asset), None) if asset.is_uploaded() => Action::Replace { old: old_of(asset) },
                (Some(asset), None) => Action::Redo { asset_id: asset.id, state: asset.state.clone() },
                (None, None) => Action::Upload,
            };
            if let Some(asset) = current {
                consumed.insert(asset.id);
            }
            if let Action::Resume { staged_id, .. } = action {
                consumed.insert(staged_id);
            }
            (file.clone(), action)
        })
        .collect();
    let mut extras: Vec<(Asset, Extra)> = assets
        .iter()
        .filter(|asset| !local.iter().any(|file| file.name == asset.name) && !consumed.contains(&asset.id))
        .map(|asset| {
            // A copy moved aside while its name is missing stands for that name: a published file.
            let stands_for_a_name = marked(&asset.name, REPLACED_MARK)
                .is_some_and(|(original, _)| holder_of(assets, original).is_some_and(|holder| holder.id == asset.id));
            let extra = if is_in_transit(&asset.name) && !stands_for_a_name {
                Extra::Cleanup
            } else if standing == Standing::Draft || !asset.is_uploaded() || remove.contains(logical_name(asset)) {
                Extra::Remove
            } else {
                Extra::Refuse
            };
            (asset.clone(), extra)
        })
        .collect();
    extras.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Plan { standing, files, extras }
}

/// A pre-release on GitHub exactly when the tag's version is a PEP 440 pre-release (`a`, `b`,
/// `rc` or `.dev`); a tag that is not `v<PEP 440 version>` is refused.
pub fn is_prerelease(tag: &str) -> anyhow::Result<bool> {
    let version = Version::parse(tag).map_err(|_| {
        refuse(format!("tag {tag:?} is not v<PEP 440 version>"), "release tags look like v1.2.3 or v1.2.3rc1")
    })?;
    Ok(version.pre.is_some() || version.dev.is_some())
}

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
    let mut command = format!("cargo xtask github-release --tag {}", shell_quote(&flags.tag));
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
    let token = Token::from_environment();
    publish(flags, token.clone()).map_err(|error| scrub_error(error, token.as_ref()))
}

fn publish(flags: &GithubReleaseFlags, token: Option<Token>) -> anyhow::Result<()> {
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
    release_folder::check_tag_text(tag)?;
    let prerelease = is_prerelease(tag)?;
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
    release_folder::check_tag_matches(tag, &expected_tag, &folder)?;
    release_folder::check_built_from_head(&dir, &folder.commit)?;
    check_named_files(flags, &folder)?;
    let anonymous = token.is_none();
    let connection = github_api::connect(flags.repo.as_deref(), token)?;
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

/// `--replace` names files of `checksums.txt`; `--remove` names none of them.
fn check_named_files(flags: &GithubReleaseFlags, folder: &ReleaseFolder) -> anyhow::Result<()> {
    let local = |name: &String| folder.files.iter().any(|file| &file.name == name);
    let unknown: Vec<&String> = flags.replace.iter().filter(|name| !local(name)).collect();
    if !unknown.is_empty() {
        return Err(refuse(
            format!("--replace names files that are not in {}: {unknown:?}", folder.dir.join(CHECKSUMS_FILE).display()),
            "pass the asset names exactly as checksums.txt lists them",
        ));
    }
    let listed: Vec<&String> = flags.remove.iter().filter(|name| local(name)).collect();
    if !listed.is_empty() {
        return Err(refuse(
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

/// An asset's sha256: its digest, what this run already downloaded, or a download now.
fn asset_sha256(
    connection: &Connection,
    asset: &Asset,
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<String> {
    if let Some(hex) = asset.sha256.as_ref().or_else(|| verified.get(&asset.id)) {
        return Ok(hex.clone());
    }
    println!(
        "  {}: GitHub keeps no digest for it (an older GitHub Enterprise Server, or an asset older than digests): \
         downloading it to hash it",
        asset.name
    );
    let hex = releases::hash_asset(connection, asset)?;
    verified.insert(asset.id, hex.clone());
    Ok(hex)
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

/// Carry out the plan: on a draft, removals first and plain uploads; on a published release (and
/// for every replacement), staged uploads first, then every swap as one unit (checksums.txt last),
/// then removals.
fn execute(
    connection: &Connection,
    release: &Release,
    plan: &Plan,
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<()> {
    let published = !release.draft;
    if !published {
        delete_extras(connection, plan)?;
    }
    let mut swaps: Vec<Swap> = Vec::new();
    for (file, action) in &plan.files {
        check_interrupted()?;
        match action {
            Action::Skip | Action::Refuse { .. } => {}
            Action::Upload if !published => {
                upload_verified(connection, release, file, &file.name, verified)?;
                println!("uploaded {} ({}, sha256:{})", file.name, human_size(file.size), file.sha256);
            }
            Action::Redo { asset_id, state } if !published => {
                println!("deleting an unfinished upload of {} (state {state})", file.name);
                releases::delete_asset(connection, *asset_id)?;
                upload_verified(connection, release, file, &file.name, verified)?;
                println!("uploaded {} ({}, sha256:{})", file.name, human_size(file.size), file.sha256);
            }
            Action::Upload | Action::Redo { .. } | Action::Replace { .. } => {
                let staged_name = staging_name(file);
                let staged = upload_verified(connection, release, file, &staged_name, verified)?;
                println!(
                    "uploaded {} as {staged_name} ({}, sha256:{}), verified",
                    file.name,
                    human_size(file.size),
                    file.sha256
                );
                let old = match action {
                    Action::Redo { asset_id, .. } => Some(Old::Unfinished(*asset_id)),
                    Action::Replace { old } => Some(old.clone()),
                    _ => None,
                };
                swaps.push(Swap { file, new_id: staged.id, old });
            }
            Action::Resume { staged_id, old } => {
                println!("{}: a verified staged copy from an earlier run is on the release; renaming it in", file.name);
                swaps.push(Swap { file, new_id: *staged_id, old: old.clone() });
            }
            Action::Restore { asset_id } => {
                println!("{}: moved aside by a swap that was cut off; renaming it back", file.name);
                swaps.push(Swap { file, new_id: *asset_id, old: None });
            }
        }
    }
    if !swaps.is_empty() {
        crate::process::finish_before_interrupt(|| swap_all(connection, release, &swaps, verified))?;
    }
    if published {
        delete_extras(connection, plan)?;
    }
    Ok(())
}

/// The asset under a file's name that a staged copy takes the place of.
#[derive(Debug, Clone, PartialEq)]
pub enum Old {
    /// An upload that never finished: nobody can download it, so it is simply deleted.
    Unfinished(u64),
    /// A finished asset: moved aside first (unless a swap that was cut off already did), and
    /// deleted only once every new file is in.
    Replaced { id: u64, sha256: String, moved_aside: bool },
}

/// A verified asset (`new_id`) to rename to its file's name, in place of `old`.
struct Swap<'a> {
    file: &'a LocalFile,
    new_id: u64,
    old: Option<Old>,
}

/// A swap that went through: the new asset has the name; the old one, if any, waits aside.
struct Swapped<'a> {
    file: &'a LocalFile,
    new_id: u64,
    aside: Option<(u64, String)>,
}

/// Every swap, as one unit: when one fails, the ones before it are put back (newest first), so the
/// published files never mix new and old; the old files are deleted only once all are in. Runs
/// under [`crate::process::finish_before_interrupt`]: a first Ctrl-C waits for it.
fn swap_all(
    connection: &Connection,
    release: &Release,
    swaps: &[Swap<'_>],
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<()> {
    let mut done: Vec<Swapped<'_>> = Vec::new();
    for swap in swaps {
        match swap_one(connection, release, swap, verified) {
            Ok(Some(swapped)) => done.push(swapped),
            Ok(None) => {}
            Err(error) if done.is_empty() => return Err(error),
            Err(error) => {
                let names: Vec<&str> = done.iter().map(|swapped| swapped.file.name.as_str()).collect();
                return Err(match put_back(connection, &done) {
                    Ok(()) => error.context(format!(
                        "the files swapped in before it ({}) were put back: the release has the files it had",
                        names.join(", ")
                    )),
                    Err(undo) => error.context(format!(
                        "putting back the files swapped in before it ({}) failed too ({}): the release mixes new and \
                         old files until a re-run finishes",
                        names.join(", "),
                        failure::lines(&undo).message
                    )),
                });
            }
        }
    }
    for swapped in &done {
        if let Some((old_id, _)) = &swapped.aside {
            println!("deleting the replaced {}", swapped.file.name);
            releases::delete_asset(connection, *old_id)?;
        }
    }
    Ok(())
}

/// Undo swaps that went through, newest first: the new file back under its staging name, the old
/// one back under its name.
fn put_back(connection: &Connection, done: &[Swapped<'_>]) -> anyhow::Result<()> {
    for swapped in done.iter().rev() {
        let file = swapped.file;
        if let Some((old_id, _)) = &swapped.aside {
            expect_renamed(releases::rename_asset(connection, swapped.new_id, &staging_name(file))?, &file.name)?;
            expect_renamed(releases::rename_asset(connection, *old_id, &file.name)?, &file.name)?;
            println!("put the old {} back", file.name);
        }
    }
    Ok(())
}

fn expect_renamed(written: Written, name: &str) -> anyhow::Result<()> {
    match written {
        Written::Done(_) => Ok(()),
        _ => anyhow::bail!("GitHub did not rename {name} back"),
    }
}

/// One swap: the old asset renamed aside (or deleted when it never finished), the new one renamed
/// in, the old one renamed back if that fails. `None` when another run already made the swap.
fn swap_one<'a>(
    connection: &Connection,
    release: &Release,
    swap: &Swap<'a>,
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<Option<Swapped<'a>>> {
    let file = swap.file;
    let aside = match &swap.old {
        None => None,
        Some(Old::Unfinished(id)) => {
            println!("deleting an unfinished upload of {}", file.name);
            releases::delete_asset(connection, *id)?;
            None
        }
        Some(Old::Replaced { id, sha256, moved_aside }) => {
            let aside = format!("{}{REPLACED_MARK}{}", file.name, short_hex(sha256));
            if !moved_aside && !move_aside(connection, release, file, *id, &aside, verified)? {
                // Another run swapped the new file in already. Two runs of the same bytes share one
                // staged name, so the copy may be the very asset now under the name: delete it
                // only while it still carries a staging name.
                println!("{} is already on the release with its sha256 (another run)", file.name);
                let assets = releases::list_assets(connection, release.id)?;
                if let Some(copy) = assets.iter().find(|asset| asset.id == swap.new_id && is_in_transit(&asset.name)) {
                    println!("deleting {}: not needed", copy.name);
                    releases::delete_asset(connection, copy.id)?;
                }
                return Ok(None);
            }
            Some((*id, aside))
        }
    };
    match rename_in(connection, release, file, swap.new_id, verified) {
        Ok(()) => Ok(Some(Swapped { file, new_id: swap.new_id, aside })),
        Err(error) => {
            let Some((old_id, aside)) = aside else {
                return Err(error.context(format!(
                    "{} is not on the release yet: its verified copy is there as {}",
                    file.name,
                    staging_name(file)
                )));
            };
            let state = match releases::rename_asset(connection, old_id, &file.name) {
                Ok(Written::Done(_)) => format!("the old {} is back under its name", file.name),
                _ => {
                    format!("the old {} is on the release as {aside}, the new one as {}", file.name, staging_name(file))
                }
            };
            Err(error.context(format!("renaming the new {} in failed; {state}", file.name)))
        }
    }
}

/// Rename the old asset `id` to `aside`; `false` when it is gone because another run already put
/// this run's very bytes under the name.
fn move_aside(
    connection: &Connection,
    release: &Release,
    file: &LocalFile,
    id: u64,
    aside: &str,
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<bool> {
    match releases::rename_asset(connection, id, aside)? {
        Written::Done(_) => return Ok(true),
        Written::Gone => {
            let assets = releases::list_assets(connection, release.id)?;
            return match assets.iter().find(|asset| asset.name == file.name) {
                Some(asset) if asset.is_uploaded() && asset_sha256(connection, asset, verified)? == file.sha256 => {
                    Ok(false)
                }
                _ => anyhow::bail!(
                    "the old {} disappeared from the release while this run replaced it (another run with other files?)",
                    file.name
                ),
            };
        }
        Written::NameTaken | Written::TakenAfterCutOff(_) => {}
    }
    let assets = releases::list_assets(connection, release.id)?;
    match assets.iter().find(|asset| asset.name == aside) {
        // An earlier attempt of this very rename went through.
        Some(asset) if asset.id == id => Ok(true),
        // A copy moved aside by an earlier run is in the way: it is ours, and stale.
        Some(stale) => {
            releases::delete_asset(connection, stale.id)?;
            match releases::rename_asset(connection, id, aside)? {
                Written::Done(_) => Ok(true),
                _ => anyhow::bail!("{aside} is taken on the release; cannot move the old {} aside", file.name),
            }
        }
        None => anyhow::bail!("cannot move the old {} aside as {aside}", file.name),
    }
}

/// After a failed run on a published release: delete the staged copies on it (users see them on
/// the release page), best effort. Copies moved aside stay: they may hold a name's content.
fn withdraw_staged_copies(connection: &Connection, release: &Release) {
    let Ok(assets) = releases::list_assets(connection, release.id) else { return };
    for asset in assets.iter().filter(|asset| staged_for(&asset.name).is_some()) {
        match releases::delete_asset(connection, asset.id) {
            Ok(()) => println!("withdrew {} from the published release", asset.name),
            Err(error) => eprintln!("warning: could not withdraw {}: {}", asset.name, failure::lines(&error).message),
        }
    }
}

fn delete_extras(connection: &Connection, plan: &Plan) -> anyhow::Result<()> {
    for (asset, extra) in &plan.extras {
        check_interrupted()?;
        match extra {
            Extra::Cleanup => println!("deleting {}: a copy in transit an earlier run left behind", asset.name),
            Extra::Remove if plan.standing == Standing::Draft => {
                println!(
                    "deleting {} from the draft: checksums.txt does not list it, so it is not published",
                    asset.name
                )
            }
            Extra::Remove if !asset.is_uploaded() => {
                println!("deleting {}: an unfinished upload nobody can download", asset.name)
            }
            Extra::Remove => println!("deleting {} (--remove)", asset.name),
            Extra::Refuse => continue,
        }
        releases::delete_asset(connection, asset.id)?;
    }
    Ok(())
}

/// Rename a verified staged copy to its file's name.
fn rename_in(
    connection: &Connection,
    release: &Release,
    file: &LocalFile,
    staged_id: u64,
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<()> {
    match releases::rename_asset(connection, staged_id, &file.name)? {
        Written::Done(asset) if asset.name == file.name => {
            println!("renamed it in: {} (sha256:{})", file.name, file.sha256);
            Ok(())
        }
        Written::Done(asset) => anyhow::bail!("GitHub named the renamed asset {} instead of {}", asset.name, file.name),
        Written::NameTaken | Written::TakenAfterCutOff(_) | Written::Gone => {
            // An earlier attempt of this rename went through, or another run got there first: fine
            // when the same bytes are there.
            let assets = releases::list_assets(connection, release.id)?;
            match assets.iter().find(|asset| asset.name == file.name) {
                Some(asset) if asset.id == staged_id => {
                    println!("renamed it in: {} (sha256:{})", file.name, file.sha256);
                    Ok(())
                }
                Some(asset) if asset.is_uploaded() && asset_sha256(connection, asset, verified)? == file.sha256 => {
                    println!(
                        "{} is already on the release with its sha256 (another run); deleting the staged copy",
                        file.name
                    );
                    releases::delete_asset(connection, staged_id)
                }
                _ => anyhow::bail!(
                    "{} appeared on the release with other content while this run replaced it (another run with \
                     other files?)",
                    file.name
                ),
            }
        }
    }
}

/// Upload `file` as `as_name` and check what GitHub stored against the local sha256 (its digest,
/// or a download where it keeps none). A `422 already_exists` means an earlier attempt (or another
/// run) got further than its answer said: the same bytes count, an unfinished upload is given a
/// moment (another run's upload in progress) and then deleted, other bytes stop the run.
fn upload_verified(
    connection: &Connection,
    release: &Release,
    file: &LocalFile,
    as_name: &str,
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<Asset> {
    let mut cut_off: Vec<&'static str> = Vec::new();
    for _ in 0..3 {
        let written = releases::upload_asset(connection, release, as_name, &file.path)?;
        let own_attempt_in_the_way = matches!(written, Written::TakenAfterCutOff(_));
        match written {
            Written::Done(asset) => return check_stored(connection, file, as_name, asset, verified),
            Written::TakenAfterCutOff(failures) => cut_off.extend(failures),
            Written::NameTaken => {}
            Written::Gone => anyhow::bail!("uploading {as_name}: release {} is gone (deleted meanwhile?)", release.tag),
        }
        // The name is taken: by this run's own cut-off attempt (deleted at once), or by another
        // run's upload (given a moment to finish).
        let existing = if own_attempt_in_the_way {
            releases::list_assets(connection, release.id)?.into_iter().find(|asset| asset.name == as_name)
        } else {
            settled_asset(connection, release, as_name)?
        };
        match existing {
            Some(asset) if asset.is_uploaded() => {
                if asset_sha256(connection, &asset, verified)? == file.sha256 {
                    return Ok(asset);
                }
                anyhow::bail!(
                    "{as_name} appeared on the release with other content while this run uploaded it (another run \
                     with other files?)"
                );
            }
            Some(asset) => {
                println!("  {as_name}: an unfinished upload (state {}) is in the way; deleting it", asset.state);
                releases::delete_asset(connection, asset.id)?;
            }
            None => {}
        }
    }
    if let Some(first) = cut_off.first().filter(|first| cut_off.iter().all(|kind| kind == *first)) {
        anyhow::bail!(
            "uploading {as_name}: {first} on every attempt ({} attempts); each left an unfinished upload, deleted",
            cut_off.len() + 3
        );
    }
    anyhow::bail!(
        "uploading {as_name} kept colliding with other uploads of that name (is another run publishing {} right now?)",
        release.tag
    )
}

/// The asset named `name`, after giving an unfinished one two short waits to finish.
fn settled_asset(connection: &Connection, release: &Release, name: &str) -> anyhow::Result<Option<Asset>> {
    for wait in 0..3u32 {
        let found = releases::list_assets(connection, release.id)?.into_iter().find(|asset| asset.name == name);
        match found {
            Some(asset) if !asset.is_uploaded() && wait < 2 => {
                github_api::sleep_interruptibly(connection.backoff_base.saturating_mul(1 << wait))?;
            }
            other => return Ok(other),
        }
    }
    Ok(None)
}

/// What GitHub answered for an upload must be the file: its name, and its sha256.
fn check_stored(
    connection: &Connection,
    file: &LocalFile,
    as_name: &str,
    asset: Asset,
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<Asset> {
    if asset.name != as_name {
        let _ = releases::delete_asset(connection, asset.id);
        anyhow::bail!("GitHub stored {as_name} under the name {} (deleted)", asset.name);
    }
    let stored = asset_sha256(connection, &asset, verified)?;
    if stored == file.sha256 {
        return Ok(asset);
    }
    let deleted = releases::delete_asset(connection, asset.id);
    let what_became = match &deleted {
        Ok(()) => "the bad copy was deleted".to_string(),
        Err(error) => format!("deleting the bad copy failed too: {}", failure::lines(error).message),
    };
    Err(refuse(
        format!(
            "GitHub stored {as_name} with sha256:{stored}, but the local file is sha256:{}: the bytes changed on the way \
             ({what_became})",
            file.sha256
        ),
        "check what sits between this machine and GitHub (a proxy that rewrites uploads?) and that the file did not \
         change while uploading",
    ))
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

pub fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

fn describe(file: &LocalFile, action: &Action, standing: Standing) -> (&'static str, String) {
    let staged = if standing.is_published() { " under a staging name, verified, then renamed in" } else { "" };
    match action {
        Action::Skip => ("skip", "already on the release with the same sha256".into()),
        Action::Upload => ("upload", format!("{}, sha256:{}{staged}", human_size(file.size), file.sha256)),
        Action::Redo { state, .. } => {
            ("redo", format!("an unfinished upload (state {state}) is deleted, then uploaded{staged}"))
        }
        Action::Replace { old } => {
            let old_sha256 = match old {
                Old::Replaced { sha256, .. } if !sha256.is_empty() => Some(sha256.clone()),
                _ => None,
            };
            (
                "replace",
                format!(
                    "--replace: sha256:{} goes up under a staging name and is verified, then replaces the release's {}",
                    file.sha256,
                    described_hash(&old_sha256)
                ),
            )
        }
        Action::Resume { .. } => ("resume", "an earlier run's verified staged copy is renamed in".into()),
        Action::Restore { .. } => ("restore", "moved aside by a swap that was cut off: renamed back".into()),
        Action::Refuse { release_sha256 } => (
            "refuse",
            format!("the release has {}, the local file is sha256:{}", described_hash(release_sha256), file.sha256),
        ),
    }
}

fn describe_extra(asset: &Asset, extra: Extra, standing: Standing) -> (&'static str, &'static str) {
    let moved_aside = logical_name(asset) != asset.name;
    match extra {
        Extra::Cleanup => ("cleanup", "a copy in transit an earlier run left behind: deleted"),
        Extra::Refuse if moved_aside => (
            "refuse",
            "a published file moved aside by a swap that was cut off, not in checksums.txt (--remove its name)",
        ),
        Extra::Remove if !asset.is_uploaded() => ("remove", "an unfinished upload not in checksums.txt: deleted"),
        Extra::Remove if standing == Standing::Draft => {
            ("remove", "on the draft but not in checksums.txt: deleted before publishing")
        }
        Extra::Remove => ("remove", "not in checksums.txt, named by --remove: deleted"),
        Extra::Refuse => ("refuse", "on the published release but not in checksums.txt"),
    }
}

/// The plan as text: one line per file, then the release's other assets.
pub fn render_plan(plan: &Plan) -> String {
    let names = plan.files.iter().map(|(file, _)| file.name.len()).chain(plan.extras.iter().map(|(a, _)| a.name.len()));
    let width = names.max().unwrap_or(0);
    let mut text = String::new();
    for (file, action) in &plan.files {
        let (verb, detail) = describe(file, action, plan.standing);
        text.push_str(&format!("  {verb:<8} {:<width$}  {detail}\n", file.name));
    }
    for (asset, extra) in &plan.extras {
        let (verb, detail) = describe_extra(asset, *extra, plan.standing);
        text.push_str(&format!("  {verb:<8} {:<width$}  {detail}\n", asset.name));
    }
    text
}

/// The plan as a Markdown table for the step summary.
pub fn render_plan_table(plan: &Plan) -> String {
    let mut table = String::from("| file | action | detail |\n|---|---|---|\n");
    for (file, action) in &plan.files {
        let (verb, detail) = describe(file, action, plan.standing);
        table.push_str(&format!("| `{}` | {verb} | {detail} |\n", file.name));
    }
    for (asset, extra) in &plan.extras {
        let (verb, detail) = describe_extra(asset, *extra, plan.standing);
        table.push_str(&format!("| `{}` | {verb} | {detail} |\n", asset.name));
    }
    table
}

/// What was done, as a Markdown table for the step summary (after a successful run).
pub fn render_result_table(plan: &Plan) -> String {
    let mut table = String::from("| file | result | sha256 |\n|---|---|---|\n");
    for (file, action) in &plan.files {
        let result = match action {
            Action::Skip => "already there",
            Action::Upload => "uploaded",
            Action::Redo { .. } => "unfinished upload redone",
            Action::Replace { .. } => "replaced (--replace)",
            Action::Resume { .. } => "staged copy renamed in",
            Action::Restore { .. } => "renamed back",
            Action::Refuse { .. } => "refused",
        };
        table.push_str(&format!("| `{}` | {result} | `{}` |\n", file.name, file.sha256));
    }
    table
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn local(name: &str, hex: char) -> LocalFile {
        LocalFile { name: name.into(), sha256: hex.to_string().repeat(64), size: 10, path: PathBuf::from(name) }
    }

    fn asset(id: u64, name: &str, state: &str, hex: Option<char>) -> Asset {
        Asset {
            id,
            name: name.into(),
            size: 10,
            state: state.into(),
            sha256: hex.map(|c| c.to_string().repeat(64)),
            url: format!("http://x/assets/{id}"),
        }
    }

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    fn actions(plan: &Plan) -> Vec<(&str, Action)> {
        plan.files.iter().map(|(file, action)| (file.name.as_str(), action.clone())).collect()
    }

    #[test]
    fn plan_skips_uploads_refuses_and_sorts_out_the_rest() {
        let files = [local("same", 'a'), local("missing", 'b'), local("differs", 'c'), local("partial", 'd')];
        let assets = [
            asset(1, "same", "uploaded", Some('a')),
            asset(2, "differs", "uploaded", Some('f')),
            asset(3, "partial", "starter", None),
            asset(4, "zz-extra", "uploaded", Some('e')),
            asset(5, "a-extra", "uploaded", None),
        ];
        let plan = plan(&files, &assets, Standing::Draft, &none(), &none());
        assert_eq!(
            actions(&plan),
            [
                ("same", Action::Skip),
                ("missing", Action::Upload),
                ("differs", Action::Refuse { release_sha256: Some("f".repeat(64)) }),
                ("partial", Action::Redo { asset_id: 3, state: "starter".into() }),
            ]
        );
        // On a draft, what checksums.txt does not list is removed before publishing.
        let extras: Vec<_> = plan.extras.iter().map(|(a, e)| (a.name.as_str(), *e)).collect();
        assert_eq!(extras, [("a-extra", Extra::Remove), ("zz-extra", Extra::Remove)]);
        let refusals = plan.file_refusals();
        assert_eq!(refusals.len(), 1);
        assert!(refusals[0].contains(&"f".repeat(64)) && refusals[0].contains(&"c".repeat(64)), "{refusals:?}");
    }

    #[test]
    fn a_published_release_refuses_unlisted_assets_unless_named_by_remove() {
        let files = [local("one", 'a')];
        let assets = [asset(1, "one", "uploaded", Some('a')), asset(2, "stray", "uploaded", Some('b'))];
        let refused = plan(&files, &assets, Standing::Published, &none(), &none());
        assert_eq!(refused.refused_extras(), ["stray"]);
        assert_eq!(refused.writes(), 0);
        let removed = plan(&files, &assets, Standing::Published, &none(), &BTreeSet::from(["stray".to_string()]));
        assert_eq!(removed.extras[0].1, Extra::Remove);
        assert_eq!(removed.writes(), 1);
    }

    #[test]
    fn replace_applies_only_to_named_files_that_differ() {
        let files = [local("differs", 'c'), local("same", 'a'), local("no-digest", 'b')];
        let assets = [
            asset(2, "differs", "uploaded", Some('f')),
            asset(1, "same", "uploaded", Some('a')),
            asset(7, "no-digest", "uploaded", None),
        ];
        let replace = BTreeSet::from(["differs".to_string(), "same".to_string()]);
        let plan = plan(&files, &assets, Standing::Published, &replace, &none());
        let old = Old::Replaced { id: 2, sha256: "f".repeat(64), moved_aside: false };
        assert_eq!(plan.files[0].1, Action::Replace { old });
        assert_eq!(plan.files[1].1, Action::Skip);
        assert_eq!(plan.files[2].1, Action::Refuse { release_sha256: None }, "no digest, not named: refused");
        assert_eq!(plan.file_writes(), 1);
    }

    #[test]
    fn a_verified_staged_copy_is_resumed_and_a_stale_one_cleaned_up() {
        let file = local("bin", 'c');
        let staged = staging_name(&file);
        assert_eq!(staged_for(&staged), Some(("bin", "cccccccccccc")));
        let assets = [
            asset(1, "bin", "uploaded", Some('f')),
            asset(2, &staged, "uploaded", Some('c')),
            asset(3, &format!("bin{STAGING_MARK}ffffffffffff"), "uploaded", Some('f')),
            asset(4, &format!("bin{REPLACED_MARK}eeeeeeeeeeee"), "uploaded", Some('e')),
        ];
        let replace = BTreeSet::from(["bin".to_string()]);
        let plan = plan(std::slice::from_ref(&file), &assets, Standing::Published, &replace, &none());
        let old = Old::Replaced { id: 1, sha256: "f".repeat(64), moved_aside: false };
        assert_eq!(plan.files[0].1, Action::Resume { staged_id: 2, old: Some(old) });
        let extras: Vec<_> = plan.extras.iter().map(|(asset, extra)| (asset.id, *extra)).collect();
        assert_eq!(extras, [(4, Extra::Cleanup), (3, Extra::Cleanup)], "sorted by name");
        // Without --replace the differing file is still refused, staged copy or not.
        let refused = self::plan(&[file], &assets, Standing::Published, &none(), &none());
        assert!(matches!(refused.files[0].1, Action::Refuse { .. }));
        // A staged copy whose bytes differ from its name's hash is not trusted.
        let forged = [asset(9, &staged, "uploaded", Some('d'))];
        let plan = self::plan(&[local("bin", 'c')], &forged, Standing::Published, &none(), &none());
        assert_eq!(plan.files[0].1, Action::Upload);
        assert_eq!(plan.extras[0].1, Extra::Cleanup);
    }

    #[test]
    fn a_name_held_aside_by_a_cut_off_swap_is_restored_or_replaced_from_where_it_is() {
        let file = local("bin", 'c');
        let aside = asset(5, &format!("bin{REPLACED_MARK}ffffffffffff"), "uploaded", Some('f'));
        let replace = BTreeSet::from(["bin".to_string()]);
        let plan =
            plan(std::slice::from_ref(&file), std::slice::from_ref(&aside), Standing::Published, &replace, &none());
        let old = Old::Replaced { id: 5, sha256: "f".repeat(64), moved_aside: true };
        assert_eq!(plan.files[0].1, Action::Replace { old });
        assert!(plan.extras.is_empty(), "the aside copy is the old file, not a leftover: {:?}", plan.extras);
        let same = asset(5, &format!("bin{REPLACED_MARK}cccccccccccc"), "uploaded", Some('c'));
        let plan = self::plan(&[file], &[same], Standing::Published, &none(), &none());
        assert_eq!(plan.files[0].1, Action::Restore { asset_id: 5 });
    }

    #[test]
    fn staged_names_are_recognised_exactly() {
        for not_staged in [
            "bin",
            "bin.xtask-staged-",
            "bin.xtask-staged-abc",
            ".xtask-staged-0123456789ab",
            "bin.xtask-staged-0123456789ag",
        ] {
            assert_eq!(staged_for(not_staged), None, "{not_staged}");
        }
    }

    #[test]
    fn prerelease_follows_pep_440() {
        for (tag, expected) in [
            ("v0.2.0", false),
            ("v0.2.0rc1", true),
            ("v1.0.0a2", true),
            ("v1.0.0.dev3", true),
            ("v1.0.0.post1", false),
            ("1.0.0b1", true),
        ] {
            assert_eq!(is_prerelease(tag).unwrap(), expected, "{tag}");
        }
        assert!(is_prerelease("nightly").is_err());
    }

    #[test]
    fn shell_words_survive_a_paste() {
        assert_eq!(shell_quote("dist/v1"), "dist/v1");
        assert_eq!(shell_quote("my dist"), "'my dist'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
    }

    #[test]
    fn plan_text_names_every_file_and_both_hashes_of_a_refusal() {
        let plan = plan(
            &[local("b-file", 'c'), local("checksums.txt", 'a')],
            &[asset(2, "b-file", "uploaded", Some('f')), asset(3, "old", "uploaded", Some('e'))],
            Standing::Published,
            &none(),
            &none(),
        );
        let text = render_plan(&plan);
        let expected = format!(
            "  refuse   b-file         the release has sha256:{}, the local file is sha256:{}\n\
             \x20 upload   checksums.txt  10 B, sha256:{} under a staging name, verified, then renamed in\n\
             \x20 refuse   old            on the published release but not in checksums.txt\n",
            "f".repeat(64),
            "c".repeat(64),
            "a".repeat(64)
        );
        assert_eq!(text, expected);
        assert!(render_plan_table(&plan).contains("| `old` | refuse |"));
    }
}
