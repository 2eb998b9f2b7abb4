//! One attempt of a request over HTTP: on a worker thread so that Ctrl-C is noticed while a
//! transfer blocks, with deadlines by body size (no transfer may stall past the idle timeout or
//! crawl forever), and a download streamed into a temporary file, hashed, then renamed in.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::{Connection, Reply, Request, RequestBody};
use crate::process::check_interrupted;

/// The slowest whole transfer allowed: a body's deadline is the idle timeout plus its size at this
/// rate (2 GiB: 2.3 hours), so a server that trickles a byte now and then cannot hold a run forever.
pub const SLOWEST_TRANSFER_BYTES_PER_SECOND: u64 = 256 * 1024;

/// How long an interrupted request's worker gets to clean up (remove a half-downloaded file).
const WORKER_CLEANUP_WAIT: Duration = Duration::from_secs(2);

const API_VERSION: &str = "2022-11-28";

/// How long a body of `size` bytes may take to send or receive in all.
pub fn transfer_deadline(idle_timeout: Duration, size: u64) -> Duration {
    idle_timeout + Duration::from_secs(size / SLOWEST_TRANSFER_BYTES_PER_SECOND)
}

/// Run one attempt on a worker thread so that Ctrl-C is noticed even while a transfer blocks: on an
/// interrupt the attempt is abandoned (the process exits and the connection closes with it).
pub fn run_interruptibly(connection: &Connection, request: &Request) -> anyhow::Result<Result<Reply, String>> {
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
