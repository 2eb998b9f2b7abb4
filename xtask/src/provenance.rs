//! Where a build comes from: the commit it is built from and the time it records (`BUILT_AT`,
//! archive timestamps), the same for every package of one build. `build-info` and `sidecar` (and
//! so `release`) record both; `smoke` compares a sidecar's report with the commit only.

use std::path::Path;

use xshell::cmd;

use crate::failure::refuse;
use crate::{clock, process, tools};

/// The facts that are the same for every package of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// 40 hex, or `unknown` outside a git checkout.
    pub git_commit: String,
    /// Seconds since the epoch used for BUILT_AT and archive timestamps.
    pub source_date_epoch: i64,
}

/// The build time when `SOURCE_DATE_EPOCH` is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildTime {
    /// HEAD's commit time: two builds of one commit record the same time (reproducible builds).
    CommitTime,
    /// The clock, as `build-info` run by hand records it.
    Now,
}

/// The commit (HEAD, also in a shallow clone) and the build time: `SOURCE_DATE_EPOCH` when set,
/// else HEAD's commit time for [`BuildTime::CommitTime`] (now outside git), else now. Outside git the commit is
/// `unknown` (with a warning); in a checkout that git cannot read (git missing, no commit yet, a
/// damaged `.git`) it is refused: a build would record `unknown` by mistake.
pub fn provenance(root: &Path, build_time: BuildTime) -> anyhow::Result<Provenance> {
    let from_environment = source_date_epoch_from_environment()?;
    let head = head_or_warn(root)?;
    let source_date_epoch = match (from_environment, &head, build_time) {
        (Some(seconds), _, _) => seconds,
        (None, Some(head), BuildTime::CommitTime) => head.commit_time,
        _ => clock::now_unix(),
    };
    Ok(Provenance { git_commit: commit_or_unknown(head), source_date_epoch })
}

/// The commit a build of `root` records, as [`provenance`] reads it, without the build time: what
/// a sidecar built here must report. `SOURCE_DATE_EPOCH` is not read.
pub fn git_commit(root: &Path) -> anyhow::Result<String> {
    Ok(commit_or_unknown(head_or_warn(root)?))
}

/// The last second a `BUILT_AT` (`YYYY-MM-DDTHH:MM:SSZ`) can write: 9999-12-31T23:59:59Z.
const LAST_WRITABLE_SECOND: i64 = 253_402_300_799;

/// `SOURCE_DATE_EPOCH` when set; a refusal when it is not a whole number of seconds between 1970
/// and the end of year 9999 (what `BUILT_AT` can write).
fn source_date_epoch_from_environment() -> anyhow::Result<Option<i64>> {
    let hint = "unset it, or set it to a Unix time such as $(git log -1 --format=%ct)";
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => parse_source_date_epoch(&text).map(Some).map_err(|problem| refuse(problem, hint)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(refuse("SOURCE_DATE_EPOCH is not text", hint)),
    }
}

fn parse_source_date_epoch(text: &str) -> Result<i64, String> {
    let seconds = text
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("SOURCE_DATE_EPOCH={text:?} is not a whole number of seconds"))?;
    if !(0..=LAST_WRITABLE_SECOND).contains(&seconds) {
        return Err(format!("SOURCE_DATE_EPOCH={seconds} is not a time between 1970 and the end of year 9999"));
    }
    Ok(seconds)
}

/// HEAD of the checkout holding `root`, with a warning when there is none.
fn head_or_warn(root: &Path) -> anyhow::Result<Option<Head>> {
    let head = head_commit(root)?;
    if head.is_none() {
        eprintln!("warning: {} is not a git checkout: GIT_COMMIT will be `unknown`", root.display());
    }
    Ok(head)
}

fn commit_or_unknown(head: Option<Head>) -> String {
    head.map_or_else(|| "unknown".to_string(), |head| head.commit)
}

struct Head {
    commit: String,
    commit_time: i64,
}

/// HEAD of the checkout holding `root`; `None` when `root` is in no checkout (an export).
fn head_commit(root: &Path) -> anyhow::Result<Option<Head>> {
    let Some(checkout) = root.ancestors().find(|dir| dir.join(".git").exists()) else {
        return Ok(None);
    };
    let git = tools::find_git().map_err(|_| {
        crate::failure::refuse(
            format!("git is not on PATH, but {} is a git checkout: its commit cannot be recorded", checkout.display()),
            "install git (git-scm.com or your package manager), or build from an export without .git to record `unknown`",
        )
    })?;
    let shell = process::shell_in(root)?;
    let format = "--format=%H %ct";
    let problem = match process::read(cmd!(shell, "{git} log -1 {format} HEAD")) {
        Ok(text) => match text.split_once(' ') {
            Some((commit, time)) if commit.len() == 40 && commit.bytes().all(|byte| byte.is_ascii_hexdigit()) => {
                return Ok(Some(Head { commit: commit.to_string(), commit_time: time.parse().unwrap_or(0) }));
            }
            _ => format!("git printed {text:?}, not a commit and its time"),
        },
        Err(error) => format!("{error:#}"),
    };
    Err(crate::failure::refuse(
        format!("git cannot read HEAD of the checkout {}: {problem}", checkout.display()),
        "commit at least once, or repair the clone (`git status` says what is wrong)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_is_a_time_built_at_can_write() {
        assert_eq!(parse_source_date_epoch(" 1700000000\n"), Ok(1_700_000_000));
        assert_eq!(parse_source_date_epoch("0"), Ok(0));
        assert_eq!(parse_source_date_epoch("253402300799"), Ok(LAST_WRITABLE_SECOND));
        for bad in ["-5", "253402300800", "99999999999999", "1.5", "", "now"] {
            assert!(parse_source_date_epoch(bad).is_err(), "{bad:?} accepted");
        }
    }
}
