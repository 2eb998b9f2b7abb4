//! The release scenarios of the fault loop (`cargo xtask test --long`): copies of a built `dist/`
//! to collect, verify and publish, a fresh stand-in GitHub API per round (with transient faults,
//! or a published release to replace files of), and what an interrupted publication may leave:
//! never a second release, never a published release that lacks a file it had, holds a file
//! `checksums.txt` does not list, or was published incomplete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::checksums_file::{CHECKSUMS_FILE, NOTES_FILE, parse_lines};
use crate::fault_signals::Random;
use crate::github_release::is_in_transit;
use crate::github_stand_in::{Fault, FaultKind, OWNER_REPO, StandIn, Target};
use crate::hashing::sha256_hex_of_bytes;
use crate::workspace::Workspace;
use crate::{hashing, manifest, naming, targets};

/// Where the release scenarios work, made once the build scenarios have filled `dist/`.
#[derive(Debug, Clone)]
pub struct Rehearsal {
    /// What the release job publishes: artifacts, `.sha256` files, `checksums.txt`, notes, manifest.
    pub release_dir: PathBuf,
    /// One runner's upload, as `actions/download-artifact` leaves it: `runners/sidecars-<triple>/`.
    pub runners_dir: PathBuf,
    pub collected_dir: PathBuf,
    pub tag: String,
    pub commit: String,
    /// The sidecar binary that the replace scenario finds published with older bytes.
    pub replaced_binary: String,
    /// `(name, sha256)` of every file to publish, `checksums.txt` last.
    pub files: Vec<(String, String)>,
}

/// Copy the direct regular files of `from` that `keep` accepts into `to`.
fn copy_files(from: &Path, to: &Path, keep: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && keep(&name) {
            std::fs::copy(entry.path(), to.join(&name)).with_context(|| format!("copying {name}"))?;
        }
    }
    Ok(())
}

impl Rehearsal {
    /// Snapshot the clone's `dist/` (after `checksums`) into `scratch`.
    pub fn prepare(clone: &Path, scratch: &Path) -> anyhow::Result<Rehearsal> {
        let dist = clone.join("dist");
        let release_dir = scratch.join("release");
        copy_files(&dist, &release_dir, |name| !name.starts_with('.'))?;
        let triple = targets::host()?.triple;
        let runners_dir = scratch.join("runners");
        let runner = runners_dir.join(format!("sidecars-{triple}"));
        copy_files(&dist, &runner, |name| !name.starts_with('.') && name != CHECKSUMS_FILE && name != NOTES_FILE)?;
        let listed = std::fs::read_to_string(release_dir.join(CHECKSUMS_FILE)).context("reading checksums.txt")?;
        let mut files: Vec<(String, String)> =
            parse_lines(&listed, CHECKSUMS_FILE)?.into_iter().map(|(hex, name)| (name, hex)).collect();
        files.push((CHECKSUMS_FILE.to_string(), sha256_hex_of_bytes(listed.as_bytes())));
        let manifest_text = std::fs::read_to_string(release_dir.join(manifest::FILE_NAME))?;
        let manifest: serde_json::Value = serde_json::from_str(&manifest_text)?;
        let commit = manifest["artifacts"][0]["git_commit"].as_str().unwrap_or_default().to_string();
        let workspace = Workspace::load(clone)?;
        let tag = workspace.release_tag()?.to_string();
        let replaced_binary = files
            .iter()
            .map(|(name, _)| name)
            .find(|name| naming::parse_sidecar_file_name(name).is_some())
            .context("dist/ holds no sidecar binary")?
            .clone();
        Ok(Rehearsal {
            release_dir,
            runners_dir,
            collected_dir: scratch.join("collected"),
            tag,
            commit,
            replaced_binary,
            files,
        })
    }

    /// The environment that aims `github-release` at `stand_in`.
    pub fn environment(stand_in: &StandIn) -> Vec<(String, String)> {
        vec![
            ("GITHUB_API_URL".into(), stand_in.url.clone()),
            ("GITHUB_REPOSITORY".into(), OWNER_REPO.into()),
            ("GITHUB_TOKEN".into(), stand_in.token.clone()),
            ("XTASK_GITHUB_RETRY_BASE_MS".into(), "10".into()),
        ]
    }

