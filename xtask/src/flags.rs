//! Every command and flag of `cargo xtask`, in one place: the command line, written with clap's
//! builder API (the derive macros cost every cold build a `syn`; docs/development/performance.md),
//! and the flags each subcommand is handed once it parsed.

use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;

use clap::builder::EnumValueParser;
use clap::builder::TypedValueParser;
use clap::{Arg, ArgAction, ArgMatches, value_parser};

use crate::archive::ArchiveFormat;
use crate::failure;
use crate::targets::{self, Target};
use crate::version::BumpTo;
use crate::workspace::Tag;
use crate::{github_api, naming};

/// The default `--fallback-index-url` of install-check: PyPI's simple index.
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple";

/// One parsed command line: the subcommand and its flags.
#[derive(Debug)]
pub enum Command {
    BuildInfo(BuildInfoFlags),
    Sidecar(SidecarFlags),
    Smoke(SmokeFlags),
    Checksums(ChecksumsFlags),
    Bump(BumpFlags),
    Release(ReleaseFlags),
    Test(TestFlags),
    Doctor(DoctorFlags),
    Targets(TargetsFlags),
    Collect(CollectFlags),
    Wheels(WheelsFlags),
    GithubRelease(GithubReleaseFlags),
    Bench(BenchFlags),
    Archive(ArchiveFlags),
    InstallCheck(InstallCheckFlags),
    ImageCheck(ImageCheckFlags),
}

/// The process's command line. `--help` prints and exits 0; a usage error prints the usage and
/// exits 2 (clap's handling).
pub fn parse() -> Command {
    match command().try_get_matches() {
        Ok(matches) => Command::from_matches(matches),
        // --help: clap prints it to stdout and exits 0.
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            // clap's message quotes the value it refused: shown as `failure::report` shows values
            // (control characters escaped, an endless value cut), so no argument reaches the
            // terminal raw.
            let _ = write!(std::io::stderr(), "{}", failure::printable(&error.render().to_string()));
            std::process::exit(error.exit_code());
        }
    }
}

