//! `cargo xtask release`: not built yet (tracked in the issue list).

use crate::failure::refuse;
use crate::flags::ReleaseFlags;

pub fn run(_flags: &ReleaseFlags) -> anyhow::Result<()> {
    Err(refuse(
        "`cargo xtask release` is not built yet",
        "see the open issues; `cargo xtask --help` lists what works today",
    ))
}
