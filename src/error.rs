//! The error type. Every variant carries an errno (what the C ABI reports)
//! and renders a one-line message without allocating (what the load-time
//! constructor prints).

use core::fmt;
use core::time::Duration;
use libc::{c_int, pid_t};

use crate::signal::{Signal, SIGNAL_ACCEPTED};
#[cfg(feature = "auto-arm")]
use crate::text::Buf;
use crate::text::Sink;

/// How many bytes of a bad environment value are kept for the message.
const VALUE_KEEP: usize = 40;

/// Why arming (or querying, or disarming) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The signal number is not 1 to 31 nor `SIGRTMIN` to `SIGRTMAX` (see
    /// [`Signal`](crate::Signal)). errno `EINVAL`.
    InvalidSignal(c_int),
    /// The expected parent pid is not a positive pid. errno `EINVAL`.
    InvalidParentPid(pid_t),
    /// An environment variable of the protocol holds a bad value. errno `EINVAL`.
    InvalidEnv(InvalidEnv),
    /// A `prctl(2)` call failed with this errno.
    Prctl {
        /// `"PR_SET_PDEATHSIG"` or `"PR_GET_PDEATHSIG"`.
        op: &'static str,
        /// The errno it failed with.
        errno: c_int,
    },
    /// The expected parent had already exited before the setting took effect,
    /// so the kernel will never send the signal. The guard sent it to this
    /// process itself, as the kernel would have; this error is what a caller
    /// that survives the signal (caught, ignored or blocked) gets back.
    /// The setting stays armed against the current parent (a reaper).
    /// errno `ESRCH`.
    ParentDied {
        /// The signal that was sent.
        signal: Signal,
        /// The parent we expected (explicit, `PDEATHSIG_PPID` or load time).
        expected: pid_t,
        /// `getppid()` after arming: the reaper we were reparented to.
        parent: pid_t,
    },
    /// A grace period was asked for (`PDEATHSIG_GRACE`, or
    /// [`Options::grace`](crate::Options::grace)) in prctl mode, where no
    /// watcher lives to send the SIGKILL: it needs `PDEATHSIG_MODE=process`
    /// ([`Mode::Process`](crate::Mode::Process)). Nothing is armed. errno `EINVAL`.
    GraceNeedsProcessMode,
    /// The grace period is outside 1 ms ..= 1 hour. errno `EINVAL`.
    InvalidGrace(Duration),
    /// Process mode could not start watching the parent: `op` is the call
    /// that failed (`"pidfd_open"`, `"pthread_create"`...). `pidfd_open`
    /// failing with `ENOSYS` means the kernel is older than Linux 5.3 (or a
    /// seccomp filter forbids it): process mode is unavailable, use prctl
    /// mode. Nothing is armed.
    Watch {
        /// The failed call.
        op: &'static str,
        /// The errno it failed with.
        errno: c_int,
    },
    /// Process mode with the parent outside our PID namespace
    /// (`getppid() == 0`): a pid from outside cannot be opened from inside
    /// (pidfd_open(2) resolves pids in the caller's namespace). Use prctl
    /// mode there. Nothing is armed. errno `EOPNOTSUPP`.
    ParentOutsideNamespace,
    /// Process mode is already watching a different parent in this process
    /// (one watcher per process). errno `EBUSY`.
    AlreadyWatching {
        /// The parent already watched.
        watched: pid_t,
        /// The parent asked for now.
        requested: pid_t,
    },
    /// The signal is armed, but this process ignores it (`SIG_IGN`, see
    /// sigaction(2)), so the parent's death will not end it: a background
    /// job started by a non-interactive shell inherits SIGINT and SIGQUIT
    /// ignored, and `nohup` ignores SIGHUP. The setting is in place (the
    /// signal acts if the program later resets the disposition or installs
    /// a handler); choose SIGTERM or SIGKILL instead. Not reported in
    /// process mode with a grace period, whose SIGKILL still ends the
    /// process. errno `ENOTSUP`.
    SignalIgnored {
        /// The signal that is ignored.
        signal: Signal,
        /// How the parent was found when arming.
        armed: crate::Armed,
    },
    /// Nothing was armed before in this process, so there is nothing to
    /// re-arm ([`rearm_parent_death_signal`](crate::rearm_parent_death_signal)).
    /// errno `EINVAL`.
    NothingToRearm,
}

/// A bad value found in the environment: the variable's name and the start
/// of its value (raw bytes, need not be UTF-8).
#[derive(Clone, PartialEq, Eq)]
pub struct InvalidEnv {
    var: &'static str,
    value: [u8; VALUE_KEEP],
    len: usize,
    truncated: bool,
}

