//! Errors a person can act on: one `error:` line saying what went wrong, one `hint:` line saying
//! how to fix it.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::gha;

/// An error that carries the fix. Context added above it still shows in the `error:` line.
#[derive(Debug)]
pub struct Hinted {
    message: String,
    hint: String,
    /// A flag value the command cannot take (exit 2, like clap's usage errors).
    usage: bool,
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

/// Whether `error` is (or was caused by) an interrupt.
pub fn is_interrupt(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<Interrupted>())
}

/// `text` as one word of a command in a hint, for a POSIX shell: as it is when plain, else
/// single-quoted, so the hint works when pasted.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain { text.to_string() } else { format!("'{}'", text.replace('\'', "'\\''")) }
}

/// An error with its fix.
pub fn refuse(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Hinted { message: message.into(), hint: hint.into(), usage: false }.into()
}

/// A flag value the command cannot take, found after parsing: exits 2 like clap's usage errors.
pub fn refuse_usage(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Hinted { message: message.into(), hint: hint.into(), usage: true }.into()
}

pub trait WithHint<T> {
    /// Attach the fix to an error.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> WithHint<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|error| {
            let error: anyhow::Error = error.into();
            let usage = error.chain().any(|cause| cause.downcast_ref::<Hinted>().is_some_and(|h| h.usage));
            Hinted { message: format!("{error:#}"), hint: hint.into(), usage }.into()
        })
    }
}

/// What a failure prints: the `error:` line, and the `hint:` line when there is a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines {
    pub message: String,
    pub hint: Option<String>,
}

/// The lines of a failure.
pub fn lines(error: &anyhow::Error) -> Lines {
    let hint = error.chain().find_map(|cause| cause.downcast_ref::<Hinted>()).map(|h| h.hint.clone());
    Lines { message: format!("{error:#}"), hint }
}

/// Print the failure and pick the exit code: 130 after an interrupt, 2 for a usage error, 1
/// otherwise.
pub fn report(error: &anyhow::Error) -> ExitCode {
    let Lines { message, hint } = lines(error);
    let message = printable(&message);
    gha::error_annotation(&message);
    // A closed stderr must not turn a clean failure into a panic: these writes may fail quietly.
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {message}");
    if let Some(hint) = hint {
        let _ = writeln!(stderr, "hint: {}", printable(&hint));
    }
    ExitCode::from(exit_code_of(error))
}

/// The longest line an error prints; a longer one (a value given on the command line, mostly)
/// ends with how much was left out.
const LONGEST_LINE: usize = 2000;

/// `text` as the terminal may show it: control characters (an escape sequence, a carriage return
/// inside a line) escaped as `\u{1b}`, and each line cut at [`LONGEST_LINE`] characters. A value
/// from the command line or a file name reaches the terminal only through this.
pub fn printable(text: &str) -> String {
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let escaped: String = line
                .chars()
                .map(|c| if c.is_control() && c != '\t' { c.escape_unicode().to_string() } else { c.to_string() })
                .collect();
            let length = escaped.chars().count();
            if length > LONGEST_LINE {
                let kept: String = escaped.chars().take(LONGEST_LINE).collect();
                format!("{kept}… ({} more characters)", length - LONGEST_LINE)
            } else {
                escaped
            }
        })
        .collect();
    lines.join("\n")
}

/// 130 after an interrupt, 2 for a usage error, 1 otherwise.
pub fn exit_code_of(error: &anyhow::Error) -> u8 {
    if is_interrupt(error) {
        130
    } else if error.chain().any(|cause| cause.downcast_ref::<Hinted>().is_some_and(|hinted| hinted.usage)) {
        2
    } else {
        1
    }
}

/// What the first panic of the process was; later panics (a thread's panic seen again at `join`)
/// print nothing more.
static FIRST_PANIC: AtomicU8 = AtomicU8::new(NO_PANIC);
const NO_PANIC: u8 = 0;
const CLOSED_OUTPUT: u8 = 1;
const INTERNAL_ERROR: u8 = 2;

/// Exit code after stdout or stderr was closed under us (`cargo xtask ... | head -1`): what a
/// process killed by SIGPIPE reports to the shell, 128 + 13.
pub const CLOSED_OUTPUT_EXIT: u8 = 141;

/// How a panic is shown: never the default message or a backtrace (whatever `RUST_BACKTRACE`
/// says). A print to a closed pipe is a quiet stop; any other panic is one `error: internal error`
/// line and a hint. Unwinding still runs, so temporary files are dropped and children stopped;
/// `main` catches the unwind and exits with [`panic_exit_code`].
pub fn report_panics_as_errors() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let kind = if is_closed_output(&payload) { CLOSED_OUTPUT } else { INTERNAL_ERROR };
        if FIRST_PANIC.compare_exchange(NO_PANIC, kind, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return;
        }
        if kind == INTERNAL_ERROR {
            let location = info.location().map(|at| format!(" (at {}:{})", at.file(), at.line())).unwrap_or_default();
            let (message, hint) = internal_error_lines(&payload, &location);
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {message}");
            let _ = writeln!(stderr, "hint: {hint}");
        }
    }));
}

