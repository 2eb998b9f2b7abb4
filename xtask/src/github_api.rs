//! The GitHub REST API over `ureq`: authenticated requests with the documented headers, bounded
//! retries of transient failures (connection errors, 5xx, 429, primary and secondary rate limits),
//! pagination, and interruptible transfers that end when the other side stops moving bytes. The
//! token is held in [`Token`], which never prints itself, and goes only to the API's own hosts:
//! a URL on any other host (a `Link` to the next page, an `upload_url`) is refused, not followed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::failure::refuse;
use crate::process::check_interrupted;

pub mod releases;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 5;
/// The longest wait for a rate limit or `Retry-After` before giving up and asking for a re-run.
pub const MAX_WAIT: Duration = Duration::from_secs(90);
/// First backoff after a transient failure; doubled after each attempt. Tests shorten it with
/// `XTASK_GITHUB_RETRY_BASE_MS` (never needed outside tests).
const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// A secondary rate limit without `retry-after` asks for "at least one minute": this many backoff
/// bases (60 s outside tests).
const SECONDARY_LIMIT_WAIT_IN_BASES: u32 = 60;
/// How long a transfer may move no byte (a write the server does not read, a read it does not
/// answer) before the attempt counts as failed. Tests shorten it with `XTASK_GITHUB_IDLE_TIMEOUT_MS`.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// The slowest whole transfer allowed: a body's deadline is the idle timeout plus its size at this
/// rate (2 GiB: 2.3 hours), so a server that trickles a byte now and then cannot hold a run forever.
pub const SLOWEST_TRANSFER_BYTES_PER_SECOND: u64 = 256 * 1024;
/// How long an interrupted request's worker gets to clean up (remove a half-downloaded file).
const WORKER_CLEANUP_WAIT: Duration = Duration::from_secs(2);
/// How long GitHub may take to answer once a request (and its body) has been sent.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
const USER_AGENT: &str = "lumen-argus-xtask";
const API_VERSION: &str = "2022-11-28";
pub const JSON_MEDIA_TYPE: &str = "application/vnd.github+json";

/// A GitHub token from `GITHUB_TOKEN`. Its `Debug` and `Display` print `***`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The token from `GITHUB_TOKEN`, when set and not empty.
    pub fn from_environment() -> Option<Token> {
        std::env::var("GITHUB_TOKEN").ok().map(|value| value.trim().to_string()).filter(|v| !v.is_empty()).map(Token)
    }

    /// Replace every occurrence of the token in `text` (defence in depth for error messages).
    pub fn scrub(&self, text: &str) -> String {
        if self.0.len() < 4 { text.to_string() } else { text.replace(&self.0, "***") }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

/// The token never appears in an error, whatever a server echoed.
pub fn scrub_error(error: anyhow::Error, token: Option<&Token>) -> anyhow::Error {
    let Some(token) = token else { return error };
    let crate::failure::Lines { message, hint } = crate::failure::lines(&error);
    if !message.contains("***")
        && token.scrub(&message) == message
        && hint.as_ref().is_none_or(|h| token.scrub(h) == *h)
    {
        return error;
    }
    refuse(token.scrub(&message), token.scrub(&hint.unwrap_or_default()))
}

/// Where and as whom requests go: the API base, the repository and the token.
#[derive(Clone)]
pub struct Connection {
    pub agent: ureq::Agent,
    /// `https://api.github.com` or `GITHUB_API_URL`, without a trailing slash.
    pub api_url: String,
    /// `owner/name`.
    pub repo: String,
    pub token: Option<Token>,
    pub backoff_base: Duration,
    pub idle_timeout: Duration,
    /// The origins (`scheme://host[:port]`) requests may go to: the API's, and for github.com its
    /// uploads host. Anything else is refused before a byte is sent.
    pub trusted_origins: Vec<String>,
}

impl Connection {
    /// Whether `url` is on one of the API's own hosts (and so may carry the token).
    pub fn trusts(&self, url: &str) -> bool {
        origin(url).is_some_and(|origin| self.trusted_origins.contains(&origin))
    }
}

/// `scheme://host[:port]` of an http(s) URL, lowercase, without the default port; `None` for
/// anything else, including a URL with credentials in it (`https://user@host/`).
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') || authority.contains('\\') {
        return None;
    }
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
}

