//! `cargo xtask doctor`: what this machine has for building a release, and how to get the rest.

use std::path::Path;

use anyhow::Context;
use xshell::{Shell, cmd};

use crate::failure::{Lines, refuse};
use crate::flags::DoctorFlags;
use crate::workspace::Workspace;
use crate::{interpreter, process, targets, tools, uv, wheel_coverage};

#[derive(Debug, PartialEq)]
enum Verdict {
    Ok,
    /// Not there, but the xtask copes or installs it itself.
    Note,
    /// Not there, and the named commands will fail until it is.
    Missing,
}

struct Finding {
    what: &'static str,
    verdict: Verdict,
    detail: String,
    fix: Option<String>,
}

impl Finding {
    fn ok(what: &'static str, detail: impl Into<String>) -> Finding {
        Finding { what, verdict: Verdict::Ok, detail: detail.into(), fix: None }
    }
}

pub fn run(_flags: &DoctorFlags) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    let findings = examine(&workspace);
    print!("{}", render(&findings));
    let missing = findings.iter().filter(|finding| finding.verdict == Verdict::Missing).count();
    if missing > 0 {
        return Err(refuse(
            format!("{missing} required tool(s) missing"),
            "follow the `fix:` lines above, then run `cargo xtask doctor` again",
        ));
    }
    Ok(())
}

fn examine(workspace: &Workspace) -> Vec<Finding> {
    let mut findings = Vec::new();
    let git = tools::find_git().ok();
    findings.push(match &git {
        Some(path) => match tools::version_of(path) {
            Ok(version) => Finding::ok("git", version),
            Err(error) => Finding {
                what: "git",
                verdict: Verdict::Missing,
                detail: format!("{error:#}"),
                fix: Some("reinstall git (git-scm.com or your package manager)".into()),
            },
        },
        None => Finding {
            what: "git",
            verdict: Verdict::Missing,
            detail: "not on PATH".into(),
            fix: Some("install git (git-scm.com or your package manager)".into()),
        },
    });
    findings.push(examine_clone(&workspace.root, git.as_deref()));
    let python = tools::find_python();
    findings.push(match &python {
        Ok(python) => Finding::ok("python", format!("{} ({})", python.version, python.path.display())),
        Err(error) => {
            let Lines { message, hint } = crate::failure::lines(error);
            Finding { what: "python", verdict: Verdict::Missing, detail: message, fix: hint }
        }
    });
    findings.push(match uv::find_uv(workspace) {
        Some(path) => match tools::version_of(&path) {
            Ok(version) => Finding::ok("uv", format!("{version} ({})", path.display())),
            // The xtask installs its own again when it does not run (an interrupted install).
            Err(error) if path.starts_with(uv::bootstrap_dir(workspace)) => Finding {
                what: "uv",
                verdict: Verdict::Note,
                detail: format!("{error:#}; installed again on first use"),
                fix: None,
            },
            Err(error) => Finding {
                what: "uv",
                verdict: Verdict::Missing,
                detail: format!("{error:#}"),
                fix: Some("reinstall uv (pip install uv), or point XTASK_UV at a uv that runs".into()),
            },
        },
        None => match python.as_ref().map_err(|_| anyhow::anyhow!("no Python (see python)")).and_then(pip_version) {
            Ok(_) => Finding {
                what: "uv",
                verdict: Verdict::Note,
                detail: format!(
                    "not found; installed automatically into {} on first use",
                    uv::bootstrap_dir(workspace).display()
                ),
                fix: None,
            },
            Err(error) => Finding {
                what: "uv",
                verdict: Verdict::Missing,
                detail: format!("not found, and there is no pip to install it with: {error:#}"),
                fix: Some("install uv (pip install uv, or docs.astral.sh/uv), or Python's pip".into()),
            },
        },
    });
    findings.push(examine_interpreter(workspace));
    findings.push(match uv::locked_version(workspace, "pyinstaller") {
        Some(version) => {
            Finding::ok("pyinstaller", format!("{version} pinned in uv.lock; uv installs it on first build"))
        }
        None => Finding {
            what: "pyinstaller",
            verdict: Verdict::Missing,
            detail: "uv.lock pins no pyinstaller".into(),
            fix: Some("add pyinstaller to the build group of the root pyproject.toml and run `uv lock`".into()),
        },
    });
    findings.push(examine_build_wheels(workspace));
    findings.push(match targets::host() {
        Ok(target) => Finding::ok("host triple", target.triple),
        Err(error) => Finding {
            what: "host triple",
            verdict: Verdict::Missing,
            detail: crate::failure::lines(&error).message,
            fix: Some(format!("build sidecars on one of: {}", targets::supported_list())),
        },
    });
    findings
}

