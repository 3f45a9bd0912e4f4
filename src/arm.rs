//! The arming logic: `prctl(PR_SET_PDEATHSIG)`, then the check that closes
//! the race with a parent that died before the setting took effect.

use core::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering};
use core::time::Duration;
use libc::{c_int, pid_t};

use crate::environ::{self, Mode, Stamp, MAX_GRACE};
use crate::error::Error;
use crate::signal::Signal;
use crate::sys;
pub use crate::verdict::Armed;
use crate::verdict::{self, Verdict};
use crate::watch;

/// `getsid(0)` as seen by the load-time constructor; -1 until it has run
/// (0 is a real answer: the session's leader is outside this PID
/// namespace, as in many containers).
static LOAD_TIME_SESSION: AtomicI32 = AtomicI32::new(-1);
/// `getppid()` as seen by the load-time constructor; 0 until it has run.
static LOAD_TIME_PARENT: AtomicI32 = AtomicI32::new(0);

/// Called by the load-time constructor, before `main`.
pub(crate) fn record_load_time_parent() {
    LOAD_TIME_PARENT.store(sys::getppid(), Ordering::Relaxed);
    LOAD_TIME_SESSION.store(sys::getsid(), Ordering::Relaxed);
}

/// The session this process started in (at load time, else now): its
/// parent's, unless something between fork and exec changed it. Tree
/// mode's first process compares with it to tell whether it has detached.
pub(crate) fn load_time_session() -> pid_t {
    match LOAD_TIME_SESSION.load(Ordering::Relaxed) {
        -1 => sys::getsid(),
        sid => sid,
    }
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
/// (0: never armed), expected parent, mode (0 prctl, 1 process), grace
/// (nanoseconds, 0 for none: kept exact, rounded only when armed).
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
static LAST_EXPECTED: AtomicI32 = AtomicI32::new(0);
static LAST_MODE: AtomicU8 = AtomicU8::new(0);
static LAST_GRACE_NS: AtomicU64 = AtomicU64::new(0);

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
/// **Threads.** The kernel keeps the setting per thread: armed from a
/// thread that later exits, it is lost with that thread. Call it from the
/// main thread (first thing in `main`), or use [`Mode::Process`] or
/// [`Mode::Tree`], whose watcher belongs to the process.
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
    #[must_use]
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
    #[must_use]
    pub fn parent(mut self, pid: pid_t) -> Options {
        self.parent = Some(pid);
        self
    }

    /// How the parent is watched: [`Mode::Prctl`] (default),
    /// [`Mode::Process`] (pidfd_open(2) and a watcher thread) or
    /// [`Mode::Tree`] (the watcher follows the tree's anchor, the process
    /// [`Options::parent`] or `PDEATHSIG_PPID` names).
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Options {
        self.mode = mode;
        self
    }

    /// After sending the signal, SIGKILL the process if it still lives
    /// after `grace` (1 ms to 1 hour; rounded up to whole milliseconds).
    /// Needs [`Mode::Process`] or [`Mode::Tree`]: in prctl mode no watcher
    /// lives to send it, and arming fails with [`Error::GraceNeedsProcessMode`].
    #[must_use]
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
/// In [`Mode::Tree`] the watcher follows the parent, as in process mode,
/// and the tree's *anchor* too (the pid of [`Options::parent`], else
/// `PDEATHSIG_ANCHOR` as the tree passes it on, else `PDEATHSIG_PPID`, the
/// handoff, else this process itself): the signal comes when either dies,
/// and only with the anchor once this process has detached (another
/// session than its parent's, SIGHUP or SIGINT with SIGQUIT ignored where
/// the parent did not, or left behind by a parent that exited with status
/// 0; see the README's "Which mode?"). Already gone, the signal is sent at
/// once. A child that this process creates with fork(2) and no exec starts
/// a watcher of its own (a pthread_atfork(3) child handler) on it and the
/// anchor, so fork-only workers are guarded too.
///
/// Arming process or tree mode again in the same process against the same
/// parent updates the signal and grace of the running watcher.
///
/// # Errors
///
/// [`Error::InvalidSignal`], [`Error::InvalidParentPid`],
/// [`Error::InvalidGrace`], [`Error::GraceNeedsProcessMode`] (nothing is
/// armed); [`Error::InvalidEnv`] for a bad `PDEATHSIG_PPID`;
/// [`Error::Prctl`]; in process and tree mode [`Error::Watch`] (`pidfd_open` with
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
        if !options.mode.has_watcher() {
            return Err(Error::GraceNeedsProcessMode);
        }
    }
    if let Some(pid) = options.parent.filter(|&pid| pid <= 0) {
        return Err(Error::InvalidParentPid(pid));
    }
    let exported = environ::exported_stamp()?;
    if options.mode == Mode::Tree {
        // Options::parent names the anchor; the parent is the exported
        // stamp's, as in process mode.
        let anchor = match options.parent {
            Some(pid) => Some(environ::Anchor {
                pid,
                ..Default::default()
            }),
            None => environ::exported_anchor()?,
        };
        let stamp = exported.unwrap_or_else(|| Stamp::pid(load_time_parent()));
        let anchor = tree_anchor(anchor, exported);
        return arm_checked_options(sig, &stamp, options.mode, options.grace, Some(anchor));
    }
    let stamp = match options.parent {
        Some(pid) => Stamp::pid(pid),
        None => exported.unwrap_or_else(|| Stamp::pid(load_time_parent())),
    };
    arm_checked_options(sig, &stamp, options.mode, options.grace, None)
}

