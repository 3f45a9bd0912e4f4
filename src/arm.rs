//! The arming logic: `prctl(PR_SET_PDEATHSIG)`, then the check that closes
//! the race with a parent that died before the setting took effect.

use core::sync::atomic::{AtomicI32, Ordering};
use libc::{c_int, pid_t};

use crate::environ;
use crate::error::Error;
use crate::signal::Signal;
use crate::sys;

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
    let sig = valid_signal(sig.into())?;
    let expected = match environ::exported_parent()? {
        Some(pid) => pid,
        None => load_time_parent(),
    };
    arm_and_check(sig, expected)
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
    let sig = valid_signal(sig.into())?;
    if parent <= 0 {
        return Err(Error::InvalidParentPid(parent));
    }
    arm_and_check(sig, parent)
}

/// Arms as the environment asks: `PDEATHSIG` names the signal and
/// `PDEATHSIG_PPID` the expected parent. `Ok(None)` when `PDEATHSIG` is
/// unset or empty (nothing is done). This is what the load-time constructor
/// runs, available to programs that prefer to call it from `main`.
///
/// Wraps `prctl(PR_SET_PDEATHSIG)`: see PR_SET_PDEATHSIG(2const).
///
/// # Errors
///
/// [`Error::InvalidEnv`] naming the bad variable and value (nothing is
/// armed), and the errors of [`arm_parent_death_signal`].
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "pdeathsig")]
pub fn arm_parent_death_signal_from_env() -> Result<Option<Armed>, Error> {
    // One getenv when nothing is asked for: the constructor's common case.
    if !environ::signal_requested() {
        return Ok(None);
    }
    let config = environ::EnvConfig::from_env()?;
    let Some(sig) = config.signal else {
        return Ok(None);
    };
    let expected = config.parent.unwrap_or_else(load_time_parent);
    arm_and_check(sig, expected).map(Some)
}

/// The signal armed for this process, `None` when nothing is armed.
///
/// Wraps `prctl(PR_GET_PDEATHSIG)`: see PR_GET_PDEATHSIG(2const).
///
/// # Errors
///
/// [`Error::Prctl`] if the kernel refuses (it does not, on Linux 2.3.15+).
#[doc(alias = "PR_GET_PDEATHSIG")]
#[doc(alias = "pdeathsig")]
pub fn get_parent_death_signal() -> Result<Option<Signal>, Error> {
    match sys::get_pdeathsig() {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Signal::from_raw(n)),
        Err(errno) => Err(Error::Prctl {
            op: "PR_GET_PDEATHSIG",
            errno,
        }),
    }
}

/// Clears the setting: no signal when the parent dies.
///
/// Wraps `prctl(PR_SET_PDEATHSIG, 0)`: see PR_SET_PDEATHSIG(2const).
///
/// # Errors
///
/// [`Error::Prctl`] if the kernel refuses.
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "pdeathsig")]
pub fn disarm_parent_death_signal() -> Result<(), Error> {
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
fn judge(expected: pid_t, parent: pid_t) -> Option<Armed> {
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
