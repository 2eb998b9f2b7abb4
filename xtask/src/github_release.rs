//! `cargo xtask github-release`: publish `checksums.txt` and every file it lists to the GitHub
//! Release of a tag, safe to re-run: compare by digest, upload only what is missing, refuse what
//! differs, publish the draft only when every asset is verified. Also `checksums --verify --release`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use crate::checksums::{CHECKSUMS_FILE, NOTES_FILE, parse_lines};
use crate::failure::{self, refuse};
use crate::flags::GithubReleaseFlags;
use crate::github_api::{self, Connection, Repeat, Request, RequestBody, Token};
use crate::version::Version;
use crate::{gha, hashing};

/// A file of the release folder: `checksums.txt` or a file it lists, checked against its line.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalFile {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub path: PathBuf,
}

/// An asset of a release as GitHub lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    pub id: u64,
    pub name: String,
    pub size: u64,
    /// `uploaded` once complete; `starter`/`new` for an upload that never finished.
    pub state: String,
    /// The hex of `digest: "sha256:<hex>"`; `None` for assets uploaded before GitHub kept digests
    /// and for unfinished uploads.
    pub sha256: Option<String>,
    /// The API URL of the asset (downloads with `Accept: application/octet-stream`).
    pub url: String,
}

impl Asset {
    fn is_uploaded(&self) -> bool {
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
    pub html_url: String,
    pub upload_url: String,
}

/// What happens to one local file.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The release has it with the same digest.
    Skip,
    /// The release does not have it.
    Upload,
    /// The release has an unfinished upload of it (no digest, state not `uploaded`): nobody can
    /// download that, so it is deleted and the file uploaded again.
    Redo { asset_id: u64, state: String },
    /// Named in `--replace` and different on the release: delete, then upload.
    Replace { asset_id: u64, release_sha256: Option<String> },
    /// Different on the release (or without a digest to compare) and not named in `--replace`.
    Refuse { release_sha256: Option<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// One entry per local file, in the order of `checksums.txt` (itself last).
    pub files: Vec<(LocalFile, Action)>,
    /// Assets of the release that are not local files: left alone.
    pub others: Vec<String>,
}

impl Plan {
    fn refusals(&self) -> Vec<String> {
        self.files
            .iter()
            .filter_map(|(file, action)| match action {
                Action::Refuse { release_sha256: Some(remote) } => Some(format!(
                    "{}: the release has sha256:{remote}, the local file is sha256:{}",
                    file.name, file.sha256
                )),
                Action::Refuse { release_sha256: None } => Some(format!(
                    "{}: the release has it without a digest (uploaded before GitHub recorded them), the local file is sha256:{}",
                    file.name, file.sha256
                )),
                _ => None,
            })
            .collect()
    }

    fn refused_names(&self) -> Vec<&str> {
        self.files
            .iter()
            .filter(|(_, action)| matches!(action, Action::Refuse { .. }))
            .map(|(file, _)| file.name.as_str())
            .collect()
    }

