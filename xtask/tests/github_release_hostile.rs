//! `github-release` and `checksums --verify --release` against a stand-in GitHub API that
//! misbehaves, with odd release folders and two runs at once: whatever happens, no wrong or
//! incomplete release is published, a published one is never left worse than before, and every
//! hint is a command that works when pasted.

mod release_folders;
mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use release_folders::*;
use support::*;

/// Run `command` to its end, failing the test (and killing it) if it takes longer than `limit`:
/// a run that hangs must fail the test, not hang it.
fn output_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}; killed\nstdout:\n{}\nstderr:\n{}",
                stdout(&output),
                text(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn publish_first(stand_in: &StandIn, dir: &Path) {
    succeeded(&github_release(stand_in, dir, &[]), "first publication");
    stand_in.clear_requests_and_faults();
}

/// A published release of the folder's files, then a rebuilt binary (and so a new checksums.txt),
/// in a folder whose path needs quoting in a shell.
fn published_then_rebuilt(stand_in: &StandIn) -> (tempfile::TempDir, std::path::PathBuf) {
    let folder = release_folder();
    let dir = folder.path().join("release files");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(folder.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::rename(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    publish_first(stand_in, &dir);
    std::fs::write(dir.join(BINARY), b"rebuilt proxy binary").unwrap();
    seal(&dir, VERSION, COMMIT);
    (folder, dir)
}

#[test]
fn a_failed_replacement_leaves_the_published_release_whole_and_the_hinted_command_finishes_it() {
    let stand_in = stand_in();
    let (_folder, dir) = published_then_rebuilt(&stand_in);
    let before = assets(&stand_in, TAG);
    // The first staged upload works, every later one fails.
    stand_in.inject(Fault::new(Target::Uploads, 2, usize::MAX, FaultKind::Status(500)));
    let output = github_release(&stand_in, &dir, &["--replace", BINARY, "checksums.txt", "sidecars.json"]);
    let stderr = failed_with(&output, 1, &["answered 500", "published"]);
    // Exactly as before: the staged copy that did go up is withdrawn, so users see nothing new.
    assert_eq!(assets(&stand_in, TAG), before, "the published release changed although the replacement failed");
    succeeded(&verify_release(&stand_in, &[], None), "verify the untouched release");
    let hinted = hinted_command(&stderr);
    assert!(hinted.contains("--replace") && hinted.contains("'"), "the hint drops --replace or the quoting: {hinted}");

    stand_in.clear_requests_and_faults();
    succeeded(&run_pasted(&stand_in, &hinted), "the hinted command");
    assert_eq!(assets(&stand_in, TAG), expected_assets(&dir), "no staged copy left, every new file in place");
    succeeded(&verify_release(&stand_in, &[], None), "verify the repaired release");
}

#[test]
fn a_rename_that_fails_puts_the_old_file_back_and_the_hinted_command_finishes_the_swap() {
    let stand_in = stand_in();
    let (_folder, dir) = published_then_rebuilt(&stand_in);
    let before = assets(&stand_in, TAG);
    // Edit 1 moves the old binary aside; edits 2-6 (the rename in, all five attempts) fail; edit 7
    // puts the old binary back.
    stand_in.inject(Fault::new(Target::EditAsset, 2, 5, FaultKind::Status(502)));
    let output = github_release(&stand_in, &dir, &["--replace", BINARY, "checksums.txt", "sidecars.json"]);
    let stderr = failed_with(&output, 1, &["renaming the new", "is back under its name"]);
    assert_eq!(assets(&stand_in, TAG), before, "the published release changed");

    stand_in.clear_requests_and_faults();
    succeeded(&run_pasted(&stand_in, &hinted_command(&stderr)), "the hinted command");
    assert_eq!(assets(&stand_in, TAG), expected_assets(&dir));
}

#[test]
fn a_swap_that_fails_after_another_went_through_puts_both_back() {
    let stand_in = stand_in();
    let (_folder, dir) = published_then_rebuilt(&stand_in);
    let before = assets(&stand_in, TAG);
    // Edits 1-2 swap the binary; edit 3 moves the old checksums.txt aside; edits 4-8 (its rename
    // in) fail; then it and the binary are put back.
    stand_in.inject(Fault::new(Target::EditAsset, 4, 5, FaultKind::Status(502)));
    let output = github_release(&stand_in, &dir, &["--replace", BINARY, "checksums.txt", "sidecars.json"]);
    let stderr = failed_with(&output, 1, &["were put back", "the release has the files it had"]);
    assert_eq!(assets(&stand_in, TAG), before, "a published release mixes new and old files");
    succeeded(&verify_release(&stand_in, &[], None), "the release still verifies");
    stand_in.clear_requests_and_faults();
    succeeded(&run_pasted(&stand_in, &hinted_command(&stderr)), "the hinted command");
    assert_eq!(assets(&stand_in, TAG), expected_assets(&dir));
}

/// The published release after a swap was cut off between moving `name` aside and renaming the
/// new file in: the name is missing, its old content sits under `<name>.xtask-replaced-<hex>`.
fn cut_off_mid_swap(stand_in: &StandIn, name: &str) {
    let mut state = stand_in.lock();
    let asset = state.release_mut(TAG).unwrap().assets.iter_mut().find(|asset| asset.name == name).unwrap();
    let hex = sha256_hex_of_bytes(&asset.bytes)[..12].to_string();
    asset.name = format!("{name}.xtask-replaced-{hex}");
}

#[test]
fn a_file_moved_aside_by_a_cut_off_swap_still_counts_as_published() {
    // Same bytes locally: renamed back, nothing uploaded.
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    publish_first(&stand_in, dir);
    cut_off_mid_swap(&stand_in, BINARY);
    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "a run over a file moved aside");
    assert!(stdout(&output).contains(&format!("  restore  {BINARY}")), "{}", stdout(&output));
    assert!(uploads(&stand_in.requests()).is_empty());
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));

    // Other bytes locally: refused unless named by --replace, like the file under its name.
    let stand_in = release_folders::stand_in();
    let (_folder, dir) = published_then_rebuilt(&stand_in);
    cut_off_mid_swap(&stand_in, BINARY);
    let output = github_release(&stand_in, &dir, &["--replace", "checksums.txt", "sidecars.json"]);
    failed_with(
        &output,
        1,
        &[&format!("{BINARY}: the release has sha256:"), &format!("--replace checksums.txt sidecars.json {BINARY}")],
    );
    assert_eq!(writes(&stand_in.requests()), Vec::<String>::new());

    // Gone from the folder: a published file not in checksums.txt, deleted only by --remove.
    let stand_in = release_folders::stand_in();
    let folder = release_folder();
    let dir = folder.path();
    publish_first(&stand_in, dir);
    cut_off_mid_swap(&stand_in, WINDOWS);
    std::fs::remove_file(dir.join(WINDOWS)).unwrap();
    seal(dir, VERSION, COMMIT);
    let output = github_release(&stand_in, dir, &["--replace", "checksums.txt", "sidecars.json"]);
    let stderr = failed_with(&output, 1, &["does not list", &format!("--remove {WINDOWS}")]);
    assert_eq!(writes(&stand_in.requests()), Vec::<String>::new());
    succeeded(&run_pasted(&stand_in, &hinted_command(&stderr)), "the hinted --remove");
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
}