/// `cargo xtask` with every subcommand, its help text and its flags' rules.
pub fn command() -> clap::Command {
    clap::Command::new("cargo xtask")
        .bin_name("cargo xtask")
        .about("Build, check and release the lumen-argus packages, images and sidecars")
        .disable_version_flag(true)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands([
            clap::Command::new("build-info")
                .about("Write <import package>/_build_info.py (VERSION, GIT_COMMIT, BUILT_AT) for each sidecar")
                .arg(package_filter()),
            clap::Command::new("sidecar")
                .about("Build the PyInstaller sidecars for a target triple into dist/")
                .args([
                    text_option("target", "TRIPLE", "Rust target triple to build for (default: this machine's)")
                        .value_parser(targets::parse_flag),
                    package_filter(),
                    switch("no-cache", "Run PyInstaller even when the build cache has the binary"),
                ]),
            clap::Command::new("smoke")
                .about("Start each sidecar and check that it reports its own build_id")
                .args([
                    text_option("target", "TRIPLE", "Check the sidecars in dist/ for this triple (default: this machine's)")
                        .value_parser(targets::parse_flag)
                        .conflicts_with("binary"),
                    path_option("binary", "PATH", "Check this file instead (named <binary>-<triple>[.exe]); repeat for several")
                        .action(ArgAction::Append),
                    text_option("timeout", "SECONDS", "Seconds each sidecar gets to start and answer")
                        .value_parser(value_parser!(u64))
                        .default_value("60"),
                ]),
            clap::Command::new("checksums")
                .about("Write checksums.txt and release-notes.md from the *.sha256 files of a folder")
                .args([
                    Arg::new("dir")
                        .value_name("DIR")
                        .value_parser(value_parser!(PathBuf))
                        .help("Folder holding the artifacts and their .sha256 files (default: dist/ of the repository)"),
                    switch("verify", "Check DIR against its checksums.txt instead of writing it"),
                    text_option(
                        "release",
                        "TAG",
                        "With --verify: check the GitHub Release of this tag against the assets' digests instead of DIR",
                    )
                    .value_parser(Checked(Tag::parse, None))
                    .requires("verify")
                    // The release is checked, not a folder: a DIR as well would be ignored.
                    .conflicts_with("dir"),
                    text_option("repo", "OWNER/NAME", "With --release: the repository (default: GITHUB_REPOSITORY)")
                        .value_parser(Checked(github_api::parse_repo_flag, Some(github_api::REPO_HINT)))
                        .requires("release"),
                    path_option("download", "DIR", "With --release: also download every asset into this folder and hash it")
                        .requires("release"),
                ]),
            clap::Command::new("bump")
                .about("Bump one package's version by a step (minor, rc, ...) or to an explicit X.Y.Z")
                .args([
                    Arg::new("package")
                        .value_name("PACKAGE")
                        .value_parser(value_parser!(String))
                        .required_unless_present("show")
                        .help("Package to bump: core, agent or proxy (directory name under packages/)"),
                    Arg::new("kind")
                        .value_name("KIND|VERSION")
                        .value_parser(BumpTo::parse)
                        .required_unless_present("show")
                        .help(BumpTo::help()),
                    switch("dry-run", "Print the diff of every file it would change, and change nothing"),
                    switch("show", "Print the packages and their versions instead")
                        .conflicts_with_all(["package", "kind", "dry-run"]),
                    // clap drops a `requires` whose target conflicts with a present argument (`bump proxy patch
                    // --json` would bump): the conflicts say it instead.
                    switch("json", "With --show: print JSON")
                        .requires("show")
                        .conflicts_with_all(["package", "kind", "dry-run"]),
                ]),
            clap::Command::new("release").about("The maintainer's release runbook: a dry run unless --execute").args([
                switch("execute", "Rewrite the changelog, commit and tag (without it: a dry run)"),
                switch("push", "After --execute: push main, then the tag").requires("execute"),
            ]),
            clap::Command::new("test").about("Run every test and check of the repository").args([
                switch(
                    "long",
                    "Run the fault-injection loop instead of the suite: SIGINT/SIGTERM at random moments of \
                     sidecar, smoke, checksums, bump and release --execute, each followed by a check of what was \
                     left behind and a plain run that must succeed",
                ),
                text_option("rounds", "N", "With --long: rounds over the five commands")
                    .value_parser(value_parser!(u32).range(1..))
                    .default_value("4")
                    .requires("long"),
                text_option("seed", "SEED", "With --long: the seed of the random delays (printed by every run, to replay one)")
                    .value_parser(value_parser!(u64))
                    .requires("long"),
            ]),
            clap::Command::new("doctor").about("Report the tools this machine has and how to get the missing ones"),
            clap::Command::new("targets")
                .about("Print the supported target triples and the GitHub runner that builds each")
                .arg(switch("json", "Print JSON (one object per triple) instead of a table")),
            clap::Command::new("collect")
                .about("Gather the artifacts of several build runners into one folder and merge their manifests")
                .args([
                    Arg::new("folders")
                        .value_name("FOLDER")
                        .value_parser(value_parser!(PathBuf))
                        .action(ArgAction::Append)
                        .required(true)
                        .help(
                            "Folders to gather: each one runner's dist/ (files, .sha256 files, manifest.json), or a \
                             folder whose sub-folders are such (as actions/download-artifact leaves them)",
                        ),
                    path_option(
                        "into",
                        "DIR",
                        "Where to put the files and the merged manifest.json (default: the repository's dist/)",
                    ),
                    switch("require-all-targets", "Fail unless every supported triple is present (the release job's check)"),
                    path_option(
                        "previous",
                        "FILE",
                        "A previous release's sidecars.json: the size table shows the change against it and the \
                         growth budgets apply",
                    )
                    .conflicts_with("previous-release"),
                    switch(
                        "previous-release",
                        "Compare with the sidecars.json of the repository's latest published release on GitHub \
                         (none yet: nothing to compare with)",
                    ),
                    text_option("repo", "OWNER/NAME", "owner/name for --previous-release (default: $GITHUB_REPOSITORY)")
                        .value_parser(Checked(github_api::parse_repo_flag, Some(github_api::REPO_HINT)))
                        .requires("previous-release")
                        .conflicts_with("previous"),
                ]),
            clap::Command::new("wheels")
                .about("Build the wheels and sdists of the packages into dist/python/")
                .arg(package_filter()),
            clap::Command::new("github-release")
                .about("Publish checksums.txt and the files it lists to the GitHub Release of a tag (safe to re-run)")
                .args([
                    text_option(
                        "tag",
                        "TAG",
                        "The release's tag, e.g. v0.2.0 (a PEP 440 pre-release version makes a GitHub pre-release)",
                    )
                    .value_parser(Checked(Tag::parse, None))
                    .required(true),
                    text_option(
                        "repo",
                        "OWNER/NAME",
                        "The repository (default: GITHUB_REPOSITORY); the token comes from GITHUB_TOKEN only",
                    )
                    .value_parser(Checked(github_api::parse_repo_flag, Some(github_api::REPO_HINT))),
                    path_option(
                        "dir",
                        "DIR",
                        "Folder holding checksums.txt, release-notes.md and the files checksums.txt lists \
                         (default: the repository's dist/)",
                    ),
                    switch(
                        "dry-run",
                        "Print the plan (create, upload, skip, refuse per file) and send nothing but reads; needs no \
                         GITHUB_TOKEN for a public repository",
                    ),
                    text_option(
                        "replace",
                        "NAME",
                        "Replace this asset when the release has it with another digest (the new file goes up under a \
                         staging name, is verified, and only then takes the old one's place)",
                    )
                    .action(ArgAction::Append)
                    .num_args(1..),
                    text_option(
                        "remove",
                        "NAME",
                        "Delete this asset from a published release that checksums.txt does not list (on a draft \
                         such assets are deleted without asking)",
                    )
                    .action(ArgAction::Append)
                    .num_args(1..),
                ]),
            clap::Command::new("bench")
                .about(
                    "Time the xtask's hot paths and its cold build against the plain tools; writes \
                     target/bench/report.json",
                )
                .args([
                    switch("quick", "Smaller inputs and fewer runs: a check that the bench works, not a measurement"),
                    text_option("only", "NAMES", "Only these comparisons (comma-separated)")
                        .value_parser(EnumValueParser::<crate::bench::comparison::Comparison>::new())
                        .action(ArgAction::Append)
                        .value_delimiter(','),
                ]),
            clap::Command::new("archive")
                .about("Put one file into a deterministic .tar.gz or .zip, as `sidecar` archives a binary")
                .args([
                    Arg::new("file")
                        .value_name("FILE")
                        .value_parser(value_parser!(PathBuf))
                        .required(true)
                        .help("The file to archive"),
                    path_option("out", "PATH", "Where to write the archive").required(true),
                    Arg::new("format")
                        .long("format")
                        .value_name("FORMAT")
                        .value_parser(EnumValueParser::<ArchiveFormat>::new())
                        .default_value(ArchiveFormat::TarGz.extension())
                        .help("Archive format"),
                    text_option("name", "NAME", "Name of the entry inside the archive (default: the file's name)")
                        .value_parser(Checked(|name| naming::check_entry_name(name).map(|()| name.to_string()), Some(naming::ENTRY_NAME_HINT))),
                ]),
            clap::Command::new("install-check")
                .about(
                    "Install every package's exact version from an index (TestPyPI) into a fresh environment and \
                     start its services: the gate before PyPI",
                )
                .args([
                    text_option(
                        "index-url",
                        "URL",
                        "The index the packages were just uploaded to, e.g. https://test.pypi.org/simple/ (only the \
                         workspace's packages are taken from it)",
                    )
                    .required(true),
                    text_option("fallback-index-url", "URL", "Where every other (third-party) dependency comes from")
                        .default_value(PYPI_SIMPLE),
                    path_option(
                        "wheels",
                        "DIR",
                        "The wheels that were uploaded: each one the index serves must have the same SHA-256",
                    ),
                    text_option("wait", "SECONDS", "How long to keep trying while the index does not list a new version yet")
                        .value_parser(value_parser!(u64))
                        .default_value("300"),
                ]),
            clap::Command::new("image-check")
                .about("Start a built Docker image with a password and check /health and /api/v1/build: the test before a push")
                .args([
                    text_option(
                        "image",
                        "NAME",
                        "The image to start, built and loaded for this machine's platform (e.g. lumen-argus:ci)",
                    )
                    .required(true),
                    text_option("timeout", "SECONDS", "Seconds the container gets to answer /health")
                        .value_parser(value_parser!(u64))
                        .default_value("60"),
                ]),
        ])
}

