//! The C ABI: what `include/pdeathsig.h` declares (generated from this file
//! by cbindgen in tests/header.rs).
//!
//! Conventions: functions return 0 (or a documented non-negative value) on
//! success, [`PDEATHSIG_UNVERIFIED`] when an arming function armed but
//! could not verify the parent, and -1 with `errno` set on failure, which C, cgo (`n, err :=
//! C.f()`) and ctypes (`use_errno=True`) all read natively. A `parent` (or
//! `anchor`) pid argument of 0 means the default everywhere: PDEATHSIG_PPID,
//! else the parent seen when the library was loaded; a negative one is
//! EINVAL. Functions that read the environment follow getenv(3)'s rule: no
//! other thread may change the environment meanwhile. Nothing here panics
//! or unwinds across the boundary.

use core::time::Duration;
use libc::{c_char, c_int, c_uint, pid_t};

use crate::arm;
use crate::environ::Mode;
use crate::error::Error;
use crate::sys;
use crate::verdict::Armed;

/// What an arming function returns (instead of 0; from_env: instead of 1)
/// when it armed but could not verify that the expected parent is alive:
/// /proc unreadable or another PID namespace's, or the stamped process
/// alive but not an ancestor. The guard is armed against the current
/// parent and sent no signal; the load-time constructor says the same on
/// stderr. Treat it as a warning: this process runs, guarded.
pub const PDEATHSIG_UNVERIFIED: c_int = 2;

/// 0 when armed and verified, [`PDEATHSIG_UNVERIFIED`] otherwise.
fn armed_code(armed: &Armed) -> c_int {
    match armed {
        Armed::Unverified { .. } => PDEATHSIG_UNVERIFIED,
        _ => 0,
    }
}

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
/// Returns 0 on success, PDEATHSIG_UNVERIFIED (2) when armed but the
/// expected parent's life could not be verified (no signal was sent).
/// Returns -1 with errno set on failure: EINVAL for a
/// signal outside 1..31 and SIGRTMIN..SIGRTMAX or a bad PDEATHSIG_PPID
/// (nothing armed); ESRCH when the parent had already died and this process
/// survived the signal it was sent (caught, ignored or blocked); ENOTSUP
/// when the signal is armed but ignored in this process (SIG_IGN: a
/// background job inherits SIGINT ignored), so that it would do nothing.
/// Wraps prctl(PR_SET_PDEATHSIG), see PR_SET_PDEATHSIG(2const).
///
/// Threads: the kernel keeps the setting per thread. Call it from the main
/// thread (or a thread that lives as long as the process): a setting made
/// from a thread that exits is lost with it.
#[no_mangle]
pub extern "C" fn arm_parent_death_signal(sig: c_int) -> c_int {
    match report(arm::arm_parent_death_signal(sig)) {
        Ok(armed) => armed_code(&armed),
        Err(rc) => rc,
    }
}

/// Like arm_parent_death_signal(), with the expected parent pid given
/// explicitly instead of read from PDEATHSIG_PPID (0: the default, as
/// arm_parent_death_signal()).
///
/// Returns 0 on success (PDEATHSIG_UNVERIFIED: armed, parent unverified),
/// -1 with errno set on failure (EINVAL also for a
/// negative parent pid). Threads: as arm_parent_death_signal().
#[no_mangle]
pub extern "C" fn arm_parent_death_signal_expecting(sig: c_int, parent: pid_t) -> c_int {
    match report(with_parent(arm::Options::new(sig), parent).and_then(|o| o.arm())) {
        Ok(armed) => armed_code(&armed),
        Err(rc) => rc,
    }
}

/// The C rule for a parent (or anchor) pid: 0 is the default, negative is
/// EINVAL, positive is that pid.
fn with_parent(options: arm::Options, parent: pid_t) -> Result<arm::Options, Error> {
    match parent {
        0 => Ok(options),
        p if p < 0 => Err(Error::InvalidParentPid(p)),
        p => Ok(options.parent(p)),
    }
}

