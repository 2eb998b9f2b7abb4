//! Code signing of sidecars, as a step of its own between PyInstaller (or the cache, which keeps
//! unsigned bytes) and publishing: the `.sha256`, the manifest, the archive, the SBOM and the
//! `build_id` a sidecar reports all describe the signed bytes.
//!
//! `CODESIGN_IDENTITY` (and `ENTITLEMENTS_FILE`) turn it on: on macOS the signer is `codesign`,
//! checked afterwards with `codesign --verify --strict`. `XTASK_CODESIGN_PROGRAM` replaces the
//! signer with a stand-in that takes the same arguments, to rehearse the order on other systems.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::failure::refuse;
use crate::process::{ChildOutput, Echo, Supervised};
use crate::targets::Target;
use crate::{executable_format, files, tools};

/// Lines of the signer's output kept for the error when it fails.
const FAILURE_TAIL_LINES: usize = 5;

/// How this build signs its sidecars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signing {
    /// `codesign`, or the stand-in named by `XTASK_CODESIGN_PROGRAM`.
    pub program: PathBuf,
    pub identity: String,
    pub entitlements: Option<PathBuf>,
    /// The real `codesign`, whose signature `codesign --verify --strict` checks afterwards.
    pub verify_with_codesign: bool,
}

/// The signing variables as read from the environment (empty counts as unset).
#[derive(Debug, Clone, Default)]
pub struct SigningEnvironment {
    pub identity: Option<String>,
    pub entitlements: Option<PathBuf>,
    pub program: Option<PathBuf>,
}

impl SigningEnvironment {
    pub fn read() -> SigningEnvironment {
        let variable = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        SigningEnvironment {
            identity: variable("CODESIGN_IDENTITY").map(|value| value.to_string_lossy().into_owned()),
            entitlements: variable("ENTITLEMENTS_FILE").map(PathBuf::from),
            program: variable("XTASK_CODESIGN_PROGRAM").map(PathBuf::from),
        }
    }
}

/// How to sign, decided before any build: `None` when `CODESIGN_IDENTITY` is unset. Refused, with
/// the fix: entitlements without an identity, an entitlements file or stand-in that is not there,
/// and an identity on a system without `codesign` and no stand-in.
pub fn plan(environment: &SigningEnvironment, on_macos: bool) -> anyhow::Result<Option<Signing>> {
    let Some(identity) = environment.identity.clone() else {
        if let Some(entitlements) = &environment.entitlements {
            return Err(refuse(
                format!(
                    "ENTITLEMENTS_FILE={} is set but CODESIGN_IDENTITY is not: nothing would be signed",
                    entitlements.display()
                ),
                "set CODESIGN_IDENTITY to the signing identity (`security find-identity -v -p codesigning` lists them), \
                 or unset ENTITLEMENTS_FILE",
            ));
        }
        if environment.program.is_some() {
            eprintln!("note: XTASK_CODESIGN_PROGRAM is set but CODESIGN_IDENTITY is not: the sidecars are not signed");
        }
        return Ok(None);
    };
    if let Some(entitlements) = &environment.entitlements
        && !entitlements.is_file()
    {
        return Err(refuse(
            format!("ENTITLEMENTS_FILE={} is not a file", entitlements.display()),
            "point ENTITLEMENTS_FILE at the entitlements .plist to sign with, or unset it",
        ));
    }
    let (program, verify_with_codesign) = match &environment.program {
        Some(program) => (stand_in(program)?, false),
        None if on_macos => (
            tools::find_on_path("codesign").ok_or_else(|| {
                refuse(
                    "CODESIGN_IDENTITY is set but codesign is not on PATH",
                    "install the Xcode command line tools (xcode-select --install), or unset CODESIGN_IDENTITY",
                )
            })?,
            true,
        ),
        None => {
            return Err(refuse(
                "CODESIGN_IDENTITY is set, but this is not macOS: there is no codesign to sign with",
                "unset CODESIGN_IDENTITY (sidecars are signed on the macOS runners), or set XTASK_CODESIGN_PROGRAM to \
                 a stand-in signer to rehearse the signing order here",
            ));
        }
    };
    Ok(Some(Signing { program, identity, entitlements: environment.entitlements.clone(), verify_with_codesign }))
}

