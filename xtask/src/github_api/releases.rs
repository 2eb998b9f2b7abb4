//! The Releases and Git refs endpoints, as data: find a release (drafts included), list its
//! assets, create, publish and delete releases, upload, rename, delete and download assets,
//! where a tag points, the latest release and the attestations of a file, and an asset's sha256
//! where GitHub keeps no digest. What to do with them is the business of the commands.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use super::{Connection, Repeat, Request, RequestBody, percent_encode, repo_url, send, unexpected};
use crate::failure::refuse;

/// An asset of a release as GitHub lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    pub id: u64,
    pub name: String,
    pub size: u64,
    /// `uploaded` once complete; `starter`/`new` for an upload that never finished.
    pub state: String,
    /// The hex of `digest: "sha256:<hex>"`; `None` for assets uploaded before GitHub kept digests,
    /// on servers that keep none, and for unfinished uploads.
    pub sha256: Option<String>,
    /// The API URL of the asset (downloads with `Accept: application/octet-stream`).
    pub url: String,
}

impl Asset {
    pub fn is_uploaded(&self) -> bool {
        self.state == "uploaded"
    }
}

/// A release as GitHub describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub id: u64,
    pub tag: String,
    pub draft: bool,
    pub prerelease: bool,
    /// Published with immutable releases on: its assets can never change again.
    pub immutable: bool,
    pub html_url: String,
    pub upload_url: String,
}

pub fn release_from_json(json: &Value) -> anyhow::Result<Release> {
    let text = |key: &str| {
        json[key].as_str().map(str::to_string).with_context(|| format!("a release without {key}: {}", brief(json)))
    };
    Ok(Release {
        id: json["id"].as_u64().with_context(|| format!("a release without an id: {}", brief(json)))?,
        tag: text("tag_name")?,
        draft: json["draft"].as_bool().unwrap_or(false),
        prerelease: json["prerelease"].as_bool().unwrap_or(false),
        immutable: json["immutable"].as_bool().unwrap_or(false),
        html_url: text("html_url")?,
        upload_url: text("upload_url")?,
    })
}

pub fn asset_from_json(json: &Value) -> anyhow::Result<Asset> {
    Ok(Asset {
        id: json["id"].as_u64().with_context(|| format!("an asset without an id: {}", brief(json)))?,
        name: json["name"].as_str().with_context(|| format!("an asset without a name: {}", brief(json)))?.to_string(),
        size: json["size"].as_u64().unwrap_or(0),
        state: json["state"].as_str().unwrap_or("uploaded").to_string(),
        sha256: json["digest"]
            .as_str()
            .and_then(|digest| digest.strip_prefix("sha256:"))
            .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase),
        url: json["url"].as_str().unwrap_or_default().to_string(),
    })
}

/// A JSON value for an error message, cut short.
fn brief(json: &Value) -> String {
    let text = json.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text,
    }
}

/// `…/releases/1/assets{?name,label}` → `…/releases/1/assets?name=<encoded name>`.
pub fn upload_url(template: &str, name: &str) -> String {
    let base = template.split_once('{').map_or(template, |(base, _)| base);
    format!("{base}?name={}", percent_encode(name))
}

/// The content type an asset is uploaded with (GitHub serves it back on download).
pub fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") || lower.ends_with(".gz") {
        "application/gzip"
    } else if lower.ends_with(".zip") {
        "application/zip"
    } else if lower.ends_with(".txt") || lower.ends_with(".sha256") || lower.ends_with(".md") {
        "text/plain"
    } else if lower.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

/// The repository's latest published release (GitHub's choice: not a draft, not a pre-release);
/// `None` when it has none.
pub fn latest_release(connection: &Connection) -> anyhow::Result<Option<Release>> {
    let url = repo_url(connection, "/releases/latest");
    let reply = send(connection, &Request::get(url.clone()))?;
    match reply.status {
        200 => Ok(Some(release_from_json(&reply.json()?)?)),
        404 => Ok(None),
        _ => Err(unexpected(&format!("GET {url}"), &reply)),
    }
}

/// How many artifact attestations the repository holds for a file of this sha256 (0 when none).
pub fn attestation_count(connection: &Connection, sha256: &str) -> anyhow::Result<usize> {
    let url = repo_url(connection, &format!("/attestations/sha256:{sha256}"));
    let reply = send(connection, &Request::get(url.clone()))?;
    match reply.status {
        200 => Ok(reply.json()?["attestations"].as_array().map_or(0, Vec::len)),
        404 => Ok(0),
        _ => Err(unexpected(&format!("GET {url}"), &reply)),
    }
}

