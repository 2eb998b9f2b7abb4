//! The body of a GitHub Release (`release-notes.md`): the package versions, every artifact with its
//! hash, how to verify them, the Docker image to pull and the changelog section of the release.

use std::collections::BTreeMap;

use crate::archive::ArchiveFormat;
use crate::changelog;
use crate::workspace::Workspace;

/// The proxy's image; its tags are the proxy's versions (docker.yml).
pub const DOCKER_IMAGE: &str = "ghcr.io/lumen-argus/lumen-argus-community";

/// What the release notes are made of.
#[derive(Debug, Clone, PartialEq)]
pub struct NotesInput {
    /// (distribution, version), in display order.
    pub packages: Vec<(String, String)>,
    /// The version in the release tag (the proxy's), also the Docker image's tag.
    pub proxy_version: String,
    /// (file name, hex) of every artifact, sorted by name.
    pub artifacts: Vec<(String, String)>,
    /// The changelog section of this release, when there is one.
    pub changelog: Option<String>,
}

/// The notes of the release of this workspace's proxy version, listing `hashes` (file name → hex).
pub fn input(workspace: &Workspace, hashes: &BTreeMap<String, String>) -> anyhow::Result<NotesInput> {
    let tag = workspace.release_tag()?;
    let changelog_text = std::fs::read_to_string(workspace.root.join(changelog::PATH)).unwrap_or_default();
    let changelog =
        changelog::section(&changelog_text, tag.as_str()).or_else(|| changelog::section(&changelog_text, "Unreleased"));
    Ok(NotesInput {
        packages: workspace.packages.iter().map(|p| (p.distribution.clone(), p.version.clone())).collect(),
        proxy_version: tag.version().to_string(),
        artifacts: hashes.iter().map(|(name, hex)| (name.clone(), hex.clone())).collect(),
        changelog,
    })
}

fn is_archive(name: &str) -> bool {
    ArchiveFormat::of_file_name(name).is_some()
}

