//! `cargo xtask`: the command line entry point; everything lives in the library (`lib.rs`).

fn main() -> std::process::ExitCode {
    xtask::main()
}