/// Arms as the environment asks: PDEATHSIG names the signal (TERM, SIGTERM,
/// term, 15, RTMIN+3), PDEATHSIG_PPID the expected parent, PDEATHSIG_MODE
/// the mode (prctl, the default, process or tree; any case) and
/// PDEATHSIG_GRACE the grace period before SIGKILL (500ms, 5s or 5; process
/// and tree mode only). A parent-death signal already set when this runs
/// (by the spawner: unshare --kill-child, Go's Pdeathsig) is kept in prctl
/// mode.
///
/// Returns 1 when armed, PDEATHSIG_UNVERIFIED (2) when armed but the parent
/// could not be verified, 0 when PDEATHSIG is unset or empty (nothing done),
/// -1 with errno set on failure (EINVAL for a bad value or a grace in prctl
/// mode, nothing armed; the errors of the mode's arming function).
/// Threads: as the mode's arming function; do not change the environment
/// from another thread meanwhile.
#[no_mangle]
pub extern "C" fn arm_parent_death_signal_from_env() -> c_int {
    match report(arm::arm_parent_death_signal_from_env()) {
        Ok(Some(Armed::Unverified { .. })) => PDEATHSIG_UNVERIFIED,
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
/// Threads: may be called from any thread (the watcher is per process).
///
/// Returns 0 on success (PDEATHSIG_UNVERIFIED: armed, parent unverified),
/// -1 with errno set on failure: EINVAL for a bad
/// signal or PDEATHSIG_PPID; ESRCH as for arm_parent_death_signal();
/// ENOSYS when the kernel has no pidfd_open (before Linux 5.3): process
/// mode is unavailable, nothing is armed; EOPNOTSUPP when the parent is
/// outside this PID namespace (getppid() == 0); EBUSY when this process
/// already watches a different parent; EAGAIN/ENOMEM/EMFILE when the thread
/// or the pidfd cannot be created.
#[no_mangle]
pub extern "C" fn arm_parent_process_death_signal(sig: c_int) -> c_int {
    arm_with_mode(sig, 0, 0, Mode::Process)
}

/// arm_parent_process_death_signal() with the expected parent pid given
/// explicitly (0: the default; negative: EINVAL). Any thread.
#[no_mangle]
pub extern "C" fn arm_parent_process_death_signal_expecting(sig: c_int, parent: pid_t) -> c_int {
    arm_with_mode(sig, parent, 0, Mode::Process)
}

/// arm_parent_process_death_signal() with graceful escalation: when the
/// parent process has exited, send `sig`, then SIGKILL if this process is
/// still alive `grace_ms` milliseconds later (1 to 3600000; 0 means no
/// escalation). `parent` is the expected parent pid, or 0 for
/// PDEATHSIG_PPID / the parent seen at load time. See nanosleep(2).
///
/// Returns 0 on success (PDEATHSIG_UNVERIFIED: armed, parent unverified),
/// -1 with errno set on failure: EINVAL also for a
/// grace above one hour or a negative parent; the other errors of
/// arm_parent_process_death_signal(). Any thread.
#[no_mangle]
pub extern "C" fn arm_parent_process_death_signal_with_grace(
    sig: c_int,
    parent: pid_t,
    grace_ms: c_uint,
) -> c_int {
    arm_with_mode(sig, parent, grace_ms, Mode::Process)
}

/// Tree mode: this process gets `sig` when its parent dies (as in process
/// mode) and when the tree's *anchor* dies, whichever comes first; once it
/// has detached, only the anchor counts. Detached: in another session than
/// its parent passed on (setsid(2): setsid -f, daemon(3), a double fork),
/// ignoring SIGHUP, or SIGINT with SIGQUIT, where its parent did not
/// (nohup, a shell's `cmd &`), or left behind by a parent that exited with
/// status 0 (a launcher such as git credential-cache; told by the pidfd's
/// exit information, Linux 6.15+; unknown: it follows the anchor and says
/// so on stderr). The anchor is `anchor` (when not 0), else
/// PDEATHSIG_ANCHOR (how a tree passes it on), else PDEATHSIG_PPID (the
/// tool that starts the tree exports its pid there), else this process
/// itself. A child this process creates with fork() without exec gets a
/// watcher of its own (pthread_atfork(3)); with LD_PRELOAD and
/// PDEATHSIG_MODE=tree every exec'd descendant arms the same way, so the
/// whole tree gets the signal at once when the anchor dies. The race is
/// closed: if the anchor or the parent is already gone (pid reuse is told
/// by start time and pidfs inode), the signal is sent at once. One watcher
/// thread, as in process mode. See pidfd_open(2), pthread_atfork(3).
///
/// Returns 0 on success (PDEATHSIG_UNVERIFIED: armed, parent unverified),
/// -1 with errno set on failure: the errors of
/// arm_parent_process_death_signal() (but a parent outside this PID
/// namespace is no error: only the anchor matters). Any thread.
#[no_mangle]
pub extern "C" fn arm_parent_tree_death_signal(sig: c_int) -> c_int {
    arm_with_mode(sig, 0, 0, Mode::Tree)
}

/// arm_parent_tree_death_signal() with the anchor pid given explicitly (0:
/// the default; negative: EINVAL). Any thread.
#[no_mangle]
pub extern "C" fn arm_parent_tree_death_signal_expecting(sig: c_int, anchor: pid_t) -> c_int {
    arm_with_mode(sig, anchor, 0, Mode::Tree)
}

/// arm_parent_tree_death_signal() with graceful escalation: SIGKILL if this
/// process is still alive `grace_ms` milliseconds after `sig` (1 to
/// 3600000; 0 means no escalation). `anchor` as in
/// arm_parent_tree_death_signal_expecting(). Any thread.
#[no_mangle]
pub extern "C" fn arm_parent_tree_death_signal_with_grace(
    sig: c_int,
    anchor: pid_t,
    grace_ms: c_uint,
) -> c_int {
    arm_with_mode(sig, anchor, grace_ms, Mode::Tree)
}

fn arm_with_mode(sig: c_int, parent: pid_t, grace_ms: c_uint, mode: Mode) -> c_int {
    let mut options = arm::Options::new(sig).mode(mode);
    if grace_ms != 0 {
        options = options.grace(Duration::from_millis(u64::from(grace_ms)));
    }
    match report(with_parent(options, parent).and_then(|o| o.arm())) {
        Ok(armed) => armed_code(&armed),
        Err(rc) => rc,
    }
}

/// Arms again what the last successful arming in this process armed (same
/// signal, expected parent, mode and grace), with the same race check.
/// Call it after dropping privileges: setuid(), setgid() and any change of
/// effective or filesystem ids clear the prctl setting (PR_SET_PDEATHSIG(2const)).
///
/// Returns 0 on success (PDEATHSIG_UNVERIFIED: armed, parent unverified),
/// -1 with errno set on failure: EINVAL when nothing
/// was armed in this process before; ESRCH when the parent died meanwhile
/// (the signal was sent, and this process survived it); the errors of the
/// arming functions. Threads: in prctl mode, from the thread that is to
/// hold the setting (the main thread); otherwise any thread.
#[no_mangle]
pub extern "C" fn rearm_parent_death_signal() -> c_int {
    match report(arm::rearm_parent_death_signal()) {
        Ok(armed) => armed_code(&armed),
        Err(rc) => rc,
    }
}

/// Returns the signal armed for this process, 0 when none, or -1 with errno
/// set on failure. Wraps prctl(PR_GET_PDEATHSIG), see PR_GET_PDEATHSIG(2const);
/// when that is empty and a watcher (process or tree mode) runs, its
/// signal. Threads: prctl's answer is the calling thread's.
#[no_mangle]
pub extern "C" fn get_parent_death_signal() -> c_int {
    match report(arm::get_parent_death_signal()) {
        Ok(Some(sig)) => sig.as_raw(),
        Ok(None) => 0,
        Err(rc) => rc,
    }
}

/// Clears the setting: no signal when the parent dies. Returns 0 on
/// success, -1 with errno set on failure. Wraps prctl(PR_SET_PDEATHSIG, 0)
/// for the calling thread; a watcher (process or tree mode) is disarmed too
/// (its idle thread remains, and fork children start none).
#[no_mangle]
pub extern "C" fn disarm_parent_death_signal() -> c_int {
    match report(arm::disarm_parent_death_signal()) {
        Ok(()) => 0,
        Err(rc) => rc,
    }
}

/// The library's version, such as "0.1.0": a static NUL-terminated string
/// that must not be freed; the same as the PDEATHSIG_VERSION_MAJOR, _MINOR
/// and _PATCH macros of the header the program was compiled with, unless
/// it runs against another build of the library. Any thread.
#[no_mangle]
pub extern "C" fn pdeathsig_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
