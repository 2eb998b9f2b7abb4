//! The README's "Run the services from source" lines work as written once `cargo xtask test` (or
//! `release`) has synced `.venv`: each starts its service, which announces where it listens.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::*;

/// The `.venv/...` lines of the README's section, as words (comments dropped).
fn source_run_lines(readme: &str) -> Vec<Vec<String>> {
    let section = readme.split("## Run the services from source").nth(1).expect("README has the section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|line| line.starts_with(".venv/"))
        .map(|line| line.split('#').next().unwrap().split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn the_readme_runs_both_services_from_source_without_uv() {
    let root = repository_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines = source_run_lines(&readme);
    assert_eq!(lines.len(), 2, "the README starts both services: {lines:?}");
    for words in lines {
        // The README's `.venv` is uv's default; UV_PROJECT_ENVIRONMENT (as uv and the xtask read
        // it) moves it.
        let venv = std::env::var_os("UV_PROJECT_ENVIRONMENT").filter(|value| !value.is_empty());
        let venv = venv.map_or_else(|| root.join(".venv"), |path| root.join(path));
        let name = words[0].strip_prefix(".venv/bin/").expect("a README line starts with .venv/bin/");
        let program =
            if cfg!(windows) { venv.join("Scripts").join(format!("{name}.exe")) } else { venv.join("bin").join(name) };
        assert!(program.is_file(), "{} is missing: run `cargo xtask test` first (it syncs .venv)", program.display());
        // No uv anywhere on PATH: the line must not need it.
        let mut child = Command::new(&program)
            .args(&words[1..])
            .current_dir(&root)
            .env("PATH", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let announced = receiver.recv_timeout(Duration::from_secs(60));
        child.kill().unwrap();
        child.wait().unwrap();
        let line = announced.unwrap_or_else(|_| panic!("`{}` announced nothing within 60 s", words.join(" ")));
        assert!(line.starts_with("listening on 127.0.0.1:"), "`{}` printed {line:?}", words.join(" "));
    }
}

#[test]
fn readme_lines_are_read_as_words_without_comments() {
    let readme = "## Run the services from source\n\n```sh\n.venv/bin/a serve --port 0   # note\n```\n\n\
                  ## Map\n.venv/bin/not-this\n";
    assert_eq!(source_run_lines(readme), [vec![".venv/bin/a", "serve", "--port", "0"]]);
}
