//! The C ABI: what `include/pdeathsig.h` declares (generated from this file
//! by cbindgen; see build.rs).
//!
//! Conventions: functions return 0 (or a documented non-negative value) on
//! success and -1 with `errno` set on failure, which C, cgo (`n, err :=
//! C.f()`) and ctypes (`use_errno=True`) all read natively. Nothing here
//! panics or unwinds across the boundary.

use libc::{c_char, c_int, pid_t};

use crate::arm;
use crate::error::Error;
use crate::sys;

fn report<T>(result: Result<T, Error>) -> Result<T, c_int> {
    result.map_err(|err| {
        sys::set_errno(err.errno());
        -1
    })
}

/// Arms `sig` to be delivered to this process when its parent dies, and
/// closes the race with a parent that already died: the expected parent is
/// `PDEATHSIG_PPID` from the environment or, if unset, the parent seen when
/// the library was loaded. If it is gone (and is not an ancestor of the
/// current parent), `sig` is sent to this process at once.
///
/// Returns 0 on success. Returns -1 with errno set on failure: EINVAL for a
/// signal outside 1..SIGRTMAX or a bad PDEATHSIG_PPID (nothing armed);
/// ESRCH when the parent had already died and this process survived the
/// signal it was sent (caught, ignored or blocked). Wraps
/// prctl(PR_SET_PDEATHSIG), see PR_SET_PDEATHSIG(2const).
#[no_mangle]
pub extern "C" fn arm_parent_death_signal(sig: c_int) -> c_int {
    match report(arm::arm_parent_death_signal(sig)) {
        Ok(_) => 0,
        Err(rc) => rc,
    }
}

/// Like arm_parent_death_signal(), with the expected parent pid given
/// explicitly instead of read from PDEATHSIG_PPID.
///
/// Returns 0 on success, -1 with errno set on failure (EINVAL also for a
/// parent pid that is not positive).
#[no_mangle]
pub extern "C" fn arm_parent_death_signal_expecting(sig: c_int, parent: pid_t) -> c_int {
    match report(arm::arm_parent_death_signal_expecting(sig, parent)) {
        Ok(_) => 0,
        Err(rc) => rc,
    }
}

/// Arms as the environment asks: PDEATHSIG names the signal (TERM, SIGTERM,
/// term, 15, RTMIN+3), PDEATHSIG_PPID the expected parent.
///
/// Returns 1 when armed, 0 when PDEATHSIG is unset or empty (nothing done),
/// -1 with errno set on failure (EINVAL for a bad value, nothing armed).
#[no_mangle]
pub extern "C" fn arm_parent_death_signal_from_env() -> c_int {
    match report(arm::arm_parent_death_signal_from_env()) {
        Ok(Some(_)) => 1,
        Ok(None) => 0,
        Err(rc) => rc,
    }
}

/// Returns the signal armed for this process, 0 when none, or -1 with errno
/// set on failure. Wraps prctl(PR_GET_PDEATHSIG), see PR_GET_PDEATHSIG(2const).
#[no_mangle]
pub extern "C" fn get_parent_death_signal() -> c_int {
    match report(arm::get_parent_death_signal()) {
        Ok(Some(sig)) => sig.as_raw(),
        Ok(None) => 0,
        Err(rc) => rc,
    }
}

/// Clears the setting: no signal when the parent dies. Returns 0 on
/// success, -1 with errno set on failure. Wraps prctl(PR_SET_PDEATHSIG, 0).
#[no_mangle]
pub extern "C" fn disarm_parent_death_signal() -> c_int {
    match report(arm::disarm_parent_death_signal()) {
        Ok(()) => 0,
        Err(rc) => rc,
    }
}

/// The library's version, such as "0.1.0": a static NUL-terminated string
/// that must not be freed.
#[no_mangle]
pub extern "C" fn pdeathsig_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