/// A value parser from a function that says what is wrong with a value in its own words, and the
/// fix when there is one more to say: the error is clap's usage error (exit 2), printed as the
/// xtask's own refusals are (`error:` and `hint:` lines), and it shows the value only as the
/// function does (so a huge or hostile value is shortened, not echoed).
#[derive(Clone)]
struct Checked<T>(fn(&str) -> Result<T, String>, Option<&'static str>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Checked<T> {
    type Value = T;

    fn parse_ref(&self, command: &clap::Command, arg: Option<&Arg>, value: &OsStr) -> Result<T, clap::Error> {
        let name = arg.and_then(Arg::get_long).map_or_else(|| "a value".to_string(), |long| format!("--{long}"));
        let checked = match value.to_str() {
            Some(text) => (self.0)(text),
            None => Err("is not UTF-8".to_string()),
        };
        checked.map_err(|problem| {
            let hint = self.1.map(|hint| format!("hint: {hint}\n")).unwrap_or_default();
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{name} {problem}\n{hint}"))
                .with_cmd(command)
        })
    }
}

/// `--NAME`: present or not.
fn switch(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).action(ArgAction::SetTrue).help(help)
}

/// `--NAME VALUE`, once, as text; callers change the parser, the count or the rules.
fn text_option(name: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name(value_name)
        .value_parser(value_parser!(String))
        .action(ArgAction::Set)
        .help(help)
}

