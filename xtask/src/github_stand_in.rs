//! A stand-in for the GitHub REST API's release and tag endpoints: a real HTTP/1.1 server on
//! 127.0.0.1 behaving as GitHub documents it (drafts invisible to the tag lookup and to anonymous
//! callers, uploads on the release's `upload_url`, `422 already_exists` on a duplicate asset name,
//! a `digest` per asset, names with special characters renamed, immutable releases that refuse
//! changes once published, `401 Bad credentials`), with injectable faults and a record of every
//! request. The integration tests and `cargo xtask test --long` run `github-release` and
//! `checksums --verify --release` against it; nothing else uses it.
//!
//! This file holds the repository's state and the server; the faults are
//! `github_stand_in/faults.rs`, a connection (read, record, fault, answer) `connection.rs`, the
//! endpoints `endpoints.rs`.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::hashing::sha256_hex_of_bytes;

mod connection;
mod endpoints;
mod faults;

use connection::serve_connection;
pub use endpoints::name_as_github_keeps_it;
pub use faults::{Fault, FaultKind, Target};

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

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