/// The release body, rendered from data only (equal inputs, equal text).
pub fn render(input: &NotesInput) -> String {
    let mut notes = String::from("## Packages\n\n| package | version |\n|---|---|\n");
    for (distribution, version) in &input.packages {
        notes.push_str(&format!("| `{distribution}` | {version} |\n"));
    }
    let line = |(name, hex): &(String, String)| format!("- `{name}` — `sha256:{hex}`\n");
    let is_binary = |name: &str| crate::naming::parse_sidecar_file_name(name).is_some();
    notes.push_str("\n## Sidecar binaries\n\n");
    notes.extend(input.artifacts.iter().filter(|(name, _)| is_binary(name)).map(line));
    let archives: Vec<&(String, String)> = input.artifacts.iter().filter(|(name, _)| is_archive(name)).collect();
    if !archives.is_empty() {
        notes.push_str("\n## Archives\n\n");
        notes.extend(archives.into_iter().map(line));
    }
    let others: Vec<&(String, String)> =
        input.artifacts.iter().filter(|(name, _)| !is_binary(name) && !is_archive(name)).collect();
    if !others.is_empty() {
        // Say what is there: the index, the SBOMs, or only other files.
        let has_index = others.iter().any(|(name, _)| name == crate::sidecars_json::FILE_NAME);
        let has_sboms = others.iter().any(|(name, _)| name.ends_with(crate::naming::SBOM_EXTENSION));
        let (title, said) = match (has_index, has_sboms) {
            (true, true) => (
                "Index and SBOMs",
                "`sidecars.json` lists every binary with its `build_id`; each `.cdx.json` is the CycloneDX SBOM \
                 of one binary.\n\n",
            ),
            (true, false) => ("Index", "`sidecars.json` lists every binary with its `build_id`.\n\n"),
            (false, true) => ("SBOMs", "Each `.cdx.json` is the CycloneDX SBOM of one binary.\n\n"),
            (false, false) => ("Other files", ""),
        };
        notes.push_str(&format!("\n## {title}\n\n{said}"));
        notes.extend(others.into_iter().map(line));
    }
    notes.push_str(
        "\n## Verify\n\n\
         Download the files and `checksums.txt` into one folder, then:\n\n\
         ```sh\nsha256sum -c --ignore-missing --strict checksums.txt      # Linux\n\
         shasum -a 256 -c --ignore-missing --strict checksums.txt  # macOS\n```\n\n\
         A running sidecar reports the same hash: `GET /api/v1/build` answers\n\
         `\"build_id\": \"sha256:<hex>\"`, equal to the file's line above.\n",
    );
    notes.push_str(&format!("\n## Docker\n\n```sh\ndocker pull {DOCKER_IMAGE}:{}\n```\n", input.proxy_version));
    if let Some(changes) = &input.changelog {
        notes.push_str(&format!("\n## Changes\n\n{changes}\n"));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HEX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn release_notes_fixture() {
        let input = NotesInput {
            packages: vec![("lumen-argus-core".into(), "0.1.1".into()), ("lumen-argus-proxy".into(), "0.2.0".into())],
            proxy_version: "0.2.0".into(),
            artifacts: vec![
                ("lumen-argus-0.2.0-x86_64-unknown-linux-gnu.tar.gz".into(), HEX_B.into()),
                ("lumen-argus-x86_64-unknown-linux-gnu".into(), HEX_A.into()),
                ("lumen-argus-x86_64-unknown-linux-gnu.cdx.json".into(), HEX_B.into()),
                ("sidecars.json".into(), HEX_A.into()),
            ],
            changelog: Some("- Fixed the relay.".into()),
        };
        let expected = format!(
            "## Packages\n\n| package | version |\n|---|---|\n| `lumen-argus-core` | 0.1.1 |\n| `lumen-argus-proxy` | 0.2.0 |\n\n\
             ## Sidecar binaries\n\n- `lumen-argus-x86_64-unknown-linux-gnu` — `sha256:{HEX_A}`\n\n\
             ## Archives\n\n- `lumen-argus-0.2.0-x86_64-unknown-linux-gnu.tar.gz` — `sha256:{HEX_B}`\n\n\
             ## Index and SBOMs\n\n`sidecars.json` lists every binary with its `build_id`; each `.cdx.json` is \
             the CycloneDX SBOM of one binary.\n\n\
             - `lumen-argus-x86_64-unknown-linux-gnu.cdx.json` — `sha256:{HEX_B}`\n- `sidecars.json` — `sha256:{HEX_A}`\n\n\
             ## Verify\n\nDownload the files and `checksums.txt` into one folder, then:\n\n\
             ```sh\nsha256sum -c --ignore-missing --strict checksums.txt      # Linux\n\
             shasum -a 256 -c --ignore-missing --strict checksums.txt  # macOS\n```\n\n\
             A running sidecar reports the same hash: `GET /api/v1/build` answers\n\
             `\"build_id\": \"sha256:<hex>\"`, equal to the file's line above.\n\n\
             ## Docker\n\n```sh\ndocker pull ghcr.io/lumen-argus/lumen-argus-community:0.2.0\n```\n\n\
             ## Changes\n\n- Fixed the relay.\n"
        );
        assert_eq!(render(&input), expected);
    }

    #[test]
    fn the_section_of_other_files_says_only_what_is_there() {
        let notes = |names: &[&str]| {
            render(&NotesInput {
                packages: vec![],
                proxy_version: "1.0".into(),
                artifacts: names.iter().map(|name| (name.to_string(), HEX_A.to_string())).collect(),
                changelog: None,
            })
        };
        let sboms_only = notes(&["a-x86_64-unknown-linux-gnu.cdx.json"]);
        assert!(sboms_only.contains("## SBOMs\n") && !sboms_only.contains("sidecars.json"), "{sboms_only}");
        let index_only = notes(&["sidecars.json"]);
        assert!(index_only.contains("## Index\n") && !index_only.contains(".cdx.json"), "{index_only}");
        let other = notes(&["notes.txt"]);
        assert!(other.contains("## Other files\n\n- `notes.txt`") && !other.contains("SBOM"), "{other}");
    }

    #[test]
    fn a_file_is_an_archive_by_the_extension_of_an_archive_format() {
        for (name, archive) in
            [("a-1.0-t.tar.gz", true), ("a-1.0-t.zip", true), ("a-t.exe", false), ("a-tar.gz", false), ("zip", false)]
        {
            assert_eq!(is_archive(name), archive, "{name}");
        }
    }
}
