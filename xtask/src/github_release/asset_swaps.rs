//! Swapping verified copies in on a published release: the old asset moved aside, the staged
//! copy renamed to its name, every swap of a run as one unit (put back, newest first, when one
//! fails), and the old files deleted only once all are in. Each step copes with an earlier,
//! cut-off attempt or another run having got there first.

use std::collections::BTreeMap;

use super::release_plan::{Old, REPLACED_MARK, is_in_transit, short_hex, staging_name};
use crate::failure;
use crate::github_api::Connection;
use crate::github_api::releases::{self, Release, Written, asset_sha256};
use crate::release_folder::LocalFile;

/// A verified asset (`new_id`) to rename to its file's name, in place of `old`.
pub struct Swap<'a> {
    pub file: &'a LocalFile,
    pub new_id: u64,
    pub old: Option<Old>,
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
pub fn swap_all(
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
