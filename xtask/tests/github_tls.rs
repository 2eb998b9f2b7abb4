//! The GitHub client over real TLS: a server whose certificate this machine does not trust is
//! refused at once with the fix, not retried as if the network had hiccuped.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const SERVER: &str = r#"
import http.server, ssl, sys
server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.timeout = 20
for _ in range(10):
    try:
        server.handle_request()
    except Exception:
        pass
"#;

#[test]
fn an_untrusted_certificate_is_refused_at_once_with_the_fix() {
    let folder = tempfile::tempdir().unwrap();
    let (key, certificate) = (folder.path().join("key.pem"), folder.path().join("cert.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .output()
        .expect("openssl makes the test's self-signed certificate");
    succeeded(&made, "openssl req");
    let mut server = Command::new(python())
        .args(["-c", SERVER])
        .arg(&certificate)
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut port).unwrap();
    let port = port.trim().to_string();
    assert!(port.parse::<u16>().is_ok(), "the TLS server printed no port: {port:?}");

    let started = Instant::now();
    let output = xtask_command(&repository_root(), &["checksums", "--verify", "--release", "v0.2.5", "--repo", "a/b"])
        .env("GITHUB_API_URL", format!("https://127.0.0.1:{port}"))
        .env("GITHUB_TOKEN", "not-a-real-token-1234")
        .env("XTASK_GITHUB_RETRY_BASE_MS", "2000")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let _ = server.kill();
    let _ = server.wait();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("hint: the server's TLS certificate is not trusted"),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "a certificate failure was retried:\n{stderr}");
    assert!(!stderr.contains("not-a-real-token-1234"), "the token was printed:\n{stderr}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}
