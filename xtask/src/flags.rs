//! Every command and flag of `cargo xtask`, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::archive::ArchiveFormat;
use crate::bump::BumpTo;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, check and release the lumen-argus packages, images and sidecars",
    disable_version_flag = true
)]
pub struct Xtask {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write <import package>/_build_info.py (VERSION, GIT_COMMIT, BUILT_AT) for each sidecar
    BuildInfo(BuildInfoFlags),
    /// Build the PyInstaller sidecars for a target triple into dist/
    Sidecar(SidecarFlags),
    /// Start each sidecar and check that it reports its own build_id
    Smoke(SmokeFlags),
    /// Write checksums.txt and release-notes.md from the *.sha256 files of a folder
    Checksums(ChecksumsFlags),
    /// Bump one package's version by a step (minor, rc, ...) or to an explicit X.Y.Z
    Bump(BumpFlags),
    /// The maintainer's release runbook: a dry run unless --execute
    Release(ReleaseFlags),
    /// Run every test and check of the repository
    Test(TestFlags),
    /// Report the tools this machine has and how to get the missing ones
    Doctor(DoctorFlags),
    /// Print the supported target triples and the GitHub runner that builds each
    Targets(TargetsFlags),
    /// Gather the artifacts of several build runners into one folder and merge their manifests
    Collect(CollectFlags),
    /// Build the wheels and sdists of the packages into dist/python/
    Wheels(WheelsFlags),
    /// Publish checksums.txt and the files it lists to the GitHub Release of a tag (safe to re-run)
    GithubRelease(GithubReleaseFlags),
    /// Time the xtask's hot paths and its cold build against the plain tools; writes target/bench/report.json
    Bench(BenchFlags),
    /// Put one file into a deterministic .tar.gz or .zip, as `sidecar` archives a binary
    Archive(ArchiveFlags),
    /// Install every package's exact version from an index (TestPyPI) into a fresh environment and
    /// start its services: the gate before PyPI
    InstallCheck(InstallCheckFlags),
    /// Start a built Docker image with a password and check /health and /api/v1/build: the test before a push
    ImageCheck(ImageCheckFlags),
}

#[derive(Debug, Args)]
pub struct BuildInfoFlags {
    /// Only this package (directory name under packages/, e.g. proxy)
    #[arg(long = "package", value_name = "NAME")]
    pub package: Option<String>,
}

