//! The load-time constructor: runs before `main` in every program that links
//! the crate, and in every process that loads `libpdeathsig.so` (LD_PRELOAD).
//!
//! Life before main: only libc calls, no allocation (setenv aside), no std
//! I/O, no panics; a failure is one line on stderr and the program goes on.

use crate::arm;
#[cfg(feature = "auto-arm")]
use crate::{environ, error};

/// Records the parent seen at load time (the fallback expected parent) and,
/// with the `auto-arm` feature, arms as `PDEATHSIG` asks.
///
/// With `PDEATHSIG_MODE=process` this constructor starts a thread (the
/// watcher, pthread_create(3)) before `main`, which holds its pidfd in a
/// descriptor table of its own: the program starts multi-threaded, which
/// matters to programs that fork without exec (only the forking thread
/// survives in the child) or that count their threads. Without it nothing
/// of the sort happens.
///
/// Public (hidden) so that capi/ can reference it: the linker then keeps this
/// object, and its `.init_array` entry, in libpdeathsig.so and .a.
#[doc(hidden)]
#[ctor::ctor(unsafe)]
pub fn pdeathsig_at_load() {
    arm::record_load_time_parent();
    #[cfg(feature = "auto-arm")]
    arm_at_load();
}

#[cfg(feature = "auto-arm")]
fn arm_at_load() {
    match arm::arm_parent_death_signal_from_env() {
        Ok(None) => {}
        // Survived the signal (caught or ignored): armed against the reaper,
        // still the parent of our children.
        Ok(Some(_)) | Err(error::Error::ParentDied { .. }) => {
            // SAFETY: constructors run before main, while the process is
            // single-threaded (or, under dlopen, inside the loader's lock).
            unsafe { environ::stamp_own_pid() }
        }
        Err(err) => error::print_error(&err, b"; not armed"),
    }
}
