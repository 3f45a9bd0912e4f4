//! The arming logic: `prctl(PR_SET_PDEATHSIG)`, then the check that closes
//! the race with a parent that died before the setting took effect.

use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU8, Ordering};
use core::time::Duration;
use libc::{c_int, pid_t};

use crate::environ::{self, Mode, MAX_GRACE};
use crate::error::Error;
use crate::signal::Signal;
use crate::sys;
use crate::watch;

/// How far up the process tree the stale-stamp rule looks (`/proc` reads).
const MAX_ANCESTRY_DEPTH: usize = 1024;

/// `getppid()` as seen by the load-time constructor; 0 until it has run.
static LOAD_TIME_PARENT: AtomicI32 = AtomicI32::new(0);

/// Called by the load-time constructor, before `main`.
pub(crate) fn record_load_time_parent() {
    LOAD_TIME_PARENT.store(sys::getppid(), Ordering::Relaxed);
}

/// The parent pid seen at the earliest point this library could look: its
/// load-time constructor, or now if that did not run.
fn load_time_parent() -> pid_t {
    match LOAD_TIME_PARENT.load(Ordering::Relaxed) {
        0 => sys::getppid(),
        pid => pid,
    }
}

/// The last successful arming, for [`rearm_parent_death_signal`]: signal
/// (0: never armed), expected parent, mode (0 prctl, 1 process), grace (ms).
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
static LAST_EXPECTED: AtomicI32 = AtomicI32::new(0);
static LAST_MODE: AtomicU8 = AtomicU8::new(0);
static LAST_GRACE_MS: AtomicU32 = AtomicU32::new(0);

/// How the parent was found alive after arming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Armed {
    /// `getppid()` is the expected parent: the usual case.
    Parent(pid_t),
    /// `getppid()` is 0: the parent is outside our PID namespace (see
    /// pid_namespaces(7)). The kernel still signals us when it dies.
    OutsideNamespace,
    /// The expected pid is our own: we were re-exec'd by a process that had
    /// armed and stamped itself (`sh -c 'exec prog'`).
    ReExec,
    /// The expected pid is an ancestor of our parent: a process between them
    /// (a subshell, a static binary, a set-user-ID program) did not re-stamp
    /// `PDEATHSIG_PPID`. The stamped process is alive, so this is no death.
    Ancestor {
        /// Our parent, `getppid()`.
        parent: pid_t,
        /// The expected pid, found above `parent`.
        stamped: pid_t,
    },
    /// `/proc` could not be read to tell a stale stamp from a death; the
    /// guard is armed against the current parent and did not signal.
    Unverified {
        /// Our parent, `getppid()`.
        parent: pid_t,
        /// The expected pid.
        expected: pid_t,
    },
}

/// Arms `sig` to be delivered when the parent dies, and closes the race with
/// a parent that already died.
///
/// The parent this process *should* have is `PDEATHSIG_PPID` from the
/// environment (exported by the spawner) or, when that is unset, the parent
/// seen when this library was loaded. If, after the `prctl`, `getppid()`
/// differs and the expected process is not an ancestor (see [`Armed`]), the
/// parent is gone: `sig` is sent to this process as the kernel would have,
/// and a caller that survives it gets [`Error::ParentDied`].
///
/// `sig` is a [`Signal`] or a plain number (`libc::SIGTERM`).
///
/// Wraps `prctl(PR_SET_PDEATHSIG)`: see PR_SET_PDEATHSIG(2const), prctl(2).
///
/// # Errors
///
/// [`Error::InvalidSignal`] for a number outside 1..=`SIGRTMAX`,
/// [`Error::InvalidEnv`] for a bad `PDEATHSIG_PPID` (nothing is armed),
/// [`Error::Prctl`] if the kernel refuses, [`Error::ParentDied`] as above.
///
/// # Example
///
/// ```
/// use pdeathsig::{arm_parent_death_signal, Signal};
/// arm_parent_death_signal(Signal::TERM)?;
/// # pdeathsig::disarm_parent_death_signal()?;
/// # Ok::<(), pdeathsig::Error>(())
/// ```
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "pdeathsig")]
#[doc(alias = "prctl")]
pub fn arm_parent_death_signal(sig: impl Into<c_int>) -> Result<Armed, Error> {
    Options::new(sig).arm()
}