impl InvalidEnv {
    pub(crate) fn new(var: &'static str, value: &[u8]) -> Self {
        let mut kept = [0u8; VALUE_KEEP];
        let len = value.len().min(VALUE_KEEP);
        if let (Some(dst), Some(src)) = (kept.get_mut(..len), value.get(..len)) {
            dst.copy_from_slice(src);
        }
        InvalidEnv {
            var,
            value: kept,
            len,
            truncated: value.len() > VALUE_KEEP,
        }
    }

    /// The variable's name, such as `PDEATHSIG`.
    pub fn var(&self) -> &'static str {
        self.var
    }

    /// The start of the bad value (at most 40 bytes).
    pub fn value(&self) -> &[u8] {
        self.value.get(..self.len).unwrap_or(&[])
    }
}

impl fmt::Debug for InvalidEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = FmtSink::new(f);
        out.put(self.var.as_bytes());
        out.put(b"=");
        self.put_value(&mut out);
        out.finish()
    }
}

impl InvalidEnv {
    fn put_value(&self, out: &mut dyn Sink) {
        out.put_quoted(self.value(), VALUE_KEEP);
        if self.truncated {
            out.put(b"...");
        }
    }
}

impl Error {
    /// The errno this error is reported with through the C ABI.
    pub fn errno(&self) -> c_int {
        match self {
            Error::InvalidSignal(_) | Error::InvalidParentPid(_) | Error::InvalidEnv(_) => {
                libc::EINVAL
            }
            Error::Prctl { errno, .. } | Error::Watch { errno, .. } => *errno,
            Error::ParentDied { .. } => libc::ESRCH,
            Error::SignalIgnored { .. } => libc::ENOTSUP,
            Error::GraceNeedsProcessMode | Error::InvalidGrace(_) | Error::NothingToRearm => {
                libc::EINVAL
            }
            Error::ParentOutsideNamespace => libc::EOPNOTSUPP,
            Error::AlreadyWatching { .. } => libc::EBUSY,
        }
    }

    /// Writes the one-line message (no `pdeathsig:` prefix, no newline).
    pub(crate) fn describe(&self, out: &mut dyn Sink) {
        match self {
            Error::InvalidSignal(n) => {
                out.put(b"invalid signal ");
                out.put_int(i64::from(*n));
                out.put(b": expected a number from 1 to 31 or from ");
                out.put_int(i64::from(libc::SIGRTMIN()));
                out.put(b" to ");
                out.put_int(i64::from(libc::SIGRTMAX()));
            }
            Error::InvalidParentPid(pid) => {
                out.put(b"invalid parent pid ");
                out.put_int(i64::from(*pid));
                out.put(b": expected a process id, a number from 1 to 2147483647");
            }
            Error::InvalidEnv(bad) => {
                out.put(b"invalid ");
                out.put(bad.var.as_bytes());
                out.put(b"=");
                bad.put_value(out);
                out.put(b"; ");
                if bad.var == crate::environ::PDEATHSIG {
                    out.put(SIGNAL_ACCEPTED.as_bytes());
                } else if bad.var == crate::environ::PDEATHSIG_PPID {
                    out.put(crate::environ::STAMP_ACCEPTED.as_bytes());
                } else if bad.var == crate::environ::PDEATHSIG_MODE {
                    out.put(b"accepted: prctl (the default), process or tree, any case");
                } else if bad.var == crate::environ::PDEATHSIG_ANCHOR {
                    out.put(
                        b"accepted: PID:TICKS:INO:SESSION:FLAGS:PIDNS as pdeathsig writes it in tree mode \
                          (unset it to let PDEATHSIG_PPID name the anchor)",
                    );
                } else if bad.var == crate::environ::PDEATHSIG_GRACE {
                    out.put(
                        b"accepted: a whole number of milliseconds or seconds from 1ms to 1 hour: \
                          500ms, 5s, or 5 (seconds)",
                    );
                }
            }
            Error::Prctl { op, errno } => {
                out.put(b"prctl(");
                out.put(op.as_bytes());
                out.put(b") failed: ");
                put_errno(out, *errno);
            }
            Error::ParentDied {
                signal,
                expected,
                parent,
            } => {
                out.put(b"parent process ");
                out.put_int(i64::from(*expected));
                out.put(b" had already exited when the guard was armed (parent is now ");
                out.put_int(i64::from(*parent));
                out.put(b"); sent ");
                signal.describe(out);
                out.put(b" to self and survived it");
            }
            Error::GraceNeedsProcessMode => {
                out.put(
                    b"PDEATHSIG_GRACE needs PDEATHSIG_MODE=process or tree: in prctl mode no \
                      watcher lives to send SIGKILL after the grace period",
                );
            }
            Error::InvalidGrace(grace) => {
                out.put(b"invalid grace period of ");
                let ms = grace.as_millis();
                out.put_int(i64::try_from(ms).unwrap_or(i64::MAX));
                out.put(b" ms: expected from 1 ms to 1 hour");
            }
            Error::Watch { op, errno } => {
                out.put(op.as_bytes());
                out.put(b" failed: ");
                put_errno(out, *errno);
                if *errno == libc::ENOSYS {
                    out.put(b"; process mode needs pidfd_open (Linux 5.3 or later), use PDEATHSIG_MODE=prctl");
                }
            }
            Error::ParentOutsideNamespace => {
                out.put(
                    b"process mode cannot watch a parent outside our PID namespace \
                      (getppid() is 0); use PDEATHSIG_MODE=prctl there",
                );
            }
            Error::AlreadyWatching { watched, requested } => {
                out.put(b"process mode already watches parent ");
                out.put_int(i64::from(*watched));
                out.put(b"; cannot also watch ");
                out.put_int(i64::from(*requested));
                out.put(b" (one watcher per process)");
            }
            Error::SignalIgnored { signal, .. } => {
                signal.describe(out);
                out.put(
                    b" is ignored in this process (SIG_IGN): armed, but the parent's death \
                      will not end it; use TERM or KILL",
                );
            }
            Error::NothingToRearm => {
                out.put(b"nothing to re-arm: no parent-death signal was armed in this process");
            }
        }
    }
}

