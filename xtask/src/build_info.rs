//! `cargo xtask build-info`: not built yet (tracked in the issue list).

use crate::failure::refuse;
use crate::flags::BuildInfoFlags;

pub fn run(_flags: &BuildInfoFlags) -> anyhow::Result<()> {
    Err(refuse(
        "`cargo xtask build-info` is not built yet",
        "see the open issues; `cargo xtask --help` lists what works today",
    ))
}
