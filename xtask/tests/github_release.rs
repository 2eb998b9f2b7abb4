//! `cargo xtask github-release` and `checksums --verify --release` against a stand-in of the GitHub
//! API on loopback: first publication, re-runs that change nothing, refusals that change nothing,
//! `--replace`, failures half-way and the resumed run, retries, tokens, dry runs and Ctrl-C. The
//! hostile cases (a misbehaving API, odd folders, races) are in `github_release_hostile.rs`.

mod release_folders;
mod support;

use release_folders::*;
use support::*;

#[test]
fn first_publication_uploads_everything_then_publishes_and_a_rerun_sends_no_write() {
    let stand_in = stand_in();
    stand_in.lock().page_limit = 2; // lists take several pages
    stand_in.lock().add_release("v0.1.0", false);
    stand_in.lock().add_release("v0.1.1", false);
    let folder = release_folder();
    let dir = folder.path();

    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "first publication");
    let release_url = format!("{}/{OWNER_REPO}/releases/tag/{TAG}", stand_in.url);
    assert!(stdout(&output).contains(&format!("published {TAG}: {release_url}")), "{}", stdout(&output));
    let requests = stand_in.requests();
    let mut uploaded = uploads(&requests);
    uploaded.sort();
    let mut every_file = ["checksums.txt", "sidecars.json", ARCHIVE, WINDOWS, BINARY].map(String::from).to_vec();
    every_file.sort();
    assert_eq!(uploaded, every_file);
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
    {
        let state = stand_in.lock();
        let release = state.release(TAG).unwrap();
        assert!(!release.draft && !release.prerelease);
        assert_eq!(release.body, NOTES);
        let content_type = |name: &str| release.assets.iter().find(|a| a.name == name).unwrap().content_type.clone();
        assert_eq!(content_type(ARCHIVE), "application/gzip");
        assert_eq!(content_type("checksums.txt"), "text/plain");
        assert_eq!(content_type(BINARY), "application/octet-stream");
    }
    // Created as a draft, published by the last request, after every upload.
    let create = requests.iter().find(|r| r.method == "POST" && !r.is_upload()).unwrap();
    let created: serde_json::Value = serde_json::from_slice(&create.body).unwrap();
    assert_eq!(created["draft"], true);
    let last = requests.last().unwrap();
    assert_eq!(last.method, "PATCH");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&last.body).unwrap()["draft"], false);
    for request in &requests {
        assert_eq!(request.headers.get("accept").map(String::as_str), Some("application/vnd.github+json"));
        assert_eq!(request.headers.get("x-github-api-version").map(String::as_str), Some("2022-11-28"));
        assert!(request.headers.get("user-agent").is_some_and(|agent| agent.contains("xtask")));
        assert_eq!(request.headers.get("authorization"), Some(&format!("Bearer {}", stand_in.token)));
    }

    stand_in.clear_requests_and_faults();
    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "re-run");
    let requests = stand_in.requests();
    assert_eq!(uploads(&requests), Vec::<String>::new(), "a re-run uploaded something");
    assert!(requests.iter().all(|r| r.method == "GET"), "a re-run wrote: {requests:?}");
    assert_eq!(stdout(&output).matches("  skip ").count(), 5, "{}", stdout(&output));
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
}

#[test]
fn a_differing_asset_is_refused_with_nothing_changed_and_replace_swaps_only_that_one() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    succeeded(&github_release(&stand_in, dir, &[]), "first publication");
    let published = assets(&stand_in, TAG);
    let old_hash = sha256_hex(&dir.join(BINARY));

    std::fs::write(dir.join(BINARY), b"rebuilt proxy binary").unwrap();
    seal(dir, VERSION, COMMIT);
    let new_hash = sha256_hex(&dir.join(BINARY));
    stand_in.clear_requests_and_faults();
    let output = github_release(&stand_in, dir, &[]);
    // checksums.txt and sidecars.json changed with the binary: all three are refused, and the hint names them.
    let stderr = failed_with(
        &output,
        1,
        &[BINARY, &old_hash, &new_hash, &format!("--replace {BINARY} sidecars.json checksums.txt")],
    );
    assert!(stdout(&output).contains(&format!("  refuse   {BINARY}")), "{}\n{stderr}", stdout(&output));
    let requests = stand_in.requests();
    assert!(requests.iter().all(|r| r.method == "GET"), "a refused run wrote: {requests:?}");
    assert_eq!(assets(&stand_in, TAG), published, "a refused run changed the release");

    stand_in.clear_requests_and_faults();
    let output = github_release(&stand_in, dir, &["--replace", BINARY, "sidecars.json", "checksums.txt"]);
    succeeded(&output, "--replace");
    assert!(stdout(&output).contains(&format!("renamed it in: {BINARY}")), "{}", stdout(&output));
    let requests = stand_in.requests();
    // Each new file goes up under a staging name first, then takes the old one's place.
    assert_eq!(count(&requests, "DELETE"), 3, "{requests:?}");
    let uploaded = uploads(&requests);
    assert_eq!(uploaded.len(), 3, "{uploaded:?}");
    assert!(uploaded.iter().all(|name| name.contains(".xtask-staged-")), "{uploaded:?}");
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
}