/// `Invalid argument (os error 22)`, as std prints errors, via strerror_r(3).
fn put_errno(out: &mut dyn Sink, errno: c_int) {
    let mut text = [0u8; 128];
    match crate::sys::strerror(errno, &mut text) {
        Some(message) => {
            out.put(message);
            out.put(b" (os error ");
        }
        None => out.put(b"(os error "),
    }
    out.put_int(i64::from(errno));
    out.put(b")");
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = FmtSink::new(f);
        self.describe(&mut out);
        out.finish()
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    /// Keeps the errno as the `raw_os_error` and the message as the payload.
    fn from(err: Error) -> std::io::Error {
        let kind = std::io::Error::from_raw_os_error(err.errno()).kind();
        std::io::Error::new(kind, err)
    }
}

#[cfg(feature = "auto-arm")]
/// Writes a one-line message to standard error: `pdeathsig: <msg><suffix>`.
pub(crate) fn print_error(err: &Error, suffix: &[u8]) {
    let mut storage = [0u8; 400];
    let mut line = Buf::new(&mut storage);
    line.put(b"pdeathsig: ");
    err.describe(&mut line);
    line.put(suffix);
    let mut bytes = line.as_bytes();
    // Keep the newline even when the message was cut.
    if line.overflowed() {
        bytes = bytes.get(..bytes.len().saturating_sub(1)).unwrap_or(bytes);
    }
    crate::sys::write_stderr(bytes);
    crate::sys::write_stderr(b"\n");
}

/// Adapts a `fmt::Formatter` to [`Sink`]. Messages are ASCII by construction
/// (values are escaped), so every chunk is valid UTF-8.
pub(crate) struct FmtSink<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    result: fmt::Result,
}

impl<'a, 'b> FmtSink<'a, 'b> {
    pub(crate) fn new(f: &'a mut fmt::Formatter<'b>) -> Self {
        FmtSink { f, result: Ok(()) }
    }

    pub(crate) fn finish(self) -> fmt::Result {
        self.result
    }
}

impl Sink for FmtSink<'_, '_> {
    fn put(&mut self, bytes: &[u8]) {
        if self.result.is_ok() {
            let text = core::str::from_utf8(bytes).unwrap_or("\u{fffd}");
            self.result = self.f.write_str(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn messages_name_the_value() {
        let e = Error::InvalidEnv(InvalidEnv::new("PDEATHSIG", b"SIGFOO"));
        let msg = e.to_string();
        assert!(
            msg.starts_with("invalid PDEATHSIG=\"SIGFOO\"; accepted: "),
            "{msg}"
        );
        assert_eq!(e.errno(), libc::EINVAL);
        let e = Error::InvalidEnv(InvalidEnv::new("PDEATHSIG_PPID", b"\xff1"));
        assert!(e.to_string().contains("\"\\xff1\""), "{e}");
        let long = [b'9'; 100];
        let e = Error::InvalidEnv(InvalidEnv::new("PDEATHSIG_PPID", &long));
        assert!(e.to_string().contains("99\"..."), "{e}");
        let e = Error::Prctl {
            op: "PR_SET_PDEATHSIG",
            errno: libc::EINVAL,
        };
        assert_eq!(
            e.to_string(),
            "prctl(PR_SET_PDEATHSIG) failed: Invalid argument (os error 22)"
        );
        let io: std::io::Error = Error::InvalidSignal(99).into();
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
        assert!(io.to_string().contains("invalid signal 99"));
    }
}
