//! The environment protocol: `PDEATHSIG` (which signal), `PDEATHSIG_PPID`
//! (the pid the parent really had, exported by whoever spawned us),
//! `PDEATHSIG_MODE` (`prctl`, `process` or `tree`) and `PDEATHSIG_GRACE` (the delay
//! before SIGKILL, process mode only).
//!
//! Parsing is pure ([`EnvConfig::from_lookup`], [`Stamp::parse`]). Reading
//! goes through `std::env` when the `std` feature is on (its lock orders it
//! with `std::env::set_var`), and through the `environ` array itself
//! (`rawenv.rs`) in the load-time constructor (before `main`,
//! single-threaded) and in the `no_std` C library (whose callers follow
//! getenv(3)'s own rule). Writing the stamp
//! into the environment is `stamp.rs`'s business.

#[cfg(any(feature = "auto-arm", not(feature = "std")))]
use core::ffi::CStr;
use core::time::Duration;
use libc::pid_t;

use crate::error::{Error, InvalidEnv};
use crate::signal::Signal;
use crate::text::{parse_decimal, Sink};

/// Name of the variable that asks for arming at load time: a signal such as
/// `TERM`, `SIGKILL`, `15` or `RTMIN+2`. Unset or empty: do nothing.
pub const PDEATHSIG: &str = "PDEATHSIG";

/// Name of the variable holding the expected parent's pid, exported by the
/// spawner into the child's environment. Closes the start-up race.
///
/// A plain pid (`PDEATHSIG_PPID=$$`) is valid. pdeathsig itself writes
/// `PID:TICKS` (or `PID:TICKS:WATCHED` in process mode): `TICKS` is when the
/// stamp was written, in clock ticks of `CLOCK_BOOTTIME`, the clock and unit
/// of the start time in `/proc/PID/stat`; it lets a child tell a parent that
/// inherited the stamp from a reaper that adopted it (see [`Stamp`]).
pub const PDEATHSIG_PPID: &str = "PDEATHSIG_PPID";

/// Name of the variable choosing how the parent is watched: `prctl` (the
/// default: the kernel's `PR_SET_PDEATHSIG`, zero threads, but it fires when
/// the parent *thread* exits), `process` (a watcher thread polls a pidfd
/// on the parent *process*) or `tree` (every process of the tree watches
/// the tree's anchor, see [`Mode::Tree`]). ASCII case is ignored.
/// See PR_SET_PDEATHSIG(2const) and pidfd_open(2).
#[doc(alias = "pidfd_open")]
pub const PDEATHSIG_MODE: &str = "PDEATHSIG_MODE";

/// Tree mode's anchor, as the tree's processes pass it on to their
/// children: `PID:TICKS:INO:SESSION:FLAGS:PIDNS` (see `Anchor`). Written by the
/// library in tree mode; a spawner sets `PDEATHSIG_PPID` instead.
pub const PDEATHSIG_ANCHOR: &str = "PDEATHSIG_ANCHOR";

/// Name of the variable giving the grace period of the escalation: after
/// the parent died and the signal was sent, a process still alive after
/// this delay gets SIGKILL. `500ms`, `5s` or `5` (seconds); whole numbers
/// only, from 1 ms to 1 hour. Needs `PDEATHSIG_MODE=process`. See
/// nanosleep(2) (the wait) and kill(2) (the SIGKILL).
#[doc(alias = "grace")]
pub const PDEATHSIG_GRACE: &str = "PDEATHSIG_GRACE";

/// The longest grace period accepted: one hour.
#[doc(alias = "PDEATHSIG_GRACE")]
pub const MAX_GRACE: Duration = Duration::from_secs(3600);

