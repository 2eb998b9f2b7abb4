//! The endpoints the stand-in serves, as GitHub documents them: releases (listing, create, get by
//! id and tag, latest, edit, delete), assets (list, get, download, rename, delete), uploads,
//! where a tag points, and attestations; with drafts invisible to anonymous callers, names
//! renamed as GitHub renames them, and immutable releases refusing every change.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::{Asset, OWNER_REPO, Release, State, lock, percent_decode};
use crate::hashing::sha256_hex_of_bytes;

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

pub(super) fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

pub(super) fn error(status: u16, message: &str) -> Answer {
    answer(status, json!({"message": message, "documentation_url": "https://docs.github.com/rest"}))
}

fn no_content() -> Answer {
    Answer { status: 204, headers: Vec::new(), body: Vec::new() }
}

fn already_exists(resource: &str, field: &str) -> Answer {
    answer(
        422,
        json!({"message": "Validation Failed", "errors": [{"resource": resource, "code": "already_exists", "field": field}]}),
    )
}

fn immutable_refusal() -> Answer {
    error(422, "Cannot modify an immutable release")
}

/// GitHub's renaming of an uploaded asset's name: every character but ASCII letters, digits, `.`,
/// `-` and `_` becomes `.`, and leading or trailing periods go.
pub fn name_as_github_keeps_it(name: &str) -> String {
    let replaced: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '.' }).collect();
    let trimmed = replaced.trim_matches('.');
    if trimmed.is_empty() { "default".to_string() } else { trimmed.to_string() }
}

pub(super) fn release_json(state: &State, base: &str, release: &Release) -> Value {
    let id = release.id;
    let html_url = if release.draft {
        format!("{base}/{OWNER_REPO}/releases/tag/untagged-{id}")
    } else {
        format!("{base}/{OWNER_REPO}/releases/tag/{}", release.tag)
    };
    let upload_base = state.upload_base.as_deref().unwrap_or(base);
    json!({
        "url": format!("{base}/repos/{OWNER_REPO}/releases/{id}"),
        "assets_url": format!("{base}/repos/{OWNER_REPO}/releases/{id}/assets"),
        "upload_url": format!("{upload_base}/uploads/repos/{OWNER_REPO}/releases/{id}/assets{{?name,label}}"),
        "html_url": html_url,
        "id": id,
        "tag_name": release.tag,
        "target_commitish": release.target_commitish,
        "name": release.name,
        "body": release.body,
        "draft": release.draft,
        "prerelease": release.prerelease,
        "immutable": release.immutable,
        "assets": release.assets.iter().map(|asset| asset_json(base, asset)).collect::<Vec<_>>(),
    })
}

fn asset_json(base: &str, asset: &Asset) -> Value {
    json!({
        "url": format!("{base}/repos/{OWNER_REPO}/releases/assets/{}", asset.id),
        "browser_download_url": format!("{base}/download/{}", asset.id),
        "id": asset.id,
        "name": asset.name,
        "label": null,
        "state": asset.state,
        "content_type": asset.content_type,
        "size": asset.bytes.len(),
        "digest": asset.digest,
    })
}

/// A page of a list, with GitHub's `Link` header when there are more.
fn page(
    base: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    items: Vec<Value>,
    limit: usize,
    next_base: Option<&str>,
) -> Answer {
    let per_page = query.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30usize).clamp(1, limit.max(1));
    let number = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1usize).max(1);
    let slice: Vec<Value> = items.iter().skip((number - 1) * per_page).take(per_page).cloned().collect();
    let mut response = answer(200, Value::Array(slice));
    if number * per_page < items.len() {
        let next = format!("{}{path}?per_page={per_page}&page={}", next_base.unwrap_or(base), number + 1);
        response.headers.push(("Link".into(), format!("<{next}>; rel=\"next\"")));
    }
    response
}

/// A made-up object id for an annotated tag: 40 hex, derived from the tag's name.
fn tag_object_sha(tag: &str) -> String {
    sha256_hex_of_bytes(format!("tag object {tag}").as_bytes())[..40].to_string()
}