/// The origins of the API at `api_url`: its own, plus `https://uploads.github.com` for github.com,
/// where release uploads go (GitHub Enterprise Server serves uploads under its API host).
pub fn api_origins(api_url: &str) -> Vec<String> {
    let mut origins: Vec<String> = origin(api_url).into_iter().collect();
    if origins.first().is_some_and(|origin| origin == "https://api.github.com") {
        origins.push("https://uploads.github.com".to_string());
    }
    origins
}

/// A duration in milliseconds from the environment, for the tests' shorter waits.
fn milliseconds_from_environment(variable: &str) -> Option<Duration> {
    std::env::var(variable).ok().and_then(|ms| ms.trim().parse().ok()).map(Duration::from_millis)
}

/// How long a body of `size` bytes may take to send or receive in all.
pub fn transfer_deadline(idle_timeout: Duration, size: u64) -> Duration {
    idle_timeout + Duration::from_secs(size / SLOWEST_TRANSFER_BYTES_PER_SECOND)
}

/// The connection described by the environment and the `--repo` flag.
pub fn connect(repo_flag: Option<&str>, token: Option<Token>) -> anyhow::Result<Connection> {
    let repo = match repo_flag {
        Some(repo) => repo.to_string(),
        None => std::env::var("GITHUB_REPOSITORY").unwrap_or_default(),
    };
    check_repo(&repo)?;
    let api_url = std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_API_URL.to_string())
        .trim()
        .trim_end_matches('/')
        .to_string();
    if !api_url.starts_with("https://") && !api_url.starts_with("http://") {
        return Err(refuse(
            format!("GITHUB_API_URL {api_url:?} is not an http(s) URL"),
            "unset it for github.com, or set it to your GitHub Enterprise API, e.g. https://ghe.example.com/api/v3",
        ));
    }
    let backoff_base = milliseconds_from_environment("XTASK_GITHUB_RETRY_BASE_MS").unwrap_or(DEFAULT_BACKOFF_BASE);
    let idle_timeout = milliseconds_from_environment("XTASK_GITHUB_IDLE_TIMEOUT_MS").unwrap_or(DEFAULT_IDLE_TIMEOUT);
    let trusted_origins = api_origins(&api_url);
    if trusted_origins.is_empty() {
        return Err(refuse(
            format!("GITHUB_API_URL {api_url:?} names no host"),
            "unset it for github.com, or set it to your GitHub Enterprise API, e.g. https://ghe.example.com/api/v3",
        ));
    }
    // rustls (ring) checking certificates against the operating system's trust store: one TLS
    // stack on every OS, nothing to install (xtask/Cargo.toml, docs/reference/github-release.md).
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    // Every phase ends: no write or read may stall longer than the idle timeout, and bodies have
    // a deadline by their size (set per request in `attempt_once`). Redirects (downloads go to a
    // storage host) never carry the Authorization header: ureq's default, relied on here.
    let agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_send_request(Some(idle_timeout))
        .timeout_per_write(Some(idle_timeout))
        .timeout_per_read(Some(idle_timeout))
        .timeout_send_body(Some(transfer_deadline(idle_timeout, 0)))
        .timeout_recv_response(Some(ANSWER_TIMEOUT.max(idle_timeout)))
        .timeout_recv_body(Some(transfer_deadline(idle_timeout, 64 << 20)))
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .build()
        .into();
    Ok(Connection { agent, api_url, repo, token, backoff_base, idle_timeout, trusted_origins })
}

/// `owner/name`: two non-empty parts of letters, digits, `-`, `_` and `.`.
pub fn check_repo(repo: &str) -> anyhow::Result<()> {
    let valid_part = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match repo.split_once('/') {
        Some((owner, name)) if valid_part(owner) && valid_part(name) => Ok(()),
        _ if repo.is_empty() => Err(refuse(
            "no repository: --repo is not given and GITHUB_REPOSITORY is not set",
            "pass --repo OWNER/NAME (GitHub Actions sets GITHUB_REPOSITORY)",
        )),
        _ => Err(refuse(
            format!("{repo:?} is not OWNER/NAME"),
            "pass --repo OWNER/NAME, e.g. --repo lumen-argus/lumen-argus",
        )),
    }
}

/// The API URL of a path under the repository: `repo_url(c, "/releases")`.
pub fn repo_url(connection: &Connection, path: &str) -> String {
    format!("{}/repos/{}{path}", connection.api_url, connection.repo)
}

