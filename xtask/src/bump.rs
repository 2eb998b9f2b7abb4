//! `cargo xtask bump`: not built yet (tracked in the issue list).

use crate::failure::refuse;
use crate::flags::BumpFlags;

pub fn run(_flags: &BumpFlags) -> anyhow::Result<()> {
    Err(refuse(
        "`cargo xtask bump` is not built yet",
        "see the open issues; `cargo xtask --help` lists what works today",
    ))
}