    /// A stand-in for a publication: the tag at the build's commit, and maybe (`random`) one
    /// transient fault the run must get over.
    pub fn stand_in_for_publication(&self, random: Option<&mut Random>) -> anyhow::Result<StandIn> {
        let stand_in = StandIn::start().context("starting the stand-in GitHub API")?;
        stand_in.lock().tags.insert(self.tag.clone(), self.commit.clone());
        if let Some(random) = random {
            let nth = 1 + (random.next_u64() % self.files.len() as u64) as usize;
            let kind = match random.next_u64() % 3 {
                0 => Some(FaultKind::Status(502)),
                1 => Some(FaultKind::DropMidRequest),
                _ => None,
            };
            if let Some(kind) = kind {
                stand_in.inject(Fault::new(Target::Uploads, nth, 1, kind));
            }
        }
        Ok(stand_in)
    }

    /// A stand-in with the release already published, its binary and `checksums.txt` from an
    /// older build: `github-release --replace` swaps them.
    pub fn stand_in_for_replacement(&self) -> anyhow::Result<StandIn> {
        let stand_in = self.stand_in_for_publication(None)?;
        let mut state = stand_in.lock();
        state.add_release(&self.tag, false);
        for (name, _) in &self.files {
            let mut bytes = std::fs::read(self.release_dir.join(name)).with_context(|| format!("reading {name}"))?;
            if *name == self.replaced_binary || name == CHECKSUMS_FILE {
                bytes.extend_from_slice(b"\nan older build");
            }
            state.add_asset(&self.tag, name, "uploaded", &bytes, true);
        }
        drop(state);
        Ok(stand_in)
    }

    /// The published assets `(name, sha256 of the bytes)` of the tag's release, if published.
    pub fn published_assets(&self, stand_in: &StandIn) -> Option<BTreeMap<String, String>> {
        let state = stand_in.lock();
        let release = state.releases_of(&self.tag).into_iter().find(|release| !release.draft)?;
        Some(release.assets.iter().map(|asset| (asset.name.clone(), sha256_hex_of_bytes(&asset.bytes))).collect())
    }

    /// What a run of `github-release` may leave, interrupted or not, given the published assets
    /// before it (`None`: not published).
    pub fn publication_problems(
        &self,
        stand_in: &StandIn,
        before: Option<&BTreeMap<String, String>>,
    ) -> Result<(), String> {
        let releases = stand_in.lock().releases_of(&self.tag).len();
        if releases > 1 {
            return Err(format!("{releases} releases of {}", self.tag));
        }
        let Some(now) = self.published_assets(stand_in) else { return Ok(()) };
        let expected: BTreeMap<String, String> = self.files.iter().cloned().collect();
        for (name, sha256) in &now {
            let known = expected.get(name) == Some(sha256)
                || before.is_some_and(|before| before.get(name) == Some(sha256))
                || is_in_transit(name);
            if !known {
                return Err(format!("the published release holds {name} with bytes that are neither old nor new"));
            }
        }
        match before {
            Some(before) => {
                if let Some(name) = before.keys().find(|name| !now.contains_key(*name)) {
                    return Err(format!("the published release lost {name}"));
                }
            }
            None => {
                if now.iter().any(|(name, _)| is_in_transit(name)) || now != expected {
                    return Err(format!(
                        "published incomplete or with extra files: {:?}",
                        now.keys().collect::<Vec<_>>()
                    ));
                }
            }
        }
        Ok(())
    }

    /// After a run to its end: published, exactly the files with their bytes.
    pub fn completed_problems(&self, stand_in: &StandIn) -> Result<(), String> {
        let expected: BTreeMap<String, String> = self.files.iter().cloned().collect();
        match self.published_assets(stand_in) {
            Some(now) if now == expected => self.publication_problems(stand_in, None),
            Some(now) => {
                Err(format!("published with {:?}, not exactly checksums.txt's files", now.keys().collect::<Vec<_>>()))
            }
            None => Err(format!("{} is not published", self.tag)),
        }
    }

    /// `collected/` is as before the run or a whole merge: its manifest describes its files.
    pub fn collected_problems(&self) -> Result<(), String> {
        if !self.collected_dir.join(manifest::FILE_NAME).exists() {
            let left: Vec<String> = std::fs::read_dir(&self.collected_dir)
                .map(|entries| {
                    entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
                })
                .unwrap_or_default();
            return if left.is_empty() { Ok(()) } else { Err(format!("files without a manifest: {left:?}")) };
        }
        crate::fault_leftovers::manifest_problems(&self.collected_dir)?;
        for entry in std::fs::read_dir(&self.collected_dir).map_err(|error| error.to_string())?.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(file) = name.strip_suffix(".sha256") {
                let line = std::fs::read_to_string(entry.path()).map_err(|error| error.to_string())?;
                let actual = hashing::sha256_hex_of_file(&self.collected_dir.join(file)).map_err(|e| e.to_string())?;
                if !line.starts_with(&actual) {
                    return Err(format!("{name} does not match {file}"));
                }
            }
        }
        Ok(())
    }
}
