//! `cargo xtask sidecar`: not built yet (tracked in the issue list).

use crate::failure::refuse;
use crate::flags::SidecarFlags;

pub fn run(_flags: &SidecarFlags) -> anyhow::Result<()> {
    Err(refuse(
        "`cargo xtask sidecar` is not built yet",
        "see the open issues; `cargo xtask --help` lists what works today",
    ))
}