#[cfg(any(feature = "auto-arm", not(feature = "std")))]
const PDEATHSIG_C: &CStr = c"PDEATHSIG";
#[cfg(any(feature = "auto-arm", not(feature = "std")))]
pub(crate) const PDEATHSIG_PPID_C: &CStr = c"PDEATHSIG_PPID";
#[cfg(any(feature = "auto-arm", not(feature = "std")))]
const PDEATHSIG_MODE_C: &CStr = c"PDEATHSIG_MODE";
#[cfg(any(feature = "auto-arm", not(feature = "std")))]
const PDEATHSIG_GRACE_C: &CStr = c"PDEATHSIG_GRACE";
#[cfg(any(feature = "auto-arm", not(feature = "std")))]
pub(crate) const PDEATHSIG_ANCHOR_C: &CStr = c"PDEATHSIG_ANCHOR";

/// How the parent's death is noticed.
///
/// See the README's "Which mode?" section for the trade-offs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[doc(alias = "PDEATHSIG_MODE")]
pub enum Mode {
    /// `prctl(PR_SET_PDEATHSIG)`: the kernel sends the signal, no thread, no
    /// file descriptor. The kernel's "parent" is the *thread* that created
    /// this process: the signal also fires when that thread exits while the
    /// parent process lives on. See PR_SET_PDEATHSIG(2const).
    #[default]
    Prctl,
    /// A pidfd on the parent process (pidfd_open(2), Linux 5.3+), polled by
    /// one small watcher thread of this process (pthread_create(3)): fires
    /// only when the whole parent process has exited, and can escalate to
    /// SIGKILL after a grace period. Costs one thread, which holds the
    /// pidfd in a descriptor table of its own (none in the program's).
    Process,
    /// Every process of the tree watches the tree's *anchor* itself: the
    /// process named in `PDEATHSIG_PPID` when the tree started (the tool
    /// that spawned it), or the root's parent at load time. The stamp is
    /// not rewritten from process to process, fork-only children get a
    /// watcher too (pthread_atfork(3)), and when the anchor exits every
    /// process of the tree gets the signal at once, however it was started
    /// (detached, daemonized, behind a subshell or a static middle that
    /// passes the environment on). One watcher thread per process, as in
    /// [`Mode::Process`].
    Tree,
}

impl Mode {
    /// Parses `prctl`, `process` or `tree`, ignoring ASCII case.
    pub fn parse(text: &[u8]) -> Option<Mode> {
        if text.eq_ignore_ascii_case(b"prctl") {
            Some(Mode::Prctl)
        } else if text.eq_ignore_ascii_case(b"process") {
            Some(Mode::Process)
        } else if text.eq_ignore_ascii_case(b"tree") {
            Some(Mode::Tree)
        } else {
            None
        }
    }

    /// `"prctl"`, `"process"` or `"tree"`: the value `PDEATHSIG_MODE` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Prctl => "prctl",
            Mode::Process => "process",
            Mode::Tree => "tree",
        }
    }

    /// Does a watcher thread send the signal (and so can escalate after a
    /// grace period)? True for [`Mode::Process`] and [`Mode::Tree`].
    pub fn has_watcher(self) -> bool {
        self != Mode::Prctl
    }
}

/// Parses a grace period: `500ms`, `5s` or `5` (seconds). Whole numbers
/// only (no fractions, no sign, no spaces); units in any ASCII case; the
/// result is from 1 ms to [`MAX_GRACE`] (1 hour).
#[doc(alias = "PDEATHSIG_GRACE")]
pub fn parse_grace(text: &[u8]) -> Option<Duration> {
    let (digits, millis_per_unit) = if let Some(n) = strip_suffix_ignore_case(text, b"ms") {
        (n, 1)
    } else if let Some(n) = strip_suffix_ignore_case(text, b"s") {
        (n, 1000)
    } else {
        (text, 1000)
    };
    let millis = parse_decimal(digits)?.checked_mul(millis_per_unit)?;
    let grace = Duration::from_millis(millis);
    if millis == 0 || grace > MAX_GRACE {
        return None;
    }
    Some(grace)
}