pub(super) fn route(
    state: &Mutex<State>,
    base: &str,
    method: &str,
    target: &str,
    headers: &BTreeMap<String, String>,
    body: &[u8],
) -> Answer {
    let (path, query_text) = target.split_once('?').unwrap_or((target, ""));
    let query: BTreeMap<String, String> = query_text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_string(), percent_decode(value)))
        .collect();
    let mut state = lock(state);
    let authenticated = match headers.get("authorization") {
        None => false,
        Some(value) if *value == format!("Bearer {}", state.token) => true,
        Some(_) => return error(401, "Bad credentials"),
    };
    if method != "GET" && !authenticated {
        return error(401, "Requires authentication");
    }
    if let Some(id) = path.strip_prefix("/download/") {
        let id: u64 = id.parse().unwrap_or(0);
        let found =
            state.releases.iter().flat_map(|r| &r.assets).find(|asset| asset.id == id && asset.state == "uploaded");
        return match found {
            Some(asset) => Answer {
                status: 200,
                headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                body: asset.bytes.clone(),
            },
            None => error(404, "Not Found"),
        };
    }
    if let Some(rest) = path.strip_prefix(&format!("/uploads/repos/{OWNER_REPO}/releases/")) {
        return upload(&mut state, base, rest, &query, headers, body);
    }
    if let Some(rest) = path.strip_prefix(&format!("/repos/{OWNER_REPO}/git/")) {
        return git_object(&state, rest);
    }
    if let Some(digest) = path.strip_prefix(&format!("/repos/{OWNER_REPO}/attestations/sha256:")) {
        // GitHub answers 404 when it holds none.
        return match state.attestations.get(digest).copied().filter(|count| *count > 0) {
            Some(count) => {
                let bundles: Vec<Value> =
                    (0..count).map(|n| json!({"bundle": {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}, "repository_id": 1, "n": n})).collect();
                answer(200, json!({ "attestations": bundles }))
            }
            None => error(404, "Not Found"),
        };
    }
    let Some(rest) = path.strip_prefix(&format!("/repos/{OWNER_REPO}/releases")) else {
        return error(404, "Not Found");
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let visible = |release: &Release| authenticated || !release.draft;
    let limit = state.page_limit;
    let next_base = state.next_page_base.clone();
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (method, segments.as_slice()) {
        ("GET", []) => {
            let mut releases: Vec<&Release> = state.releases.iter().filter(|r| visible(r)).collect();
            releases.reverse();
            let items = releases.into_iter().map(|release| release_json(&state, base, release)).collect();
            page(base, path, &query, items, limit, next_base.as_deref())
        }
        ("POST", []) => {
            let Some(tag) = request["tag_name"].as_str().map(str::to_string) else {
                return error(422, "tag_name is required");
            };
            if state.releases.iter().any(|release| release.tag == tag && !release.draft) {
                return already_exists("Release", "tag_name");
            }
            let id = state.new_id();
            let release = Release {
                id,
                tag: tag.clone(),
                name: request["name"].as_str().unwrap_or(&tag).to_string(),
                body: request["body"].as_str().unwrap_or_default().to_string(),
                draft: request["draft"].as_bool().unwrap_or(false),
                prerelease: request["prerelease"].as_bool().unwrap_or(false),
                immutable: false,
                target_commitish: request["target_commitish"].as_str().unwrap_or("main").to_string(),
                assets: Vec::new(),
            };
            let json = release_json(&state, base, &release);
            state.releases.push(release);
            answer(201, json)
        }
        ("GET", ["latest"]) => {
            let newest = state.releases.iter().rev().find(|release| !release.draft && !release.prerelease);
            match newest {
                Some(release) => answer(200, release_json(&state, base, release)),
                None => error(404, "Not Found"),
            }
        }
        ("GET", ["tags", tag]) => {
            let tag = percent_decode(tag);
            match state.releases.iter().find(|release| release.tag == tag && !release.draft) {
                Some(release) => answer(200, release_json(&state, base, release)),
                None => error(404, "Not Found"),
            }
        }
        ("GET", ["assets", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let found = state.releases.iter().filter(|r| visible(r)).flat_map(|r| &r.assets).find(|a| a.id == id);
            match found {
                Some(asset) if headers.get("accept").is_some_and(|a| a == "application/octet-stream") => Answer {
                    status: 302,
                    headers: vec![("Location".into(), format!("{base}/download/{}", asset.id))],
                    body: Vec::new(),
                },
                Some(asset) => answer(200, asset_json(base, asset)),
                None => error(404, "Not Found"),
            }
        }
        ("DELETE", ["assets", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            for release in &mut state.releases {
                if let Some(position) = release.assets.iter().position(|asset| asset.id == id) {
                    if release.immutable {
                        return immutable_refusal();
                    }
                    release.assets.remove(position);
                    return no_content();
                }
            }
            error(404, "Not Found")
        }
        ("PATCH", ["assets", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(release) = state.releases.iter_mut().find(|r| r.assets.iter().any(|a| a.id == id)) else {
                return error(404, "Not Found");
            };
            if release.immutable {
                return immutable_refusal();
            }
            if let Some(name) = request["name"].as_str() {
                let name = name_as_github_keeps_it(name);
                if release.assets.iter().any(|asset| asset.name == name && asset.id != id) {
                    return already_exists("ReleaseAsset", "name");
                }
                let asset = release.assets.iter_mut().find(|asset| asset.id == id).expect("found above");
                asset.name = name;
            }
            let asset = release.assets.iter().find(|asset| asset.id == id).expect("found above");
            answer(200, asset_json(base, asset))
        }
        ("GET", [id, "assets"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.releases.iter().find(|release| release.id == id && visible(release)) {
                Some(release) => {
                    let items = release.assets.iter().map(|asset| asset_json(base, asset)).collect();
                    page(base, path, &query, items, limit, next_base.as_deref())
                }
                None => error(404, "Not Found"),
            }
        }
        ("GET", [id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.releases.iter().find(|release| release.id == id && visible(release)) {
                Some(release) => answer(200, release_json(&state, base, release)),
                None => error(404, "Not Found"),
            }
        }
        ("DELETE", [id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.releases.iter().position(|release| release.id == id) {
                Some(position) if state.releases[position].immutable => immutable_refusal(),
                Some(position) => {
                    state.releases.remove(position);
                    no_content()
                }
                None => error(404, "Not Found"),
            }
        }
        ("PATCH", [id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let immutable_releases = state.immutable_releases;
            let Some(release) = state.releases.iter_mut().find(|release| release.id == id) else {
                return error(404, "Not Found");
            };
            if release.immutable {
                return immutable_refusal();
            }
            if let Some(draft) = request["draft"].as_bool() {
                release.draft = draft;
                release.immutable = immutable_releases && !draft;
            }
            if let Some(prerelease) = request["prerelease"].as_bool() {
                release.prerelease = prerelease;
            }
            if let Some(text) = request["body"].as_str() {
                release.body = text.to_string();
            }
            let release = release.clone();
            answer(200, release_json(&state, base, &release))
        }
        _ => error(404, "Not Found"),
    }
}

fn upload(
    state: &mut State,
    base: &str,
    rest: &str,
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    body: &[u8],
) -> Answer {
    let Some(release_id) = rest.strip_suffix("/assets").and_then(|id| id.parse::<u64>().ok()) else {
        return error(404, "Not Found");
    };
    let Some(name) = query.get("name").map(|name| name_as_github_keeps_it(name)) else {
        return error(422, "name is required");
    };
    if !headers.contains_key("content-type") {
        return error(422, "Content-Type header is required");
    }
    if !headers.contains_key("content-length") {
        return error(411, "Length Required");
    }
    let id = state.new_id();
    let keeps_digests = state.keeps_digests;
    let Some(release) = state.releases.iter_mut().find(|release| release.id == release_id) else {
        return error(404, "Not Found");
    };
    if release.immutable {
        return immutable_refusal();
    }
    if release.assets.iter().any(|asset| asset.name == name) {
        return already_exists("ReleaseAsset", "name");
    }
    let asset = Asset {
        id,
        name,
        state: "uploaded".into(),
        digest: keeps_digests.then(|| format!("sha256:{}", sha256_hex_of_bytes(body))),
        content_type: headers["content-type"].clone(),
        bytes: body.to_vec(),
    };
    let json = asset_json(base, &asset);
    release.assets.push(asset);
    answer(201, json)
}

/// `git/ref/tags/{tag}` and `git/tags/{sha}`: where a tag points.
fn git_object(state: &State, rest: &str) -> Answer {
    if let Some(tag) = rest.strip_prefix("ref/tags/") {
        let tag = percent_decode(tag);
        let Some(commit) = state.tags.get(&tag) else { return error(404, "Not Found") };
        let object = if state.annotated_tags {
            json!({"type": "tag", "sha": tag_object_sha(&tag)})
        } else {
            json!({"type": "commit", "sha": commit})
        };
        return answer(200, json!({"ref": format!("refs/tags/{tag}"), "object": object}));
    }
    if let Some(sha) = rest.strip_prefix("tags/") {
        let found = state.tags.iter().find(|(tag, _)| tag_object_sha(tag) == sha);
        return match found {
            Some((tag, commit)) => {
                answer(200, json!({"sha": sha, "tag": tag, "object": {"type": "commit", "sha": commit}}))
            }
            None => error(404, "Not Found"),
        };
    }
    error(404, "Not Found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_renamed_as_github_does() {
        assert_eq!(name_as_github_keeps_it("lumen-argus-0.2.0-x86_64.tar.gz"), "lumen-argus-0.2.0-x86_64.tar.gz");
        assert_eq!(name_as_github_keeps_it("my file (1).zip"), "my.file..1..zip");
        assert_eq!(name_as_github_keeps_it(".hidden"), "hidden");
        assert_eq!(name_as_github_keeps_it("a+b~c"), "a.b.c");
    }
}