#[derive(Debug, Args)]
pub struct SidecarFlags {
    /// Rust target triple to build for (default: this machine's)
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Only this package (directory name under packages/, e.g. proxy)
    #[arg(long = "package", value_name = "NAME")]
    pub package: Option<String>,
    /// Run PyInstaller even when the build cache has the binary
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct SmokeFlags {
    /// Check the sidecars in dist/ for this triple (default: this machine's)
    #[arg(long, value_name = "TRIPLE", conflicts_with = "binary")]
    pub target: Option<String>,
    /// Check this file instead (named <binary>-<triple>[.exe]); repeat for several
    #[arg(long, value_name = "PATH")]
    pub binary: Vec<PathBuf>,
    /// Seconds each sidecar gets to start and answer
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ChecksumsFlags {
    /// Folder holding the artifacts and their .sha256 files (default: dist/ of the repository)
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Check DIR against its checksums.txt instead of writing it
    #[arg(long)]
    pub verify: bool,
    /// With --verify: check the GitHub Release of this tag against the assets' digests instead of DIR
    #[arg(long, value_name = "TAG", requires = "verify")]
    pub release: Option<String>,
    /// With --release: the repository (default: GITHUB_REPOSITORY)
    #[arg(long, value_name = "OWNER/NAME", requires = "release")]
    pub repo: Option<String>,
    /// With --release: also download every asset into this folder and hash it
    #[arg(long, value_name = "DIR", requires = "release")]
    pub download: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BumpFlags {
    /// Package to bump: core, agent or proxy (directory name under packages/)
    #[arg(value_name = "PACKAGE", required_unless_present = "show")]
    pub package: Option<String>,
    #[arg(value_name = "KIND|VERSION", required_unless_present = "show")]
    #[arg(value_parser = BumpTo::parse, help = crate::bump::kind_or_version_help())]
    pub kind: Option<BumpTo>,
    /// Print the diff of every file it would change, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the packages and their versions instead
    #[arg(long, conflicts_with_all = ["package", "kind", "dry_run"])]
    pub show: bool,
    /// With --show: print JSON
    #[arg(long, requires = "show")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseFlags {
    /// Rewrite the changelog, commit and tag (without it: a dry run)
    #[arg(long)]
    pub execute: bool,
    /// After --execute: push main, then the tag
    #[arg(long, requires = "execute")]
    pub push: bool,
}

#[derive(Debug, Args)]
pub struct GithubReleaseFlags {
    /// The release's tag, e.g. v0.2.0 (a PEP 440 pre-release version makes a GitHub pre-release)
    #[arg(long, value_name = "TAG")]
    pub tag: String,
    /// The repository (default: GITHUB_REPOSITORY); the token comes from GITHUB_TOKEN only
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Folder holding checksums.txt, release-notes.md and the files checksums.txt lists
    /// (default: the repository's dist/)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the plan (create, upload, skip, refuse per file) and send nothing but reads; needs no
    /// GITHUB_TOKEN for a public repository
    #[arg(long)]
    pub dry_run: bool,
    /// Replace this asset when the release has it with another digest (the new file goes up under a
    /// staging name, is verified, and only then takes the old one's place)
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub replace: Vec<String>,
    /// Delete this asset from a published release that checksums.txt does not list (on a draft
    /// such assets are deleted without asking)
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub remove: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TestFlags {
    /// Run the fault-injection loop instead of the suite: SIGINT/SIGTERM at random moments of
    /// sidecar, smoke, checksums, bump and release --execute, each followed by a check of what was
    /// left behind and a plain run that must succeed
    #[arg(long)]
    pub long: bool,
    /// With --long: rounds over the five commands
    #[arg(long, value_name = "N", default_value_t = 4, requires = "long")]
    pub rounds: u32,
    /// With --long: the seed of the random delays (printed by every run, to replay one)
    #[arg(long, value_name = "SEED", requires = "long")]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DoctorFlags {}

#[derive(Debug, Args)]
pub struct TargetsFlags {
    /// Print JSON (one object per triple) instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CollectFlags {
    /// Folders to gather: each one runner's dist/ (files, .sha256 files, manifest.json), or a
    /// folder whose sub-folders are such (as actions/download-artifact leaves them)
    #[arg(value_name = "FOLDER", required = true)]
    pub folders: Vec<PathBuf>,
    /// Where to put the files and the merged manifest.json (default: the repository's dist/)
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    /// Fail unless every supported triple is present (the release job's check)
    #[arg(long)]
    pub require_all_targets: bool,
    /// A previous release's sidecars.json: the size table shows the change against it and the
    /// growth budgets apply
    #[arg(long, value_name = "FILE", conflicts_with = "previous_release")]
    pub previous: Option<PathBuf>,
    /// Compare with the sidecars.json of the repository's latest published release on GitHub
    /// (none yet: nothing to compare with)
    #[arg(long)]
    pub previous_release: bool,
    /// owner/name for --previous-release (default: $GITHUB_REPOSITORY)
    #[arg(long, value_name = "OWNER/NAME", requires = "previous_release")]
    pub repo: Option<String>,
}

#[derive(Debug, Args)]
pub struct WheelsFlags {
    /// Only this package (directory name under packages/, e.g. proxy)
    #[arg(long = "package", value_name = "NAME")]
    pub package: Option<String>,
}

#[derive(Debug, Args)]
pub struct InstallCheckFlags {
    /// The index the packages were just uploaded to, e.g. https://test.pypi.org/simple/ (only the
    /// workspace's packages are taken from it)
    #[arg(long, value_name = "URL")]
    pub index_url: String,
    /// Where every other (third-party) dependency comes from
    #[arg(long, value_name = "URL", default_value = crate::install_check::PYPI_SIMPLE)]
    pub fallback_index_url: String,
    /// The wheels that were uploaded: each one the index serves must have the same SHA-256
    #[arg(long, value_name = "DIR")]
    pub wheels: Option<PathBuf>,
    /// How long to keep trying while the index does not list a new version yet
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct ImageCheckFlags {
    /// The image to start, built and loaded for this machine's platform (e.g. lumen-argus:ci)
    #[arg(long, value_name = "NAME")]
    pub image: String,
    /// Seconds the container gets to answer /health
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct BenchFlags {
    /// Smaller inputs and fewer runs: a check that the bench works, not a measurement
    #[arg(long)]
    pub quick: bool,
    /// Only these comparisons (comma-separated)
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(crate::bench::COMPARISONS))]
    pub only: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ArchiveFlags {
    /// The file to archive
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the archive
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Archive format
    #[arg(long, value_enum, default_value_t = ArchiveFormat::TarGz)]
    pub format: ArchiveFormat,
    /// Name of the entry inside the archive (default: the file's name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Xtask::command().debug_assert();
    }
}