/// Tree mode's anchor: the one given (explicit, or `PDEATHSIG_ANCHOR` as
/// the parent passed it on), else the process the spawner's stamp names
/// (the handoff: the tool that exported its pid), else this process
/// itself, the tree's first. Known to have started by now (`TICKS`), so
/// that a later reuse of its pid is not taken for it.
fn tree_anchor(given: Option<environ::Anchor>, exported: Option<Stamp>) -> environ::Anchor {
    let mut anchor = given.unwrap_or_else(|| match exported {
        Some(stamp) => {
            if stamp.ticks.is_none() {
                warn_unverifiable_anchor(stamp.pid);
            }
            environ::Anchor {
                pid: stamp.pid,
                ticks: stamp.ticks,
                ino: stamp.ino,
                ..Default::default()
            }
        }
        None => environ::Anchor {
            pid: sys::getpid(),
            ..Default::default()
        },
    });
    if anchor.ticks.is_none() {
        anchor.ticks = sys::boot_ticks();
    }
    anchor
}

/// Tree mode, an anchor handed over as a plain pid (`PDEATHSIG_PPID=PID`,
/// no time): when it is neither our parent nor an ancestor, nothing tells
/// it from a reuse of a dead anchor's pid, so one line says so (the tree
/// follows it all the same: `PID:TICKS` would have been checked).
fn warn_unverifiable_anchor(anchor: pid_t) {
    use crate::text::Sink;
    let parent = sys::getppid();
    if anchor == parent || anchor == sys::getpid() || verdict::is_ancestor(anchor, parent) {
        return;
    }
    let mut storage = [0u8; 240];
    let mut line = crate::text::Buf::new(&mut storage);
    line.put(b"pdeathsig: the tree's anchor ");
    line.put_int(i64::from(anchor));
    line.put(
        b" is given as a plain pid and is not an ancestor of this process: it cannot be told \
          from a reused pid (export PID:TICKS to have it checked); followed all the same\n",
    );
    sys::write_stderr(line.as_bytes());
}

