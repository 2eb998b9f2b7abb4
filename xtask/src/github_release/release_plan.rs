//! The plan of a `github-release` run, as data: where the release stands, what happens to each
//! local file (skip, upload, redo, replace, resume, restore, refuse) and to each asset
//! `checksums.txt` does not list, the staging names of copies in transit, and the plan rendered as
//! text and as Markdown tables. Pure: the requests are made by `uploads.rs`, `asset_swaps.rs` and
//! the command.

use std::collections::BTreeSet;

use crate::github_api::releases::{Asset, Release};
use crate::release_folder::LocalFile;

/// What marks an asset as a staged copy: `<name>.xtask-staged-<first 12 hex of its sha256>`.
const STAGING_MARK: &str = ".xtask-staged-";

/// What marks an old asset moved aside while its replacement is renamed in.
pub const REPLACED_MARK: &str = ".xtask-replaced-";

pub fn short_hex(hex: &str) -> &str {
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
    pub fn of(release: Option<&Release>) -> Standing {
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
pub fn logical_name(asset: &Asset) -> &str {
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
    pub fn file_refusals(&self) -> Vec<String> {
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

    pub fn refused_files(&self) -> Vec<&str> {
        self.files
            .iter()
            .filter(|(_, action)| matches!(action, Action::Refuse { .. }))
            .map(|(file, _)| file.name.as_str())
            .collect()
    }

    pub fn refused_extras(&self) -> Vec<&str> {
        self.extras.iter().filter(|(_, extra)| *extra == Extra::Refuse).map(|(asset, _)| logical_name(asset)).collect()
    }

    pub fn file_writes(&self) -> usize {
        self.files.iter().filter(|(_, action)| !matches!(action, Action::Skip | Action::Refuse { .. })).count()
    }

    /// Requests that change the release: file writes and deletions of extras.
    pub fn writes(&self) -> usize {
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

/// The asset under a file's name that a staged copy takes the place of.
#[derive(Debug, Clone, PartialEq)]
pub enum Old {
    /// An upload that never finished: nobody can download it, so it is simply deleted.
    Unfinished(u64),
    /// A finished asset: moved aside first (unless a swap that was cut off already did), and
    /// deleted only once every new file is in.
    Replaced { id: u64, sha256: String, moved_aside: bool },
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