fn strip_suffix_ignore_case<'a>(text: &'a [u8], suffix: &[u8]) -> Option<&'a [u8]> {
    let split = text.len().checked_sub(suffix.len())?;
    let (head, tail) = (text.get(..split)?, text.get(split..)?);
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// What the environment asks for: the four variables of the protocol,
/// parsed and checked, without arming anything.
///
/// Build it with [`EnvConfig::from_env`] (getenv(3)) or, for tests and
/// fuzzing, [`EnvConfig::from_lookup`]. Empty values count as unset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvConfig {
    /// `PDEATHSIG`: the signal to arm; `None` asks for nothing.
    pub signal: Option<Signal>,
    /// `PDEATHSIG_PPID`: the pid the spawner exported as our parent.
    pub parent: Option<pid_t>,
    /// `PDEATHSIG_PPID` whole: the pid, and when it was stamped.
    pub(crate) stamp: Option<Stamp>,
    /// `PDEATHSIG_MODE`: [`Mode::Prctl`] when unset.
    pub mode: Mode,
    /// `PDEATHSIG_GRACE`: the delay before SIGKILL (process mode only).
    pub grace: Option<Duration>,
    /// `PDEATHSIG_ANCHOR`: tree mode's anchor, as the parent passed it on.
    pub(crate) anchor: Option<Anchor>,
}

impl EnvConfig {
    /// Parses the protocol's variables from `lookup`, which returns a
    /// variable's value (raw bytes) or `None` when it is unset. Pure: no
    /// system call, no allocation, no panic, whatever the bytes.
    ///
    /// Every variable that is set is checked, even when `PDEATHSIG` is
    /// unset; the first bad one (in the order `PDEATHSIG`, `PDEATHSIG_PPID`,
    /// `PDEATHSIG_MODE`, `PDEATHSIG_GRACE`) is the error.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEnv`] naming the variable and its value, or
    /// [`Error::GraceNeedsProcessMode`] when `PDEATHSIG_GRACE` is set and
    /// `PDEATHSIG_MODE` is not `process`. Both have errno `EINVAL`.
    ///
    /// # Example
    ///
    /// ```
    /// use pdeathsig::{EnvConfig, Mode, Signal};
    /// use std::time::Duration;
    /// let env = |name: &str| match name {
    ///     "PDEATHSIG" => Some(&b"TERM"[..]),
    ///     "PDEATHSIG_MODE" => Some(&b"process"[..]),
    ///     "PDEATHSIG_GRACE" => Some(&b"500ms"[..]),
    ///     _ => None,
    /// };
    /// let config = EnvConfig::from_lookup(env)?;
    /// assert_eq!(config.signal, Some(Signal::TERM));
    /// assert_eq!(config.mode, Mode::Process);
    /// assert_eq!(config.grace, Some(Duration::from_millis(500)));
    /// # Ok::<(), pdeathsig::Error>(())
    /// ```
    #[doc(alias = "getenv")]
    pub fn from_lookup<'a>(
        mut lookup: impl FnMut(&str) -> Option<&'a [u8]>,
    ) -> Result<EnvConfig, Error> {
        let mut get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let bad = |var: &'static str, text: &[u8]| Error::InvalidEnv(InvalidEnv::new(var, text));
        let mut config = EnvConfig::default();
        if let Some(text) = get(PDEATHSIG) {
            config.signal = Some(Signal::parse(text).ok_or_else(|| bad(PDEATHSIG, text))?);
        }
        if let Some(text) = get(PDEATHSIG_PPID) {
            let stamp = Stamp::parse(text).ok_or_else(|| bad(PDEATHSIG_PPID, text))?;
            config.parent = Some(stamp.pid);
            config.stamp = Some(stamp);
        }
        if let Some(text) = get(PDEATHSIG_MODE) {
            config.mode = Mode::parse(text).ok_or_else(|| bad(PDEATHSIG_MODE, text))?;
        }
        if let Some(text) = get(PDEATHSIG_GRACE) {
            config.grace = Some(parse_grace(text).ok_or_else(|| bad(PDEATHSIG_GRACE, text))?);
        }
        if let Some(text) = get(PDEATHSIG_ANCHOR) {
            config.anchor = Some(Anchor::parse(text).ok_or_else(|| bad(PDEATHSIG_ANCHOR, text))?);
        }
        if config.grace.is_some() && !config.mode.has_watcher() {
            return Err(Error::GraceNeedsProcessMode);
        }
        Ok(config)
    }

    /// [`EnvConfig::from_lookup`] over the process environment: through
    /// `std::env` with the `std` feature (ordered with `std::env::set_var`
    /// by std's lock), the `environ` array itself without it (the C
    /// library: do not change the environment from another thread
    /// meanwhile, as getenv(3) asks).
    ///
    /// # Errors
    ///
    /// As [`EnvConfig::from_lookup`].
    #[doc(alias = "getenv")]
    pub fn from_env() -> Result<EnvConfig, Error> {
        #[cfg(feature = "std")]
        {
            use std::os::unix::ffi::OsStrExt;
            let names = [
                PDEATHSIG,
                PDEATHSIG_PPID,
                PDEATHSIG_MODE,
                PDEATHSIG_GRACE,
                PDEATHSIG_ANCHOR,
            ];
            let values = names.map(std::env::var_os);
            EnvConfig::from_lookup(|name| {
                let i = names.iter().position(|&n| n == name)?;
                values.get(i)?.as_deref().map(|v| v.as_bytes())
            })
        }
        #[cfg(not(feature = "std"))]
        {
            // SAFETY: without std there is no environment lock to take; the
            // C ABI documents getenv(3)'s rule for its callers.
            EnvConfig::from_lookup(|name| unsafe { lookup_raw(name) })
        }
    }

    /// [`EnvConfig::from_lookup`] over `environ` when `PDEATHSIG` is set,
    /// `Ok(None)` (and no other variable read) when it is not: the load-time
    /// constructor's fast path is one look-up.
    ///
    /// # Safety
    ///
    /// No other thread may change the environment meanwhile: the constructor
    /// runs before `main` (see `load.rs` for dlopen(3)).
    #[cfg(feature = "auto-arm")]
    pub(crate) unsafe fn from_raw_env_if_requested() -> Result<Option<EnvConfig>, Error> {
        // SAFETY: the caller's guarantee.
        let Some(signal) = (unsafe { crate::rawenv::get(PDEATHSIG_C) }) else {
            return Ok(None);
        };
        EnvConfig::from_lookup(|name| match name {
            PDEATHSIG => Some(signal),
            // SAFETY: the caller's guarantee.
            other => unsafe { lookup_raw(other) },
        })
        .map(Some)
    }
}

