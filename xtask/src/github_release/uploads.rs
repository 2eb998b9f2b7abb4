//! Carrying out a `github-release` plan: removals, uploads (each checked against the local sha256
//! once GitHub has stored it), the swaps that rename verified copies in, and, after a failed run
//! on a published release, the withdrawal of the staged copies it left.

use std::collections::BTreeMap;

use super::asset_swaps::{Swap, swap_all};
use super::release_plan::{Action, Extra, Old, Plan, Standing, human_size, staged_for, staging_name};
use crate::failure::{self, refuse};
use crate::github_api::Connection;
use crate::github_api::releases::{self, Asset, Release, Written, asset_sha256, settled_asset};
use crate::process::check_interrupted;
use crate::release_folder::LocalFile;

/// Carry out the plan: on a draft, removals first and plain uploads; on a published release (and
/// for every replacement), staged uploads first, then every swap as one unit (checksums.txt last),
/// then removals.
pub fn execute(
    connection: &Connection,
    release: &Release,
    plan: &Plan,
    verified: &mut BTreeMap<u64, String>,
) -> anyhow::Result<()> {
    let published = !release.draft;
    if !published {
        delete_extras(connection, plan)?;
    }
    let mut swaps: Vec<Swap<'_>> = Vec::new();
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

/// After a failed run on a published release: delete the staged copies on it (users see them on
/// the release page), best effort. Copies moved aside stay: they may hold a name's content.
pub fn withdraw_staged_copies(connection: &Connection, release: &Release) {
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
                );
            }
            Extra::Remove if !asset.is_uploaded() => {
                println!("deleting {}: an unfinished upload nobody can download", asset.name);
            }
            Extra::Remove => println!("deleting {} (--remove)", asset.name),
            Extra::Refuse => continue,
        }
        releases::delete_asset(connection, asset.id)?;
    }
    Ok(())
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