/// Arms validated options against `stamp` and remembers them for
/// [`rearm_parent_death_signal`]. A signal this process ignores is armed,
/// and reported as [`Error::SignalIgnored`] unless a grace period's SIGKILL
/// follows it.
fn arm_checked_options(
    sig: Signal,
    stamp: &Stamp,
    mode: Mode,
    grace: Option<Duration>,
    anchor: Option<environ::Anchor>,
) -> Result<Armed, Error> {
    let armed = match mode {
        Mode::Prctl => arm_and_check(sig, stamp)?,
        Mode::Process | Mode::Tree => watch::watch(sig, stamp, grace, mode, anchor)?,
    };
    LAST_SIGNAL.store(sig.as_raw(), Ordering::Relaxed);
    // Tree mode re-arms against the same anchor, the others the same parent.
    LAST_EXPECTED.store(anchor.map_or(stamp.pid, |a| a.pid), Ordering::Relaxed);
    let mode_code = match mode {
        Mode::Prctl => 0,
        Mode::Process => 1,
        Mode::Tree => 2,
    };
    LAST_MODE.store(mode_code, Ordering::Relaxed);
    let grace_ns = grace.map_or(0, |g| u64::try_from(g.as_nanos()).unwrap_or(u64::MAX));
    LAST_GRACE_NS.store(grace_ns, Ordering::Relaxed);
    // With a grace period the SIGKILL still ends the process: not a no-op.
    if grace.is_none() && sys::signal_ignored(sig.as_raw()) {
        return Err(Error::SignalIgnored { signal: sig, armed });
    }
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
/// [`arm_parent_death_signal_with`]. The grace period is the one given,
/// exactly (sub-millisecond parts included).
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
    let mode = LAST_MODE.load(Ordering::Relaxed);
    if mode > 0 {
        options = options.mode(if mode == 2 { Mode::Tree } else { Mode::Process });
        let grace_ns = LAST_GRACE_NS.load(Ordering::Relaxed);
        if grace_ns > 0 {
            options = options.grace(Duration::from_nanos(grace_ns));
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
    arm_from_config(environ::EnvConfig::from_env()?)
}

/// [`arm_parent_death_signal_from_env`] for the load-time constructor: one
/// getenv(3) when `PDEATHSIG` is unset, no std.
///
/// # Safety
///
/// No other thread may change the environment meanwhile (before `main`).
#[cfg(feature = "auto-arm")]
pub(crate) unsafe fn arm_from_env_at_load() -> Result<Option<Armed>, Error> {
    // SAFETY: the caller's guarantee.
    match unsafe { environ::EnvConfig::from_raw_env_if_requested() }? {
        Some(config) => arm_from_config(config),
        None => Ok(None),
    }
}

/// Arms as a parsed environment asks. A parent-death signal already set
/// (by the spawner between fork(2) and execve(2): `unshare --kill-child`,
/// Go's `SysProcAttr.Pdeathsig`, bwrap; execve keeps it) is kept in prctl
/// mode: the environment never replaces a setting someone chose for this
/// process, and the race check then uses that signal.
fn arm_from_config(config: environ::EnvConfig) -> Result<Option<Armed>, Error> {
    let Some(mut sig) = config.signal else {
        return Ok(None);
    };
    if config.mode == Mode::Prctl {
        if let Some(kept) = sys::get_pdeathsig().ok().and_then(Signal::from_raw) {
            sig = kept;
        }
    }
    // EnvConfig has checked every value (signal, pid, mode, grace and the
    // grace-needs-process-mode rule). PDEATHSIG_PPID unset means the
    // load-time parent, which is 0 across a PID namespace.
    let stamp = config
        .stamp
        .unwrap_or_else(|| Stamp::pid(load_time_parent()));
    let anchor = (config.mode == Mode::Tree).then(|| tree_anchor(config.anchor, config.stamp));
    arm_checked_options(sig, &stamp, config.mode, config.grace, anchor).map(Some)
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

/// The prctl, then the race check (see `verdict.rs`).
fn arm_and_check(sig: Signal, stamp: &Stamp) -> Result<Armed, Error> {
    sys::set_pdeathsig(sig.as_raw()).map_err(|errno| Error::Prctl {
        op: "PR_SET_PDEATHSIG",
        errno,
    })?;
    let parent = sys::getppid();
    match verdict::judge(stamp, parent) {
        Verdict::Alive { armed, .. } => Ok(armed),
        Verdict::Gone => {
            sys::kill_self(sig.as_raw());
            Err(Error::ParentDied {
                signal: sig,
                expected: stamp.pid,
                parent,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