/// `--NAME PATH`, once.
fn path_option(name: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    text_option(name, value_name, help).value_parser(value_parser!(PathBuf))
}

/// `--package NAME` of build-info, sidecar and wheels.
fn package_filter() -> Arg {
    text_option("package", "NAME", "Only this package (directory name under packages/, e.g. proxy)")
}

impl Command {
    /// The flags of the subcommand that `matches` (from [`command`]) holds.
    fn from_matches(mut matches: ArgMatches) -> Command {
        let (name, mut flags) = matches.remove_subcommand().expect("the command line requires a subcommand");
        let m = &mut flags;
        match name.as_str() {
            "build-info" => Command::BuildInfo(BuildInfoFlags { package: m.remove_one("package") }),
            "sidecar" => Command::Sidecar(SidecarFlags {
                target: m.remove_one("target"),
                package: m.remove_one("package"),
                no_cache: m.get_flag("no-cache"),
            }),
            "smoke" => Command::Smoke(SmokeFlags {
                target: m.remove_one("target"),
                binary: every(m, "binary"),
                timeout: m.remove_one("timeout").expect("--timeout has a default"),
            }),
            "checksums" => Command::Checksums(ChecksumsFlags {
                dir: m.remove_one("dir"),
                verify: m.get_flag("verify"),
                release: m.remove_one("release"),
                repo: m.remove_one("repo"),
                download: m.remove_one("download"),
            }),
            "bump" => Command::Bump(BumpFlags {
                package: m.remove_one("package"),
                kind: m.remove_one("kind"),
                dry_run: m.get_flag("dry-run"),
                show: m.get_flag("show"),
                json: m.get_flag("json"),
            }),
            "release" => Command::Release(ReleaseFlags { execute: m.get_flag("execute"), push: m.get_flag("push") }),
            "test" => Command::Test(TestFlags {
                long: m.get_flag("long"),
                rounds: m.remove_one("rounds").expect("--rounds has a default"),
                seed: m.remove_one("seed"),
            }),
            "doctor" => Command::Doctor(DoctorFlags {}),
            "targets" => Command::Targets(TargetsFlags { json: m.get_flag("json") }),
            "collect" => Command::Collect(CollectFlags {
                folders: every(m, "folders"),
                into: m.remove_one("into"),
                require_all_targets: m.get_flag("require-all-targets"),
                previous: m.remove_one("previous"),
                previous_release: m.get_flag("previous-release"),
                repo: m.remove_one("repo"),
            }),
            "wheels" => Command::Wheels(WheelsFlags { package: m.remove_one("package") }),
            "github-release" => Command::GithubRelease(GithubReleaseFlags {
                tag: m.remove_one("tag").expect("--tag is required"),
                repo: m.remove_one("repo"),
                dir: m.remove_one("dir"),
                dry_run: m.get_flag("dry-run"),
                replace: every(m, "replace"),
                remove: every(m, "remove"),
            }),
            "bench" => Command::Bench(BenchFlags { quick: m.get_flag("quick"), only: every(m, "only") }),
            "archive" => Command::Archive(ArchiveFlags {
                file: m.remove_one("file").expect("FILE is required"),
                out: m.remove_one("out").expect("--out is required"),
                format: m.remove_one("format").expect("--format has a default"),
                name: m.remove_one("name"),
            }),
            "install-check" => Command::InstallCheck(InstallCheckFlags {
                index_url: m.remove_one("index-url").expect("--index-url is required"),
                fallback_index_url: m.remove_one("fallback-index-url").expect("--fallback-index-url has a default"),
                wheels: m.remove_one("wheels"),
                wait: m.remove_one("wait").expect("--wait has a default"),
            }),
            "image-check" => Command::ImageCheck(ImageCheckFlags {
                image: m.remove_one("image").expect("--image is required"),
                timeout: m.remove_one("timeout").expect("--timeout has a default"),
            }),
            other => unreachable!("`{other}` is not a subcommand of `command()`"),
        }
    }
}