#[test]
fn two_identical_replacements_at_once_both_succeed_and_leave_nothing_behind() {
    let stand_in = stand_in();
    let (_folder, dir) = published_then_rebuilt(&stand_in);
    stand_in.inject(Fault::new(Target::Uploads, 1, 2, FaultKind::HoldUntil(2)));
    let dir_text = dir.to_str().unwrap().to_string();
    let start = || {
        let args =
            ["github-release", "--tag", TAG, "--dir", &dir_text, "--replace", BINARY, "checksums.txt", "sidecars.json"];
        command(&stand_in, &args, Some(&stand_in.token)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (first, second) = (start(), start());
    for output in [first.wait_with_output().unwrap(), second.wait_with_output().unwrap()] {
        let stderr = succeeded(&output, "one of two replacements at once");
        assert!(!stderr.contains("check --repo"), "{stderr}");
    }
    assert_eq!(assets(&stand_in, TAG), expected_assets(&dir));
}

#[test]
fn names_that_start_with_a_dash_never_make_a_hint_that_fails() {
    let stand_in = stand_in();
    // Listed locally: refused before any request.
    let folder = release_folder();
    let dir = folder.path();
    let dashed = "-dash-x86_64-unknown-linux-gnu";
    std::fs::write(dir.join(dashed), b"dash").unwrap();
    seal_with(dir, VERSION, COMMIT, &[dashed]);
    failed_with(&github_release(&stand_in, dir, &[]), 1, &["starts with '-'", "nothing was sent"]);
    assert!(stand_in.requests().is_empty());

    // On the published release: the hint attaches it with `=`, and pasted it works.
    let folder = release_folder();
    let dir = folder.path();
    publish_first(&stand_in, dir);
    stand_in.lock().add_asset(TAG, "-stray.bin", "uploaded", b"stray", true);
    let stderr = failed_with(&github_release(&stand_in, dir, &[]), 1, &["--remove=-stray.bin"]);
    succeeded(&run_pasted(&stand_in, &hinted_command(&stderr)), "the hinted --remove=");
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
}

#[test]
fn a_folder_path_that_is_not_utf8_is_refused_as_a_usage_error() {
    let stand_in = stand_in();
    let folder = tempfile::tempdir().unwrap();
    // Not UTF-8: an invalid byte on Unix, an unpaired surrogate on Windows.
    #[cfg(unix)]
    let odd = folder.path().join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"rel\xffease"));
    #[cfg(windows)]
    let odd = folder.path().join(<std::ffi::OsString as std::os::windows::ffi::OsStringExt>::from_wide(&[
        0x72, 0x65, 0x6c, 0xD800, 0x65, 0x61, 0x73, 0x65,
    ]));
    std::fs::create_dir(&odd).unwrap();
    let mut run = command(&stand_in, &["github-release", "--tag", TAG], Some(&stand_in.token));
    run.arg("--dir").arg(&odd);
    failed_with(&run.output().unwrap(), 2, &["is not UTF-8", "hint: "]);
    assert!(stand_in.requests().is_empty());
}

