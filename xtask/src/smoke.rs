//! `cargo xtask smoke`: not built yet (tracked in the issue list).

use crate::failure::refuse;
use crate::flags::SmokeFlags;

pub fn run(_flags: &SmokeFlags) -> anyhow::Result<()> {
    Err(refuse(
        "`cargo xtask smoke` is not built yet",
        "see the open issues; `cargo xtask --help` lists what works today",
    ))
}