/// Every value of a repeatable flag or argument, in command-line order.
fn every<T: Clone + Send + Sync + 'static>(matches: &mut ArgMatches, id: &str) -> Vec<T> {
    matches.remove_many(id).map(Iterator::collect).unwrap_or_default()
}

#[derive(Debug)]
pub struct BuildInfoFlags {
    pub package: Option<String>,
}

#[derive(Debug)]
pub struct SidecarFlags {
    pub target: Option<&'static Target>,
    pub package: Option<String>,
    pub no_cache: bool,
}

#[derive(Debug)]
pub struct SmokeFlags {
    pub target: Option<&'static Target>,
    pub binary: Vec<PathBuf>,
    pub timeout: u64,
}

#[derive(Debug)]
pub struct ChecksumsFlags {
    pub dir: Option<PathBuf>,
    pub verify: bool,
    pub release: Option<Tag>,
    pub repo: Option<String>,
    pub download: Option<PathBuf>,
}

#[derive(Debug)]
pub struct BumpFlags {
    pub package: Option<String>,
    pub kind: Option<BumpTo>,
    pub dry_run: bool,
    pub show: bool,
    pub json: bool,
}

#[derive(Debug)]
pub struct ReleaseFlags {
    pub execute: bool,
    pub push: bool,
}

#[derive(Debug)]
pub struct GithubReleaseFlags {
    pub tag: Tag,
    pub repo: Option<String>,
    pub dir: Option<PathBuf>,
    pub dry_run: bool,
    pub replace: Vec<String>,
    pub remove: Vec<String>,
}

#[derive(Debug)]
pub struct TestFlags {
    pub long: bool,
    pub rounds: u32,
    pub seed: Option<u64>,
}

#[derive(Debug)]
pub struct DoctorFlags {}

#[derive(Debug)]
pub struct TargetsFlags {
    pub json: bool,
}

#[derive(Debug)]
pub struct CollectFlags {
    pub folders: Vec<PathBuf>,
    pub into: Option<PathBuf>,
    pub require_all_targets: bool,
    pub previous: Option<PathBuf>,
    pub previous_release: bool,
    pub repo: Option<String>,
}

#[derive(Debug)]
pub struct WheelsFlags {
    pub package: Option<String>,
}

#[derive(Debug)]
pub struct InstallCheckFlags {
    pub index_url: String,
    pub fallback_index_url: String,
    pub wheels: Option<PathBuf>,
    pub wait: u64,
}

#[derive(Debug)]
pub struct ImageCheckFlags {
    pub image: String,
    pub timeout: u64,
}

#[derive(Debug)]
pub struct BenchFlags {
    pub quick: bool,
    pub only: Vec<crate::bench::comparison::Comparison>,
}

#[derive(Debug)]
pub struct ArchiveFlags {
    pub file: PathBuf,
    pub out: PathBuf,
    pub format: ArchiveFormat,
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Command {
        let matches = command().try_get_matches_from(std::iter::once("cargo xtask").chain(args.iter().copied()));
        Command::from_matches(matches.unwrap_or_else(|error| panic!("{args:?}: {error}")))
    }

    #[test]
    fn command_line_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_subcommand_is_turned_into_its_flags() {
        let names: Vec<String> =
            command().get_subcommands().map(|subcommand| subcommand.get_name().to_string()).collect();
        assert_eq!(names.len(), 16, "{names:?}");
        for name in &names {
            let args: &[&str] = match name.as_str() {
                "bump" => &["bump", "--show"],
                "collect" => &["collect", "a"],
                "github-release" => &["github-release", "--tag", "v1"],
                "archive" => &["archive", "f", "--out", "o"],
                "install-check" => &["install-check", "--index-url", "https://test.pypi.org/simple/"],
                "image-check" => &["image-check", "--image", "lumen-argus:ci"],
                other => &[other],
            };
            let debug = format!("{:?}", parsed(args));
            let variant: String = name.split('-').map(|word| word[..1].to_uppercase() + &word[1..]).collect();
            assert!(debug.starts_with(&format!("{variant}(")), "{name}: {debug}");
        }
    }