#[test]
fn files_not_in_checksums_txt_are_never_published() {
    // On a draft: removed before publishing, said out loud (the runbook test covers the message).
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    {
        let mut state = stand_in.lock();
        state.add_release(TAG, true);
        state.add_asset(TAG, "lumen-argus-old-build.tar.gz", "uploaded", b"an earlier build", true);
    }
    succeeded(&github_release(&stand_in, dir, &[]), "publication over a draft with a stray");
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
    succeeded(&verify_release(&stand_in, &[], None), "verify");

    // On a published release: refused, nothing written, until named by the hinted --remove.
    stand_in.lock().release_mut(TAG).unwrap().assets.push(Asset {
        id: 9999,
        name: "stray.bin".into(),
        state: "uploaded".into(),
        digest: Some(format!("sha256:{}", sha256_hex_of_bytes(b"stray"))),
        content_type: "application/octet-stream".into(),
        bytes: b"stray".to_vec(),
    });
    stand_in.clear_requests_and_faults();
    let output = github_release(&stand_in, dir, &[]);
    let stderr = failed_with(&output, 1, &["stray.bin", "does not list"]);
    assert_eq!(writes(&stand_in.requests()), Vec::<String>::new());
    let hinted = hinted_command(&stderr);
    assert!(hinted.contains("--remove stray.bin"), "{hinted}");
    succeeded(&run_pasted(&stand_in, &hinted), "the hinted --remove");
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
}

#[test]
fn files_of_another_version_or_commit_are_refused_before_any_write() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();

    // Another version's tag, even one that exists: refused before the first request.
    stand_in.lock().tags.insert("v9.9.9".into(), COMMIT.into());
    let args = ["github-release", "--tag", "v9.9.9", "--dir", dir.to_str().unwrap()];
    let output = command(&stand_in, &args, Some(&stand_in.token)).output().unwrap();
    failed_with(&output, 1, &["--tag v9.9.9 does not belong", "proxy 0.2.0", "hint: publish them as v0.2.0"]);
    assert!(stand_in.requests().is_empty(), "{:?}", stand_in.requests());

    // A tag text with a trailing space is not the tag, and a tag that is not v<PEP 440 version> is
    // not a release tag: usage errors (exit 2), before the first request.
    for (tag, expected) in [("v0.2.0 ", "space"), ("0.2.0", "not v<PEP 440 version>"), ("v0.2.0^{}", "'^'")] {
        let args = ["github-release", "--tag", tag, "--dir", dir.to_str().unwrap()];
        let output = command(&stand_in, &args, Some(&stand_in.token)).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{tag:?}: {}", text(&output.stderr));
        assert!(text(&output.stderr).contains(expected), "{tag:?}: {}", text(&output.stderr));
    }
    assert!(stand_in.requests().is_empty());

    // The tag is not on GitHub: creating the release would create the tag on the default branch.
    stand_in.lock().tags.clear();
    let output = github_release(&stand_in, dir, &[]);
    failed_with(&output, 1, &["tag v0.2.0 is not on", "git push origin v0.2.0"]);
    assert_eq!(writes(&stand_in.requests()), Vec::<String>::new());

    // The tag points at another commit than the files were built from.
    stand_in.lock().tags.insert(TAG.into(), OTHER_COMMIT.into());
    let output = github_release(&stand_in, dir, &[]);
    failed_with(&output, 1, &["points at commit fedcba987654", "were built from 0123456789ab"]);
    assert_eq!(writes(&stand_in.requests()), Vec::<String>::new());
    assert!(stand_in.lock().releases.is_empty());

    // The right tag, annotated: followed to its commit; the release is made at that commit.
    {
        let mut state = stand_in.lock();
        state.tags.insert(TAG.into(), COMMIT.into());
        state.annotated_tags = true;
    }
    succeeded(&github_release(&stand_in, dir, &[]), "publication of the right tag");
    assert_eq!(stand_in.lock().release(TAG).unwrap().target_commitish, COMMIT);
}