/// Percent-encode everything but RFC 3986 unreserved characters (for a path segment or query value).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// What a request sends.
#[derive(Debug, Clone)]
pub enum RequestBody {
    Empty,
    Json(serde_json::Value),
    /// A file streamed from disk with its content type.
    File {
        path: PathBuf,
        content_type: String,
    },
}

/// Whether a request may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Repeat {
    /// GET, PATCH, DELETE, and uploads (a duplicate upload is refused by name and handled).
    Safe,
    /// Creating a release: retried only when GitHub says it did not process it (429, rate limit).
    OnlyWhenRejected,
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub accept: &'static str,
    pub body: RequestBody,
    pub repeat: Repeat,
    /// Stream a successful response body into this file (written atomically) instead of reading text.
    pub save_to: Option<PathBuf>,
    /// The size of the body to download, when known: its deadline grows with it.
    pub expected_size: Option<u64>,
}

impl Request {
    pub fn get(url: String) -> Request {
        Request {
            method: "GET",
            url,
            accept: JSON_MEDIA_TYPE,
            body: RequestBody::Empty,
            repeat: Repeat::Safe,
            save_to: None,
            expected_size: None,
        }
    }

    pub fn with(method: &'static str, url: String, body: RequestBody) -> Request {
        Request { method, url, accept: JSON_MEDIA_TYPE, body, repeat: Repeat::Safe, save_to: None, expected_size: None }
    }
}

/// A response, read whole (or saved to a file).
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    /// The body text; for a saved body, empty.
    pub text: String,
    /// SHA-256 of the saved body, when the request had `save_to`.
    pub saved_sha256: Option<String>,
    pub retry_after: Option<u64>,
    pub ratelimit_remaining: Option<u64>,
    pub ratelimit_reset: Option<u64>,
    pub link: Option<String>,
    /// How the earlier attempts of this request failed without an answer (see
    /// [`describe_transport_error`]): an upload answered `422 already_exists` after one of those
    /// collides with its own cut-off attempt.
    pub earlier_transport_failures: Vec<&'static str>,
}

impl Reply {
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&self.text).context("GitHub answered with something that is not JSON")
    }

    /// GitHub's `message` field, when the body has one.
    pub fn message(&self) -> String {
        self.json().ok().and_then(|json| json["message"].as_str().map(str::to_string)).unwrap_or_default()
    }

    /// A validation error (`422`) whose `errors` include `code: already_exists`.
    pub fn is_already_exists(&self) -> bool {
        self.status == 422
            && self.json().ok().is_some_and(|json| {
                json["errors"].as_array().is_some_and(|errors| errors.iter().any(|e| e["code"] == "already_exists"))
            })
    }

    /// A 403 or 429 that GitHub documents as a secondary rate limit ("You have exceeded a secondary
    /// rate limit", formerly "abuse detection"): not a permission problem, whatever its status.
    pub fn is_secondary_rate_limit(&self) -> bool {
        let message = self.message().to_ascii_lowercase();
        matches!(self.status, 403 | 429) && (message.contains("secondary rate limit") || message.contains("abuse"))
    }

    /// A 429, or a 403 that is a rate limit (primary or secondary), not a refusal.
    pub fn is_rate_limited(&self) -> bool {
        self.status == 429
            || (self.status == 403
                && (self.ratelimit_remaining == Some(0)
                    || self.retry_after.is_some()
                    || self.is_secondary_rate_limit()))
    }

    fn outcome(&self) -> Outcome {
        Outcome::Status {
            status: self.status,
            retry_after: self.retry_after,
            ratelimit_remaining: self.ratelimit_remaining,
            ratelimit_reset: self.ratelimit_reset,
            secondary_rate_limit: self.is_secondary_rate_limit(),
        }
    }
}

/// How an attempt ended, for the retry decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No response: refused, reset, timed out or closed mid-request.
    Transport,
    Status {
        status: u16,
        retry_after: Option<u64>,
        ratelimit_remaining: Option<u64>,
        ratelimit_reset: Option<u64>,
        secondary_rate_limit: bool,
    },
}

