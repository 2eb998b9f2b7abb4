//! The GitHub REST API over `ureq`: authenticated requests with the documented headers, bounded
//! retries of transient failures (connection errors, 5xx, 429, primary and secondary rate limits),
//! pagination, and interruptible transfers that end when the other side stops moving bytes. The
//! token is held in [`Token`], which never prints itself, and goes only to the API's own hosts:
//! a URL on any other host (a `Link` to the next page, an `upload_url`) is refused, not followed.
//!
//! This file holds the connection, the requests and replies as data, and pagination; sending with
//! retries is `github_api/retries.rs`, one attempt over the wire `github_api/transfer.rs`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::failure::{refuse, refuse_usage};
use crate::naming::shown;

pub mod releases;
mod retries;
mod transfer;

use retries::Outcome;
pub use retries::{send, sleep_interruptibly};
use transfer::transfer_deadline;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// First backoff after a transient failure; doubled after each attempt. Tests shorten it with
/// `XTASK_GITHUB_RETRY_BASE_MS` (never needed outside tests).
const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// How long a transfer may move no byte (a write the server does not read, a read it does not
/// answer) before the attempt counts as failed. Tests shorten it with `XTASK_GITHUB_IDLE_TIMEOUT_MS`.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long GitHub may take to answer once a request (and its body) has been sent.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
const USER_AGENT: &str = "lumen-argus-xtask";
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

/// The connection to `repo` (from [`repository`]) described by the environment.
pub fn connect(repo: &str, token: Option<Token>) -> anyhow::Result<Connection> {
    let repo = repo.to_string();
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

/// What every `--repo` refusal says to do.
pub const REPO_HINT: &str = "pass --repo OWNER/NAME, e.g. --repo lumen-argus/lumen-argus";

/// A repository's name, `OWNER/NAME`: two non-empty parts of letters, digits, `-`, `_` and `.`
/// around one `/`. The one rule for `--repo` (a value parser for clap) and `GITHUB_REPOSITORY`.
pub fn parse_repo_flag(text: &str) -> Result<String, String> {
    let valid_part = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    match text.split_once('/') {
        Some((owner, name)) if valid_part(owner) && valid_part(name) => Ok(text.to_string()),
        _ => Err(format!(
            "{} is not OWNER/NAME (letters, digits, `-`, `_` and `.` on each side of one `/`)",
            shown(text)
        )),
    }
}

/// The repository a command works on: `--repo`, else `GITHUB_REPOSITORY`. A `--repo` that is not
/// OWNER/NAME, or neither of them, is a usage error (exit 2); a `GITHUB_REPOSITORY` that is not
/// OWNER/NAME is the environment's fault (exit 1). Commands ask for it before any other work.
pub fn repository(repo_flag: Option<&str>) -> anyhow::Result<String> {
    if let Some(text) = repo_flag {
        return parse_repo_flag(text).map_err(|problem| refuse_usage(format!("--repo {problem}"), REPO_HINT));
    }
    match std::env::var_os("GITHUB_REPOSITORY") {
        Some(value) if !value.is_empty() => {
            let text = value.to_string_lossy();
            parse_repo_flag(&text)
                .map_err(|problem| refuse(format!("GITHUB_REPOSITORY {problem}"), format!("unset it, or {REPO_HINT}")))
        }
        _ => Err(refuse_usage(
            "no repository: --repo is not given and GITHUB_REPOSITORY is not set",
            "pass --repo OWNER/NAME (GitHub Actions sets GITHUB_REPOSITORY)",
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
    /// [`retries::describe_transport_error`]): an upload answered `422 already_exists` after one of those
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

/// `rel="next"` of a `Link` header.
pub fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
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
    fn link_header_next_page() {
        let link = r#"<https://api.github.com/repositories/1/releases?page=2>; rel="next", <https://api.github.com/repositories/1/releases?page=5>; rel="last""#;
        assert_eq!(next_page(link).as_deref(), Some("https://api.github.com/repositories/1/releases?page=2"));
        assert_eq!(next_page(r#"<https://x/?page=1>; rel="prev""#), None);
    }

    #[test]
    fn repository_names() {
        assert_eq!(parse_repo_flag("lumen-argus/lumen-argus").as_deref(), Ok("lumen-argus/lumen-argus"));
        assert!(parse_repo_flag("a.b/c_d").is_ok());
        for bad in [
            "",
            "owner",
            "noslash",
            "owner/",
            "/name",
            "a/b/c",
            "o/n/x",
            "a b/c",
            "a b",
            "owner/name?x",
            "o/n\n",
            "../..",
            "./x",
            "o/..",
        ] {
            let problem = parse_repo_flag(bad).expect_err(bad);
            assert!(problem.starts_with(&shown(bad)) && problem.contains("is not OWNER/NAME"), "{problem}");
        }
        let long = format!("{}/x", "a".repeat(500));
        assert!(parse_repo_flag(&format!("{long} ")).unwrap_err().contains("(503 characters)"));
    }

    #[test]
    fn a_repo_flag_that_is_not_owner_name_is_a_usage_error() {
        for bad in ["a b", "noslash", "o/n/x", ""] {
            let error = repository(Some(bad)).expect_err(bad);
            assert_eq!(crate::failure::exit_code_of(&error), 2, "{bad:?}");
            let lines = crate::failure::lines(&error);
            assert!(lines.message.starts_with("--repo ") && lines.message.contains("is not OWNER/NAME"), "{lines:?}");
            assert_eq!(lines.hint.as_deref(), Some(REPO_HINT));
        }
        assert_eq!(repository(Some("o/n")).unwrap(), "o/n");
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