#[test]
fn a_folder_without_a_manifest_or_built_from_two_commits_is_refused() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    failed_with(&github_release(&stand_in, dir, &[]), 1, &["manifest.json is missing", "hint: "]);
    let manifest = |commit_of_windows: &str| {
        seal(dir, VERSION, COMMIT);
        let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        let mut document: serde_json::Value = serde_json::from_str(&text).unwrap();
        for record in document["artifacts"].as_array_mut().unwrap() {
            if record["file"] == WINDOWS {
                record["git_commit"] = serde_json::json!(commit_of_windows);
            }
        }
        std::fs::write(dir.join("manifest.json"), document.to_string()).unwrap();
    };
    manifest(OTHER_COMMIT);
    failed_with(&github_release(&stand_in, dir, &[]), 1, &["built from 2 commits"]);
    manifest("unknown");
    failed_with(&github_release(&stand_in, dir, &[]), 1, &["not a commit id"]);
    assert!(stand_in.requests().is_empty());
}

#[test]
fn names_github_would_change_symlinks_and_names_outside_the_folder_are_refused_before_any_request() {
    let stand_in = stand_in();
    for (name, expected) in [
        ("lumen argus notes.txt", "GitHub would publish it under another name"),
        ("lumen-argus+local.tar.gz", "GitHub would publish it under another name"),
        ("LUMEN-ARGUS-X86_64-UNKNOWN-LINUX-GNU", "GitHub, which ignores case"),
    ] {
        let folder = release_folder();
        let dir = folder.path();
        if dir.join(name).exists() {
            // macOS and Windows ignore case by default: the folder cannot hold both names there.
            eprintln!(
                "note: {name} is {BINARY} on this filesystem, which ignores case; that case needs one that does not"
            );
            continue;
        }
        std::fs::write(dir.join(name), b"an extra file").unwrap();
        seal_with(dir, VERSION, COMMIT, &[name]);
        let output = github_release(&stand_in, dir, &[]);
        failed_with(&output, 1, &[expected, "nothing was sent"]);
        assert!(stand_in.requests().is_empty(), "{name}: {:?}", stand_in.requests());
    }

    // A listed file that is a symlink to a file elsewhere (Windows: symlinks need a privilege).
    #[cfg(unix)]
    {
        let folder = release_folder();
        let dir = folder.path();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("outside"), b"proxy binary bytes").unwrap();
        std::fs::remove_file(dir.join(BINARY)).unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join("outside"), dir.join(BINARY)).unwrap();
        failed_with(&github_release(&stand_in, dir, &[]), 1, &[BINARY, "symlink", "nothing was sent"]);
    }
    // A listed name that climbs out of the folder.
    let folder = release_folder();
    let dir = folder.path();
    let listed = std::fs::read_to_string(dir.join("checksums.txt")).unwrap();
    std::fs::write(dir.join("checksums.txt"), format!("{listed}{}  ../outside\n", "a".repeat(64))).unwrap();
    failed_with(&github_release(&stand_in, dir, &[]), 1, &["not a plain file name"]);
    assert!(stand_in.requests().is_empty(), "{:?}", stand_in.requests());
}