/// Every release of `tag`, published and draft, oldest (lowest id) first, from one listing: one
/// snapshot, so a release another run publishes meanwhile is seen either as its draft or as
/// published, never as neither (two lookups, published then drafts, could miss it between them).
/// Only a token with access sees drafts.
pub fn releases_of(connection: &Connection, tag: &str) -> anyhow::Result<Vec<Release>> {
    let all = super::get_all_pages(connection, &repo_url(connection, "/releases"))?;
    let mut releases: Vec<Release> =
        all.iter().filter(|json| json["tag_name"] == tag).map(release_from_json).collect::<anyhow::Result<_>>()?;
    releases.sort_by_key(|release| release.id);
    Ok(releases)
}

/// The release every run of `tag` settles on, out of `releases_of`: the published one, else the
/// oldest draft (two runs that raced may have left two).
pub fn settled_release(releases: &[Release]) -> Option<&Release> {
    releases.iter().find(|release| !release.draft).or_else(|| releases.first())
}

/// The release of `tag` (see `settled_release`), saying so when drafts beside it are left alone.
pub fn find_release(connection: &Connection, tag: &str) -> anyhow::Result<Option<Release>> {
    let releases = releases_of(connection, tag)?;
    if let Some(published) = releases.iter().find(|release| !release.draft) {
        return Ok(Some(published.clone()));
    }
    let drafts = releases;
    if drafts.len() > 1 {
        let others: Vec<String> = drafts[1..].iter().map(|draft| draft.id.to_string()).collect();
        println!(
            "note: {} drafts of {tag} exist; using the oldest ({}), leaving the others ({}) alone",
            drafts.len(),
            drafts[0].id,
            others.join(", ")
        );
    }
    Ok(drafts.into_iter().next())
}

pub fn get_release(connection: &Connection, release_id: u64) -> anyhow::Result<Release> {
    let url = repo_url(connection, &format!("/releases/{release_id}"));
    let reply = send(connection, &Request::get(url.clone()))?;
    if reply.status != 200 {
        return Err(unexpected(&format!("GET {url}"), &reply));
    }
    release_from_json(&reply.json()?)
}

pub fn list_assets(connection: &Connection, release_id: u64) -> anyhow::Result<Vec<Asset>> {
    super::get_all_pages(connection, &repo_url(connection, &format!("/releases/{release_id}/assets")))?
        .iter()
        .map(asset_from_json)
        .collect()
}

/// Create a draft of `tag` at `commit`; `None` when GitHub answers that a release of the tag
/// already exists (another run published it meanwhile). Never repeated after a failure that may
/// have reached GitHub: the caller says a draft may exist (the next run finds it).
pub fn create_draft(
    connection: &Connection,
    tag: &str,
    commit: &str,
    prerelease: bool,
    notes: &str,
) -> anyhow::Result<Option<Release>> {
    let url = repo_url(connection, "/releases");
    let body = json!({
        "tag_name": tag,
        "target_commitish": commit,
        "name": tag,
        "body": notes,
        "draft": true,
        "prerelease": prerelease,
    });
    let mut request = Request::with("POST", url.clone(), RequestBody::Json(body));
    request.repeat = Repeat::OnlyWhenRejected;
    let reply = send(connection, &request)?;
    if reply.is_already_exists() {
        return Ok(None);
    }
    if reply.status != 201 {
        return Err(unexpected(&format!("POST {url}"), &reply));
    }
    release_from_json(&reply.json()?).map(Some)
}

pub fn delete_release(connection: &Connection, release_id: u64) -> anyhow::Result<()> {
    let url = repo_url(connection, &format!("/releases/{release_id}"));
    let reply = send(connection, &Request::with("DELETE", url.clone(), RequestBody::Empty))?;
    match reply.status {
        204 | 404 => Ok(()),
        _ => Err(unexpected(&format!("DELETE {url}"), &reply)),
    }
}

