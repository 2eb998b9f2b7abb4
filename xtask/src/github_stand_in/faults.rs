//! The faults the stand-in injects on request: which requests one applies to ([`Target`], the
//! `from`-th to the `from + count - 1`-th of them), and what it does ([`FaultKind`]).

use super::OWNER_REPO;

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
    pub(super) fn matches(self, method: &str, path: &str) -> bool {
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
    pub(super) seen: usize,
}

impl Fault {
    pub fn new(target: Target, from: usize, count: usize, kind: FaultKind) -> Fault {
        Fault { target, from, count, kind, seen: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