#[test]
fn a_file_of_two_gib_is_refused_before_any_request() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    let huge = std::fs::File::create(dir.join(BINARY)).unwrap();
    huge.set_len(2 << 30).unwrap();
    drop(huge);
    seal(dir, VERSION, COMMIT);
    let started = Instant::now();
    let output = github_release(&stand_in, dir, &[]);
    failed_with(&output, 1, &[BINARY, "2.00 GiB; GitHub takes release files under 2 GiB", "nothing was sent"]);
    assert!(stand_in.requests().is_empty());
    assert!(started.elapsed() < Duration::from_secs(20), "it hashed or sent the file first: {:?}", started.elapsed());
}

#[test]
fn a_server_without_digests_is_verified_by_downloading_and_a_rerun_changes_nothing() {
    let stand_in = stand_in();
    stand_in.lock().keeps_digests = false;
    let folder = release_folder();
    let dir = folder.path();
    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "publication without digests");
    assert!(stdout(&output).contains("keeps no digest"), "{}", stdout(&output));
    assert!(!stand_in.lock().release(TAG).unwrap().draft);
    let mut expected: Vec<(String, String)> =
        expected_assets(dir).into_iter().map(|(name, digest)| (name, digest.unwrap()[7..].to_string())).collect();
    expected.sort();
    assert_eq!(asset_bytes(&stand_in, TAG), expected);

    stand_in.clear_requests_and_faults();
    succeeded(&github_release(&stand_in, dir, &[]), "a re-run");
    assert_eq!(writes(&stand_in.requests()), Vec::<String>::new(), "a re-run wrote");
    let output = verify_release(&stand_in, &[], None);
    succeeded(&output, "verify without digests");
    assert!(stdout(&output).contains("without one downloaded and hashed"), "{}", stdout(&output));
}

#[test]
fn an_immutable_release_missing_a_file_is_refused_with_the_way_out_not_a_rerun() {
    let stand_in = stand_in();
    stand_in.lock().immutable_releases = true;
    let folder = release_folder();
    let dir = folder.path();
    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "first publication");
    assert!(stdout(&output).contains("immutable: its files can no longer change"), "{}", stdout(&output));
    // Published with one file fewer (by someone else's tool): it can never be completed.
    stand_in.lock().release_mut(TAG).unwrap().assets.retain(|asset| asset.name != WINDOWS);
    stand_in.clear_requests_and_faults();
    let output = github_release(&stand_in, dir, &[]);
    let stderr = failed_with(&output, 1, &["immutable", &format!("{WINDOWS} is missing"), "new version"]);
    assert!(!stderr.contains("re-run"), "an immutable release was hinted at a re-run:\n{stderr}");
    assert_eq!(writes(&stand_in.requests()), Vec::<String>::new());

    // A rebuilt file: the same way out, never a --replace that GitHub would refuse.
    let stand_in = release_folders::stand_in();
    stand_in.lock().immutable_releases = true;
    let (_folder, dir) = published_then_rebuilt(&stand_in);
    let stderr = failed_with(&github_release(&stand_in, &dir, &[]), 1, &["immutable", "differs", "new version"]);
    assert!(!stderr.contains("--replace"), "{stderr}");
}

#[test]
fn a_server_that_stops_reading_an_upload_ends_the_run_instead_of_hanging_it() {
    let stand_in = stand_in();
    stand_in.inject(Fault::new(Target::Uploads, 1, usize::MAX, FaultKind::StopReading));
    let folder = release_folder();
    let dir = folder.path();
    // Larger than the socket buffers, so the sender blocks once the server stops reading.
    std::fs::write(dir.join(BINARY), vec![7u8; 24 << 20]).unwrap();
    seal(dir, VERSION, COMMIT);
    let args = ["github-release", "--tag", TAG, "--dir", dir.to_str().unwrap()];
    let mut run = command(&stand_in, &args, Some(&stand_in.token));
    run.env("XTASK_GITHUB_IDLE_TIMEOUT_MS", "300");
    let output = output_within(&mut run, Duration::from_secs(90));
    failed_with(&output, 1, &["no byte moved for too long", "still a draft", "hint: re-run"]);
}