/// `PATCH draft: false`; the release as GitHub then describes it (re-read when the answer still
/// says draft, in case the answer was stale).
pub fn publish(connection: &Connection, release: &Release, prerelease: bool) -> anyhow::Result<Release> {
    let url = repo_url(connection, &format!("/releases/{}", release.id));
    let body = json!({"draft": false, "prerelease": prerelease});
    let reply = send(connection, &Request::with("PATCH", url.clone(), RequestBody::Json(body)))?;
    if reply.status != 200 {
        return Err(unexpected(&format!("PATCH {url}"), &reply));
    }
    let answered = release_from_json(&reply.json()?)?;
    if !answered.draft {
        return Ok(answered);
    }
    get_release(connection, release.id)
}

pub fn delete_asset(connection: &Connection, asset_id: u64) -> anyhow::Result<()> {
    let url = repo_url(connection, &format!("/releases/assets/{asset_id}"));
    let reply = send(connection, &Request::with("DELETE", url.clone(), RequestBody::Empty))?;
    match reply.status {
        204 | 404 => Ok(()),
        _ if is_immutable_refusal(&reply) => Err(immutable_error(&format!("deleting asset {asset_id}"))),
        _ => Err(unexpected(&format!("DELETE {url}"), &reply)),
    }
}

/// How an upload or a rename ended, when GitHub answered.
#[derive(Debug, Clone)]
pub enum Written {
    /// Stored: the asset as GitHub describes it.
    Done(Asset),
    /// `422 already_exists`: the name is taken.
    NameTaken,
    /// `422 already_exists` after earlier attempts of this very upload were cut off (how, in
    /// words): the name is most likely taken by what those attempts left.
    TakenAfterCutOff(Vec<&'static str>),
    /// `404`: the asset to rename is gone (another run deleted or replaced it).
    Gone,
}

/// Rename an asset (GitHub keeps its id and bytes).
pub fn rename_asset(connection: &Connection, asset_id: u64, name: &str) -> anyhow::Result<Written> {
    let url = repo_url(connection, &format!("/releases/assets/{asset_id}"));
    let reply = send(connection, &Request::with("PATCH", url.clone(), RequestBody::Json(json!({"name": name}))))?;
    match reply.status {
        200 => Ok(Written::Done(asset_from_json(&reply.json()?)?)),
        404 => Ok(Written::Gone),
        _ if reply.is_already_exists() => Ok(Written::NameTaken),
        _ if is_immutable_refusal(&reply) => Err(immutable_error(&format!("renaming an asset to {name}"))),
        _ => Err(unexpected(&format!("PATCH {url}"), &reply)),
    }
}

/// Upload `path` to `release` as `name`.
pub fn upload_asset(connection: &Connection, release: &Release, name: &str, path: &Path) -> anyhow::Result<Written> {
    let url = upload_url(&release.upload_url, name);
    let body = RequestBody::File { path: path.to_path_buf(), content_type: content_type(name).into() };
    let reply = send(connection, &Request::with("POST", url, body))?;
    match reply.status {
        201 => Ok(Written::Done(asset_from_json(&reply.json()?)?)),
        _ if reply.is_already_exists() && !reply.earlier_transport_failures.is_empty() => {
            Ok(Written::TakenAfterCutOff(reply.earlier_transport_failures))
        }
        _ if reply.is_already_exists() => Ok(Written::NameTaken),
        _ if is_immutable_refusal(&reply) => Err(immutable_error(&format!("uploading {name}"))),
        _ => Err(unexpected(&format!("uploading {name}"), &reply)),
    }
}

fn is_immutable_refusal(reply: &super::Reply) -> bool {
    matches!(reply.status, 403 | 422) && reply.message().to_ascii_lowercase().contains("immutable")
}

fn immutable_error(what: &str) -> anyhow::Error {
    refuse(
        format!("{what}: GitHub refused, the release is immutable"),
        "an immutable release never changes again: publish the fix as a new version (RELEASE.md)",
    )
}

/// Download an asset through its API URL (GitHub redirects to the file, without the token) into
/// `path`, written atomically; its sha256.
pub fn download_asset(connection: &Connection, asset: &Asset, path: &Path) -> anyhow::Result<String> {
    let mut request = Request::get(asset.url.clone());
    request.accept = "application/octet-stream";
    request.save_to = Some(path.to_path_buf());
    request.expected_size = Some(asset.size);
    let reply = send(connection, &request)?;
    if reply.status != 200 {
        return Err(unexpected(&format!("downloading {}", asset.name), &reply));
    }
    reply.saved_sha256.with_context(|| format!("downloading {} saved nothing", asset.name))
}

/// The sha256 of an asset's bytes, downloaded into a scratch folder and thrown away: for servers
/// that keep no digest.
pub fn hash_asset(connection: &Connection, asset: &Asset) -> anyhow::Result<String> {
    let scratch = tempfile::tempdir().context("creating a temporary folder")?;
    download_asset(connection, asset, &scratch.path().join("asset"))
}

/// An asset's sha256: its digest, what this run already downloaded, or a download now.
pub fn asset_sha256(
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
    let hex = hash_asset(connection, asset)?;
    verified.insert(asset.id, hex.clone());
    Ok(hex)
}

/// The asset named `name`, after giving an unfinished one two short waits to finish.
pub fn settled_asset(connection: &Connection, release: &Release, name: &str) -> anyhow::Result<Option<Asset>> {
    for wait in 0..3u32 {
        let found = list_assets(connection, release.id)?.into_iter().find(|asset| asset.name == name);
        match found {
            Some(asset) if !asset.is_uploaded() && wait < 2 => {
                super::sleep_interruptibly(connection.backoff_base.saturating_mul(1 << wait))?;
            }
            other => return Ok(other),
        }
    }
    Ok(None)
}

/// The commit a tag points at on GitHub (an annotated tag is followed to its commit); `None` when
/// the repository has no such tag.
pub fn tag_commit(connection: &Connection, tag: &str) -> anyhow::Result<Option<String>> {
    let url = repo_url(connection, &format!("/git/ref/tags/{}", percent_encode(tag)));
    let reply = send(connection, &Request::get(url.clone()))?;
    match reply.status {
        200 => {}
        404 => return Ok(None),
        _ => return Err(unexpected(&format!("GET {url}"), &reply)),
    }
    let mut object = reply.json()?["object"].clone();
    // A tag object may point at another tag object: follow a few, as git does.
    for _ in 0..5 {
        let sha = object["sha"].as_str().unwrap_or_default().to_ascii_lowercase();
        match object["type"].as_str() {
            Some("commit") if sha.len() == 40 => return Ok(Some(sha)),
            Some("tag") if sha.len() == 40 => {
                let url = repo_url(connection, &format!("/git/tags/{sha}"));
                let reply = send(connection, &Request::get(url.clone()))?;
                if reply.status != 200 {
                    return Err(unexpected(&format!("GET {url}"), &reply));
                }
                object = reply.json()?["object"].clone();
            }
            _ => anyhow::bail!("GitHub describes tag {tag} as {}, not a commit or a tag", brief(&object)),
        }
    }
    anyhow::bail!("tag {tag} is a chain of more than five tag objects")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_url_template_expansion() {
        assert_eq!(
            upload_url("https://uploads.github.com/repos/o/r/releases/1/assets{?name,label}", "checksums.txt"),
            "https://uploads.github.com/repos/o/r/releases/1/assets?name=checksums.txt"
        );
        assert_eq!(
            upload_url("http://127.0.0.1:9/up/releases/2/assets", "a b"),
            "http://127.0.0.1:9/up/releases/2/assets?name=a%20b"
        );
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("lumen-argus-0.2.0-x86_64-unknown-linux-gnu.tar.gz"), "application/gzip");
        assert_eq!(content_type("lumen-argus-0.2.0-x86_64-pc-windows-msvc.zip"), "application/zip");
        assert_eq!(content_type("checksums.txt"), "text/plain");
        assert_eq!(content_type("manifest.json"), "application/json");
        assert_eq!(content_type("lumen-argus-x86_64-unknown-linux-gnu"), "application/octet-stream");
        assert_eq!(content_type("lumen-argus-agent-x86_64-pc-windows-msvc.exe"), "application/octet-stream");
    }

    #[test]
    fn digests_that_are_not_sha256_hex_count_as_none() {
        let asset = |digest: Value| asset_from_json(&json!({"id": 1, "name": "a", "digest": digest})).unwrap();
        assert_eq!(asset(json!(format!("sha256:{}", "AB".repeat(32)))).sha256, Some("ab".repeat(32)));
        assert_eq!(asset(json!("sha256:short")).sha256, None);
        assert_eq!(asset(json!("md5:0123")).sha256, None);
        assert_eq!(asset(Value::Null).sha256, None);
    }
}