#[test]
fn a_500_on_the_second_upload_stops_with_a_draft_and_the_rerun_uploads_only_the_rest() {
    let stand_in = stand_in();
    stand_in.inject(Fault::new(Target::Uploads, 2, usize::MAX, FaultKind::Status(500)));
    let folder = release_folder();
    let dir = folder.path();

    let output = github_release(&stand_in, dir, &[]);
    let rerun =
        format!("hint: re-run `cargo xtask github-release --tag v0.2.0 --dir {}`", shell_word(dir.to_str().unwrap()));
    let stderr = failed_with(&output, 1, &["answered 500", "still a draft", &rerun]);
    assert!(stderr.contains("retrying in"), "{stderr}");
    let first_run = stand_in.requests();
    assert_eq!(count(&first_run, "PATCH"), 0, "published after a failure");
    let first_upload = uploads(&first_run)[0].clone();
    {
        let state = stand_in.lock();
        let release = state.release(TAG).unwrap();
        assert!(release.draft);
        let names: Vec<&str> = release.assets.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, [first_upload.as_str()]);
    }

    stand_in.clear_requests_and_faults();
    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "resumed run");
    let requests = stand_in.requests();
    let mut uploaded = uploads(&requests);
    uploaded.sort();
    let mut missing: Vec<String> = ["checksums.txt", "sidecars.json", BINARY, ARCHIVE, WINDOWS]
        .iter()
        .map(|s| s.to_string())
        .filter(|n| *n != first_upload)
        .collect();
    missing.sort();
    assert_eq!(uploaded, missing, "the resumed run must upload exactly the missing files");
    assert_eq!(count(&requests, "DELETE"), 0);
    assert_eq!(count(&requests, "POST") - uploaded.len(), 0, "the resumed run created another release");
    assert_eq!(stand_in.lock().releases_of(TAG).len(), 1);
    assert!(!stand_in.lock().release(TAG).unwrap().draft);
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
}

#[test]
fn without_a_token_nothing_is_sent() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path().to_str().unwrap();
    let output = command(&stand_in, &["github-release", "--tag", TAG, "--dir", dir], None).output().unwrap();
    failed_with(&output, 1, &["error: GITHUB_TOKEN is not set", "hint: "]);
    assert!(stand_in.requests().is_empty(), "requests were sent without a token");
}

#[test]
fn a_wrong_token_is_refused_with_a_hint_and_never_echoed() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path().to_str().unwrap();
    let wrong = "ghp_wrongwrongwrong0123456789";
    let output = command(&stand_in, &["github-release", "--tag", TAG, "--dir", dir], Some(wrong)).output().unwrap();
    let stderr = failed_with(&output, 1, &["401", "Bad credentials", "hint: GITHUB_TOKEN was rejected"]);
    assert_token_absent(&output, wrong);
    assert_eq!(stderr.lines().filter(|line| line.starts_with("error: ")).count(), 1, "{stderr}");
    let requests = stand_in.requests();
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
    assert_eq!(requests.len(), 1, "a 401 is not retried");
}

#[test]
fn the_token_appears_in_no_output_even_when_the_server_echoes_it_in_errors() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    // A careless server repeats the Authorization header in its error message: once (retried),
    // then on every request (the run fails).
    stand_in.inject(Fault::new(Target::Uploads, 1, 1, FaultKind::EchoAuthorization));
    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "run with one echoing failure");
    assert!(text(&output.stderr).contains("retrying in"), "{}", text(&output.stderr));

    stand_in.clear_requests_and_faults();
    stand_in.inject(Fault::new(Target::Any, 1, usize::MAX, FaultKind::EchoAuthorization));
    let output = github_release(&stand_in, dir, &[]);
    failed_with(&output, 1, &["answered 500", "***"]);
}

