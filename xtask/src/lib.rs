//! `cargo xtask`: every release step of the lumen-argus monorepo, as a library so that the
//! integration tests use the real modules (hashing, targets) instead of copies. `main.rs` calls
//! [`main`]; this file only declares the modules and dispatches.

mod archive;
mod archive_command;
mod bench;
mod bench_command;
mod build_cache;
mod build_info;
mod bump;
mod bundled_contents;
mod changelog;
mod checksums;
mod checksums_file;
mod clock;
mod code_signing;
mod collect;
mod diff;
mod doctor;
mod executable_format;
mod failure;
mod fault_injection;
mod fault_leftovers;
mod fault_rehearsal;
mod fault_signals;
mod files;
mod flags;
mod folder_verification;
mod gha;
mod github_api;
mod github_release;
pub mod github_stand_in;
pub mod hashing;
mod image_check;
mod install_check;
mod interpreter;
mod manifest;
mod naming;
mod process;
mod provenance;
mod release;
mod release_folder;
mod release_notes;
mod release_verification;
mod requirements;
mod sbom;
mod sidecar;
pub mod sidecars_json;
mod size_report;
mod smoke;
pub mod targets;
mod targets_command;
mod test;
#[cfg(test)]
mod tidy;
mod tools;
mod uv;
mod version;
mod wheel_coverage;
mod wheels;
mod workspace;

/// How hints quote a path as one shell word (the tests compare hints with it).
pub use failure::shell_quote;

use std::process::ExitCode;

/// Parse the command line, run the command, and turn its outcome into the exit code.
pub fn main() -> ExitCode {
    failure::report_panics_as_errors();
    process::report_file_size_limits_as_errors();
    // A panic unwinds to here (dropping temporary files and stopping children on the way) and
    // becomes an exit code; the hook above has already said what happened.
    let outcome = std::panic::catch_unwind(|| {
        let command = flags::parse();
        process::stop_children_on_interrupt();
        run(command)
    });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        // After Ctrl-C or SIGTERM a failure is taken as the interrupt's doing. An error that says so
        // (with what was left, e.g. "release v1 is still a draft") is reported as it is; one in
        // which a caller reworded the child that died of it ("git cannot read HEAD ...") is not
        // believed: the interrupt is reported instead, with exit 130.
        Ok(Err(error)) if process::was_interrupted() && !failure::is_interrupt(&error) => {
            failure::report(&failure::Interrupted.into())
        }
        Ok(Err(error)) => failure::report(&error),
        Err(_panic) => failure::panic_exit_code(),
    }
}

fn run(command: flags::Command) -> anyhow::Result<()> {
    use flags::Command;
    match command {
        Command::BuildInfo(flags) => build_info::run(&flags),
        Command::Sidecar(flags) => sidecar::run(&flags),
        Command::Smoke(flags) => smoke::run(&flags),
        Command::Checksums(flags) => checksums::run(&flags),
        Command::Bump(flags) => bump::run(&flags),
        Command::Release(flags) => release::run(&flags),
        Command::Test(flags) => test::run(&flags),
        Command::Doctor(flags) => doctor::run(&flags),
        Command::Targets(flags) => targets_command::run(&flags),
        Command::Collect(flags) => collect::run(&flags),
        Command::Wheels(flags) => wheels::run(&flags),
        Command::InstallCheck(flags) => install_check::run(&flags),
        Command::ImageCheck(flags) => image_check::run(&flags),
        Command::GithubRelease(flags) => github_release::run(&flags),
        Command::Bench(flags) => bench_command::run(&flags),
        Command::Archive(flags) => archive_command::run(&flags),
    }
}