/// How long to wait before attempt `attempt + 1` (attempts count from 0), or `None` to stop.
/// `now` is seconds since the Unix epoch (for `x-ratelimit-reset`).
pub fn retry_delay(outcome: &Outcome, repeat: Repeat, attempt: u32, base: Duration, now: u64) -> Option<Duration> {
    if attempt + 1 >= MAX_ATTEMPTS {
        return None;
    }
    let backoff = base.saturating_mul(1 << attempt.min(16));
    let delay = match outcome {
        Outcome::Transport if repeat == Repeat::Safe => backoff,
        Outcome::Transport => return None,
        Outcome::Status { status, retry_after, ratelimit_remaining, ratelimit_reset, secondary_rate_limit } => {
            let rate_limit_wait = match (retry_after, ratelimit_remaining, ratelimit_reset) {
                (Some(seconds), _, _) => Some(Duration::from_secs(*seconds)),
                (None, Some(0), Some(reset)) => Some(Duration::from_secs(reset.saturating_sub(now) + 1)),
                _ => None,
            };
            // GitHub: without either header, wait at least a minute after a secondary limit.
            let secondary_wait =
                secondary_rate_limit.then(|| base.saturating_mul(SECONDARY_LIMIT_WAIT_IN_BASES).max(backoff));
            match status {
                429 => rate_limit_wait.or(secondary_wait).unwrap_or(backoff),
                403 => rate_limit_wait.or(secondary_wait)?,
                500..=599 if repeat == Repeat::Safe => backoff,
                _ => return None,
            }
        }
    };
    (delay <= MAX_WAIT).then_some(delay)
}

/// `rel="next"` of a `Link` header.
pub fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

/// What a failed attempt without an answer was, in words a person can act on.
pub fn describe_transport_error(error: &str) -> &'static str {
    let lower = error.to_ascii_lowercase();
    if lower.contains("timeout") || lower.contains("timed out") {
        "no byte moved for too long (the server stopped reading or answering)"
    } else if lower.contains("reset") || lower.contains("broken pipe") || lower.contains("aborted") {
        "the connection was reset"
    } else if lower.contains("refused") {
        "the connection was refused"
    } else if lower.contains("closed")
        || lower.contains("disconnected")
        || lower.contains("eof")
        || lower.contains("incomplete")
    {
        "the connection was closed before a whole answer arrived"
    } else if lower.contains("dns") || lower.contains("resolve") || lower.contains("host not found") {
        "the host name did not resolve"
    } else {
        "the request failed without an answer"
    }
}