#[test]
fn a_dry_run_prints_the_plan_and_sends_only_reads() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    let output = github_release(&stand_in, dir, &["--dry-run"]);
    succeeded(&output, "dry run");
    let printed = stdout(&output);
    assert!(printed.contains("none yet, create a draft"), "{printed}");
    assert_eq!(printed.matches("  upload ").count(), 5, "{printed}");
    assert!(printed.contains("dry run: 5 to write, 0 already there; nothing was sent but reads"), "{printed}");
    let requests = stand_in.requests();
    assert!(!requests.is_empty() && requests.iter().all(|r| r.method == "GET"), "{requests:?}");
    assert!(stand_in.lock().releases.is_empty());
}

#[test]
fn a_local_file_that_disagrees_with_checksums_txt_stops_before_the_first_request() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    std::fs::write(dir.join(WINDOWS), b"tampered after checksums").unwrap();
    let output = github_release(&stand_in, dir, &[]);
    // The hint names this folder, not a placeholder: pasted, it rewrites this folder's list.
    let write_list = format!("`cargo xtask checksums {}`", shell_word(dir.to_str().unwrap()));
    failed_with(&output, 1, &[WINDOWS, "nothing was sent", &write_list]);
    assert!(stand_in.requests().is_empty(), "a request was sent: {:?}", stand_in.requests());

    std::fs::remove_file(dir.join(WINDOWS)).unwrap();
    let output = github_release(&stand_in, dir, &[]);
    failed_with(&output, 1, &[&format!("{WINDOWS}: missing")]);
    assert!(stand_in.requests().is_empty());
}

#[test]
fn rate_limits_are_retried_after_retry_after_and_pre_releases_are_marked() {
    let stand_in = stand_in();
    stand_in.inject(Fault::new(Target::Uploads, 1, 1, FaultKind::TooManyRequests { retry_after: 1 }));
    stand_in.inject(Fault::new(Target::Any, 1, 1, FaultKind::RateLimitExhausted { reset_in: 0 }));
    stand_in.lock().tags.insert("v0.3.0rc1".into(), COMMIT.into());
    let folder = release_folder_at("0.3.0rc1", COMMIT);
    let dir = folder.path();
    let actions_files = tempfile::tempdir().unwrap();
    let summary = actions_files.path().join("summary.md");
    let outputs = actions_files.path().join("outputs.txt");
    let args = ["github-release", "--tag", "v0.3.0rc1", "--dir", dir.to_str().unwrap()];
    let output = command(&stand_in, &args, Some(&stand_in.token))
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .output()
        .unwrap();
    assert_token_absent(&output, &stand_in.token);
    let stderr = succeeded(&output, "rc release with a 429");
    assert!(stderr.contains("retrying in 1.0 s") && stderr.contains("answered 429"), "{stderr}");
    assert!(stderr.contains("answered 403 (API rate limit exceeded"), "{stderr}");
    let requests = stand_in.requests();
    assert_eq!(requests[0].target, requests[1].target, "the rate-limited first request is repeated");
    assert!(requests[0].target.contains("/git/ref/tags/v0.3.0rc1"), "the tag is checked first: {requests:?}");
    assert_eq!(uploads(&stand_in.requests()).len(), 6, "five files and one repeated upload");
    let state = stand_in.lock();
    let release = state.release("v0.3.0rc1").unwrap();
    assert!(!release.draft && release.prerelease);
    drop(state);
    let printed = stdout(&output);
    assert!(printed.contains("::group::Upload") && printed.contains("::endgroup::"), "{printed}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.contains("| file | action | detail |") && summary.contains(&format!("| `{BINARY}` | upload |")),
        "{summary}"
    );
    assert!(summary.contains(&format!("| `{BINARY}` | uploaded | `{}` |", sha256_hex(&dir.join(BINARY)))), "{summary}");
    let url = format!("url={}/{OWNER_REPO}/releases/tag/v0.3.0rc1\n", stand_in.url);
    assert_eq!(std::fs::read_to_string(&outputs).unwrap(), url);
}

