//! `cargo xtask`: every release step of the lumen-argus monorepo. This file only dispatches.

mod archive;
mod archive_command;
mod bench;
mod build_cache;
mod build_info;
mod bump;
mod changelog;
mod checksums;
mod clock;
mod collect;
mod diff;
mod doctor;
mod executable_format;
mod failure;
mod files;
mod flags;
mod gha;
mod hashing;
mod interpreter;
mod manifest;
mod naming;
mod process;
mod release;
mod sidecar;
mod smoke;
mod targets;
mod test;
#[cfg(test)]
mod tidy;
mod tools;
mod version;
mod wheels;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    process::stop_children_on_interrupt();
    match run(flags.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => failure::report(&error),
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
        Command::Targets(flags) => targets::run(&flags),
        Command::Collect(flags) => collect::run(&flags),
        Command::Wheels(flags) => wheels::run(&flags),
        Command::Bench(flags) => bench::run(&flags),
        Command::Archive(flags) => archive_command::run(&flags),
    }
}