#[cfg(any(feature = "auto-arm", not(feature = "std")))]
/// The protocol's variables, by name, read from `environ` itself (see
/// `rawenv.rs`: not getenv(3), which a program such as bash replaces).
///
/// # Safety
///
/// As [`crate::rawenv::get`]: no concurrent change of the environment.
unsafe fn lookup_raw(name: &str) -> Option<&'static [u8]> {
    let cname = match name {
        PDEATHSIG => PDEATHSIG_C,
        PDEATHSIG_PPID => PDEATHSIG_PPID_C,
        PDEATHSIG_MODE => PDEATHSIG_MODE_C,
        PDEATHSIG_GRACE => PDEATHSIG_GRACE_C,
        PDEATHSIG_ANCHOR => PDEATHSIG_ANCHOR_C,
        _ => return None,
    };
    // SAFETY: the caller's guarantee.
    unsafe { crate::rawenv::get(cname) }
}

/// A parsed `PDEATHSIG_PPID`: `PID`, `PID:TICKS`, `PID:TICKS:WATCHED` or
/// `PID:TICKS:[WATCHED]:INO`.
///
/// `PID` is the process the child should have as its parent (the
/// spawner, or the process that stamped itself at load time). `TICKS` is
/// when the stamp was written, in clock ticks since boot (`CLOCK_BOOTTIME`,
/// the clock and unit of field 22 of `/proc/PID/stat`, see proc_pid_stat(5)):
/// a process that started after it inherited the stamp, while a reaper
/// that adopts orphans is older than it. `WATCHED` (process mode) is the
/// process the stamper watches, for the stamper itself after a re-exec
/// (empty when none). `INO` is the stamper's identity in pidfs (the inode
/// number of a pidfd, fstat(2), Linux 6.9+): unique since boot across every
/// PID namespace and handed out in creation order, so it tells exactly
/// whether another process was created before or after the stamper, where
/// `TICKS` (1/100 s) cannot. Every field is decimal digits (leading zeros
/// allowed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// The expected parent pid.
    pub pid: pid_t,
    /// When the stamp was written, in clock ticks since boot.
    pub ticks: Option<u64>,
    /// The process the stamper watched (process mode).
    pub watched: Option<pid_t>,
    /// The stamper's pidfs inode number (see the type's documentation).
    pub ino: Option<u64>,
}