    /// Every flag that only makes sense with another is refused without it (exit 2), also when an
    /// argument the other one conflicts with is present.
    #[test]
    fn flags_that_need_another_are_usage_errors_without_it() {
        let refused = [
            &["bump", "proxy", "patch", "--json"][..],
            &["bump", "--json"],
            &["bump", "proxy", "patch", "--json", "--dry-run"],
            &["release", "--push"],
            &["checksums", "--release", "v1"],
            &["checksums", "dist", "--repo", "o/n"],
            &["checksums", "--verify", "--download", "d"],
            &["test", "--rounds", "3"],
            &["test", "--long", "--rounds", "0"],
            &["test", "--seed", "3"],
            &["collect", "a", "--repo", "o/n"],
            &["collect", "a", "--previous", "p.json", "--repo", "o/n"],
            &["smoke", "--target", "x86_64-unknown-linux-gnu", "--binary", "b"],
            &["sidecar", "--target", "garbage"],
            &["smoke", "--target", "garbage"],
            &["bump", "proxy", "1.2.x"],
            &["bump", "proxy", "1.0+local"],
            &["archive", "f", "--out", "o", "--format", "rar"],
            &["github-release", "--tag", "0.2.0"],
            &["github-release", "--tag", "v0.2.0 "],
            &["github-release", "--tag", "nightly"],
            &["checksums", "--verify", "--release", "v1..2"],
            &["checksums", "dist", "--verify", "--release", "v1.0.0"],
            &["checksums", "--verify", "--release", "v1.0.0", "--repo", "a b"],
            &["github-release", "--tag", "v1.0.0", "--repo", "noslash"],
            &["collect", "a", "--previous-release", "--repo", "o/n/x"],
            &["archive", "f", "--out", "o", "--name", "../../etc/passwd"],
            &["archive", "f", "--out", "o", "--name", ""],
        ];
        for args in refused {
            let matches = command().try_get_matches_from(std::iter::once("cargo xtask").chain(args.iter().copied()));
            let error = matches.expect_err(&format!("{args:?} was accepted"));
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
    }

    #[test]
    fn values_reach_their_fields() {
        let Command::Smoke(smoke) = parsed(&["smoke", "--binary", "a", "--binary", "b"]) else { panic!() };
        assert_eq!((smoke.target, smoke.binary, smoke.timeout), (None, vec!["a".into(), "b".into()], 60));
        let Command::GithubRelease(release) =
            parsed(&["github-release", "--tag", "v1", "--replace", "x", "y", "--remove", "z", "--dry-run"])
        else {
            panic!()
        };
        assert_eq!(
            (release.replace, release.remove, release.dry_run),
            (vec!["x".into(), "y".into()], vec!["z".into()], true)
        );
        let Command::Bench(bench) = parsed(&["bench", "--only", "hash,archive", "--only", "smoke"]) else { panic!() };
        assert_eq!(
            bench.only.iter().map(|comparison| comparison.name()).collect::<Vec<_>>(),
            ["hash", "archive", "smoke"]
        );
        let Command::Archive(archive) = parsed(&["archive", "f", "--out", "o", "--format", "zip"]) else { panic!() };
        assert_eq!((archive.format, archive.file), (ArchiveFormat::Zip, "f".into()));
        let Command::Test(test) = parsed(&["test", "--long", "--rounds", "2", "--seed", "9"]) else { panic!() };
        assert_eq!((test.long, test.rounds, test.seed), (true, 2, Some(9)));
        let Command::Bump(bump) = parsed(&["bump", "core", "rc", "--dry-run"]) else { panic!() };
        assert_eq!((bump.package.as_deref(), bump.kind.is_some(), bump.dry_run), (Some("core"), true, true));
        let Command::Collect(collect) = parsed(&["collect", "a", "b", "--previous-release", "--repo", "o/n"]) else {
            panic!()
        };
        assert_eq!((collect.folders.len(), collect.previous_release, collect.repo.as_deref()), (2, true, Some("o/n")));
    }
}