#[test]
fn a_secondary_rate_limit_is_waited_out_and_never_called_a_permission_problem() {
    let stand_in = stand_in();
    stand_in.inject(Fault::new(Target::Uploads, 1, 1, FaultKind::SecondaryRateLimit));
    let folder = release_folder();
    let dir = folder.path();
    let stderr = succeeded(&github_release(&stand_in, dir, &[]), "a run with one secondary limit");
    assert!(stderr.contains("retrying in 0.6 s") && stderr.contains("secondary rate limit"), "{stderr}");
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));

    let stand_in = release_folders::stand_in();
    stand_in.inject(Fault::new(Target::Uploads, 1, usize::MAX, FaultKind::SecondaryRateLimit));
    let stderr = failed_with(&github_release(&stand_in, dir, &[]), 1, &["secondary rate limit held on all 5 attempts"]);
    assert!(!stderr.contains("lacks permission") && stderr.contains("hint: wait a few minutes"), "{stderr}");
}

#[test]
fn a_connection_cut_on_every_attempt_is_reported_as_what_it_is() {
    // Cut on every attempt; and cut, then (as GitHub does once a cut-off upload left a `starter`
    // asset under the name) answered 422 already_exists, then cut again.
    let every_attempt = vec![Fault::new(Target::Uploads, 1, usize::MAX, FaultKind::Reset)];
    let every_upload = vec![Fault::new(Target::Uploads, 1, usize::MAX, FaultKind::DropMidRequest)];
    let every_other = (0..20).map(|n| Fault::new(Target::Uploads, 1 + 2 * n, 1, FaultKind::DropMidRequest)).collect();
    for faults in [every_attempt, every_upload, every_other] {
        let stand_in = stand_in();
        let kind = faults[0].kind.clone();
        for fault in faults {
            stand_in.inject(fault);
        }
        let folder = release_folder();
        let stderr = failed_with(&github_release(&stand_in, folder.path(), &[]), 1, &["still a draft", "hint: re-run"]);
        let error = stderr.lines().find(|line| line.starts_with("error: ")).unwrap();
        assert!(
            (error.contains("the connection was reset") || error.contains("the connection was closed"))
                && (error.contains("on all 5 attempts") || error.contains("on every attempt")),
            "{kind:?}: {error}"
        );
        assert!(!error.contains("colliding"), "{kind:?}: {error}");
    }
}

#[test]
fn an_upload_stored_with_another_digest_is_deleted_and_the_hinted_command_completes() {
    let stand_in = stand_in();
    stand_in.inject(Fault::new(Target::Uploads, 2, 1, FaultKind::WrongDigest));
    let folder = release_folder();
    let dir = folder.path();
    let output = github_release(&stand_in, dir, &[]);
    let stderr =
        failed_with(&output, 1, &["the bytes changed on the way", "the bad copy was deleted", "still a draft"]);
    stand_in.clear_requests_and_faults();
    succeeded(&run_pasted(&stand_in, &hinted_command(&stderr)), "the hinted command");
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
    assert!(!stand_in.lock().release(TAG).unwrap().draft);
}

#[test]
fn a_publish_answered_200_that_leaves_a_draft_is_not_reported_as_published() {
    let stand_in = stand_in();
    stand_in.inject(Fault::new(Target::EditRelease, 1, 1, FaultKind::IgnoreEdit));
    let folder = release_folder();
    let dir = folder.path();
    let output = github_release(&stand_in, dir, &[]);
    let stderr = failed_with(&output, 1, &["still a draft"]);
    assert!(!stdout(&output).contains("published v0.2.0"), "{}", stdout(&output));
    assert!(stand_in.lock().release(TAG).unwrap().draft);
    stand_in.clear_requests_and_faults();
    succeeded(&run_pasted(&stand_in, &hinted_command(&stderr)), "the hinted command");
    assert!(!stand_in.lock().release(TAG).unwrap().draft);
}

#[test]
fn the_token_never_goes_to_a_host_the_api_links_to() {
    // A next page on another host.
    let foreign = StandIn::start().unwrap();
    let stand_in = stand_in();
    {
        let mut state = stand_in.lock();
        state.page_limit = 1;
        state.add_release("v0.1.0", false);
        state.add_release("v0.1.1", false);
        state.next_page_base = Some(foreign.url.clone());
    }
    let folder = release_folder();
    let output = github_release(&stand_in, folder.path(), &[]);
    failed_with(&output, 1, &["is not a host of the API", "nothing was sent there"]);
    assert!(foreign.requests().is_empty(), "the foreign host was asked: {:?}", foreign.requests());

    // An upload URL on another host.
    let stand_in = release_folders::stand_in();
    {
        let mut state = stand_in.lock();
        state.add_release(TAG, true);
        state.upload_base = Some(foreign.url.clone());
    }
    let output = github_release(&stand_in, folder.path(), &[]);
    failed_with(&output, 1, &["is not a host of the API"]);
    assert!(foreign.requests().is_empty(), "the foreign host was asked: {:?}", foreign.requests());
}

