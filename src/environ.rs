//! The environment protocol: `PDEATHSIG` (which signal), `PDEATHSIG_PPID`
//! (the pid the parent really had, exported by whoever spawned us),
//! `PDEATHSIG_MODE` (`prctl` or `process`) and `PDEATHSIG_GRACE` (the delay
//! before SIGKILL, process mode only).
//!
//! Parsing is pure ([`EnvConfig::from_lookup`]); reading uses getenv(3) and
//! never allocates. Stamping (a process armed at load time writes its own
//! pid into `PDEATHSIG_PPID` for its children) is the one place that may
//! allocate, inside setenv(3).

use core::ffi::CStr;
use core::time::Duration;
use libc::pid_t;

use crate::error::{Error, InvalidEnv};
use crate::signal::Signal;
use crate::text::parse_decimal;
#[cfg(feature = "auto-arm")]
use crate::text::{Buf, Sink};

/// Name of the variable that asks for arming at load time: a signal such as
/// `TERM`, `SIGKILL`, `15` or `RTMIN+2`. Unset or empty: do nothing.
pub const PDEATHSIG: &str = "PDEATHSIG";

/// Name of the variable holding the expected parent's pid, exported by the
/// spawner into the child's environment. Closes the start-up race.
pub const PDEATHSIG_PPID: &str = "PDEATHSIG_PPID";

/// Name of the variable choosing how the parent is watched: `prctl` (the
/// default: the kernel's `PR_SET_PDEATHSIG`, zero threads, but it fires when
/// the parent *thread* exits) or `process` (a watcher thread polls a pidfd
/// on the parent *process*). ASCII case is ignored (`PROCESS` is fine).
/// See PR_SET_PDEATHSIG(2const) and pidfd_open(2).
#[doc(alias = "pidfd_open")]
pub const PDEATHSIG_MODE: &str = "PDEATHSIG_MODE";

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

const PDEATHSIG_C: &CStr = c"PDEATHSIG";
const PDEATHSIG_PPID_C: &CStr = c"PDEATHSIG_PPID";
const PDEATHSIG_MODE_C: &CStr = c"PDEATHSIG_MODE";
const PDEATHSIG_GRACE_C: &CStr = c"PDEATHSIG_GRACE";

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
}

impl Mode {
    /// Parses `prctl` or `process`, ignoring ASCII case.
    pub fn parse(text: &[u8]) -> Option<Mode> {
        if text.eq_ignore_ascii_case(b"prctl") {
            Some(Mode::Prctl)
        } else if text.eq_ignore_ascii_case(b"process") {
            Some(Mode::Process)
        } else {
            None
        }
    }

    /// `"prctl"` or `"process"`: the value `PDEATHSIG_MODE` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Prctl => "prctl",
            Mode::Process => "process",
        }
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
    /// `PDEATHSIG_MODE`: [`Mode::Prctl`] when unset.
    pub mode: Mode,
    /// `PDEATHSIG_GRACE`: the delay before SIGKILL (process mode only).
    pub grace: Option<Duration>,
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
            config.parent = Some(parse_pid(text).ok_or_else(|| bad(PDEATHSIG_PPID, text))?);
        }
        if let Some(text) = get(PDEATHSIG_MODE) {
            config.mode = Mode::parse(text).ok_or_else(|| bad(PDEATHSIG_MODE, text))?;
        }
        if let Some(text) = get(PDEATHSIG_GRACE) {
            config.grace = Some(parse_grace(text).ok_or_else(|| bad(PDEATHSIG_GRACE, text))?);
        }
        if config.grace.is_some() && config.mode != Mode::Process {
            return Err(Error::GraceNeedsProcessMode);
        }
        Ok(config)
    }

    /// [`EnvConfig::from_lookup`] over the process environment (getenv(3)).
    ///
    /// # Errors
    ///
    /// As [`EnvConfig::from_lookup`].
    #[doc(alias = "getenv")]
    pub fn from_env() -> Result<EnvConfig, Error> {
        EnvConfig::from_lookup(lookup_env)
    }

    /// [`EnvConfig::from_env`] when `PDEATHSIG` is set, `Ok(None)` (and no
    /// other variable read) when it is not: the load-time constructor's
    /// fast path is one getenv(3), and `PDEATHSIG` is read only once.
    pub(crate) fn from_env_if_requested() -> Result<Option<EnvConfig>, Error> {
        let Some(signal) = getenv(PDEATHSIG_C) else {
            return Ok(None);
        };
        EnvConfig::from_lookup(|name| match name {
            PDEATHSIG => Some(signal),
            other => lookup_env(other),
        })
        .map(Some)
    }
}

/// The protocol's variables, by name, from the process environment.
fn lookup_env(name: &str) -> Option<&'static [u8]> {
    match name {
        PDEATHSIG => getenv(PDEATHSIG_C),
        PDEATHSIG_PPID => getenv(PDEATHSIG_PPID_C),
        PDEATHSIG_MODE => getenv(PDEATHSIG_MODE_C),
        PDEATHSIG_GRACE => getenv(PDEATHSIG_GRACE_C),
        _ => None,
    }
}

/// [`EnvConfig::from_lookup`]'s rules applied to one variable only, read
/// from the environment.
fn one_variable(var: &'static str) -> Result<EnvConfig, Error> {
    EnvConfig::from_lookup(|name| if name == var { lookup_env(var) } else { None })
}