#[test]
fn a_connection_dropped_mid_upload_is_retried_over_the_unfinished_asset() {
    let stand_in = stand_in();
    stand_in.inject(Fault::new(Target::Uploads, 2, 1, FaultKind::DropMidRequest));
    let folder = release_folder();
    let dir = folder.path();
    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "run with a dropped upload");
    let requests = stand_in.requests();
    assert_eq!(count(&requests, "DELETE"), 1, "the unfinished asset must be deleted: {requests:?}");
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
    assert!(!stand_in.lock().release(TAG).unwrap().draft);
}

#[test]
fn an_unfinished_upload_left_by_an_earlier_run_is_redone_and_a_stray_on_the_draft_is_not_published() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    {
        let mut state = stand_in.lock();
        state.add_release(TAG, true);
        state.add_asset(TAG, BINARY, "starter", b"", false);
        state.add_asset(TAG, "notes-by-hand.txt", "uploaded", b"by hand", true);
    }
    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "run over an unfinished upload");
    let printed = stdout(&output);
    assert!(printed.contains(&format!("  redo     {BINARY}")), "{printed}");
    assert!(printed.contains("  remove   notes-by-hand.txt"), "{printed}");
    assert!(printed.contains("deleting notes-by-hand.txt from the draft: checksums.txt does not list it"), "{printed}");
    // Published with exactly the files of checksums.txt: what `checksums --verify --release` accepts.
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
    assert_eq!(count(&stand_in.requests(), "DELETE"), 2);
    assert!(!stand_in.lock().release(TAG).unwrap().draft);
    succeeded(&verify_release(&stand_in, &[], None), "verify the published release");
}

// Unix only: the test sends SIGINT with `kill -INT`; Windows has no signal to send to one process.
#[cfg(unix)]
#[test]
fn ctrl_c_during_an_upload_leaves_a_draft_and_exits_130() {
    let stand_in = stand_in();
    stand_in.inject(Fault::new(Target::Uploads, 2, 1, FaultKind::Stall));
    let folder = release_folder();
    let dir = folder.path().to_str().unwrap();
    let child = command(&stand_in, &["github-release", "--tag", TAG, "--dir", dir], Some(&stand_in.token))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        stand_in.wait_for(|requests| requests.iter().filter(|r| r.is_upload()).count() >= 2),
        "timed out waiting for the second upload"
    );
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let interrupted_at = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    // The stalled upload never answers: the xtask must stop on the signal, not on a timeout.
    assert!(interrupted_at.elapsed() < std::time::Duration::from_secs(10), "took {:?}", interrupted_at.elapsed());
    let rerun = format!("re-run `cargo xtask github-release --tag v0.2.0 --dir {dir}` to finish");
    failed_with(&output, 130, &["interrupted", "still a draft", &rerun]);
    assert_eq!(count(&stand_in.requests(), "PATCH"), 0);
    assert!(stand_in.lock().release(TAG).unwrap().draft, "an interrupted run published the release");
}