/// Whether every package the build group installs has a wheel for this machine in `uv.lock`: a
/// package without one is built from source, which may need the internet and other tools.
fn examine_build_wheels(workspace: &Workspace) -> Finding {
    let what = "build wheels";
    let Ok(target) = targets::host() else {
        return Finding { what, verdict: Verdict::Note, detail: "unknown on an unsupported host".into(), fix: None };
    };
    let lock_path = workspace.root.join("uv.lock");
    let checked = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("reading {}", lock_path.display()))
        .and_then(|lock| {
            let python = interpreter::read_pin(&workspace.root)?;
            let python = wheel_coverage::python_minor(&python).context("the interpreter pin is not MAJOR.MINOR")?;
            wheel_coverage::missing_wheels(&lock, wheel_coverage::BUILD_GROUP, std::slice::from_ref(target), python)
        });
    match checked {
        Ok(missing) if missing.is_empty() => {
            Finding::ok(what, format!("every package of the `build` group has a wheel for {}", target.triple))
        }
        Ok(missing) => Finding {
            what,
            verdict: Verdict::Missing,
            detail: format!(
                "no wheel for {} in uv.lock, so uv would build from source: {}",
                target.triple,
                missing.iter().map(|missing| format!("{} {}", missing.package, missing.version)).collect::<Vec<_>>().join(", ")
            ),
            fix: Some(
                "keep dev tools out of the `build` group of the root pyproject.toml, or lock a version that has a wheel (then `uv lock`)"
                    .into(),
            ),
        },
        Err(error) => Finding { what, verdict: Verdict::Missing, detail: format!("{error:#}"), fix: None },
    }
}

fn pip_version(python: &tools::Python) -> anyhow::Result<String> {
    let (sh, python) = (Shell::new()?, &python.path);
    process::read(cmd!(sh, "{python} -m pip --version"))
}

/// Which Python uv will freeze the sidecars with, and whether it is the pinned one.
fn examine_interpreter(workspace: &Workspace) -> Finding {
    let what = "interpreter";
    let pinned = match interpreter::read_pin(&workspace.root) {
        Ok(pinned) => pinned,
        Err(error) => {
            let Lines { message, hint } = crate::failure::lines(&error);
            return Finding { what, verdict: Verdict::Missing, detail: message, fix: hint };
        }
    };
    let Some(uv) = uv::find_uv(workspace) else {
        return Finding {
            what,
            verdict: Verdict::Note,
            detail: format!(
                "{pinned} pinned in {}; which one uv uses is known once uv is installed",
                interpreter::PIN_FILE
            ),
            fix: None,
        };
    };
    match interpreter::choose(workspace, &uv) {
        Ok(chosen) if chosen.matches_pin() => Finding::ok(what, format!("uses {}", chosen.describe())),
        Ok(chosen) => Finding {
            what,
            verdict: Verdict::Note,
            detail: format!("uses {}: binaries built here differ from the release's", chosen.describe()),
            fix: Some(format!("uv python install {pinned}")),
        },
        // Without a system Python the python line above already says what is missing.
        Err(_) if tools::find_python().is_err() => Finding {
            what,
            verdict: Verdict::Note,
            detail: format!("the pinned {pinned} is not installed, and no system Python stands in (see python)"),
            fix: Some(format!("uv python install {pinned}")),
        },
        Err(error) => {
            let Lines { message, hint } = crate::failure::lines(&error);
            Finding { what, verdict: Verdict::Missing, detail: message, fix: hint }
        }
    }
}

fn examine_clone(root: &Path, git: Option<&Path>) -> Finding {
    let Some(git) = git else {
        return Finding { what: "clone", verdict: Verdict::Note, detail: "unknown without git".into(), fix: None };
    };
    let shallow = Shell::new()
        .map_err(anyhow::Error::from)
        .and_then(|sh| process::read(cmd!(sh, "{git} -C {root} rev-parse --is-shallow-repository")));
    match shallow.as_deref() {
        Ok("true") => Finding {
            what: "clone",
            verdict: Verdict::Note,
            detail: "shallow: sidecars build (GIT_COMMIT is HEAD), but a release needs the history and tags".into(),
            fix: Some("git fetch --unshallow --tags".into()),
        },
        Ok(_) => Finding::ok("clone", "full history"),
        Err(error) => Finding {
            what: "clone",
            verdict: Verdict::Note,
            detail: format!("not a git checkout: GIT_COMMIT will be `unknown` ({error:#})"),
            fix: Some("build from a git clone to record the commit".into()),
        },
    }
}

fn render(findings: &[Finding]) -> String {
    let width = findings.iter().map(|finding| finding.what.len()).max().unwrap_or(0);
    let mut text = String::new();
    for finding in findings {
        let mark = match finding.verdict {
            Verdict::Ok => "ok     ",
            Verdict::Note => "note   ",
            Verdict::Missing => "MISSING",
        };
        text.push_str(&format!("{mark}  {:width$}  {}\n", finding.what, finding.detail));
        if let Some(fix) = &finding.fix {
            text.push_str(&format!("{:7}  {:width$}  fix: {fix}\n", "", ""));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_lines_up_and_shows_fixes() {
        let findings = vec![
            Finding::ok("git", "git version 2.47.3"),
            Finding {
                what: "python",
                verdict: Verdict::Missing,
                detail: "no Python".into(),
                fix: Some("install it".into()),
            },
        ];
        assert_eq!(
            render(&findings),
            "ok       git     git version 2.47.3\nMISSING  python  no Python\n                 fix: install it\n"
        );
    }
}
