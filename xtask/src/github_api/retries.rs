//! Sending a request to the GitHub API: bounded retries with backoff of transient failures
//! (connection errors, 5xx) and of rate limits (429, primary and secondary, waiting as GitHub
//! asks up to [`MAX_WAIT`]), a 401 turned into a hint about the token, and a final error that
//! says what kept failing. Never a request off the API's own hosts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::transfer::run_interruptibly;
use super::{Connection, Repeat, Reply, Request};
use crate::failure::refuse;
use crate::process::check_interrupted;

/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 5;

/// The longest wait for a rate limit or `Retry-After` before giving up and asking for a re-run.
pub const MAX_WAIT: Duration = Duration::from_secs(90);

/// A secondary rate limit without `retry-after` asks for "at least one minute": this many backoff
/// bases (60 s outside tests).
const SECONDARY_LIMIT_WAIT_IN_BASES: u32 = 60;

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
    fn transport_failures_are_named_for_what_they_are() {
        assert_eq!(describe_transport_error("io: Connection reset by peer (os error 104)"), "the connection was reset");
        assert!(describe_transport_error("timeout: send body").starts_with("no byte moved"));
        assert_eq!(describe_transport_error("io: Connection refused (os error 111)"), "the connection was refused");
    }
}