/// Like [`arm_parent_death_signal`], with the expected parent pid given
/// explicitly instead of read from `PDEATHSIG_PPID`.
///
/// Use it when the parent passed its pid some other way (an argument, a
/// socket). Wraps `prctl(PR_SET_PDEATHSIG)`: see PR_SET_PDEATHSIG(2const).
///
/// # Errors
///
/// As [`arm_parent_death_signal`], plus [`Error::InvalidParentPid`] when
/// `parent` is not positive.
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "pdeathsig")]
pub fn arm_parent_death_signal_expecting(
    sig: impl Into<c_int>,
    parent: pid_t,
) -> Result<Armed, Error> {
    Options::new(sig).parent(parent).arm()
}

/// What to arm, for [`arm_parent_death_signal_with`]: the signal, and
/// optionally the expected parent, the [`Mode`] and a grace period.
///
/// ```no_run
/// use pdeathsig::{Mode, Options, Signal};
/// use std::time::Duration;
/// // Survives the exit of the parent's spawning thread; SIGTERM when the
/// // parent process dies, SIGKILL 5 s later if still alive.
/// Options::new(Signal::TERM)
///     .mode(Mode::Process)
///     .grace(Duration::from_secs(5))
///     .arm()?;
/// # Ok::<(), pdeathsig::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "pidfd_open")]
#[doc(alias = "pdeathsig")]
pub struct Options {
    signal: c_int,
    parent: Option<pid_t>,
    mode: Mode,
    grace: Option<Duration>,
}

impl Options {
    /// Arm `sig` (a [`Signal`] or a plain number), in prctl mode, against
    /// `PDEATHSIG_PPID` or the load-time parent, with no grace period.
    pub fn new(sig: impl Into<c_int>) -> Options {
        Options {
            signal: sig.into(),
            parent: None,
            mode: Mode::Prctl,
            grace: None,
        }
    }

    /// The expected parent pid, instead of `PDEATHSIG_PPID` or the parent
    /// seen at load time. Must be positive.
    pub fn parent(mut self, pid: pid_t) -> Options {
        self.parent = Some(pid);
        self
    }

    /// How the parent is watched: [`Mode::Prctl`] (default) or
    /// [`Mode::Process`] (pidfd_open(2) and a watcher thread).
    pub fn mode(mut self, mode: Mode) -> Options {
        self.mode = mode;
        self
    }

    /// After sending the signal, SIGKILL the process if it still lives
    /// after `grace` (1 ms to 1 hour; rounded up to whole milliseconds).
    /// Needs [`Mode::Process`]: in prctl mode no watcher lives to send it,
    /// and arming fails with [`Error::GraceNeedsProcessMode`].
    pub fn grace(mut self, grace: Duration) -> Options {
        self.grace = Some(grace);
        self
    }

    /// [`arm_parent_death_signal_with`] these options.
    ///
    /// # Errors
    ///
    /// As [`arm_parent_death_signal_with`].
    pub fn arm(&self) -> Result<Armed, Error> {
        arm_parent_death_signal_with(self)
    }
}