/// Send a request, retrying transient failures with backoff. Any status is returned (callers decide
/// what 404 or 422 mean) except 401, which is an error with a hint, a rate limit or transient
/// failure that outlasts the retries, and a URL off the API's hosts, which is never requested.
pub fn send(connection: &Connection, request: &Request) -> anyhow::Result<Reply> {
    let what = format!("{} {}", request.method, request.url);
    if !connection.trusts(&request.url) {
        return Err(refuse(
            format!(
                "refusing {}: {} is not a host of the API at {} (the token goes only there)",
                request.method,
                scrub(connection, &request.url),
                connection.api_url
            ),
            "nothing was sent there; the server (or a proxy in front of it) answered with a link to another \
             host: check GITHUB_API_URL, and report it if it is right",
        ));
    }
    let mut attempt = 0;
    let mut transport_failures = Vec::new();
    loop {
        check_interrupted()?;
        let (outcome, reply, transport_error) = match run_interruptibly(connection, request)? {
            Ok(reply) => (reply.outcome(), Some(reply), None),
            Err(error) => (Outcome::Transport, None, Some(scrub(connection, &error))),
        };
        if let Some(reply) = &reply {
            let retryable = reply.is_rate_limited() || reply.status >= 500;
            if !retryable {
                let mut reply = reply.clone();
                reply.earlier_transport_failures = transport_failures;
                return check_authorized(connection, &what, reply);
            }
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let failure = match (&reply, &transport_error) {
            (Some(reply), _) => {
                let message = reply.message();
                let message = if message.is_empty() { String::new() } else { format!(" ({message})") };
                format!("{what} answered {}{message}", reply.status)
            }
            (None, Some(error)) => {
                transport_failures.push(describe_transport_error(error));
                format!("{what} failed: {}: {error}", describe_transport_error(error))
            }
            (None, None) => unreachable!("an attempt has a reply or an error"),
        };
        let failure = scrub(connection, &failure);
        // A certificate that does not verify will not verify on the next attempt either.
        if transport_error.as_ref().is_some_and(|error| error.contains("certificate")) {
            return Err(refuse(
                failure,
                "the server's TLS certificate is not trusted by this machine: add its CA to the system's \
                 trust store, or check GITHUB_API_URL",
            ));
        }
        match retry_delay(&outcome, request.repeat, attempt, connection.backoff_base, now) {
            Some(delay) => {
                eprintln!("retrying in {:.1} s: {failure}", delay.as_secs_f64());
                sleep_interruptibly(delay)?;
                attempt += 1;
            }
            None => {
                let last = transport_error.as_deref().map(|error| (what.as_str(), error));
                return Err(final_failure(&failure, reply.as_ref(), attempt + 1, &transport_failures, last, now));
            }
        }
    }
}

/// The error after the last attempt, saying what kept failing.
fn final_failure(
    failure: &str,
    reply: Option<&Reply>,
    attempts: u32,
    transport_failures: &[&str],
    last_transport_error: Option<(&str, &str)>,
    now: u64,
) -> anyhow::Error {
    let tries = if attempts == 1 { "once, not retried".to_string() } else { format!("on all {attempts} attempts") };
    if let Some(reply) = reply.filter(|reply| reply.is_rate_limited()) {
        let asked_wait = match (reply.retry_after, reply.ratelimit_remaining, reply.ratelimit_reset) {
            (Some(seconds), _, _) => Some(seconds),
            (None, Some(0), Some(reset)) => Some(reset.saturating_sub(now)),
            _ => None,
        };
        if let Some(seconds) = asked_wait.filter(|seconds| Duration::from_secs(*seconds) > MAX_WAIT) {
            return refuse(
                format!("{failure}: GitHub's rate limit asks to wait {seconds} s"),
                format!("wait {seconds} s (other jobs using the same token count too)"),
            );
        }
        let kind = if reply.is_secondary_rate_limit() { "secondary rate limit" } else { "rate limit" };
        return refuse(
            format!("{failure}: GitHub's {kind} held {tries}"),
            "wait a few minutes: GitHub limits how fast one token may write (other jobs using the same token \
             count too)",
        );
    }
    // Every attempt ended without an answer, and all the same way: say which way.
    if let (None, Some((what, error)), Some(first)) = (reply, last_transport_error, transport_failures.first())
        && transport_failures.iter().all(|kind| kind == first)
        && attempts > 1
    {
        return anyhow::anyhow!("{what}: {first} on all {attempts} attempts (the last one: {error})");
    }
    anyhow::anyhow!("{failure}, {tries}")
}

/// 401 becomes an error that says how to fix the token; other replies pass.
fn check_authorized(connection: &Connection, what: &str, reply: Reply) -> anyhow::Result<Reply> {
    if reply.status != 401 {
        return Ok(reply);
    }
    let message = scrub(connection, &reply.message());
    let hint = if connection.token.is_some() {
        "GITHUB_TOKEN was rejected: it is wrong, expired or revoked; set it to a valid token (in Actions: \
         `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` with `permissions: contents: write`)"
    } else {
        "set GITHUB_TOKEN to a token that can read this repository (the release may be a draft or the repository private)"
    };
    Err(refuse(format!("GitHub refused the credentials: {what} answered 401 ({message})"), hint))
}

fn scrub(connection: &Connection, text: &str) -> String {
    connection.token.as_ref().map_or_else(|| text.to_string(), |token| token.scrub(text))
}

/// Wait, waking up to notice Ctrl-C.
pub fn sleep_interruptibly(delay: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + delay;
    loop {
        check_interrupted()?;
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Run one attempt on a worker thread so that Ctrl-C is noticed even while a transfer blocks: on an
/// interrupt the attempt is abandoned (the process exits and the connection closes with it).
fn run_interruptibly(connection: &Connection, request: &Request) -> anyhow::Result<Result<Reply, String>> {
    let (sender, receiver) = mpsc::channel();
    let (connection, request) = (connection.clone(), request.clone());
    std::thread::spawn(move || {
        let _ = sender.send(attempt_once(&connection, &request));
    });
    loop {
        if let Err(interrupted) = check_interrupted() {
            // A download notices the interrupt at its next chunk and removes its temporary file:
            // give it a moment before the process ends.
            let _ = receiver.recv_timeout(WORKER_CLEANUP_WAIT);
            return Err(interrupted);
        }
        match receiver.recv_timeout(Duration::from_millis(50)) {
            Ok(result) => return result.map(Ok).or_else(|error| error.map(Err)),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => anyhow::bail!("an HTTP worker thread stopped unexpectedly"),
        }
    }
}

/// One attempt: `Ok(reply)`, `Err(Ok(transport error text))` for a retryable failure, or
/// `Err(Err(error))` for a failure that no retry fixes (a local file, a bad URL).
fn attempt_once(connection: &Connection, request: &Request) -> Result<Reply, anyhow::Result<String>> {
    let mut builder = ureq::http::Request::builder()
        .method(request.method)
        .uri(&request.url)
        .header("Accept", request.accept)
        .header("X-GitHub-Api-Version", API_VERSION);
    if let Some(token) = &connection.token {
        builder = builder.header("Authorization", format!("Bearer {}", token.0));
    }
    // Deadlines by size: a body may take the idle timeout plus its size at the slowest rate allowed.
    let download_deadline = transfer_deadline(connection.idle_timeout, request.expected_size.unwrap_or(64 << 20));
    let sent = match &request.body {
        RequestBody::Empty => builder.body(()).map(|r| run_with_deadlines(connection, r, 0, download_deadline)),
        RequestBody::Json(value) => {
            let text = value.to_string();
            let size = text.len() as u64;
            builder
                .header("Content-Type", "application/json")
                .body(text)
                .map(|r| run_with_deadlines(connection, r, size, download_deadline))
        }
        RequestBody::File { path, content_type } => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("opening {} to upload it", path.display()))
                .map_err(Err)?;
            let size = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
            builder
                .header("Content-Type", content_type.as_str())
                .body(file)
                .map(|r| run_with_deadlines(connection, r, size, download_deadline))
        }
    };
    let sent = sent.context("building an HTTP request").map_err(Err)?;
    let mut response = match sent {
        Ok(response) => response,
        Err(error) if is_transient(&error) => return Err(Ok(error.to_string())),
        Err(error) => return Err(Err(anyhow::anyhow!("{} {}: {error}", request.method, request.url))),
    };
    let header_number = |name: &str| {
        response.headers().get(name).and_then(|value| value.to_str().ok()).and_then(|value| value.trim().parse().ok())
    };
    let mut reply = Reply {
        status: response.status().as_u16(),
        retry_after: header_number("retry-after"),
        ratelimit_remaining: header_number("x-ratelimit-remaining"),
        ratelimit_reset: header_number("x-ratelimit-reset"),
        link: response.headers().get("link").and_then(|value| value.to_str().ok()).map(str::to_string),
        ..Reply::default()
    };
    match &request.save_to {
        Some(path) if (200..300).contains(&reply.status) => {
            reply.saved_sha256 = Some(save_body(response.body_mut().as_reader(), path)?);
        }
        _ => {
            reply.text = match response.body_mut().read_to_string() {
                Ok(text) => text,
                Err(error) if is_transient(&error) => return Err(Ok(error.to_string())),
                Err(error) => return Err(Err(anyhow::anyhow!("reading the answer of {}: {error}", request.url))),
            };
        }
    }
    Ok(reply)
}

/// Run one HTTP request with its body deadlines set for its size.
fn run_with_deadlines<S: ureq::AsSendBody>(
    connection: &Connection,
    http_request: ureq::http::Request<S>,
    upload_size: u64,
    download_deadline: Duration,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let configured = connection
        .agent
        .configure_request(http_request)
        .timeout_send_body(Some(transfer_deadline(connection.idle_timeout, upload_size)))
        .timeout_recv_body(Some(download_deadline))
        .build();
    connection.agent.run(configured)
}

fn is_transient(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyStalled
    )
}

