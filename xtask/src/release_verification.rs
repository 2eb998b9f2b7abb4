//! `cargo xtask checksums --verify --release TAG`: check a GitHub Release against its own
//! `checksums.txt`: every listed file on the release with that sha256 (GitHub's digest, or the
//! downloaded bytes where GitHub keeps none), and nothing on the release that the list leaves out;
//! then a report of which files have an artifact attestation, with the command that verifies one.

use std::path::Path;

use anyhow::Context;

use crate::checksums_file::{CHECKSUMS_FILE, parse_lines};
use crate::failure::refuse;
use crate::failure::shell_quote;
use crate::github_api::releases::{self, Asset};
use crate::github_api::{self, Token, scrub_error};
use crate::workspace::Tag;

pub fn run(tag: &Tag, repo_flag: Option<&str>, download: Option<&Path>) -> anyhow::Result<()> {
    let repo = github_api::repository(repo_flag)?;
    let token = Token::from_environment();
    verify_release(tag.as_str(), &repo, download, token.clone()).map_err(|error| scrub_error(error, token.as_ref()))
}

fn verify_release(tag: &str, repo: &str, download: Option<&Path>, token: Option<Token>) -> anyhow::Result<()> {
    let connection = github_api::connect(repo, token)?;
    let Some(release) = releases::find_release(&connection, tag)? else {
        return Err(refuse(
            format!("{} has no release {tag}", connection.repo),
            "check the tag and --repo; a draft is visible only with GITHUB_TOKEN set",
        ));
    };
    let assets = releases::list_assets(&connection, release.id)?;
    let Some(list_asset) = assets.iter().find(|asset| asset.name == CHECKSUMS_FILE && asset.is_uploaded()) else {
        return Err(refuse(
            format!("release {tag} has no {CHECKSUMS_FILE}"),
            format!("publish it with `cargo xtask github-release --tag {}`", shell_quote(tag)),
        ));
    };
    let scratch = tempfile::tempdir().context("creating a temporary folder")?;
    let list_folder = download.unwrap_or(scratch.path());
    let list_path = list_folder.join(CHECKSUMS_FILE);
    let list_sha256 = releases::download_asset(&connection, list_asset, &list_path)?;
    let mut problems = Vec::new();
    if let Some(digest) = list_asset.sha256.as_ref().filter(|digest| **digest != list_sha256) {
        problems.push(format!("{CHECKSUMS_FILE}: downloaded sha256:{list_sha256}, GitHub's digest is sha256:{digest}"));
    }
    let text = std::fs::read_to_string(&list_path).with_context(|| format!("reading {}", list_path.display()))?;
    let listed = parse_lines(&text, &format!("{CHECKSUMS_FILE} of {tag}"))?;
    let (mut checked, mut downloaded_to_hash) = (0, 0);
    for (hex, name) in &listed {
        let Some(asset) = assets.iter().find(|asset| asset.name == *name) else {
            problems.push(format!("{name}: missing from the release"));
            continue;
        };
        if !asset.is_uploaded() {
            problems.push(format!("{name}: an unfinished upload (state {})", asset.state));
            continue;
        }
        let release_hex = match (&asset.sha256, download) {
            (_, Some(folder)) => {
                let downloaded = releases::download_asset(&connection, asset, &folder.join(name))?;
                if let Some(digest) = asset.sha256.as_ref().filter(|digest| **digest != downloaded) {
                    problems
                        .push(format!("{name}: downloaded sha256:{downloaded}, GitHub's digest is sha256:{digest}"));
                }
                downloaded
            }
            (Some(digest), None) => digest.clone(),
            (None, None) => {
                downloaded_to_hash += 1;
                hash_without_digest(&connection, asset)?
            }
        };
        if release_hex != *hex {
            let source = if download.is_some() || asset.sha256.is_none() { "downloaded" } else { "GitHub's digest is" };
            problems.push(format!("{name}: {CHECKSUMS_FILE} says sha256:{hex}, {source} sha256:{release_hex}"));
            continue;
        }
        println!("ok  {name}  sha256:{hex}");
        checked += 1;
    }
    for asset in assets.iter().filter(|asset| asset.name != CHECKSUMS_FILE) {
        if !listed.iter().any(|(_, name)| *name == asset.name) {
            problems.push(format!("{}: on the release but not in {CHECKSUMS_FILE}", asset.name));
        }
    }
    if !problems.is_empty() {
        let plan =
            format!("cargo xtask github-release --tag {} --dry-run --repo {}", shell_quote(tag), shell_quote(repo));
        return Err(refuse(
            format!(
                "release {tag} of {} does not match its {CHECKSUMS_FILE}: {}",
                connection.repo,
                problems.join("; ")
            ),
            format!(
                "do not install from this release; with the right files in dist/, `{plan}` shows what differs and \
                 the --replace / --remove that repair it (unless the release is immutable: then publish a new version)"
            ),
        ));
    }
    let how = match (download.is_some(), downloaded_to_hash) {
        (true, _) => "downloaded and hashed".to_string(),
        (false, 0) => "GitHub's digests".to_string(),
        (false, count) => format!("GitHub's digests; {count} without one downloaded and hashed"),
    };
    println!("{checked} file(s) of {tag} match {CHECKSUMS_FILE} ({how}): {}", release.html_url);
    report_attestations(&connection, &listed);
    Ok(())
}

/// Whether GitHub holds an artifact attestation for each listed file, and the command that
/// verifies one fully (the signature, and that it came from this repository's workflow). A
/// report: the files already matched their hashes, and releases made before attestations have none.
fn report_attestations(connection: &github_api::Connection, listed: &[(String, String)]) {
    let mut attested: Vec<&str> = Vec::new();
    for (hex, name) in listed {
        match releases::attestation_count(connection, hex) {
            Ok(0) => println!("no attestation  {name}"),
            Ok(count) => {
                attested.push(name);
                println!("attested  {name}  ({count} attestation(s))");
            }
            Err(error) => {
                println!(
                    "warning: could not look up attestations ({}); the hashes above are checked all the same",
                    crate::failure::lines(&error).message
                );
                return;
            }
        }
    }
    // The example is an attested binary where there is one: what a downstream app checks.
    let example = attested.iter().find(|name| crate::naming::parse_sidecar_file_name(name).is_some());
    let example = example.or(attested.first()).copied().unwrap_or("FILE");
    let verify = format!("gh attestation verify {} --repo {}", shell_quote(example), shell_quote(&connection.repo));
    match attested.len() {
        0 => println!(
            "attestations: none of the {} file(s) has one (a release made before they were added, or not by the \
             binaries workflow)",
            listed.len()
        ),
        _ => println!(
            "attestations: {} of {} file(s) attested; to check one fully (signature, workflow, repository), \
             download it and run `{verify}`",
            attested.len(),
            listed.len()
        ),
    }
}

/// The sha256 of an asset GitHub keeps no digest for (an older GitHub Enterprise Server, or an
/// asset from before digests), by downloading it.
fn hash_without_digest(connection: &github_api::Connection, asset: &Asset) -> anyhow::Result<String> {
    println!("  {}: GitHub keeps no digest for it; downloading it to hash it", asset.name);
    releases::hash_asset(connection, asset)
}
