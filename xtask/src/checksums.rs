//! `cargo xtask checksums`: not built yet (tracked in the issue list).

use crate::failure::refuse;
use crate::flags::ChecksumsFlags;

pub fn run(_flags: &ChecksumsFlags) -> anyhow::Result<()> {
    Err(refuse(
        "`cargo xtask checksums` is not built yet",
        "see the open issues; `cargo xtask --help` lists what works today",
    ))
}