/// Stream a body into a temporary file next to `path`, hashing it, then rename it into place. A
/// failed read is transient (`Err(Ok)`), a failed write is not (`Err(Err)`).
fn save_body(reader: impl std::io::Read, path: &Path) -> Result<String, anyhow::Result<String>> {
    let mut reader = reader;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut temporary = temporary_file_next_to(path).map_err(Err)?;
    loop {
        if crate::process::check_interrupted().is_err() {
            // The temporary file is removed as it drops.
            return Err(Err(crate::failure::Interrupted.into()));
        }
        let read = reader.read(&mut buffer).map_err(|error| Ok(format!("reading the download: {error}")))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        std::io::Write::write_all(&mut temporary, &buffer[..read])
            .with_context(|| format!("writing {}", path.display()))
            .map_err(Err)?;
    }
    temporary.as_file().sync_all().with_context(|| format!("flushing {}", path.display())).map_err(Err)?;
    temporary.persist(path).with_context(|| format!("renaming into {}", path.display())).map_err(Err)?;
    Ok(hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect())
}

fn temporary_file_next_to(path: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    tempfile::Builder::new()
        .prefix(".xtask-")
        .suffix(".partial")
        .tempfile_in(folder)
        .with_context(|| format!("creating a temporary file in {}", folder.display()))
}