#[test]
fn two_runs_at_once_leave_one_release() {
    let stand_in = stand_in();
    // Both runs create their draft before either sees the other's.
    stand_in.inject(Fault::new(Target::CreateRelease, 1, 2, FaultKind::HoldUntil(2)));
    let folder = release_folder();
    let dir = folder.path().to_str().unwrap().to_string();
    let start = || {
        command(&stand_in, &["github-release", "--tag", TAG, "--dir", &dir], Some(&stand_in.token))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(), start());
    let outputs = [first.wait_with_output().unwrap(), second.wait_with_output().unwrap()];
    for output in &outputs {
        succeeded(output, "one of two runs at once");
    }
    let creates = stand_in.requests().iter().filter(|r| r.method == "POST" && !r.is_upload()).count();
    assert_eq!(creates, 2, "the race did not happen");
    let printed: String = outputs.iter().map(stdout).collect();
    // Which one the later run meets depends on how far the other got: its draft, or its published release.
    assert!(
        printed.contains("another run of v0.2.0 made a draft first")
            || printed.contains("another run of v0.2.0 made the release first"),
        "{printed}"
    );
    let state = stand_in.lock();
    let releases = state.releases_of(TAG);
    assert_eq!(releases.len(), 1, "{} releases of {TAG} are left", releases.len());
    assert!(!releases[0].draft);
    drop(state);
    assert_eq!(assets(&stand_in, TAG), expected_assets(folder.path()));
}

#[test]
fn a_release_published_by_another_run_since_the_lookup_is_taken_as_it_is() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    publish_first(&stand_in, dir);
    // This run's lookup misses the release (published a moment later); its create is answered 422.
    stand_in.inject(Fault::new(Target::ReleaseListing, 1, 1, FaultKind::EmptyList));
    let output = github_release(&stand_in, dir, &[]);
    succeeded(&output, "a run that lost the race to publish");
    assert!(stdout(&output).contains("another run of v0.2.0 made the release meanwhile"), "{}", stdout(&output));
    assert_eq!(stand_in.lock().releases_of(TAG).len(), 1);
    assert_eq!(assets(&stand_in, TAG), expected_assets(dir));
}

#[test]
fn a_dry_run_needs_no_token_and_counts_as_checksums_verify_does() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path().to_str().unwrap();
    let output =
        command(&stand_in, &["github-release", "--tag", TAG, "--dir", dir, "--dry-run"], None).output().unwrap();
    succeeded(&output, "a dry run without a token");
    let requests = stand_in.requests();
    assert!(requests.iter().all(|r| r.method == "GET" && !r.headers.contains_key("authorization")), "{requests:?}");
    let verify = xtask(&repository_root(), &["checksums", "--verify", dir]);
    succeeded(&verify, "checksums --verify");
    let count_line = stdout(&verify).lines().last().unwrap().to_string();
    assert!(count_line.starts_with("4 file(s) match"), "{count_line}");
    assert!(stdout(&output).lines().any(|line| line == count_line), "{}\nvs {count_line}", stdout(&output));
}