/// Arms with explicit [`Options`]: signal, expected parent, [`Mode`], grace.
///
/// In [`Mode::Prctl`] this is [`arm_parent_death_signal`]
/// (`prctl(PR_SET_PDEATHSIG)`, see PR_SET_PDEATHSIG(2const)).
///
/// In [`Mode::Process`] no prctl is made (it is thread-scoped): a pidfd is
/// opened on the expected parent (pidfd_open(2)) and one detached thread
/// of this process (pthread_create(3), 64 KiB stack, all signals blocked)
/// waits for it in poll(2). When the parent process has exited, it sends
/// the signal to this process with kill(2) and, with a grace period, sleeps
/// (nanosleep(2)) and sends SIGKILL. The exit of the parent's *threads*
/// does not count. The race is closed as in prctl mode: the pidfd is opened
/// first, then `getppid()` must still be the expected pid (or the stale-stamp
/// and re-exec rules of [`Armed`] apply), so a reused pid is not mistaken
/// for the parent; a parent already gone means the signal is sent at once
/// (and SIGKILL after the grace period). The thread does not survive
/// fork(2) nor execve(2): a program exec'd under `LD_PRELOAD` re-arms itself
/// at load time. Credential changes (setuid(2)) do not stop it.
///
/// Arming process mode again in the same process against the same parent
/// updates the signal and grace of the running watcher.
///
/// # Errors
///
/// [`Error::InvalidSignal`], [`Error::InvalidParentPid`],
/// [`Error::InvalidGrace`], [`Error::GraceNeedsProcessMode`] (nothing is
/// armed); [`Error::InvalidEnv`] for a bad `PDEATHSIG_PPID`;
/// [`Error::Prctl`]; in process mode [`Error::Watch`] (`pidfd_open` with
/// `ENOSYS` before Linux 5.3: process mode is unavailable, never a silent
/// no-op), [`Error::ParentOutsideNamespace`], [`Error::AlreadyWatching`];
/// and [`Error::ParentDied`] when the parent had already died and this
/// process survived the signal.
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "pidfd_open")]
#[doc(alias = "pdeathsig")]
pub fn arm_parent_death_signal_with(options: &Options) -> Result<Armed, Error> {
    let sig = valid_signal(options.signal)?;
    if let Some(grace) = options.grace {
        if grace.is_zero() || grace > MAX_GRACE {
            return Err(Error::InvalidGrace(grace));
        }
        if options.mode != Mode::Process {
            return Err(Error::GraceNeedsProcessMode);
        }
    }
    let expected = match options.parent {
        Some(pid) if pid <= 0 => return Err(Error::InvalidParentPid(pid)),
        Some(pid) => pid,
        None => match environ::exported_parent()? {
            Some(pid) => pid,
            None => load_time_parent(),
        },
    };
    arm_checked_options(sig, expected, options.mode, options.grace)
}

/// Arms validated options against `expected` and remembers them for
/// [`rearm_parent_death_signal`].
fn arm_checked_options(
    sig: Signal,
    expected: pid_t,
    mode: Mode,
    grace: Option<Duration>,
) -> Result<Armed, Error> {
    let armed = match mode {
        Mode::Prctl => arm_and_check(sig, expected)?,
        Mode::Process => watch::watch(sig, expected, grace)?,
    };
    LAST_SIGNAL.store(sig.as_raw(), Ordering::Relaxed);
    LAST_EXPECTED.store(expected, Ordering::Relaxed);
    LAST_MODE.store(u8::from(mode == Mode::Process), Ordering::Relaxed);
    let grace_ms = grace.map_or(0, |g| u32::try_from(g.as_millis()).unwrap_or(u32::MAX));
    LAST_GRACE_MS.store(grace_ms, Ordering::Relaxed);
    Ok(armed)
}

