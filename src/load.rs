//! The load-time constructor: runs before `main` in every program that links
//! the crate, and in every process that loads `libpdeathsig.so` (LD_PRELOAD).
//!
//! Life before main: only libc calls, no std, no panics; a failure is one
//! line on stderr and the program goes on. Allocation happens only inside
//! libc's pthread_create(3), in process and tree mode; the stamp goes into
//! `environ` directly (see `rawenv.rs`, `stamp.rs`).
//!
//! Under dlopen(3) the constructor runs when the library is loaded, in the
//! thread that loads it, while other threads of the program may run. The
//! environment access here (reading `environ`, and writing the stamp into
//! it) is then safe only if no other thread changes the environment
//! meanwhile: the
//! rule getenv(3) and setenv(3) state for any C program, which the README
//! repeats for programs that dlopen the library with `PDEATHSIG` set.

use crate::arm;
#[cfg(feature = "auto-arm")]
use crate::{error, stamp, sys, text, watch, Armed};

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
    // SAFETY: before main, single-threaded; under dlopen, the documented
    // rule above (no concurrent change of the environment).
    let armed = match unsafe { arm::arm_from_env_at_load() } {
        Ok(None) => return,
        Ok(Some(armed)) => Some(armed),
        Err(err) => match err {
            // Armed, but to no effect: say so, loudly, once.
            error::Error::SignalIgnored { armed, .. } => {
                error::print_error(&err, b"");
                Some(armed)
            }
            // Survived the signal (caught or ignored): armed against the
            // reaper, still the parent of our children.
            error::Error::ParentDied { .. } => None,
            _ => {
                error::print_error(&err, b"; not armed");
                return;
            }
        },
    };
    match armed {
        Some(Armed::Unverified {
            parent,
            expected,
            reason,
        }) => warn_unverified(parent, expected, reason),
        // A PID namespace's init: no pid of ours names its parent, so a
        // parent that died before the prctl cannot be told from one alive.
        Some(Armed::OutsideNamespace | Armed::Parent(0)) => sys::write_stderr(
            b"pdeathsig: the parent is outside this PID namespace (getppid() is 0): armed, but \
              whether it is still alive cannot be verified; no signal sent\n",
        ),
        _ => {}
    }
    // SAFETY: as above.
    unsafe { stamp::stamp_own_pid(watch::watched()) };
    // Tree mode: the anchor, with our session and detach flags, for the
    // children we exec (also when it is gone: they follow it too).
    if let Some(anchor) = watch::anchor_for_children() {
        // SAFETY: as above.
        unsafe { stamp::stamp_anchor(&anchor) };
    }
}

/// One line on stderr: armed, but the verdict could not be established.
#[cfg(feature = "auto-arm")]
fn warn_unverified(parent: libc::pid_t, expected: libc::pid_t, reason: crate::UnverifiedReason) {
    use text::Sink;
    let mut storage = [0u8; 240];
    let mut line = text::Buf::new(&mut storage);
    line.put(b"pdeathsig: cannot verify that parent process ");
    line.put_int(i64::from(expected));
    line.put(b" is alive (");
    line.put(reason.as_str().as_bytes());
    line.put(b"); armed against the current parent ");
    line.put_int(i64::from(parent));
    line.put(b", no signal sent\n");
    sys::write_stderr(line.as_bytes());
}
