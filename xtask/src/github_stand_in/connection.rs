//! One connection to the stand-in: the HTTP/1.1 request read off the socket and recorded, the
//! fault due for it applied (a connection cut mid-body, a stall, a changed upload ...), and the
//! endpoint's answer written back.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::endpoints::{answer, error, release_json, route};
use super::{Asset, FaultKind, OWNER_REPO, Recorded, State, lock, name_as_github_keeps_it};

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

/// Wait up to 60 s, or until the stand-in stops.
fn hold(stopping: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stopping.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(super) fn serve_connection(stream: TcpStream, state: &Mutex<State>, stopping: &AtomicBool, base: &str) {
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