impl Stamp {
    /// A plain pid, as a spawner that knows no better exports it.
    pub fn pid(pid: pid_t) -> Stamp {
        Stamp {
            pid,
            ticks: None,
            watched: None,
            ino: None,
        }
    }

    /// `pid`, stamped now (clock_gettime(2) `CLOCK_BOOTTIME`, no system call
    /// through the vDSO). A plain pid if the clock cannot be read. When
    /// `pid` is this process, with its pidfs inode number (Linux 6.9+:
    /// pidfd_open(2) and fstat(2)).
    pub fn now(pid: pid_t) -> Stamp {
        let ticks = crate::sys::boot_ticks();
        let own = ticks.is_some() && pid == crate::sys::getpid();
        Stamp {
            pid,
            ticks,
            watched: None,
            ino: own.then(|| crate::sys::pidfs_ino(pid).ok()).flatten(),
        }
    }

    /// Parses `PID`, `PID:TICKS`, `PID:TICKS:WATCHED` or
    /// `PID:TICKS:[WATCHED]:INO`; `None` for anything else. Pure: no system
    /// call, no allocation, no panic.
    pub fn parse(text: &[u8]) -> Option<Stamp> {
        let mut fields = text.split(|&b| b == b':');
        let pid = parse_pid(fields.next()?)?;
        let ticks = fields.next().map(parse_decimal);
        let watched = fields.next();
        let ino = fields.next().map(parse_decimal);
        if fields.next().is_some() {
            return None;
        }
        let watched = match watched {
            // Empty only as a placeholder before INO.
            Some(b"") if ino.is_some() => None,
            Some(w) => Some(parse_pid(w)?),
            None => None,
        };
        Some(Stamp {
            pid,
            ticks: match ticks {
                Some(t) => Some(t?),
                None => None,
            },
            watched,
            ino: match ino {
                Some(i) => Some(i?),
                None => None,
            },
        })
    }

    /// Writes the stamp as [`Stamp::parse`] reads it, with the pid padded
    /// by leading zeros to `min_len` bytes in all when that is longer.
    pub(crate) fn write(&self, out: &mut dyn Sink, min_len: usize) {
        let mut rest = [0u8; 48];
        let mut tail = crate::text::Buf::new(&mut rest);
        if let Some(ticks) = self.ticks {
            tail.put(b":");
            tail.put_int(i64::try_from(ticks).unwrap_or(i64::MAX));
            if let Some(watched) = self.watched {
                tail.put(b":");
                tail.put_int(i64::from(watched));
            }
            if let Some(ino) = self.ino {
                if self.watched.is_none() {
                    tail.put(b":");
                }
                tail.put(b":");
                tail.put_int(i64::try_from(ino).unwrap_or(i64::MAX));
            }
        }
        let digits = crate::text::decimal_len(u64::try_from(self.pid).unwrap_or(0));
        let len = digits + tail.as_bytes().len();
        for _ in len..min_len {
            out.put(b"0");
        }
        out.put_int(i64::from(self.pid));
        out.put(tail.as_bytes());
    }
}

