//! The signals the xtask itself answers. Ctrl-C or SIGTERM stops every supervised child's tree and
//! makes the run end with exit 130 (long steps call [`check_interrupted`] between units of work);
//! SIGXFSZ is ignored, so a write over the file size limit fails as an error instead.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::supervised;
use crate::failure::Interrupted;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// How many times Ctrl-C or SIGTERM arrived.
static SIGNALS_RECEIVED: AtomicU32 = AtomicU32::new(0);
/// How many steps that must not be cut in half are running (see [`finish_before_interrupt`]).
static UNSPLITTABLE_STEPS: AtomicU32 = AtomicU32::new(0);

/// Install the Ctrl-C / SIGTERM handler. Call once, first thing.
pub fn stop_children_on_interrupt() {
    let installed = ctrlc::set_handler(|| {
        SIGNALS_RECEIVED.fetch_add(1, Ordering::SeqCst);
        INTERRUPTED.store(true, Ordering::SeqCst);
        supervised::stop_every_running_tree();
    });
    if let Err(error) = installed {
        eprintln!("warning: cannot watch for Ctrl-C ({error}); children may outlive an interrupt");
    }
}

/// An error if the xtask has been interrupted: long steps call it between units of work. Inside
/// [`finish_before_interrupt`] only a second signal counts.
pub fn check_interrupted() -> anyhow::Result<()> {
    let deferred = UNSPLITTABLE_STEPS.load(Ordering::SeqCst) > 0 && SIGNALS_RECEIVED.load(Ordering::SeqCst) < 2;
    if was_interrupted() && !deferred { Err(Interrupted.into()) } else { Ok(()) }
}

/// Run `step`, a few requests that must not be cut in half (the two renames that swap a file on a
/// published release): a first Ctrl-C or SIGTERM takes effect when it ends, a second one at once.
pub fn finish_before_interrupt<T>(step: impl FnOnce() -> T) -> T {
    struct Unsplittable;
    impl Drop for Unsplittable {
        fn drop(&mut self) {
            UNSPLITTABLE_STEPS.fetch_sub(1, Ordering::SeqCst);
        }
    }
    UNSPLITTABLE_STEPS.fetch_add(1, Ordering::SeqCst);
    let _unsplittable = Unsplittable;
    step()
}

/// Whether Ctrl-C or SIGTERM reached the xtask.
pub fn was_interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// On Unix a process over its file size limit (`ulimit -f`) is killed by SIGXFSZ; ignored, the
/// write fails with "File too large" instead and the xtask reports it like a full disk.
pub fn report_file_size_limits_as_errors() {
    #[cfg(unix)]
    // SAFETY: SIG_IGN installs no handler code; it only changes how the kernel treats SIGXFSZ.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
