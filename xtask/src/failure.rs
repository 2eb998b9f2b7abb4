//! Errors a person can act on: one `error:` line saying what went wrong, one `hint:` line saying
//! how to fix it.

use std::fmt;
use std::process::ExitCode;

use crate::gha;

/// An error that carries the fix. Context added above it still shows in the `error:` line.
#[derive(Debug)]
pub struct Hinted {
    message: String,
    hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// The xtask was interrupted (Ctrl-C or SIGTERM) and stopped what it had started.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("interrupted: stopped every process this command had started")
    }
}

impl std::error::Error for Interrupted {}

/// An error with its fix.
pub fn refuse(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Hinted { message: message.into(), hint: hint.into() }.into()
}

pub trait WithHint<T> {
    /// Attach the fix to an error.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> WithHint<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|error| {
            let error: anyhow::Error = error.into();
            Hinted { message: format!("{error:#}"), hint: hint.into() }.into()
        })
    }
}

/// The `(error, hint)` lines of a failure.
pub fn lines(error: &anyhow::Error) -> (String, Option<String>) {
    let hint = error.chain().find_map(|cause| cause.downcast_ref::<Hinted>()).map(|h| h.hint.clone());
    (format!("{error:#}"), hint)
}

/// Print the failure and pick the exit code: 130 after an interrupt, 1 otherwise.
pub fn report(error: &anyhow::Error) -> ExitCode {
    let (message, hint) = lines(error);
    gha::error_annotation(&message);
    eprintln!("error: {message}");
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
    if error.chain().any(|cause| cause.is::<Interrupted>()) { ExitCode::from(130) } else { ExitCode::FAILURE }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn hint_survives_added_context() {
        let failed: anyhow::Result<()> = Err(refuse("version 1.2.x is not PEP 440", "write 1.2.3"));
        let error = failed.context("bumping proxy").unwrap_err();
        let (message, hint) = lines(&error);
        assert_eq!(message, "bumping proxy: version 1.2.x is not PEP 440");
        assert_eq!(hint.as_deref(), Some("write 1.2.3"));
    }

    #[test]
    fn plain_errors_have_no_hint() {
        let error = anyhow::anyhow!("disk full");
        assert_eq!(lines(&error), ("disk full".to_string(), None));
    }

    #[test]
    fn hint_wraps_the_whole_chain_of_the_error() {
        let failed: anyhow::Result<()> = Err(anyhow::anyhow!("no such file")).context("reading uv.lock");
        let error = failed.hint("run `uv lock`").unwrap_err();
        assert_eq!(lines(&error), ("reading uv.lock: no such file".to_string(), Some("run `uv lock`".to_string())));
    }
}
