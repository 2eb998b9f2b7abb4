//! `cargo xtask wheels`: the wheels and sdists of the packages, built with `uv build` into
//! `dist/python/`. `release` builds them the same way, and publish.yml uploads these files.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use xshell::cmd;

use crate::failure::refuse;
use crate::flags::WheelsFlags;
use crate::process::Supervised;
use crate::uv::Uv;
use crate::workspace::Workspace;
use crate::{gha, tools};

pub fn run(flags: &WheelsFlags) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    tools::find_python()?;
    let uv = Uv::get(&workspace)?;
    let built = build(&workspace, &uv, flags.package.as_deref())?;
    let names: Vec<String> =
        built.iter().filter_map(|path| path.file_name()).map(|name| name.to_string_lossy().into_owned()).collect();
    for name in &names {
        println!("{}", output_dir(&workspace).join(name).display());
    }
    let rows: String = names.iter().map(|name| format!("| `{name}` |\n")).collect();
    gha::step_summary(&format!("### Python distributions\n\n| file |\n|---|\n{rows}"))?;
    gha::step_output("files", &names.join(" "))?;
    Ok(())
}

pub fn output_dir(workspace: &Workspace) -> PathBuf {
    workspace.dist_dir().join("python")
}

/// `uv build` of every package (or the one named) into a clean `dist/python/`; the files built.
/// The files are built into a staging folder next to it and swapped in only when every build
/// succeeded: a failure or an interrupt leaves the previous `dist/python/` as it was.
pub fn build(workspace: &Workspace, uv: &Uv, only: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let packages = match only {
        Some(name) => vec![workspace.package(name)?],
        None => workspace.packages.iter().collect(),
    };
    let _build_lock = workspace.lock_builds()?;
    let dist = workspace.dist_dir();
    std::fs::create_dir_all(&dist).with_context(|| format!("creating {}", dist.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".xtask-python-")
        .tempdir_in(&dist)
        .with_context(|| format!("creating a staging folder in {}", dist.display()))?;
    let (sh, staging_path) = (uv.shell_in(&workspace.root)?, staging.path());
    for package in packages {
        let distribution = &package.distribution;
        // uv build is quiet: say what the next seconds are for.
        eprintln!("[{distribution}] building the wheel and sdist of {}", package.version);
        let mut command =
            Command::from(cmd!(sh, "{uv} build --quiet --package {distribution} --out-dir {staging_path}"));
        let status = Supervised::spawn(&mut command, &format!("uv build for {}", package.distribution))?.wait()?;
        if !status.success() {
            return Err(refuse(
                format!("uv build failed for {}", package.distribution),
                format!("read uv's message above; `uv build --package {}` reproduces it", package.distribution),
            ));
        }
    }
    crate::process::check_interrupted()?;
    let out = output_dir(workspace);
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::rename(staging.keep(), &out).with_context(|| format!("moving the built files into {}", out.display()))?;
    let mut built: Vec<PathBuf> = std::fs::read_dir(&out)
        .with_context(|| format!("listing {}", out.display()))?
        .filter_map(Result::ok)
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        .collect();
    built.sort();
    Ok(built)
}