/// Arms again what the last successful arming of this process armed (same
/// signal, same expected parent, same mode and grace), with the same race
/// check. Call it after dropping privileges.
///
/// The kernel clears `PR_SET_PDEATHSIG` on every change of effective or
/// filesystem user or group id (setuid(2), setgid(2), setresuid(2)...),
/// and on exec of a set-user-ID, set-group-ID or file-capability binary:
/// a server that arms as root and then drops to an unprivileged user has
/// silently lost its guard. If the expected parent died in between, the
/// signal is sent at once, as at the first arming. In process mode the
/// watcher thread is not affected by credential changes; re-arming it is
/// harmless.
///
/// See PR_SET_PDEATHSIG(2const), credentials(7).
///
/// # Errors
///
/// [`Error::NothingToRearm`] when nothing was armed in this process (also
/// after an exec: the state lives in memory), and the errors of
/// [`arm_parent_death_signal_with`].
///
/// # Example
///
/// ```no_run
/// use pdeathsig::{arm_parent_death_signal, rearm_parent_death_signal, Signal};
/// arm_parent_death_signal(Signal::TERM)?;
/// // ... setgid(65534); setuid(65534); (clears the setting)
/// rearm_parent_death_signal()?;
/// # Ok::<(), pdeathsig::Error>(())
/// ```
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "setuid")]
#[doc(alias = "pdeathsig")]
pub fn rearm_parent_death_signal() -> Result<Armed, Error> {
    let signal = LAST_SIGNAL.load(Ordering::Relaxed);
    if signal == 0 {
        return Err(Error::NothingToRearm);
    }
    let mut options = Options::new(signal);
    // 0: the parent was outside our PID namespace; it still is.
    let expected = LAST_EXPECTED.load(Ordering::Relaxed);
    if expected > 0 {
        options = options.parent(expected);
    }
    if LAST_MODE.load(Ordering::Relaxed) == 1 {
        options = options.mode(Mode::Process);
        let grace_ms = LAST_GRACE_MS.load(Ordering::Relaxed);
        if grace_ms > 0 {
            options = options.grace(Duration::from_millis(u64::from(grace_ms)));
        }
    }
    options.arm()
}

/// Arms as the environment asks (see [`EnvConfig`](crate::EnvConfig)):
/// `PDEATHSIG` names the signal, `PDEATHSIG_PPID` the expected parent,
/// `PDEATHSIG_MODE` the mode (`prctl` or `process`) and `PDEATHSIG_GRACE`
/// the grace period before SIGKILL (process mode). `Ok(None)` when
/// `PDEATHSIG` is unset or empty (nothing is done, the other variables are
/// not read). This is what the load-time constructor runs, available to
/// programs that prefer to call it from `main`.
///
/// Wraps `prctl(PR_SET_PDEATHSIG)` (see PR_SET_PDEATHSIG(2const)) or, in
/// process mode, pidfd_open(2) and a watcher thread: see
/// [`arm_parent_death_signal_with`].
///
/// # Errors
///
/// [`Error::InvalidEnv`] naming the bad variable and value, or
/// [`Error::GraceNeedsProcessMode`] (nothing is armed), and the errors of
/// [`arm_parent_death_signal_with`].
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "PDEATHSIG_MODE")]
#[doc(alias = "PDEATHSIG_GRACE")]
#[doc(alias = "pdeathsig")]
pub fn arm_parent_death_signal_from_env() -> Result<Option<Armed>, Error> {
    // One getenv when nothing is asked for: the constructor's common case.
    let Some(config) = environ::EnvConfig::from_env_if_requested()? else {
        return Ok(None);
    };
    let Some(sig) = config.signal else {
        return Ok(None);
    };
    // EnvConfig has checked every value (signal, pid, mode, grace and the
    // grace-needs-process-mode rule), and read PDEATHSIG_PPID: unset means
    // the load-time parent, which is 0 across a PID namespace.
    let expected = config.parent.unwrap_or_else(load_time_parent);
    arm_checked_options(sig, expected, config.mode, config.grace).map(Some)
}

/// The signal armed for this process, `None` when nothing is armed.
///
/// Wraps `prctl(PR_GET_PDEATHSIG)`: see PR_GET_PDEATHSIG(2const). When the
/// prctl setting is empty and process mode watches the parent in this
/// process, the watcher's signal.
///
/// # Errors
///
/// [`Error::Prctl`] if the kernel refuses (it does not, on Linux 2.3.15+).
#[doc(alias = "PR_GET_PDEATHSIG")]
#[doc(alias = "pdeathsig")]
pub fn get_parent_death_signal() -> Result<Option<Signal>, Error> {
    match sys::get_pdeathsig() {
        Ok(0) => Ok(watch::armed_signal()),
        Ok(n) => Ok(Signal::from_raw(n)),
        Err(errno) => Err(Error::Prctl {
            op: "PR_GET_PDEATHSIG",
            errno,
        }),
    }
}