    fn writes(&self) -> usize {
        let writes = |action: &Action| matches!(action, Action::Upload | Action::Redo { .. } | Action::Replace { .. });
        self.files.iter().filter(|(_, action)| writes(action)).count()
    }
}

/// Compare the local files with the release's assets.
pub fn plan(local: &[LocalFile], assets: &[Asset], replace: &BTreeSet<String>) -> Plan {
    let files = local
        .iter()
        .map(|file| {
            let action = match assets.iter().find(|asset| asset.name == file.name) {
                None => Action::Upload,
                Some(asset) if !asset.is_uploaded() => Action::Redo { asset_id: asset.id, state: asset.state.clone() },
                Some(asset) if asset.sha256.as_deref() == Some(file.sha256.as_str()) => Action::Skip,
                Some(asset) if replace.contains(&file.name) => {
                    Action::Replace { asset_id: asset.id, release_sha256: asset.sha256.clone() }
                }
                Some(asset) => Action::Refuse { release_sha256: asset.sha256.clone() },
            };
            (file.clone(), action)
        })
        .collect();
    let mut others: Vec<String> = assets
        .iter()
        .filter(|asset| !local.iter().any(|file| file.name == asset.name))
        .map(|a| a.name.clone())
        .collect();
    others.sort();
    Plan { files, others }
}

/// `…/releases/1/assets{?name,label}` → `…/releases/1/assets?name=<encoded name>`.
pub fn upload_url(template: &str, name: &str) -> String {
    let base = template.split_once('{').map_or(template, |(base, _)| base);
    format!("{base}?name={}", github_api::percent_encode(name))
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

/// A pre-release on GitHub exactly when the tag's version is a PEP 440 pre-release (`a`, `b`,
/// `rc` or `.dev`); a tag that is not `v<PEP 440 version>` is refused.
pub fn is_prerelease(tag: &str) -> anyhow::Result<bool> {
    let version = Version::parse(tag).map_err(|_| {
        refuse(format!("tag {tag:?} is not v<PEP 440 version>"), "release tags look like v1.2.3 or v1.2.3rc1")
    })?;
    Ok(version.pre.is_some() || version.dev.is_some())
}

pub fn run(flags: &GithubReleaseFlags) -> anyhow::Result<()> {
    let token = Token::from_environment();
    let result = publish(flags, token.clone());
    result.map_err(|error| scrub_error(error, token.as_ref()))
}

fn publish(flags: &GithubReleaseFlags, token: Option<Token>) -> anyhow::Result<()> {
    // An explicit --dir is relative to the current directory; the default is the repository's dist/.
    let dir = match &flags.dir {
        Some(dir) => dir.clone(),
        None => crate::workspace::Workspace::discover()?.dist_dir(),
    };
    let tag = flags.tag.as_str();
    let prerelease = is_prerelease(tag)?;
    let Some(token) = token else {
        return Err(refuse(
            "GITHUB_TOKEN is not set: publishing a release needs a token",
            "export GITHUB_TOKEN (a token with `contents: write`; in Actions: `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`)",
        ));
    };
    let connection = github_api::connect(flags.repo.as_deref(), Some(token))?;
    let local = gha::group("Check the release folder", || read_local_files(&dir))?;
    let unknown: Vec<&String> = flags.replace.iter().filter(|name| !local.iter().any(|f| &f.name == *name)).collect();
    if !unknown.is_empty() {
        return Err(refuse(
            format!("--replace names files that are not in {}: {unknown:?}", dir.join(CHECKSUMS_FILE).display()),
            "pass the asset names exactly as checksums.txt lists them",
        ));
    }
    println!("{} files in {} match {CHECKSUMS_FILE}", local.len(), dir.display());

    let (found, assets) = gha::group("Find the release", || -> anyhow::Result<_> {
        let found = find_release(&connection, tag)?;
        let assets = match &found {
            Some(release) => list_assets(&connection, release.id)?,
            None => Vec::new(),
        };
        Ok((found, assets))
    })?;
    let replace: BTreeSet<String> = flags.replace.iter().cloned().collect();
    let plan = plan(&local, &assets, &replace);
    let heading = match &found {
        Some(release) if release.draft => format!("release {tag} of {}: draft {}", connection.repo, release.id),
        Some(release) => format!("release {tag} of {}: published ({})", connection.repo, release.html_url),
        None => format!("release {tag} of {}: none yet, create a draft", connection.repo),
    };
    println!("{heading}");
    print!("{}", render_plan(&plan));
    gha::step_summary(&format!("### github-release {tag}\n\n{heading}\n\n{}", render_plan_table(&plan)))?;

    let refusals = plan.refusals();
    if !refusals.is_empty() {
        return Err(refuse(
            format!("the release already has different files: {}", refusals.join("; ")),
            format!(
                "nothing was changed; if the local files are the right ones, re-run with `--replace {}` \
                 (users may already have downloaded the old ones: a new version is often the better fix)",
                plan.refused_names().join(" ")
            ),
        ));
    }
    if flags.dry_run {
        println!("dry run: nothing was sent; run without --dry-run to do it");
        return Ok(());
    }
    if found.as_ref().is_some_and(|release| !release.draft) && plan.writes() > 0 {
        println!("note: {tag} is already published; only the files above are changed, nothing else is touched");
    }

    if let Some(release) = found.as_ref().filter(|release| !release.draft && plan.writes() == 0) {
        println!("nothing to change: {tag} is published with every file and its sha256: {}", release.html_url);
        gha::step_output("url", &release.html_url)?;
        return Ok(());
    }
    let rerun = rerun_command(flags);
    let release = match found {
        Some(release) => release,
        None => create_draft(&connection, tag, prerelease, &dir, &rerun)?,
    };
    let draft_kept = |error: anyhow::Error| rerun_hint(error, &release, &rerun);
    gha::group("Upload", || execute(&connection, &release, &plan)).map_err(draft_kept)?;
    let published = gha::group("Verify and publish", || verify_and_publish(&connection, &release, &local, prerelease))
        .map_err(draft_kept)?;
    println!("published {tag}: {}", published.html_url);
    gha::step_summary(&format!("#### Result\n\n{}\nPublished: {}\n", render_result_table(&plan), published.html_url))?;
    gha::step_output("url", &published.html_url)?;
    Ok(())
}

/// The command line that resumes this run.
fn rerun_command(flags: &GithubReleaseFlags) -> String {
    let mut command = format!("cargo xtask github-release --tag {}", flags.tag);
    if let Some(repo) = &flags.repo {
        command.push_str(&format!(" --repo {repo}"));
    }
    if let Some(dir) = &flags.dir {
        command.push_str(&format!(" --dir {}", dir.display()));
    }
    command
}

/// An error of a run that stopped after it started writing: say that the release is still a draft
/// and what to run to resume, unless the error already carries its own fix.
fn rerun_hint(error: anyhow::Error, release: &Release, rerun: &str) -> anyhow::Error {
    let tag = &release.tag;
    let state = if release.draft { "still a draft, not published" } else { "published, some files missing" };
    if error.chain().any(|cause| cause.is::<failure::Interrupted>()) {
        return error.context(format!("release {tag} is {state}; re-run `{rerun}` to finish"));
    }
    if failure::lines(&error).hint.is_some() {
        return error;
    }
    refuse(
        format!("{error:#}; release {tag} is {state}"),
        format!("re-run `{rerun}`: it uploads only what is missing, then publishes"),
    )
}

fn scrub_error(error: anyhow::Error, token: Option<&Token>) -> anyhow::Error {
    let Some(token) = token else { return error };
    let failure::Lines { message, hint } = failure::lines(&error);
    if !message.contains("***")
        && token.scrub(&message) == message
        && hint.as_ref().is_none_or(|h| token.scrub(h) == *h)
    {
        return error;
    }
    refuse(token.scrub(&message), token.scrub(&hint.unwrap_or_default()))
}

/// `checksums.txt` of `dir` and every file it lists, each hashed and compared with its line.
pub fn read_local_files(dir: &Path) -> anyhow::Result<Vec<LocalFile>> {
    let list_path = dir.join(CHECKSUMS_FILE);
    let text = std::fs::read_to_string(&list_path)
        .with_context(|| format!("reading {}", list_path.display()))
        .map_err(|error| {
            refuse(format!("{error:#}"), "run `cargo xtask checksums DIR` first, or pass --dir with the release folder")
        })?;
    let listed = parse_lines(&text, &list_path.display().to_string())?;
    if listed.is_empty() {
        return Err(refuse(format!("{} lists no files", list_path.display()), "run `cargo xtask checksums DIR` first"));
    }
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (hex, name) in listed {
        let path = dir.join(&name);
        if !path.is_file() {
            problems.push(format!("{name}: missing"));
            continue;
        }
        let actual = hashing::sha256_hex_of_file(&path)?;
        if actual != hex {
            problems.push(format!("{name}: hash is {actual}, checksums.txt says {hex}"));
            continue;
        }
        let size = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?.len();
        files.push(LocalFile { name, sha256: hex, size, path });
    }
    if !problems.is_empty() {
        return Err(refuse(
            format!("{} does not match its {CHECKSUMS_FILE}, nothing was sent: {}", dir.display(), problems.join("; ")),
            "rebuild or re-download the named files, then `cargo xtask checksums DIR`; never edit a hash by hand",
        ));
    }
    let size = std::fs::metadata(&list_path).with_context(|| format!("reading {}", list_path.display()))?.len();
    files.push(LocalFile {
        name: CHECKSUMS_FILE.into(),
        sha256: hashing::sha256_hex_of_bytes(text.as_bytes()),
        size,
        path: list_path,
    });
    Ok(files)
}

fn release_from_json(json: &Value) -> anyhow::Result<Release> {
    let text =
        |key: &str| json[key].as_str().map(str::to_string).with_context(|| format!("a release without {key}: {json}"));
    Ok(Release {
        id: json["id"].as_u64().with_context(|| format!("a release without an id: {json}"))?,
        tag: text("tag_name")?,
        draft: json["draft"].as_bool().unwrap_or(false),
        prerelease: json["prerelease"].as_bool().unwrap_or(false),
        html_url: text("html_url")?,
        upload_url: text("upload_url")?,
    })
}

fn asset_from_json(json: &Value) -> anyhow::Result<Asset> {
    Ok(Asset {
        id: json["id"].as_u64().with_context(|| format!("an asset without an id: {json}"))?,
        name: json["name"].as_str().with_context(|| format!("an asset without a name: {json}"))?.to_string(),
        size: json["size"].as_u64().unwrap_or(0),
        state: json["state"].as_str().unwrap_or("uploaded").to_string(),
        sha256: json["digest"].as_str().and_then(|d| d.strip_prefix("sha256:")).map(str::to_ascii_lowercase),
        url: json["url"].as_str().unwrap_or_default().to_string(),
    })
}

/// The release of `tag`: the published one, else the single draft of that tag.
pub fn find_release(connection: &Connection, tag: &str) -> anyhow::Result<Option<Release>> {
    let url = github_api::repo_url(connection, &format!("/releases/tags/{}", github_api::percent_encode(tag)));
    let reply = github_api::send(connection, &Request::get(url.clone()))?;
    match reply.status {
        200 => return Ok(Some(release_from_json(&reply.json()?)?)),
        404 => {}
        _ => return Err(github_api::unexpected(&format!("GET {url}"), &reply)),
    }
    // Drafts are invisible to the tag lookup; only the list shows them (to a token with access).
    let all = github_api::get_all_pages(connection, &github_api::repo_url(connection, "/releases"))?;
    let drafts: Vec<Release> = all
        .iter()
        .filter(|json| json["tag_name"] == tag && json["draft"] == true)
        .map(release_from_json)
        .collect::<anyhow::Result<_>>()?;
    match drafts.len() {
        0 => Ok(None),
        1 => Ok(drafts.into_iter().next()),
        _ => Err(refuse(
            format!(
                "{} drafts exist for {tag} (ids {}): which one to use is not clear",
                drafts.len(),
                drafts.iter().map(|d| d.id.to_string()).collect::<Vec<_>>().join(", ")
            ),
            "delete the extra drafts on the repository's Releases page, then re-run",
        )),
    }
}

pub fn list_assets(connection: &Connection, release_id: u64) -> anyhow::Result<Vec<Asset>> {
    github_api::get_all_pages(connection, &github_api::repo_url(connection, &format!("/releases/{release_id}/assets")))?
        .iter()
        .map(asset_from_json)
        .collect()
}

fn create_draft(
    connection: &Connection,
    tag: &str,
    prerelease: bool,
    dir: &Path,
    rerun: &str,
) -> anyhow::Result<Release> {
    let notes_path = dir.join(NOTES_FILE);
    let notes = std::fs::read_to_string(&notes_path)
        .with_context(|| format!("reading {}", notes_path.display()))
        .hint_with("`cargo xtask checksums DIR` writes the release notes next to checksums.txt")?;
    let url = github_api::repo_url(connection, "/releases");
    let body = json!({"tag_name": tag, "name": tag, "body": notes, "draft": true, "prerelease": prerelease});
    let mut request = Request::with("POST", url.clone(), RequestBody::Json(body));
    request.repeat = Repeat::OnlyWhenRejected;
    let reply = github_api::send(connection, &request).map_err(|error| {
        refuse(
            format!("{error:#}"),
            format!("a draft may or may not have been created: re-run `{rerun}`, which finds it"),
        )
    })?;
    if reply.status != 201 {
        return Err(github_api::unexpected(&format!("POST {url}"), &reply));
    }
    let release = release_from_json(&reply.json()?)?;
    println!("created draft {} for {tag}", release.id);
    Ok(release)
}

trait HintWith<T> {
    fn hint_with(self, hint: &str) -> anyhow::Result<T>;
}

impl<T> HintWith<T> for anyhow::Result<T> {
    fn hint_with(self, hint: &str) -> anyhow::Result<T> {
        failure::WithHint::hint(self, hint)
    }
}

fn delete_asset(connection: &Connection, asset_id: u64) -> anyhow::Result<()> {
    let url = github_api::repo_url(connection, &format!("/releases/assets/{asset_id}"));
    let reply = github_api::send(connection, &Request::with("DELETE", url.clone(), RequestBody::Empty))?;
    match reply.status {
        204 | 404 => Ok(()),
        _ => Err(github_api::unexpected(&format!("DELETE {url}"), &reply)),
    }
}

/// Upload one file. A `422 already_exists` means an earlier attempt got further than its answer
/// said: a finished upload with the right digest counts, an unfinished one is deleted and redone.
fn upload(connection: &Connection, release: &Release, file: &LocalFile) -> anyhow::Result<()> {
    let url = upload_url(&release.upload_url, &file.name);
    let body = RequestBody::File { path: file.path.clone(), content_type: content_type(&file.name).into() };
    for _ in 0..2 {
        let reply = github_api::send(connection, &Request::with("POST", url.clone(), body.clone()))?;
        if reply.status == 201 {
            let asset = asset_from_json(&reply.json()?)?;
            if let Some(stored) = asset.sha256.filter(|stored| *stored != file.sha256) {
                anyhow::bail!(
                    "GitHub stored {} with sha256:{stored}, the local file is sha256:{}",
                    file.name,
                    file.sha256
                );
            }
            return Ok(());
        }
        if !reply.is_already_exists() {
            return Err(github_api::unexpected(&format!("uploading {}", file.name), &reply));
        }
        let assets = list_assets(connection, release.id)?;
        match assets.iter().find(|asset| asset.name == file.name) {
            Some(asset) if asset.is_uploaded() && asset.sha256.as_deref() == Some(file.sha256.as_str()) => {
                return Ok(());
            }
            Some(asset) if !asset.is_uploaded() => {
                println!("  {}: an unfinished upload (state {}) is in the way; deleting it", file.name, asset.state);
                delete_asset(connection, asset.id)?;
            }
            _ => anyhow::bail!("{} appeared on the release with another content while uploading it", file.name),
        }
    }
    anyhow::bail!("uploading {} kept colliding with an unfinished upload of the same name", file.name)
}

fn execute(connection: &Connection, release: &Release, plan: &Plan) -> anyhow::Result<()> {
    for (file, action) in &plan.files {
        match action {
            Action::Skip | Action::Refuse { .. } => continue,
            Action::Upload => {}
            Action::Redo { asset_id, state } => {
                println!("deleting an unfinished upload of {} (state {state})", file.name);
                delete_asset(connection, *asset_id)?;
            }
            Action::Replace { asset_id, release_sha256 } => {
                let old = release_sha256.as_deref().map_or("no digest".to_string(), |hex| format!("sha256:{hex}"));
                println!("replacing {} (--replace): deleting the release's {old}", file.name);
                delete_asset(connection, *asset_id)?;
            }
        }
        upload(connection, release, file)?;
        println!("uploaded {} ({}, sha256:{})", file.name, human_size(file.size), file.sha256);
    }
    Ok(())
}

/// Re-read the assets; publish the draft only when every local file is there with its digest.
fn verify_and_publish(
    connection: &Connection,
    release: &Release,
    local: &[LocalFile],
    prerelease: bool,
) -> anyhow::Result<Release> {
    let assets = list_assets(connection, release.id)?;
    let problems: Vec<String> = local
        .iter()
        .filter_map(|file| match assets.iter().find(|asset| asset.name == file.name) {
            None => Some(format!("{}: missing", file.name)),
            Some(asset) if !asset.is_uploaded() => Some(format!("{}: state {}", file.name, asset.state)),
            Some(asset) if asset.sha256.as_deref() != Some(file.sha256.as_str()) => Some(format!(
                "{}: the release has {}, the local file is sha256:{}",
                file.name,
                asset.sha256.as_deref().map_or("no digest".into(), |hex| format!("sha256:{hex}")),
                file.sha256
            )),
            Some(_) => None,
        })
        .collect();
    if !problems.is_empty() {
        anyhow::bail!("after the uploads the release does not match the local files: {}", problems.join("; "));
    }
    println!("all {} assets are on the release with their sha256", local.len());
    if !release.draft {
        return Ok(release.clone());
    }
    let url = github_api::repo_url(connection, &format!("/releases/{}", release.id));
    let body = json!({"draft": false, "prerelease": prerelease});
    let reply = github_api::send(connection, &Request::with("PATCH", url.clone(), RequestBody::Json(body)))?;
    if reply.status != 200 {
        return Err(github_api::unexpected(&format!("PATCH {url}"), &reply));
    }
    release_from_json(&reply.json()?)
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

fn describe(file: &LocalFile, action: &Action) -> (&'static str, String) {
    let hash = |hex: &Option<String>| hex.as_deref().map_or("no digest".to_string(), |hex| format!("sha256:{hex}"));
    match action {
        Action::Skip => ("skip", "already on the release with the same sha256".into()),
        Action::Upload => ("upload", format!("{}, sha256:{}", human_size(file.size), file.sha256)),
        Action::Redo { state, .. } => {
            ("redo", format!("an unfinished upload (state {state}) is deleted, then uploaded"))
        }
        Action::Replace { release_sha256, .. } => (
            "replace",
            format!("--replace: delete the release's {}, upload sha256:{}", hash(release_sha256), file.sha256),
        ),
        Action::Refuse { release_sha256 } => {
            ("refuse", format!("the release has {}, the local file is sha256:{}", hash(release_sha256), file.sha256))
        }
    }
}

/// The plan as text: one line per file, then the assets left alone.
pub fn render_plan(plan: &Plan) -> String {
    let width = plan.files.iter().map(|(file, _)| file.name.len()).chain(plan.others.iter().map(String::len)).max();
    let width = width.unwrap_or(0);
    let mut text = String::new();
    for (file, action) in &plan.files {
        let (verb, detail) = describe(file, action);
        text.push_str(&format!("  {verb:<8} {:<width$}  {detail}\n", file.name));
    }
    for name in &plan.others {
        text.push_str(&format!(
            "  {:<8} {name:<width$}  on the release but not in checksums.txt: left alone\n",
            "leave"
        ));
    }
    text
}

/// The plan as a Markdown table for the step summary.
pub fn render_plan_table(plan: &Plan) -> String {
    let mut table = String::from("| file | action | detail |\n|---|---|---|\n");
    for (file, action) in &plan.files {
        let (verb, detail) = describe(file, action);
        table.push_str(&format!("| `{}` | {verb} | {detail} |\n", file.name));
    }
    for name in &plan.others {
        table.push_str(&format!("| `{name}` | leave | not in checksums.txt |\n"));
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
            Action::Refuse { .. } => "refused",
        };
        table.push_str(&format!("| `{}` | {result} | `{}` |\n", file.name, file.sha256));
    }
    table
}

/// `cargo xtask checksums --verify --release TAG`: compare every line of the release's
/// `checksums.txt` with the digest GitHub reports for that asset; with `download`, also download
/// each asset into that folder and hash it.
pub fn verify_release(tag: &str, repo: Option<&str>, download: Option<&Path>) -> anyhow::Result<()> {
    let token = Token::from_environment();
    verify_release_with(tag, repo, download, token.clone()).map_err(|error| scrub_error(error, token.as_ref()))
}

fn verify_release_with(
    tag: &str,
    repo: Option<&str>,
    download: Option<&Path>,
    token: Option<Token>,
) -> anyhow::Result<()> {
    let connection = github_api::connect(repo, token)?;
    let Some(release) = find_release(&connection, tag)? else {
        return Err(refuse(
            format!("{} has no release {tag}", connection.repo),
            "check the tag and --repo; a draft is visible only with GITHUB_TOKEN set",
        ));
    };
    let assets = list_assets(&connection, release.id)?;
    let Some(list_asset) = assets.iter().find(|asset| asset.name == CHECKSUMS_FILE && asset.is_uploaded()) else {
        return Err(refuse(
            format!("release {tag} has no {CHECKSUMS_FILE}"),
            format!("publish it with `cargo xtask github-release --tag {tag}`"),
        ));
    };
    let scratch = tempfile::tempdir().context("creating a temporary folder")?;
    let list_folder = download.unwrap_or(scratch.path());
    let list_path = list_folder.join(CHECKSUMS_FILE);
    let list_sha256 = download_asset(&connection, list_asset, &list_path)?;
    let mut problems = Vec::new();
    if let Some(digest) = list_asset.sha256.as_ref().filter(|digest| **digest != list_sha256) {
        problems.push(format!("{CHECKSUMS_FILE}: downloaded sha256:{list_sha256}, GitHub's digest is sha256:{digest}"));
    }
    let text = std::fs::read_to_string(&list_path).with_context(|| format!("reading {}", list_path.display()))?;
    let listed = parse_lines(&text, &format!("{CHECKSUMS_FILE} of {tag}"))?;
    let mut checked = 0;
    for (hex, name) in &listed {
        let Some(asset) = assets.iter().find(|asset| asset.name == *name) else {
            problems.push(format!("{name}: missing from the release"));
            continue;
        };
        match &asset.sha256 {
            Some(digest) if digest != hex => {
                problems.push(format!("{name}: {CHECKSUMS_FILE} says sha256:{hex}, GitHub's digest is sha256:{digest}"))
            }
            Some(_) => {}
            None if download.is_none() => {
                problems
                    .push(format!("{name}: GitHub has no digest for it (uploaded before digests); use --download DIR"));
                continue;
            }
            None => {}
        }
        if let Some(folder) = download {
            let downloaded = download_asset(&connection, asset, &folder.join(name))?;
            if downloaded != *hex {
                problems.push(format!("{name}: downloaded sha256:{downloaded}, {CHECKSUMS_FILE} says sha256:{hex}"));
                continue;
            }
        }
        println!("ok  {name}  sha256:{hex}");
        checked += 1;
    }
    let extra: Vec<&str> = assets
        .iter()
        .filter(|asset| asset.name != CHECKSUMS_FILE && !listed.iter().any(|(_, name)| *name == asset.name))
        .map(|asset| asset.name.as_str())
        .collect();
    problems.extend(extra.iter().map(|name| format!("{name}: on the release but not in {CHECKSUMS_FILE}")));
    if !problems.is_empty() {
        return Err(refuse(
            format!(
                "release {tag} of {} does not match its {CHECKSUMS_FILE}: {}",
                connection.repo,
                problems.join("; ")
            ),
            "do not install from this release; republish the named files with `cargo xtask github-release --replace NAME`",
        ));
    }
    let how = if download.is_some() { "downloaded and hashed" } else { "GitHub's digests" };
    println!("{checked} assets of {tag} match {CHECKSUMS_FILE} ({how}): {}", release.html_url);
    Ok(())
}

/// Download an asset through its API URL (GitHub redirects to the file) into `path`; its sha256.
fn download_asset(connection: &Connection, asset: &Asset, path: &Path) -> anyhow::Result<String> {
    let mut request = Request::get(asset.url.clone());
    request.accept = "application/octet-stream";
    request.save_to = Some(path.to_path_buf());
    let reply = github_api::send(connection, &request)?;
    if reply.status != 200 {
        return Err(github_api::unexpected(&format!("downloading {}", asset.name), &reply));
    }
    reply.saved_sha256.with_context(|| format!("downloading {} saved nothing", asset.name))
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn plan_skips_uploads_refuses_and_leaves_alone() {
        let files = [local("same", 'a'), local("missing", 'b'), local("differs", 'c'), local("partial", 'd')];
        let assets = [
            asset(1, "same", "uploaded", Some('a')),
            asset(2, "differs", "uploaded", Some('f')),
            asset(3, "partial", "starter", None),
            asset(4, "zz-extra", "uploaded", Some('e')),
            asset(5, "a-extra", "uploaded", None),
        ];
        let plan = plan(&files, &assets, &BTreeSet::new());
        let actions: Vec<_> = plan.files.iter().map(|(file, action)| (file.name.as_str(), action.clone())).collect();
        assert_eq!(
            actions,
            [
                ("same", Action::Skip),
                ("missing", Action::Upload),
                ("differs", Action::Refuse { release_sha256: Some("f".repeat(64)) }),
                ("partial", Action::Redo { asset_id: 3, state: "starter".into() }),
            ]
        );
        assert_eq!(plan.others, ["a-extra", "zz-extra"]);
        let refusals = plan.refusals();
        assert_eq!(refusals.len(), 1);
        assert!(refusals[0].contains(&"f".repeat(64)) && refusals[0].contains(&"c".repeat(64)), "{refusals:?}");
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
        let plan = plan(&files, &assets, &replace);
        assert_eq!(plan.files[0].1, Action::Replace { asset_id: 2, release_sha256: Some("f".repeat(64)) });
        assert_eq!(plan.files[1].1, Action::Skip);
        assert_eq!(plan.files[2].1, Action::Refuse { release_sha256: None }, "no digest, not named: refused");
        assert_eq!(plan.writes(), 1);
    }

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
    fn plan_text_names_every_file_and_both_hashes_of_a_refusal() {
        let plan = plan(
            &[local("b-file", 'c'), local("checksums.txt", 'a')],
            &[asset(2, "b-file", "uploaded", Some('f')), asset(3, "old", "uploaded", Some('e'))],
            &BTreeSet::new(),
        );
        let text = render_plan(&plan);
        let expected = format!(
            "  refuse   b-file         the release has sha256:{}, the local file is sha256:{}\n\
             \x20 upload   checksums.txt  10 B, sha256:{}\n\
             \x20 leave    old            on the release but not in checksums.txt: left alone\n",
            "f".repeat(64),
            "c".repeat(64),
            "a".repeat(64)
        );
        assert_eq!(text, expected);
        assert!(render_plan_table(&plan).contains("| `old` | leave |"));
    }
}