/// The stand-in signer: a path to an executable file, or a name found on PATH.
fn stand_in(program: &Path) -> anyhow::Result<PathBuf> {
    let hint = "point XTASK_CODESIGN_PROGRAM at an executable that signs the file named last on its command line \
                (it takes codesign's arguments), or unset it";
    let found = if program.components().count() > 1 {
        Some(program.to_path_buf()).filter(|path| path.is_file())
    } else {
        tools::find_on_path(&program.to_string_lossy())
    };
    let found =
        found.ok_or_else(|| refuse(format!("XTASK_CODESIGN_PROGRAM={} is not a file", program.display()), hint))?;
    if !std::fs::metadata(&found).is_ok_and(|metadata| files::is_executable(&metadata)) {
        return Err(refuse(
            format!("XTASK_CODESIGN_PROGRAM={} is not executable", found.display()),
            format!("chmod +x {}, or unset XTASK_CODESIGN_PROGRAM", found.display()),
        ));
    }
    Ok(found)
}

/// codesign's arguments: hardened runtime, a secure timestamp, the entitlements when given.
pub fn signer_arguments(signing: &Signing, file: &Path) -> Vec<OsString> {
    let mut arguments: Vec<OsString> =
        ["--force", "--timestamp", "--options", "runtime", "--sign"].iter().map(OsString::from).collect();
    arguments.push(signing.identity.clone().into());
    if let Some(entitlements) = &signing.entitlements {
        arguments.push("--entitlements".into());
        arguments.push(entitlements.clone().into_os_string());
    }
    arguments.push(file.as_os_str().to_owned());
    arguments
}

/// Sign a copy of `unsigned` at `staged` (the unsigned file is left as it is: the cache keeps
/// it) and check the result: the signer succeeded, the file is still an executable for `target`,
/// and `codesign --verify --strict` accepts it when the real codesign signed.
pub fn sign_copy(
    signing: &Signing,
    unsigned: &Path,
    staged: &Path,
    target: &Target,
    binary: &str,
) -> anyhow::Result<()> {
    let contents = std::fs::read(unsigned).with_context(|| format!("reading {}", unsigned.display()))?;
    files::write_atomically_with_mode(staged, &contents, Some(0o755))?;
    eprintln!("[{binary}] signing with {} as {:?}", signing.program.display(), signing.identity);
    let mut command = Command::new(&signing.program);
    command.args(signer_arguments(signing, staged));
    run_signer_step(&mut command, binary, "signing").map_err(|said| {
        refuse(
            format!("signing {binary} with {} failed{said}", signing.program.display()),
            format!(
                "its output is above, prefixed with [{binary}]; check CODESIGN_IDENTITY (`security find-identity -v \
                 -p codesigning` lists the identities) and ENTITLEMENTS_FILE; nothing of {binary} was published"
            ),
        )
    })?;
    executable_format::check_file(staged, target).map_err(|error| {
        refuse(
            format!(
                "after signing, {binary} is no longer a {} executable: {}",
                target.triple,
                crate::failure::lines(&error).message
            ),
            format!("the signer {} damaged the file; nothing of {binary} was published", signing.program.display()),
        )
    })?;
    if signing.verify_with_codesign {
        let mut verify = Command::new(&signing.program);
        verify.args(["--verify", "--strict"]).arg(staged);
        run_signer_step(&mut verify, binary, "verifying").map_err(|said| {
            refuse(
                format!("codesign --verify --strict rejects the signed {binary}{said}"),
                "check the identity and entitlements; nothing of this sidecar was published",
            )
        })?;
    }
    Ok(())
}

