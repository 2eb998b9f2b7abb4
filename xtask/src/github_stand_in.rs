//! A stand-in for the GitHub REST API's release and tag endpoints: a real HTTP/1.1 server on
//! 127.0.0.1 behaving as GitHub documents it (drafts invisible to the tag lookup and to anonymous
//! callers, uploads on the release's `upload_url`, `422 already_exists` on a duplicate asset name,
//! a `digest` per asset, names with special characters renamed, immutable releases that refuse
//! changes once published, `401 Bad credentials`), with injectable faults and a record of every
//! request. The integration tests and `cargo xtask test --long` run `github-release` and
//! `checksums --verify --release` against it; nothing else uses it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::hashing::sha256_hex_of_bytes;

pub const OWNER_REPO: &str = "lumen-argus/lumen-argus";

#[derive(Debug, Clone)]
pub struct Asset {
    pub id: u64,
    pub name: String,
    /// `uploaded`, or `starter` for an upload that was cut off.
    pub state: String,
    /// `sha256:<hex>`; `None` for unfinished uploads, old assets and servers without digests.
    pub digest: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Release {
    pub id: u64,
    pub tag: String,
    pub name: String,
    pub body: String,
    pub draft: bool,
    pub prerelease: bool,
    /// Published with immutable releases on: assets can no longer be added, removed or renamed.
    pub immutable: bool,
    pub target_commitish: String,
    pub assets: Vec<Asset>,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn is_upload(&self) -> bool {
        self.method == "POST" && self.target.starts_with("/uploads/")
    }

    /// The `name` query parameter of an upload.
    pub fn upload_name(&self) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| pair.strip_prefix("name=")).map(percent_decode)
    }
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Uploads,
    /// `POST /repos/{o}/{r}/releases`.
    CreateRelease,
    /// `PATCH /repos/{o}/{r}/releases/{id}`: publishing.
    EditRelease,
    /// `PATCH` or `DELETE` of an asset: renames and deletions.
    EditAsset,
    /// `GET /repos/{o}/{r}/releases` (any page): the listing that release lookups read.
    ReleaseListing,
    Any,
}

impl Target {
    fn matches(self, method: &str, path: &str) -> bool {
        let releases = format!("/repos/{OWNER_REPO}/releases");
        let rest = path.strip_prefix(&releases);
        match self {
            Target::Uploads => method == "POST" && path.starts_with("/uploads/"),
            Target::CreateRelease => method == "POST" && rest.is_some_and(|rest| rest.trim_matches('/').is_empty()),
            Target::EditRelease => {
                method == "PATCH"
                    && rest.is_some_and(|rest| {
                        let id = rest.trim_start_matches('/');
                        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
                    })
            }
            Target::EditAsset => {
                matches!(method, "PATCH" | "DELETE") && rest.is_some_and(|rest| rest.starts_with("/assets/"))
            }
            Target::ReleaseListing => method == "GET" && rest.is_some_and(|rest| rest.trim_matches('/').is_empty()),
            Target::Any => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer this status with a GitHub-style error body.
    Status(u16),
    /// 429 with `Retry-After: N`.
    TooManyRequests { retry_after: u64 },
    /// 403 of an exhausted primary rate limit: `x-ratelimit-remaining: 0`, `x-ratelimit-reset` in
    /// `reset_in` seconds.
    RateLimitExhausted { reset_in: u64 },
    /// 403 of a secondary rate limit, as GitHub sends it: no `retry-after`, no exhausted counter.
    SecondaryRateLimit,
    /// 500 whose message repeats the request's Authorization header (a careless server).
    EchoAuthorization,
    /// Read half the body, then close the connection without an answer. An upload cut off this
    /// way leaves a `starter` asset with no digest, as GitHub does.
    DropMidRequest,
    /// Read the request line and headers, then close at once: the unread body makes the kernel
    /// answer with a reset.
    Reset,
    /// Read the request and never answer.
    Stall,
    /// Read the headers and never read the body: a sender blocks once the socket buffers are full.
    StopReading,
    /// Take an upload but keep other bytes (one changed), and report their digest: what a proxy
    /// that rewrites uploads leaves behind.
    WrongDigest,
    /// Answer a release edit with 200 and the release unchanged (still a draft).
    IgnoreEdit,
    /// Answer 200 with an empty list: a listing taken a moment before another run's release.
    EmptyList,
    /// Hold the request until this many requests matching the fault have arrived, then serve it:
    /// two runs made to race.
    HoldUntil(usize),
}

/// Requests number `from`..`from + count` (1-based) among those matching `target` get `kind`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub target: Target,
    pub from: usize,
    pub count: usize,
    pub kind: FaultKind,
    seen: usize,
}

impl Fault {
    pub fn new(target: Target, from: usize, count: usize, kind: FaultKind) -> Fault {
        Fault { target, from, count, kind, seen: 0 }
    }
}

#[derive(Debug, Default)]
pub struct State {
    pub token: String,
    pub releases: Vec<Release>,
    /// Tags on the remote: name → commit.
    pub tags: BTreeMap<String, String>,
    /// Serve tags as annotated tag objects (one more lookup to reach the commit).
    pub annotated_tags: bool,
    pub requests: Vec<Recorded>,
    pub faults: Vec<Fault>,
    /// Items per page at most (GitHub: 100).
    pub page_limit: usize,
    /// Whether assets get a `digest` (GitHub since 2025; older Enterprise Servers: no).
    pub keeps_digests: bool,
    /// Whether a release becomes immutable when it is published (a repository setting on GitHub).
    pub immutable_releases: bool,
    /// Another server's base URL to put in `Link: rel="next"` headers (a hostile answer).
    pub next_page_base: Option<String>,
    /// Another server's base URL to put in `upload_url` (a hostile answer).
    pub upload_base: Option<String>,
    /// Artifact attestations the repository holds: sha256 hex of a file → how many.
    pub attestations: BTreeMap<String, usize>,
    next_id: u64,
}

impl State {
    pub fn release(&self, tag: &str) -> Option<&Release> {
        self.releases.iter().find(|release| release.tag == tag)
    }