/// `release --execute` leaves `dist/` holding the build of the commit before the release commit:
/// `checksums --verify` and `github-release` refuse it, pointing at the rebuild.
#[test]
fn dist_built_before_the_release_commit_is_refused() {
    let (_folder, clone) = fresh_clone();
    let git = |args: &[&str]| {
        let output = Command::new("git").args(args).current_dir(&clone).output().unwrap();
        assert!(output.status.success(), "git {args:?}: {}", text(&output.stderr));
        text(&output.stdout).trim().to_string()
    };
    let built_from = git(&["rev-parse", "HEAD"]);
    let pyproject = std::fs::read_to_string(clone.join("packages/proxy/pyproject.toml")).unwrap();
    let version =
        pyproject.lines().find_map(|line| line.strip_prefix("version = \"")?.strip_suffix('"')).unwrap().to_string();
    let dist = clone.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for name in [BINARY, WINDOWS] {
        std::fs::write(dist.join(name), format!("{name} bytes")).unwrap();
        let line = format!("{}  {name}\n", sha256_hex(&dist.join(name)));
        std::fs::write(dist.join(format!("{name}.sha256")), line).unwrap();
    }
    seal(&dist, &version, &built_from);
    // Each record at its own package's version, as a real build writes them: `checksums` refuses
    // files built at other versions than the checkout's.
    let manifest_path = dist.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    for record in manifest["artifacts"].as_array_mut().unwrap() {
        let package = record["package"].as_str().unwrap().to_string();
        let pyproject = std::fs::read_to_string(clone.join(format!("packages/{package}/pyproject.toml"))).unwrap();
        let own = pyproject.lines().find_map(|line| line.strip_prefix("version = \"")?.strip_suffix('"')).unwrap();
        record["version"] = own.into();
    }
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    std::fs::remove_file(dist.join("checksums.txt")).unwrap();
    succeeded(&xtask(&clone, &["checksums"]), "checksums");
    succeeded(&xtask(&clone, &["checksums", "--verify"]), "verify before the release commit");

    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "--allow-empty",
        "-q",
        "-m",
        "chore(release)",
    ]);
    let head = git(&["rev-parse", "HEAD"]);
    failed_with(
        &xtask(&clone, &["checksums", "--verify"]),
        1,
        &["HEAD is", "hint: build them again for HEAD: `cargo xtask sidecar`"],
    );

    let stand_in = StandIn::start().unwrap();
    let tag = format!("v{version}");
    stand_in.lock().tags.insert(tag.clone(), head);
    let mut release = command(&stand_in, &["github-release", "--tag", &tag, "--dry-run"], Some(&stand_in.token));
    release.current_dir(&clone);
    failed_with(&release.output().unwrap(), 1, &["HEAD is", "cargo xtask sidecar"]);
    assert!(stand_in.requests().is_empty(), "{:?}", stand_in.requests());
}

/// A `--repo` that is not OWNER/NAME, or no repository at all, is a usage error of both commands,
/// found before anything else: no release folder is read (here the folder does not even exist) and
/// no request is sent.
#[test]
fn a_repository_that_is_not_owner_name_is_a_usage_error_before_any_work() {
    let stand_in = stand_in();
    let folder = tempfile::tempdir().unwrap();
    let missing = folder.path().join("no release folder");
    for (repo, expected) in [
        (Some("a b"), "--repo \"a b\" is not OWNER/NAME"),
        (Some("noslash"), "--repo \"noslash\" is not OWNER/NAME"),
        (Some("o/n/x"), "--repo \"o/n/x\" is not OWNER/NAME"),
        (Some(""), "--repo \"\" is not OWNER/NAME"),
        (None, "GITHUB_REPOSITORY is not set"),
    ] {
        let publish = ["github-release", "--tag", TAG, "--dir", missing.to_str().unwrap()];
        let verify = ["checksums", "--verify", "--release", TAG];
        for args in [&publish[..], &verify[..]] {
            let mut run = command(&stand_in, args, Some(&stand_in.token));
            run.env_remove("GITHUB_REPOSITORY");
            if let Some(repo) = repo {
                run.args(["--repo", repo]);
            }
            let stderr = failed_with(&run.output().unwrap(), 2, &[expected, "hint: pass --repo OWNER/NAME"]);
            assert!(!stderr.contains("no release folder"), "{args:?} read the folder first: {stderr}");
        }
    }
    assert!(stand_in.requests().is_empty(), "{:?}", stand_in.requests());
}

/// `--replace` and `--remove` are flag values: naming a file `checksums.txt` does not list in
/// `--replace`, or one it lists in `--remove`, is a usage error (exit 2), found before any request.
#[test]
fn replace_and_remove_names_that_break_their_rule_are_usage_errors() {
    let stand_in = stand_in();
    let folder = release_folder();
    let dir = folder.path();
    let replace_hint = "hint: pass the asset names exactly as checksums.txt lists them";
    let remove_hint = "hint: --remove is for assets of the release that checksums.txt does not list";
    for (extra, expected, hint) in [
        (&["--replace", "not-listed.bin"][..], "--replace names files that are not in", replace_hint),
        (&["--replace", BINARY, "--replace", "other.bin"], "[\"other.bin\"]", replace_hint),
        (&["--remove", BINARY], "--remove names files that checksums.txt lists", remove_hint),
        (&["--remove", "checksums.txt"], "so they belong on the release", remove_hint),
    ] {
        failed_with(&github_release(&stand_in, dir, extra), 2, &[expected, hint]);
    }
    assert!(stand_in.requests().is_empty(), "{:?}", stand_in.requests());
}
