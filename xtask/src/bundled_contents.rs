//! What a PyInstaller build bundled, by owner (distributions, the Python runtime, system
//! libraries), read from PyInstaller's own TOC files by `bundled_contents.py` in the locked
//! environment; the SBOM is made from it and the build cache keeps it with the binary.

use std::path::Path;
use std::process::Stdio;

use anyhow::Context;
use serde_json::{Value, json};

use crate::failure::refuse;
use crate::process::{ChildOutput, Echo, Supervised};
use crate::uv::{self, Groups, Uv};
use crate::workspace::Workspace;

/// Run with `python -I -c` (isolated: no PYTHONPATH, user site-packages or current folder can
/// change what it imports or finds) and the work folder as its argument; see its docstring.
pub const SCRIPT: &str = include_str!("bundled_contents.py");
/// Starts the script's report line (`REPORT_PREFIX` in the script).
const REPORT_PREFIX: &str = "xtask-bundled-contents ";
/// Lines of the script's output kept for an error message.
const FAILURE_TAIL_LINES: usize = 5;

/// The owners of the files in one sidecar binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledContents {
    /// `sys.implementation.name`, e.g. `cpython`.
    pub python_implementation: String,
    /// The exact interpreter version, e.g. `3.12.1`.
    pub python_version: String,
    /// Installed distributions with at least one bundled file, sorted by normalised name.
    pub distributions: Vec<Distribution>,
    /// Shared libraries from the system (outside every distribution and the runtime), by file name.
    pub system_libraries: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Distribution {
    /// Normalised as PEP 503 does (lowercase, runs of `-_.` as one `-`).
    pub name: String,
    pub version: String,
}

/// A distribution name as PEP 503 compares it: `Typing_Extensions` is `typing-extensions`.
pub fn normalise_name(name: &str) -> String {
    let mut normalised = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for character in name.trim().chars() {
        if matches!(character, '-' | '_' | '.') {
            if !in_separator_run {
                normalised.push('-');
            }
            in_separator_run = true;
        } else {
            normalised.push(character.to_ascii_lowercase());
            in_separator_run = false;
        }
    }
    normalised
}

impl BundledContents {
    /// Read the script's report (or a cached copy of [`BundledContents::to_json`]). A report that
    /// names files no owner claims is refused: an SBOM would leave them out.
    pub fn from_json(text: &str) -> anyhow::Result<BundledContents> {
        let report: Value = serde_json::from_str(text).context("reading the bundled-contents report")?;
        let string = |value: &Value, key: &str| -> anyhow::Result<String> {
            value
                .get(key)
                .and_then(Value::as_str)
                .filter(|text| !text.trim().is_empty())
                .map(str::to_string)
                .with_context(|| format!("the bundled-contents report has no {key:?} text in {value}"))
        };
        let list = |key: &str| report.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        let unowned: Vec<String> = list("unowned").iter().filter_map(Value::as_str).map(str::to_string).collect();
        if !unowned.is_empty() {
            return Err(refuse(
                format!(
                    "PyInstaller bundled {} file(s) that belong to no installed distribution, the Python runtime \
                     or PyInstaller: {}",
                    unowned.len(),
                    unowned.join("; ")
                ),
                "a file outside the locked environment got into the build (a path in a spec or hook?); bundle it \
                 from an installed package, or teach xtask/src/bundled_contents.py its owner",
            ));
        }
        let python = report.get("python").context("the bundled-contents report has no \"python\"")?;
        let mut distributions = Vec::new();
        for entry in list("distributions") {
            distributions.push(Distribution {
                name: normalise_name(&string(&entry, "name")?),
                version: string(&entry, "version")?,
            });
        }
        distributions.sort();
        distributions.dedup();
        let mut system_libraries: Vec<String> =
            list("system_libraries").iter().filter_map(Value::as_str).map(str::to_string).collect();
        system_libraries.sort();
        system_libraries.dedup();
        Ok(BundledContents {
            python_implementation: string(python, "implementation")?,
            python_version: string(python, "version")?,
            distributions,
            system_libraries,
        })
    }