/// Tree mode's anchor as a process passes it on (`PDEATHSIG_ANCHOR`):
/// `PID:TICKS:INO:SESSION:FLAGS:PIDNS`, fields after PID empty when
/// unknown.
///
/// `PID` is the anchor; `TICKS` and `INO` (as in [`Stamp`]) when the tree's
/// first process learned of it, and its pidfs inode number, so that a
/// reuse of its pid is not taken for it. `SESSION` is the session
/// (getsid(2)) the writer was in when it armed (0 when that session's
/// leader is outside the writer's PID namespace), `FLAGS` which of SIGHUP (1)
/// and SIGINT with SIGQUIT (2) it ignored: a child in another session
/// (setsid(2)), or that ignores one of these where its parent did not
/// (`nohup`, a shell's `&`), has detached, and follows the anchor only.
/// `PIDNS` is the inode of the PID namespace in which `PID` names the
/// anchor: a process in another one (`unshare -p`) cannot see it, and
/// takes itself as the anchor of its part of the tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub(crate) pid: pid_t,
    pub(crate) ticks: Option<u64>,
    pub(crate) ino: Option<u64>,
    pub(crate) session: Option<pid_t>,
    pub(crate) flags: Option<u8>,
    pub(crate) pid_ns: Option<u64>,
}

impl Anchor {
    /// Parses `PID[:TICKS[:INO[:SESSION[:FLAGS[:PIDNS]]]]]` (fields after
    /// the pid may be empty).
    pub(crate) fn parse(text: &[u8]) -> Option<Anchor> {
        let mut fields = text.split(|&b| b == b':');
        let pid = parse_pid(fields.next()?)?;
        let number = |f: Option<&[u8]>| match f {
            None | Some(b"") => Some(None),
            Some(digits) => parse_decimal(digits).map(Some),
        };
        let ticks = number(fields.next())?;
        let ino = number(fields.next())?;
        // 0 is a session: one whose leader the writer could not see
        // (outside its PID namespace), as getsid(2) answers there.
        let session = match number(fields.next())? {
            Some(n) => Some(pid_t::try_from(n).ok()?),
            None => None,
        };
        let flags = match number(fields.next())? {
            Some(n) if n > 3 => return None,
            other => other.map(|n| n as u8),
        };
        let pid_ns = number(fields.next())?;
        if fields.next().is_some() {
            return None;
        }
        Some(Anchor {
            pid,
            ticks,
            ino,
            session,
            flags,
            pid_ns,
        })
    }