/// The exit code after a caught panic: 141 for a closed stdout/stderr, 1 for anything else.
pub fn panic_exit_code() -> ExitCode {
    match FIRST_PANIC.load(Ordering::SeqCst) {
        CLOSED_OUTPUT => ExitCode::from(CLOSED_OUTPUT_EXIT),
        _ => ExitCode::FAILURE,
    }
}

/// `println!`/`eprintln!` panic with "failed printing to stdout: Broken pipe (os error 32)" when the
/// reader went away (on Windows: "The pipe is being closed").
fn is_closed_output(panic_message: &str) -> bool {
    let printing = panic_message.starts_with("failed printing to stdout")
        || panic_message.starts_with("failed printing to stderr");
    let closed = ["Broken pipe", "os error 32", "pipe is being closed", "os error 232", "os error 109"]
        .iter()
        .any(|sign| panic_message.contains(sign));
    printing && closed
}

fn internal_error_lines(panic_message: &str, location: &str) -> (String, String) {
    let one_line = panic_message.replace(['\r', '\n'], " ");
    (
        format!("internal error: {one_line}{location}"),
        "this is a bug in the xtask, not in your input: report it with the command you ran and this line".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn printed_text_has_no_control_characters_and_no_endless_line() {
        assert_eq!(printable("plain: `dist/a b`\tok"), "plain: `dist/a b`\tok");
        assert_eq!(printable("a\u{1b}[2Jb\rc"), "a\\u{1b}[2Jb\\u{d}c");
        assert_eq!(printable("two\nlines"), "two\nlines");
        let long = printable(&"x".repeat(LONGEST_LINE + 5));
        assert!(long.ends_with("… (5 more characters)") && long.chars().count() < LONGEST_LINE + 40, "{long}");
    }

    #[test]
    fn hint_survives_added_context() {
        let failed: anyhow::Result<()> = Err(refuse("version 1.2.x is not PEP 440", "write 1.2.3"));
        let error = failed.context("bumping proxy").unwrap_err();
        let Lines { message, hint } = lines(&error);
        assert_eq!(message, "bumping proxy: version 1.2.x is not PEP 440");
        assert_eq!(hint.as_deref(), Some("write 1.2.3"));
    }

    #[test]
    fn exit_codes_say_interrupted_usage_or_failed() {
        assert_eq!(exit_code_of(&anyhow::anyhow!("disk full")), 1);
        assert_eq!(exit_code_of(&refuse("no uv", "install it")), 1);
        let usage: anyhow::Result<()> = Err(refuse_usage("--timeout 0", "give it time"));
        assert_eq!(exit_code_of(&usage.context("smoke").unwrap_err()), 2);
        let rehinted: anyhow::Result<()> = Err(refuse_usage("--timeout 0", "give it time"));
        assert_eq!(exit_code_of(&rehinted.hint("another fix").unwrap_err()), 2);
        assert_eq!(exit_code_of(&anyhow::Error::from(Interrupted).context("building")), 130);
    }

    #[test]
    fn only_a_print_to_a_closed_pipe_is_a_quiet_stop() {
        assert!(is_closed_output("failed printing to stdout: Broken pipe (os error 32)"));
        assert!(is_closed_output("failed printing to stderr: Broken pipe (os error 32)"));
        assert!(is_closed_output("failed printing to stdout: The pipe is being closed. (os error 232)"));
        assert!(!is_closed_output("failed printing to stdout: No space left on device (os error 28)"));
        assert!(!is_closed_output("called `Option::unwrap()` on a `None` value"));
        assert!(!is_closed_output("Broken pipe while talking to uv"));
    }

    #[test]
    fn an_internal_error_is_one_error_line_and_a_hint() {
        let (message, hint) = internal_error_lines("index out of bounds:\nlen is 0", " (at xtask/src/x.rs:3)");
        assert_eq!(message, "internal error: index out of bounds: len is 0 (at xtask/src/x.rs:3)");
        assert!(hint.contains("report it"), "{hint}");
    }

    #[test]
    fn plain_errors_have_no_hint() {
        let error = anyhow::anyhow!("disk full");
        assert_eq!(lines(&error), Lines { message: "disk full".to_string(), hint: None });
    }

    #[test]
    fn hint_wraps_the_whole_chain_of_the_error() {
        let failed: anyhow::Result<()> = Err(anyhow::anyhow!("no such file")).context("reading uv.lock");
        let error = failed.hint("run `uv lock`").unwrap_err();
        let expected = Lines { message: "reading uv.lock: no such file".into(), hint: Some("run `uv lock`".into()) };
        assert_eq!(lines(&error), expected);
    }
}