/// Run a signer step with its output prefixed; on failure, `" (status): last line"`.
fn run_signer_step(command: &mut Command, binary: &str, what: &str) -> Result<(), String> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Supervised::spawn(command, &format!("{what} {binary}")).map_err(|error| format!(": {error:#}"))?;
    let output = ChildOutput::tee(&mut child, Echo::Stderr(format!("[{binary}] ")), FAILURE_TAIL_LINES);
    let status = child.wait().map_err(|error| format!(": {error:#}"))?;
    let last_lines = output.finish();
    if status.success() {
        return Ok(());
    }
    let last_line = last_lines.iter().rev().find(|line| !line.trim().is_empty());
    Err(format!(" ({status}){}", last_line.map(|line| format!(": {}", line.trim())).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(identity: Option<&str>, entitlements: Option<&Path>, program: Option<&Path>) -> SigningEnvironment {
        SigningEnvironment {
            identity: identity.map(str::to_string),
            entitlements: entitlements.map(Path::to_path_buf),
            program: program.map(Path::to_path_buf),
        }
    }

    #[test]
    fn without_an_identity_nothing_is_signed() {
        assert_eq!(plan(&environment(None, None, None), true).unwrap(), None);
        assert_eq!(plan(&environment(None, None, None), false).unwrap(), None);
        let lines =
            crate::failure::lines(&plan(&environment(None, Some(Path::new("a.plist")), None), true).unwrap_err());
        assert!(lines.message.contains("CODESIGN_IDENTITY is not"), "{}", lines.message);
    }

    #[test]
    fn an_identity_off_macos_needs_a_stand_in_and_it_must_exist() {
        let lines = crate::failure::lines(&plan(&environment(Some("Developer ID"), None, None), false).unwrap_err());
        assert!(lines.message.contains("this is not macOS"), "{}", lines.message);
        assert!(lines.hint.unwrap().contains("XTASK_CODESIGN_PROGRAM"));
        let folder = tempfile::tempdir().unwrap();
        let missing = folder.path().join("signer");
        assert!(plan(&environment(Some("Developer ID"), None, Some(&missing)), false).is_err());
        std::fs::write(&missing, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let refused = plan(&environment(Some("Developer ID"), None, Some(&missing)), false).unwrap_err();
            let lines = crate::failure::lines(&refused);
            assert!(lines.message.contains("is not executable"), "{}", lines.message);
            assert!(lines.hint.unwrap().starts_with("chmod +x"));
            std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let signing = plan(&environment(Some("Developer ID"), None, Some(&missing)), false).unwrap().unwrap();
        assert_eq!(signing.program, missing);
        assert!(!signing.verify_with_codesign, "a stand-in's file is not checked with codesign");
        let plist = folder.path().join("missing.plist");
        let error = plan(&environment(Some("Developer ID"), Some(&plist), Some(&missing)), false).unwrap_err();
        assert!(crate::failure::lines(&error).message.contains("is not a file"));
    }

    #[test]
    fn codesign_gets_the_hardened_runtime_a_timestamp_and_the_entitlements() {
        let mut signing = Signing {
            program: "codesign".into(),
            identity: "Developer ID Application: Lumen (TEAM)".into(),
            entitlements: None,
            verify_with_codesign: true,
        };
        let text = |arguments: Vec<OsString>| {
            arguments.iter().map(|argument| argument.to_string_lossy().into_owned()).collect::<Vec<_>>()
        };
        assert_eq!(
            text(signer_arguments(&signing, Path::new("bin"))),
            [
                "--force",
                "--timestamp",
                "--options",
                "runtime",
                "--sign",
                "Developer ID Application: Lumen (TEAM)",
                "bin"
            ]
        );
        signing.entitlements = Some("app.plist".into());
        assert_eq!(&text(signer_arguments(&signing, Path::new("bin")))[6..], ["--entitlements", "app.plist", "bin"]);
    }
}