    pub fn release_mut(&mut self, tag: &str) -> Option<&mut Release> {
        self.releases.iter_mut().find(|release| release.tag == tag)
    }

    /// Every release of `tag`, drafts included, oldest first.
    pub fn releases_of(&self, tag: &str) -> Vec<&Release> {
        self.releases.iter().filter(|release| release.tag == tag).collect()
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Add an asset directly (as if uploaded earlier by another tool); its id.
    pub fn add_asset(&mut self, tag: &str, name: &str, state: &str, bytes: &[u8], with_digest: bool) -> u64 {
        let id = self.new_id();
        let digest = with_digest.then(|| format!("sha256:{}", sha256_hex_of_bytes(bytes)));
        let asset = Asset {
            id,
            name: name.into(),
            state: state.into(),
            digest,
            content_type: "application/octet-stream".into(),
            bytes: bytes.to_vec(),
        };
        self.release_mut(tag).expect("no such release").assets.push(asset);
        id
    }

    /// Add a release directly; its id.
    pub fn add_release(&mut self, tag: &str, draft: bool) -> u64 {
        let id = self.new_id();
        self.releases.push(Release {
            id,
            tag: tag.into(),
            name: tag.into(),
            body: String::new(),
            draft,
            prerelease: false,
            immutable: false,
            target_commitish: "main".into(),
            assets: Vec::new(),
        });
        id
    }
}

/// The stand-in server; stops when dropped.
pub struct StandIn {
    pub url: String,
    pub token: String,
    pub state: Arc<Mutex<State>>,
    stopping: Arc<AtomicBool>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

impl StandIn {
    /// Start a stand-in on a free loopback port.
    pub fn start() -> std::io::Result<StandIn> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let token = format!("ghs_standin{}x{}", std::process::id(), crate::clock::now_unix());
        let state = Arc::new(Mutex::new(State {
            token: token.clone(),
            page_limit: 100,
            keeps_digests: true,
            ..State::default()
        }));
        let stopping = Arc::new(AtomicBool::new(false));
        let (thread_state, thread_stopping, base) = (state.clone(), stopping.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (state, stopping, base) = (thread_state.clone(), thread_stopping.clone(), base.clone());
                std::thread::spawn(move || serve_connection(stream, &state, &stopping, &base));
            }
        });
        Ok(StandIn { url, token, state, stopping })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn clear_requests_and_faults(&self) {
        let mut state = self.lock();
        state.requests.clear();
        state.faults.clear();
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Wait (up to 30 s) until `condition` holds for the recorded requests; whether it did.
    pub fn wait_for(&self, condition: impl Fn(&[Recorded]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !condition(&self.lock().requests) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

/// GitHub's renaming of an uploaded asset's name: every character but ASCII letters, digits, `.`,
/// `-` and `_` becomes `.`, and leading or trailing periods go.
pub fn name_as_github_keeps_it(name: &str) -> String {
    let replaced: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '.' }).collect();
    let trimmed = replaced.trim_matches('.');
    if trimmed.is_empty() { "default".to_string() } else { trimmed.to_string() }
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                index += 3;
                continue;
            }
        }
        out.push(if bytes[index] == b'+' { b' ' } else { bytes[index] });
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn error(status: u16, message: &str) -> Answer {
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

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        411 => "Length Required",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Wait up to 60 s, or until the stand-in stops.
fn hold(stopping: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stopping.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serve_connection(stream: TcpStream, state: &Mutex<State>, stopping: &AtomicBool, base: &str) {
    let Ok(clone) = stream.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let path = target.split('?').next().unwrap_or_default().to_string();
    let recorded =
        Recorded { method: method.clone(), target: target.clone(), headers: headers.clone(), body: Vec::new() };
    let (fault, fault_index) = {
        let mut state = lock(state);
        state.requests.push(recorded);
        let mut chosen = (None, None);
        for (index, fault) in state.faults.iter_mut().enumerate() {
            if fault.target.matches(&method, &path) {
                fault.seen += 1;
                if chosen.0.is_none() && fault.seen >= fault.from && fault.seen < fault.from.saturating_add(fault.count)
                {
                    chosen = (Some(fault.kind.clone()), Some(index));
                }
            }
        }
        chosen
    };
    match fault {
        Some(FaultKind::DropMidRequest) => {
            let mut half = vec![0u8; length / 2];
            let _ = reader.read_exact(&mut half);
            if method == "POST" && target.starts_with("/uploads/") {
                leave_starter_asset(state, &target);
            }
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        Some(FaultKind::Reset) => {
            drop(reader);
            drop(stream);
            return;
        }
        Some(FaultKind::StopReading) => {
            hold(stopping);
            return;
        }
        Some(FaultKind::HoldUntil(wanted)) => {
            let deadline = Instant::now() + Duration::from_secs(30);
            let arrived = |state: &State| fault_index.and_then(|index| state.faults.get(index)).map_or(0, |f| f.seen);
            while arrived(&lock(state)) < wanted && Instant::now() < deadline && !stopping.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        _ => {}
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if let Some(last) = lock(state).requests.iter_mut().rev().find(|r| r.target == target && r.body.is_empty()) {
        last.body = body.clone();
    }
    let response = match fault {
        Some(FaultKind::Stall) => {
            hold(stopping);
            return;
        }
        Some(FaultKind::Status(status)) => error(status, "Server Error"),
        Some(FaultKind::TooManyRequests { retry_after }) => {
            let mut response = error(429, "You have exceeded a secondary rate limit");
            response.headers.push(("Retry-After".into(), retry_after.to_string()));
            response
        }
        Some(FaultKind::RateLimitExhausted { reset_in }) => {
            let now = crate::clock::now_unix().max(0) as u64;
            let mut response = error(403, "API rate limit exceeded for installation");
            response.headers.push(("x-ratelimit-limit".into(), "5000".into()));
            response.headers.push(("x-ratelimit-remaining".into(), "0".into()));
            response.headers.push(("x-ratelimit-reset".into(), (now + reset_in).to_string()));
            response
        }
        Some(FaultKind::SecondaryRateLimit) => {
            error(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
        }
        Some(FaultKind::EchoAuthorization) => {
            let echoed = headers.get("authorization").cloned().unwrap_or_default();
            error(500, &format!("internal error while handling {echoed}"))
        }
        Some(FaultKind::WrongDigest) => {
            let mut altered = body.clone();
            match altered.first_mut() {
                Some(first) => *first ^= 0xff,
                None => altered.push(0),
            }
            route(state, base, &method, &target, &headers, &altered)
        }
        Some(FaultKind::EmptyList) => answer(200, serde_json::json!([])),
        Some(FaultKind::IgnoreEdit) => {
            let id = path.rsplit('/').next().and_then(|id| id.parse::<u64>().ok()).unwrap_or(0);
            let state = lock(state);
            match state.releases.iter().find(|release| release.id == id) {
                Some(release) => answer(200, release_json(&state, base, release)),
                None => error(404, "Not Found"),
            }
        }
        _ => route(state, base, &method, &target, &headers, &body),
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", response.body.len()));
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&response.body);
    let _ = stream.flush();
}

fn leave_starter_asset(state: &Mutex<State>, target: &str) {
    let recorded =
        Recorded { method: "POST".into(), target: target.into(), headers: BTreeMap::new(), body: Vec::new() };
    let (Some(name), Some(release_id)) = (recorded.upload_name(), release_id_of_upload(target)) else { return };
    let mut state = lock(state);
    let id = state.new_id();
    let name = name_as_github_keeps_it(&name);
    if let Some(release) = state.releases.iter_mut().find(|release| release.id == release_id)
        && !release.assets.iter().any(|asset| asset.name == name)
    {
        release.assets.push(Asset {
            id,
            name,
            state: "starter".into(),
            digest: None,
            content_type: "application/octet-stream".into(),
            bytes: Vec::new(),
        });
    }
}

fn release_id_of_upload(target: &str) -> Option<u64> {
    let path = target.split('?').next()?;
    let rest = path.strip_prefix(&format!("/uploads/repos/{OWNER_REPO}/releases/"))?;
    rest.strip_suffix("/assets")?.parse().ok()
}

fn release_json(state: &State, base: &str, release: &Release) -> Value {
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

fn route(
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

    #[test]
    fn faults_pick_their_requests() {
        let releases = format!("/repos/{OWNER_REPO}/releases");
        assert!(Target::CreateRelease.matches("POST", &releases));
        assert!(!Target::CreateRelease.matches("POST", &format!("{releases}/3")));
        assert!(Target::EditRelease.matches("PATCH", &format!("{releases}/3")));
        assert!(!Target::EditRelease.matches("PATCH", &format!("{releases}/assets/3")));
        assert!(Target::EditAsset.matches("DELETE", &format!("{releases}/assets/3")));
        assert!(Target::Uploads.matches("POST", &format!("/uploads{releases}/3/assets")));
        assert!(Target::ReleaseListing.matches("GET", &releases));
        assert!(!Target::ReleaseListing.matches("GET", &format!("{releases}/3")));
        assert!(!Target::ReleaseListing.matches("POST", &releases));
    }
}