/// GET every page of a list endpoint (`per_page=100`, following `Link: rel="next"`).
pub fn get_all_pages(connection: &Connection, first_url: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let separator = if first_url.contains('?') { '&' } else { '?' };
    let mut url = Some(format!("{first_url}{separator}per_page=100"));
    let mut items = Vec::new();
    let mut pages = 0;
    while let Some(current) = url.take() {
        pages += 1;
        if pages > 100 {
            anyhow::bail!("{first_url} has more than 100 pages");
        }
        let reply = send(connection, &Request::get(current.clone()))?;
        if reply.status != 200 {
            return Err(unexpected(&format!("GET {current}"), &reply));
        }
        match reply.json()? {
            serde_json::Value::Array(page) => items.extend(page),
            other => anyhow::bail!("GET {current} did not answer a list: {other}"),
        }
        url = reply.link.as_deref().and_then(next_page);
    }
    Ok(items)
}

/// An error for a status the caller did not expect.
pub fn unexpected(what: &str, reply: &Reply) -> anyhow::Error {
    let message = reply.message();
    let detail = if message.is_empty() { String::new() } else { format!(" ({message})") };
    match reply.status {
        403 => refuse(
            format!("{what} answered 403{detail}"),
            "the token lacks permission: it needs `contents: write` on the repository (in Actions: `permissions: contents: write`)",
        ),
        404 => refuse(
            format!("{what} answered 404{detail}"),
            "check --repo / GITHUB_REPOSITORY and that the token can see the repository",
        ),
        status => anyhow::anyhow!("{what} answered {status}{detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(1);

    fn status(status: u16) -> Outcome {
        Outcome::Status {
            status,
            retry_after: None,
            ratelimit_remaining: None,
            ratelimit_reset: None,
            secondary_rate_limit: false,
        }
    }

    #[test]
    fn transient_failures_back_off_exponentially_up_to_the_bound() {
        let delays: Vec<_> = (0..MAX_ATTEMPTS).map(|n| retry_delay(&status(502), Repeat::Safe, n, BASE, 0)).collect();
        let seconds = |s| Some(Duration::from_secs(s));
        assert_eq!(delays, [seconds(1), seconds(2), seconds(4), seconds(8), None]);
        assert_eq!(retry_delay(&Outcome::Transport, Repeat::Safe, 0, BASE, 0), seconds(1));
    }

    #[test]
    fn rate_limits_wait_as_told() {
        let retry_after = Outcome::Status {
            status: 429,
            retry_after: Some(3),
            ratelimit_remaining: None,
            ratelimit_reset: None,
            secondary_rate_limit: true,
        };
        assert_eq!(retry_delay(&retry_after, Repeat::Safe, 0, BASE, 0), Some(Duration::from_secs(3)));
        let primary = Outcome::Status {
            status: 403,
            retry_after: None,
            ratelimit_remaining: Some(0),
            ratelimit_reset: Some(1010),
            secondary_rate_limit: false,
        };
        assert_eq!(retry_delay(&primary, Repeat::OnlyWhenRejected, 0, BASE, 1000), Some(Duration::from_secs(11)));
        let too_long = Outcome::Status {
            status: 403,
            retry_after: None,
            ratelimit_remaining: Some(0),
            ratelimit_reset: Some(5000),
            secondary_rate_limit: false,
        };
        assert_eq!(retry_delay(&too_long, Repeat::Safe, 0, BASE, 1000), None);
        assert_eq!(retry_delay(&status(429), Repeat::Safe, 1, BASE, 0), Some(Duration::from_secs(2)));
    }

    #[test]
    fn permission_errors_and_client_errors_are_not_retried() {
        for code in [400, 401, 403, 404, 422] {
            assert_eq!(retry_delay(&status(code), Repeat::Safe, 0, BASE, 0), None, "{code}");
        }
    }

    #[test]
    fn a_create_that_may_have_happened_is_not_repeated() {
        assert_eq!(retry_delay(&status(500), Repeat::OnlyWhenRejected, 0, BASE, 0), None);
        assert_eq!(retry_delay(&Outcome::Transport, Repeat::OnlyWhenRejected, 0, BASE, 0), None);
        let limited = Outcome::Status {
            status: 429,
            retry_after: Some(1),
            ratelimit_remaining: None,
            ratelimit_reset: None,
            secondary_rate_limit: false,
        };
        assert_eq!(retry_delay(&limited, Repeat::OnlyWhenRejected, 0, BASE, 0), Some(Duration::from_secs(1)));
    }

    #[test]
    fn a_secondary_rate_limit_without_headers_waits_a_minute_and_is_not_a_refusal() {
        let secondary = Outcome::Status {
            status: 403,
            retry_after: None,
            ratelimit_remaining: None,
            ratelimit_reset: None,
            secondary_rate_limit: true,
        };
        assert_eq!(retry_delay(&secondary, Repeat::Safe, 0, BASE, 0), Some(Duration::from_secs(60)));
        assert_eq!(retry_delay(&secondary, Repeat::OnlyWhenRejected, 2, BASE, 0), Some(Duration::from_secs(60)));
        let short_base = Duration::from_millis(10);
        assert_eq!(retry_delay(&secondary, Repeat::Safe, 0, short_base, 0), Some(Duration::from_millis(600)));
        let reply = |status: u16, message: &str| Reply {
            status,
            text: serde_json::json!({ "message": message }).to_string(),
            ..Reply::default()
        };
        assert!(reply(403, "You have exceeded a secondary rate limit. Please wait").is_rate_limited());
        assert!(!reply(403, "Resource not accessible by integration").is_rate_limited());
    }

    #[test]
    fn the_token_goes_only_to_the_apis_own_hosts() {
        assert_eq!(api_origins("https://api.github.com"), ["https://api.github.com", "https://uploads.github.com"]);
        assert_eq!(api_origins("https://GHE.example.com:443/api/v3"), ["https://ghe.example.com"]);
        assert_eq!(origin("http://127.0.0.1:8080/repos?x=1").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(origin("https://evil.example@api.github.com/").as_deref(), None);
        assert_eq!(origin("ftp://api.github.com/"), None);
        let origins = api_origins("https://api.github.com");
        let trusted = |url: &str| origin(url).is_some_and(|o| origins.contains(&o));
        assert!(trusted("https://api.github.com/repos/o/r/releases?page=2"));
        assert!(trusted("https://uploads.github.com/repos/o/r/releases/1/assets?name=x"));
        for untrusted in [
            "https://api.github.com.evil.example/repos",
            "http://api.github.com/repos",
            "https://api.github.com:8443/repos",
            "https://objects.githubusercontent.com/x",
        ] {
            assert!(!trusted(untrusted), "{untrusted}");
        }
    }

    #[test]
    fn transport_failures_are_named_for_what_they_are() {
        assert_eq!(describe_transport_error("io: Connection reset by peer (os error 104)"), "the connection was reset");
        assert!(describe_transport_error("timeout: send body").starts_with("no byte moved"));
        assert_eq!(describe_transport_error("io: Connection refused (os error 111)"), "the connection was refused");
    }

    #[test]
    fn link_header_next_page() {
        let link = r#"<https://api.github.com/repositories/1/releases?page=2>; rel="next", <https://api.github.com/repositories/1/releases?page=5>; rel="last""#;
        assert_eq!(next_page(link).as_deref(), Some("https://api.github.com/repositories/1/releases?page=2"));
        assert_eq!(next_page(r#"<https://x/?page=1>; rel="prev""#), None);
    }

    #[test]
    fn repository_names() {
        assert!(check_repo("lumen-argus/lumen-argus").is_ok());
        assert!(check_repo("a.b/c_d").is_ok());
        for bad in ["", "owner", "owner/", "/name", "a/b/c", "a b/c", "owner/name?x"] {
            assert!(check_repo(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("lumen-argus-0.2.0rc1_x86.tar.gz"), "lumen-argus-0.2.0rc1_x86.tar.gz");
        assert_eq!(percent_encode("a b+c/d?é"), "a%20b%2Bc%2Fd%3F%C3%A9");
    }

    #[test]
    fn the_token_never_prints() {
        let token = Token("ghp_secretsecret".into());
        assert_eq!(format!("{token} {token:?}"), "*** ***");
        assert_eq!(token.scrub("bad ghp_secretsecret here"), "bad *** here");
    }
}