    /// The form the build cache keeps, read back by [`BundledContents::from_json`].
    pub fn to_json(&self) -> String {
        let distributions: Vec<Value> =
            self.distributions.iter().map(|each| json!({"name": each.name, "version": each.version})).collect();
        let report = json!({
            "python": {"implementation": self.python_implementation, "version": self.python_version},
            "distributions": distributions,
            "system_libraries": self.system_libraries,
            "unowned": [],
        });
        format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default())
    }
}

/// What the build in `work_folder` (PyInstaller's `--workpath` for one spec, holding
/// `PKG-00.toc` and `PYZ-00.toc`) bundled, asked of the locked environment that built it.
pub fn read(workspace: &Workspace, uv: &Uv, work_folder: &Path, binary: &str) -> anyhow::Result<BundledContents> {
    let work_text = work_folder.to_string_lossy();
    let mut command = uv::run(workspace, uv, Groups::Build, &["python", "-I", "-c", SCRIPT, &work_text])?;
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Supervised::spawn(&mut command, &format!("reading what PyInstaller bundled into {binary}"))?;
    let report = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = std::sync::Arc::clone(&report);
    let output = ChildOutput::tee_watching(&mut child, Echo::Nowhere, FAILURE_TAIL_LINES, move |line| {
        if let Some(json) = line.strip_prefix(REPORT_PREFIX) {
            *seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(json.to_string());
        }
    });
    let status = child.wait()?;
    let last_lines = output.finish();
    let report = report.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    match report {
        Some(json) if status.success() => BundledContents::from_json(&json),
        _ => {
            let said = last_lines.iter().rev().find(|line| !line.trim().is_empty()).map(|line| line.trim().to_string());
            Err(refuse(
                format!(
                    "could not read what PyInstaller bundled into {binary} from {} ({status}){}",
                    work_folder.display(),
                    said.map(|line| format!(": {line}")).unwrap_or_default()
                ),
                "rebuild with `cargo xtask sidecar --no-cache`: PyInstaller writes PKG-00.toc and PYZ-00.toc in that \
                 folder",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the script printed for a real proxy build (shortened).
    const REPORT: &str = r#"{"distributions": [
        {"files": 56, "name": "aiohttp", "version": "3.14.5"},
        {"files": 6, "name": "lumen-argus-core", "version": "0.3.1"},
        {"files": 1, "name": "typing_extensions", "version": "4.16.0"},
        {"files": 7, "name": "pyinstaller", "version": "6.22.3"}],
      "python": {"implementation": "cpython", "version": "3.12.1"},
      "system_libraries": ["libz.so.1", "libssl.so.3"], "unowned": []}"#;

    #[test]
    fn names_are_compared_as_pep_503_says() {
        assert_eq!(normalise_name("Typing_Extensions"), "typing-extensions");
        assert_eq!(normalise_name("zope.interface"), "zope-interface");
        assert_eq!(normalise_name("a-_.b"), "a-b");
        assert_eq!(normalise_name("lumen-argus-core"), "lumen-argus-core");
    }

    #[test]
    fn a_report_reads_sorted_and_normalised_and_survives_the_cache_form() {
        let contents = BundledContents::from_json(REPORT).unwrap();
        let names: Vec<&str> = contents.distributions.iter().map(|each| each.name.as_str()).collect();
        assert_eq!(names, ["aiohttp", "lumen-argus-core", "pyinstaller", "typing-extensions"]);
        assert_eq!(contents.python_version, "3.12.1");
        assert_eq!(contents.system_libraries, ["libssl.so.3", "libz.so.1"]);
        assert_eq!(BundledContents::from_json(&contents.to_json()).unwrap(), contents);
    }

    #[test]
    fn files_without_an_owner_or_a_report_without_versions_are_refused() {
        let unowned = REPORT.replace(r#""unowned": []"#, r#""unowned": ["data.bin (DATA) from /tmp/data.bin"]"#);
        let lines = crate::failure::lines(&BundledContents::from_json(&unowned).unwrap_err());
        assert!(lines.message.contains("1 file(s) that belong to no installed distribution"), "{}", lines.message);
        assert!(lines.message.contains("/tmp/data.bin"), "{}", lines.message);
        assert!(lines.hint.unwrap().contains("bundled_contents.py"));
        let without_version = REPORT.replace(r#""version": "3.14.5""#, r#""version": """#);
        assert!(BundledContents::from_json(&without_version).is_err());
        assert!(BundledContents::from_json("not json").is_err());
    }
}
