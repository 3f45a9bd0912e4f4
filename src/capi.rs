//! The C ABI: what `include/pdeathsig.h` declares (generated from this file
//! by cbindgen; see build.rs).
//!
//! Conventions: functions return 0 (or a documented non-negative value) on
//! success and -1 with `errno` set on failure, which C, cgo (`n, err :=
//! C.f()`) and ctypes (`use_errno=True`) all read natively. Nothing here
//! panics or unwinds across the boundary.

use core::time::Duration;
use libc::{c_char, c_int, c_uint, pid_t};

use crate::arm;
use crate::environ::Mode;
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
/// signal outside 1..31 and SIGRTMIN..SIGRTMAX or a bad PDEATHSIG_PPID (nothing armed);
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
/// term, 15, RTMIN+3), PDEATHSIG_PPID the expected parent, PDEATHSIG_MODE
/// the mode (prctl, the default, or process; any case) and PDEATHSIG_GRACE
/// the grace period before SIGKILL (500ms, 5s or 5; process mode only).
///
/// Returns 1 when armed, 0 when PDEATHSIG is unset or empty (nothing done),
/// -1 with errno set on failure (EINVAL for a bad value or a grace without
/// PDEATHSIG_MODE=process, nothing armed; the errors of
/// arm_parent_process_death_signal() in process mode).
#[no_mangle]
pub extern "C" fn arm_parent_death_signal_from_env() -> c_int {
    match report(arm::arm_parent_death_signal_from_env()) {
        Ok(Some(_)) => 1,
        Ok(None) => 0,
        Err(rc) => rc,
    }
}

/// Process mode: like arm_parent_death_signal(), but fires only when the
/// whole parent *process* has exited, not when the parent thread that
/// created this process exits. No prctl is made: a pidfd is opened on the
/// expected parent (PDEATHSIG_PPID, else the parent seen at load time) and
/// one detached thread of this process (64 KiB stack, all signals blocked)
/// waits for it in poll() and then sends `sig` to this process with kill().
/// The race is closed as in prctl mode (the pidfd is opened, then getppid()
/// must still be the expected pid). The thread does not survive fork() or
/// execve(); it survives setuid(). See pidfd_open(2), poll(2),
/// pthread_create(3).
///
/// Returns 0 on success, -1 with errno set on failure: EINVAL for a bad
/// signal or PDEATHSIG_PPID; ESRCH as for arm_parent_death_signal();
/// ENOSYS when the kernel has no pidfd_open (before Linux 5.3): process
/// mode is unavailable, nothing is armed; EOPNOTSUPP when the parent is
/// outside this PID namespace (getppid() == 0); EBUSY when this process
/// already watches a different parent; EAGAIN/ENOMEM/EMFILE when the thread
/// or the pidfd cannot be created.
#[no_mangle]
pub extern "C" fn arm_parent_process_death_signal(sig: c_int) -> c_int {
    arm_process(arm::Options::new(sig))
}

/// arm_parent_process_death_signal() with the expected parent pid given
/// explicitly (positive; EINVAL otherwise).
#[no_mangle]
pub extern "C" fn arm_parent_process_death_signal_expecting(sig: c_int, parent: pid_t) -> c_int {
    arm_process(arm::Options::new(sig).parent(parent))
}

/// arm_parent_process_death_signal() with graceful escalation: when the
/// parent process has exited, send `sig`, then SIGKILL if this process is
/// still alive `grace_ms` milliseconds later (1 to 3600000; 0 means no
/// escalation). `parent` is the expected parent pid, or 0 for
/// PDEATHSIG_PPID / the parent seen at load time. See nanosleep(2).
///
/// Returns 0 on success, -1 with errno set on failure: EINVAL also for a
/// grace above one hour or a negative parent; the other errors of
/// arm_parent_process_death_signal().
#[no_mangle]
pub extern "C" fn arm_parent_process_death_signal_with_grace(
    sig: c_int,
    parent: pid_t,
    grace_ms: c_uint,
) -> c_int {
    let mut options = arm::Options::new(sig);
    if parent != 0 {
        options = options.parent(parent);
    }
    if grace_ms != 0 {
        options = options.grace(Duration::from_millis(u64::from(grace_ms)));
    }
    arm_process(options)
}

fn arm_process(options: arm::Options) -> c_int {
    match report(options.mode(Mode::Process).arm()) {
        Ok(_) => 0,
        Err(rc) => rc,
    }
}

/// Arms again what the last successful arming in this process armed (same
/// signal, expected parent, mode and grace), with the same race check.
/// Call it after dropping privileges: setuid(), setgid() and any change of
/// effective or filesystem ids clear the prctl setting (PR_SET_PDEATHSIG(2const)).
///
/// Returns 0 on success, -1 with errno set on failure: EINVAL when nothing
/// was armed in this process before; ESRCH when the parent died meanwhile
/// (the signal was sent, and this process survived it); the errors of the
/// arming functions.
#[no_mangle]
pub extern "C" fn rearm_parent_death_signal() -> c_int {
    match report(arm::rearm_parent_death_signal()) {
        Ok(_) => 0,
        Err(rc) => rc,
    }
}

/// Returns the signal armed for this process, 0 when none, or -1 with errno
/// set on failure. Wraps prctl(PR_GET_PDEATHSIG), see PR_GET_PDEATHSIG(2const);
/// when that is empty and process mode watches the parent, its signal.
#[no_mangle]
pub extern "C" fn get_parent_death_signal() -> c_int {
    match report(arm::get_parent_death_signal()) {
        Ok(Some(sig)) => sig.as_raw(),
        Ok(None) => 0,
        Err(rc) => rc,
    }
}

/// Clears the setting: no signal when the parent dies. Returns 0 on
/// success, -1 with errno set on failure. Wraps prctl(PR_SET_PDEATHSIG, 0);
/// a process-mode watcher is disarmed too (its idle thread remains).
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
