//! GitHub Actions integration: log groups, error annotations, the step summary and step outputs.
//! Outside Actions (no `GITHUB_ACTIONS=true`) every function here does nothing.

use std::fs::OpenOptions;
use std::io::Write;

use anyhow::Context;

pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true")
}

/// Run `body` inside a collapsible log group.
pub fn group<T>(title: &str, body: impl FnOnce() -> T) -> T {
    if in_actions() {
        println!("::group::{title}");
    }
    let result = body();
    if in_actions() {
        println!("::endgroup::");
    }
    result
}

pub fn error_annotation(message: &str) {
    if in_actions() {
        println!("::error::{}", escape_annotation(message));
    }
}

/// Annotation data must not carry raw `%`, CR or LF.
fn escape_annotation(message: &str) -> String {
    message.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Append Markdown to the job's summary page.
pub fn step_summary(markdown: &str) -> anyhow::Result<()> {
    append_to_env_file("GITHUB_STEP_SUMMARY", markdown)
}

/// Set a step output (`key=value`; values with newlines use a delimiter).
pub fn step_output(key: &str, value: &str) -> anyhow::Result<()> {
    let entry = if value.contains('\n') {
        format!("{key}<<XTASK_EOF\n{value}\nXTASK_EOF\n")
    } else {
        format!("{key}={value}\n")
    };
    append_to_env_file("GITHUB_OUTPUT", &entry)
}

fn append_to_env_file(variable: &str, text: &str) -> anyhow::Result<()> {
    if !in_actions() {
        return Ok(());
    }
    let Some(path) = std::env::var_os(variable) else { return Ok(()) };
    let path = std::path::PathBuf::from(path);
    let appending = || format!("appending to {} (${variable})", path.display());
    let mut file = OpenOptions::new().create(true).append(true).open(&path).with_context(appending)?;
    file.write_all(text.as_bytes()).with_context(appending)?;
    if !text.ends_with('\n') {
        file.write_all(b"\n").with_context(appending)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn annotations_escape_line_breaks_and_percent() {
        assert_eq!(super::escape_annotation("50% done\nnext"), "50%25 done%0Anext");
    }
}