    #[cfg(any(feature = "auto-arm", feature = "std"))]
    /// Writes `PID:TICKS:INO:SESSION:FLAGS:PIDNS` as [`Anchor::parse`] reads it, the
    /// pid padded with zeros to `min_len` bytes in all when that is longer.
    pub(crate) fn write(&self, out: &mut dyn Sink, min_len: usize) {
        let mut rest = [0u8; 96];
        let mut tail = crate::text::Buf::new(&mut rest);
        let session = self.session.and_then(|s| u64::try_from(s).ok());
        for field in [
            self.ticks,
            self.ino,
            session,
            self.flags.map(u64::from),
            self.pid_ns,
        ] {
            tail.put(b":");
            if let Some(n) = field {
                tail.put_int(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        let digits = crate::text::decimal_len(u64::try_from(self.pid).unwrap_or(0));
        for _ in digits + tail.as_bytes().len()..min_len {
            out.put(b"0");
        }
        out.put_int(i64::from(self.pid));
        out.put(tail.as_bytes());
    }
}

/// What [`parse_pid`] accepts, for messages.
pub const PID_ACCEPTED: &str = "accepted: a process id, a decimal number from 1 to 2147483647";

/// What [`Stamp::parse`] accepts, for messages about `PDEATHSIG_PPID`.
pub(crate) const STAMP_ACCEPTED: &str =
    "accepted: a process id from 1 to 2147483647 (PDEATHSIG_PPID=$$), or PID:TICKS[:...] \
     as pdeathsig writes it";

/// Parses a pid as `PDEATHSIG_PPID` spells it: decimal digits only (leading
/// zeros allowed), 1 to `i32::MAX`. Takes bytes because environment values
/// and arguments need not be UTF-8.
pub fn parse_pid(text: &[u8]) -> Option<pid_t> {
    parse_decimal(text)
        .and_then(|n| pid_t::try_from(n).ok())
        .filter(|&pid| pid > 0)
}

impl core::fmt::Display for Stamp {
    /// `PID`, `PID:TICKS`, `PID:TICKS:WATCHED` or `PID:TICKS:[WATCHED]:INO`,
    /// as [`Stamp::parse`] reads.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut out = crate::error::FmtSink::new(f);
        self.write(&mut out, 0);
        out.finish()
    }
}

/// [`EnvConfig::from_lookup`]'s rules applied to one variable only, read
/// as [`EnvConfig::from_env`] reads.
fn one_variable(var: &'static str) -> Result<EnvConfig, Error> {
    #[cfg(feature = "std")]
    {
        use std::os::unix::ffi::OsStrExt;
        let value = std::env::var_os(var);
        EnvConfig::from_lookup(|name| (name == var).then_some(value.as_deref()?.as_bytes()))
    }
    #[cfg(not(feature = "std"))]
    {
        EnvConfig::from_lookup(|name| {
            if name == var {
                // SAFETY: as in EnvConfig::from_env.
                unsafe { lookup_raw(var) }
            } else {
                None
            }
        })
    }
}

/// The signal `PDEATHSIG` asks for: `Ok(None)` when unset or empty.
#[doc(hidden)]
pub fn requested_signal() -> Result<Option<Signal>, Error> {
    one_variable(PDEATHSIG).map(|config| config.signal)
}

/// The parent pid the spawner exported in `PDEATHSIG_PPID`: `Ok(None)` when
/// unset or empty.
#[doc(hidden)]
pub fn exported_parent() -> Result<Option<pid_t>, Error> {
    one_variable(PDEATHSIG_PPID).map(|config| config.parent)
}

/// `PDEATHSIG_PPID` whole, as the verdict uses it.
pub(crate) fn exported_stamp() -> Result<Option<Stamp>, Error> {
    one_variable(PDEATHSIG_PPID).map(|config| config.stamp)
}

/// `PDEATHSIG_ANCHOR` (tree mode's anchor as the parent passed it on).
pub(crate) fn exported_anchor() -> Result<Option<Anchor>, Error> {
    one_variable(PDEATHSIG_ANCHOR).map(|config| config.anchor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids() {
        assert_eq!(parse_pid(b"1"), Some(1));
        assert_eq!(parse_pid(b"4194304"), Some(4194304));
        assert_eq!(parse_pid(b"2147483647"), Some(i32::MAX));
        for bad in [
            &b""[..],
            b"0",
            b"-1",
            b"2147483648",
            b"12a",
            b" 1",
            b"1\n",
            b"\xff",
        ] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn anchors() {
        let full = Anchor::parse(b"42:7:9:0:2:11").unwrap();
        // Session 0: its leader is outside the writer's PID namespace.
        assert_eq!(full.session, Some(0));
        assert_eq!(full.flags, Some(2));
        assert_eq!(Anchor::parse(b"42").unwrap().session, None);
        assert_eq!(Anchor::parse(b"42:::17::").unwrap().session, Some(17));
        for bad in [
            &b"0"[..],
            b"42:::-1",
            b"42:::2147483648",
            b"42::::4",
            b"42:1:2:3:0:5:6",
        ] {
            assert_eq!(Anchor::parse(bad), None, "{bad:?}");
        }
        #[cfg(feature = "std")]
        {
            let mut storage = [0u8; 96];
            let mut text = crate::text::Buf::new(&mut storage);
            full.write(&mut text, 0);
            assert_eq!(text.as_bytes(), b"42:7:9:0:2:11");
        }
    }

    #[test]
    fn graces() {
        let ms = Duration::from_millis;
        assert_eq!(parse_grace(b"500ms"), Some(ms(500)));
        assert_eq!(parse_grace(b"5s"), Some(ms(5000)));
        assert_eq!(parse_grace(b"5"), Some(ms(5000)));
        assert_eq!(parse_grace(b"1MS"), Some(ms(1)));
        assert_eq!(parse_grace(b"3600"), Some(MAX_GRACE));
        assert_eq!(parse_grace(b"3600000ms"), Some(MAX_GRACE));
        for bad in [
            &b""[..],
            b"0",
            b"0ms",
            b"3601",
            b"3600001ms",
            b"1.5",
            b"1.5s",
            b"-1",
            b"+1",
            b" 1",
            b"1 s",
            b"s",
            b"ms",
            b"5m",
            b"5h",
            b"5sec",
            b"99999999999999999999999",
            b"18446744073709551615ms",
            b"18446744073709551615s",
            b"\xff",
        ] {
            assert_eq!(parse_grace(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(Mode::parse(b"prctl"), Some(Mode::Prctl));
        assert_eq!(Mode::parse(b"PROCESS"), Some(Mode::Process));
        assert_eq!(Mode::parse(b"Process"), Some(Mode::Process));
        assert_eq!(Mode::parse(b"tree"), Some(Mode::Tree));
        assert_eq!(Mode::parse(b"TREE"), Some(Mode::Tree));
        for bad in [&b""[..], b"proc", b"thread", b" process", b"process\n"] {
            assert_eq!(Mode::parse(bad), None, "{bad:?}");
        }
    }

    fn config(vars: &[(&str, &[u8])]) -> Result<EnvConfig, Error> {
        EnvConfig::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    #[test]
    fn env_configs() {
        assert_eq!(config(&[]), Ok(EnvConfig::default()));
        // Empty values count as unset.
        let empty: &[(&str, &[u8])] = &[
            (PDEATHSIG, b""),
            (PDEATHSIG_PPID, b""),
            (PDEATHSIG_MODE, b""),
            (PDEATHSIG_GRACE, b""),
        ];
        assert_eq!(config(empty), Ok(EnvConfig::default()));
        let full = config(&[
            (PDEATHSIG, b"sigterm"),
            (PDEATHSIG_PPID, b"42"),
            (PDEATHSIG_MODE, b"process"),
            (PDEATHSIG_GRACE, b"2s"),
        ])
        .unwrap();
        assert_eq!(full.signal, Some(Signal::TERM));
        assert_eq!(full.parent, Some(42));
        assert_eq!(full.mode, Mode::Process);
        assert_eq!(full.grace, Some(Duration::from_secs(2)));
        // A grace without process mode is an error, not ignored.
        assert_eq!(
            config(&[(PDEATHSIG, b"TERM"), (PDEATHSIG_GRACE, b"2s")]),
            Err(Error::GraceNeedsProcessMode)
        );
        assert_eq!(
            config(&[(PDEATHSIG_MODE, b"prctl"), (PDEATHSIG_GRACE, b"2s")]),
            Err(Error::GraceNeedsProcessMode)
        );
        // Each bad variable is named, even when PDEATHSIG is unset.
        for (var, value) in [
            (PDEATHSIG, &b"SIGFOO"[..]),
            (PDEATHSIG_PPID, b"0"),
            (PDEATHSIG_MODE, b"thread"),
            (PDEATHSIG_GRACE, b"1.5s"),
        ] {
            match config(&[(var, value), (PDEATHSIG_MODE, b"process")]) {
                Err(Error::InvalidEnv(bad)) => {
                    assert_eq!(bad.var(), var);
                    assert_eq!(bad.value(), value);
                }
                other => panic!("{var}={value:?}: {other:?}"),
            }
        }
    }
}