/// Clears the setting: no signal when the parent dies.
///
/// Wraps `prctl(PR_SET_PDEATHSIG, 0)`: see PR_SET_PDEATHSIG(2const). A
/// process-mode watcher is disarmed too (its thread stays, idle, until the
/// parent dies, then ends without sending anything).
///
/// # Errors
///
/// [`Error::Prctl`] if the kernel refuses.
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "pdeathsig")]
pub fn disarm_parent_death_signal() -> Result<(), Error> {
    watch::disarm();
    sys::set_pdeathsig(0).map_err(|errno| Error::Prctl {
        op: "PR_SET_PDEATHSIG",
        errno,
    })
}

fn valid_signal(n: c_int) -> Result<Signal, Error> {
    Signal::from_raw(n).ok_or(Error::InvalidSignal(n))
}

/// The prctl, then the race check.
fn arm_and_check(sig: Signal, expected: pid_t) -> Result<Armed, Error> {
    sys::set_pdeathsig(sig.as_raw()).map_err(|errno| Error::Prctl {
        op: "PR_SET_PDEATHSIG",
        errno,
    })?;
    let parent = sys::getppid();
    let verdict = judge(expected, parent);
    match verdict {
        Some(armed) => Ok(armed),
        None => {
            sys::kill_self(sig.as_raw());
            Err(Error::ParentDied {
                signal: sig,
                expected,
                parent,
            })
        }
    }
}

/// Is the expected parent alive, given the parent we have after arming?
/// `None` means it is gone. Never compares with 1: reapers have any pid.
pub(crate) fn judge(expected: pid_t, parent: pid_t) -> Option<Armed> {
    if parent == expected {
        return Some(Armed::Parent(parent));
    }
    if parent == 0 {
        return Some(Armed::OutsideNamespace);
    }
    if expected == sys::getpid() {
        return Some(Armed::ReExec);
    }
    // The rare path: a stale stamp or a real death. Walk up from our parent.
    let mut pid = parent;
    for _ in 0..MAX_ANCESTRY_DEPTH {
        let Some(up) = sys::parent_of(pid) else {
            // Our own parent unreadable: /proc is missing. Never kill on a guess.
            return if pid == parent {
                Some(Armed::Unverified { parent, expected })
            } else {
                None
            };
        };
        if up == expected {
            return Some(Armed::Ancestor {
                parent,
                stamped: expected,
            });
        }
        if up <= 0 {
            return None;
        }
        pid = up;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_cases() {
        let me = sys::getpid();
        let parent = sys::getppid();
        assert_eq!(judge(parent, parent), Some(Armed::Parent(parent)));
        assert_eq!(judge(12345, 0), Some(Armed::OutsideNamespace));
        assert_eq!(judge(me, parent), Some(Armed::ReExec));
        // Our parent's parent, seen from our parent: an ancestor.
        if let Some(grand) = sys::parent_of(parent) {
            if grand > 0 {
                assert_eq!(
                    judge(grand, parent),
                    Some(Armed::Ancestor {
                        parent,
                        stamped: grand
                    })
                );
            }
        }
        // A pid that is none of these (pid_max is at most 2^22).
        assert_eq!(judge(i32::MAX, parent), None);
    }

    #[test]
    fn invalid_arguments_arm_nothing() {
        assert_eq!(arm_parent_death_signal(0), Err(Error::InvalidSignal(0)));
        assert_eq!(arm_parent_death_signal(65), Err(Error::InvalidSignal(65)));
        assert_eq!(arm_parent_death_signal(-9), Err(Error::InvalidSignal(-9)));
        assert_eq!(
            arm_parent_death_signal_expecting(Signal::TERM, 0),
            Err(Error::InvalidParentPid(0))
        );
    }
}