/// getenv(3) as bytes. Empty values count as unset.
fn getenv(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: `name` is NUL-terminated. getenv returns NULL or a pointer into
    // the environment, which stays valid until the variable is changed;
    // callers use the bytes at once (the 'static lifetime is not relied on
    // across any setenv).
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: a non-NULL getenv result is a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
    if bytes.is_empty() {
        None
    } else {
        Some(bytes)
    }
}

/// What [`parse_pid`] accepts, for messages.
pub const PID_ACCEPTED: &str = "accepted: a process id, a decimal number from 1 to 2147483647";

/// Parses a pid as `PDEATHSIG_PPID` spells it: decimal digits only (leading
/// zeros allowed), 1 to `i32::MAX`. Takes bytes because environment values
/// and arguments need not be UTF-8.
pub fn parse_pid(text: &[u8]) -> Option<pid_t> {
    parse_decimal(text)
        .and_then(|n| pid_t::try_from(n).ok())
        .filter(|&pid| pid > 0)
}

/// The signal `PDEATHSIG` asks for: `Ok(None)` when unset or empty.
pub fn requested_signal() -> Result<Option<Signal>, Error> {
    one_variable(PDEATHSIG).map(|config| config.signal)
}

/// The parent pid the spawner exported in `PDEATHSIG_PPID`: `Ok(None)` when
/// unset or empty.
pub fn exported_parent() -> Result<Option<pid_t>, Error> {
    one_variable(PDEATHSIG_PPID).map(|config| config.parent)
}

#[cfg(feature = "auto-arm")]
/// Writes `PDEATHSIG_PPID=<our pid>` into the environment so that children
/// that arm themselves compare against this process.
///
/// When the spawner already set `PDEATHSIG_PPID` and the value lies in the
/// environment block the kernel wrote on the main thread's stack at exec,
/// the digits are overwritten in place (padded with leading zeros, which
/// [`parse_pid`] accepts): no allocation. Otherwise (unset, too short, or a
/// string that setenv(3)/putenv(3) put elsewhere) it falls back to setenv(3).
/// In-place stamping also changes the value that a Go program (cgo) reads
/// from the initial stack for its own `os.Environ`.
///
/// # Safety
///
/// No other thread may read or write the environment meanwhile (setenv(3)
/// is not thread-safe either). The load-time constructor calls this before
/// `main`.
pub(crate) unsafe fn stamp_own_pid() {
    let mut storage = [0u8; 16];
    let mut value = Buf::new(&mut storage);
    value.put_int(i64::from(crate::sys::getpid()));
    if value.overflowed() {
        return;
    }
    let digits = value.as_bytes();

    // SAFETY: the name is NUL-terminated; the result is NULL or a pointer to
    // the NUL-terminated value inside the environment.
    let current = unsafe { libc::getenv(PDEATHSIG_PPID_C.as_ptr()) };
    if !current.is_null() {
        // SAFETY: a non-NULL getenv result is a NUL-terminated string.
        let old_len = unsafe { CStr::from_ptr(current) }.to_bytes().len();
        // Where the kernel put the initial environment: the strings lie
        // between the `environ` array (argc, argv[], envp[] and the auxiliary
        // vector come first, at the initial stack pointer) and the executable
        // name of AT_EXECFN, which execve(2) copies to the very top of the
        // new stack, above the environment strings. Both bounds and the
        // string are then on the main thread's stack, above our own frame
        // (`marker`): one writable mapping. The thread check matters only
        // under dlopen(3) from another thread, whose stack is elsewhere.
        let marker = 0u8;
        let frame = core::ptr::addr_of!(marker) as usize;
        // SAFETY: `environ` is libc's variable; reading the pointer is a plain
        // load (the caller guarantees no concurrent writer).
        let array = unsafe { core::ptr::addr_of!(libc::environ).read() } as usize;
        // SAFETY: getauxval has no preconditions; 0 when AT_EXECFN is absent.
        let top = unsafe { libc::getauxval(libc::AT_EXECFN) } as usize;
        // SAFETY: gettid has no preconditions.
        let main_thread =
            unsafe { libc::syscall(libc::SYS_gettid) } as i64 == i64::from(crate::sys::getpid());
        let start = current as usize;
        let in_initial_block = main_thread
            && top != 0
            && frame < array
            && array < start
            && start.checked_add(old_len + 1).is_some_and(|end| end <= top);
        if in_initial_block && digits.len() <= old_len {
            let pad = old_len - digits.len();
            // SAFETY: `[start, start + old_len)` holds the value's bytes, on
            // the main thread's stack (checked above), so it is mapped and
            // writable. The environment owns it (the kernel wrote it there,
            // or a putenv(3) made it part of the environment, which POSIX
            // says changes when the string does). Only existing digits are
            // replaced: the length and the NUL stay, so no reader can run
            // past the end. No other thread reads it (caller's guarantee).
            unsafe {
                let dst = current.cast::<u8>();
                core::ptr::write_bytes(dst, b'0', pad);
                core::ptr::copy_nonoverlapping(digits.as_ptr(), dst.add(pad), digits.len());
            }
            return;
        }
    }

    value.put(b"\0");
    if value.overflowed() {
        return;
    }
    // SAFETY: both strings are NUL-terminated; the caller guarantees that no
    // other thread touches the environment. A failure (ENOMEM) leaves the old
    // value, which the ancestor rule in arm.rs tolerates.
    unsafe {
        libc::setenv(
            PDEATHSIG_PPID_C.as_ptr(),
            value.as_bytes().as_ptr().cast(),
            1,
        );
    }
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