#[test]
fn checksums_verify_release_compares_digests_and_downloads() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    succeeded(&github_release(&stand_in, dir, &[]), "publication");

    stand_in.clear_requests_and_faults();
    for attested in [BINARY, ARCHIVE] {
        stand_in.lock().attestations.insert(sha256_hex(&dir.join(attested)), 1);
    }
    let output = verify_release(&stand_in, &[], None);
    succeeded(&output, "verify by digests, without a token");
    let printed = stdout(&output);
    for line in [
        format!("attested  {BINARY}  (1 attestation(s))"),
        format!("attested  {ARCHIVE}"),
        format!("no attestation  {WINDOWS}"),
        "no attestation  sidecars.json".to_string(),
        format!(
            "attestations: 2 of 4 file(s) attested; to check one fully (signature, workflow, repository), download \
                 it and run `gh attestation verify {BINARY} --repo {OWNER_REPO}`"
        ),
    ] {
        assert!(printed.contains(&line), "{line:?} in\n{printed}");
    }
    assert!(
        stdout(&output).contains("4 file(s) of v0.2.0 match checksums.txt (GitHub's digests)"),
        "{}",
        stdout(&output)
    );
    let requests = stand_in.requests();
    assert!(requests.iter().all(|r| r.method == "GET" && !r.headers.contains_key("authorization")));
    let downloads = requests.iter().filter(|r| r.target.starts_with("/download/")).count();
    assert_eq!(downloads, 1, "only checksums.txt is downloaded without --download");

    let download = tempfile::tempdir().unwrap();
    let output = verify_release(&stand_in, &["--download", download.path().to_str().unwrap()], Some(&stand_in.token));
    assert_token_absent(&output, &stand_in.token);
    succeeded(&output, "verify with downloads");
    for name in ["checksums.txt", BINARY, ARCHIVE, WINDOWS] {
        assert_eq!(
            std::fs::read(download.path().join(name)).unwrap(),
            std::fs::read(dir.join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn checksums_verify_release_names_tampered_missing_and_extra_assets() {
    let stand_in = stand_in();
    let folder = release_folder();
    succeeded(&github_release(&stand_in, folder.path(), &[]), "publication");
    {
        let mut state = stand_in.lock();
        let release = state.release_mut(TAG).unwrap();
        let binary = release.assets.iter_mut().find(|a| a.name == BINARY).unwrap();
        binary.bytes = b"swapped".to_vec();
        binary.digest = Some(format!("sha256:{}", sha256_hex_of_bytes(b"swapped")));
        release.assets.retain(|a| a.name != ARCHIVE);
    }
    stand_in.lock().add_asset(TAG, "stray.bin", "uploaded", b"stray", true);
    let output = verify_release(&stand_in, &["--repo", OWNER_REPO], None);
    failed_with(
        &output,
        1,
        &[
            &format!("{BINARY}: checksums.txt says sha256:"),
            &format!("GitHub's digest is sha256:{}", sha256_hex_of_bytes(b"swapped")),
            &format!("{ARCHIVE}: missing from the release"),
            "stray.bin: on the release but not in checksums.txt",
            &format!("`cargo xtask github-release --tag {TAG} --dry-run --repo {OWNER_REPO}`"),
        ],
    );
    assert!(!text(&output.stderr).contains(WINDOWS), "a good asset was reported");

    // Downloads catch a file whose bytes differ even where GitHub has no digest (old releases).
    let download = tempfile::tempdir().unwrap();
    let output = verify_release(&stand_in, &["--download", download.path().to_str().unwrap()], None);
    failed_with(&output, 1, &[&format!("{BINARY}: checksums.txt says")]);
}

#[test]
fn collect_compares_sizes_with_the_latest_published_release() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    // The runner's dist/ of the next build: the same files, with their .sha256 files.
    let runner = tempfile::tempdir().unwrap();
    for name in [BINARY, ARCHIVE, WINDOWS, "manifest.json"] {
        std::fs::copy(dir.join(name), runner.path().join(name)).unwrap();
    }
    for name in [BINARY, ARCHIVE, WINDOWS] {
        let line = format!("{}  {name}\n", sha256_hex(&dir.join(name)));
        std::fs::write(runner.path().join(format!("{name}.sha256")), line).unwrap();
    }
    let into = tempfile::tempdir().unwrap();
    let collect = |stand_in: &StandIn| {
        let args = ["collect", runner.path().to_str().unwrap(), "--into", into.path().to_str().unwrap()];
        let mut args = args.to_vec();
        args.push("--previous-release");
        command(stand_in, &args, Some(&stand_in.token)).output().unwrap()
    };
    let output = collect(&stand_in);
    assert_token_absent(&output, &stand_in.token);
    succeeded(&output, "collect with no release yet");
    assert!(stdout(&output).contains(&format!("{OWNER_REPO} has no published release yet")), "{}", stdout(&output));

    succeeded(&github_release(&stand_in, dir, &[]), "publication");
    let output = collect(&stand_in);
    succeeded(&output, "collect against the published release");
    let printed = stdout(&output);
    assert!(printed.contains("| change since v0.2.0 |"), "{printed}");
    assert!(printed.contains("| +0.00 MB (+0.0%) | 1.0 s |"), "{printed}");
    let requests = stand_in.requests();
    assert!(requests.iter().any(|r| r.target.ends_with("/releases/latest")), "{requests:?}");
    // The release's sidecars.json is checked against GitHub's digest of it before it is read.
    stand_in.lock().release_mut(TAG).unwrap().assets.iter_mut().find(|a| a.name == "sidecars.json").unwrap().bytes =
        b"{}".to_vec();
    failed_with(&collect(&stand_in), 1, &["sidecars.json of release v0.2.0 does not match GitHub's digest"]);
}
