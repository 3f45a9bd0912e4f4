//! The signal to deliver: a validated number, parsed from names such as
//! `TERM`, `SIGTERM`, `term`, `15`, `RTMIN+3`. See signal(7).

use core::fmt;
use libc::c_int;

use crate::text::{parse_decimal, Sink};

/// A valid signal number: a standard signal (1 to 31) or a real-time signal
/// from libc's `SIGRTMIN` to `SIGRTMAX` (34 to 64 with glibc).
///
/// The numbers between 31 and `SIGRTMIN` (32 and 33 with glibc) are refused:
/// the kernel would accept them, but the C library keeps them for itself
/// (thread cancellation, `setuid` across threads) and a program never sees
/// them, so a parent-death signal there would silently do nothing.
///
/// Plain numbers work everywhere a `Signal` does: every arming function takes
/// `impl Into<c_int>`, so `Signal::TERM` and `libc::SIGTERM` are both fine.
///
/// See signal(7) for what each signal means.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Signal(c_int);

/// Names accepted without the `SIG` prefix, in any case. The first name of a
/// number is the one it is displayed with. Stored as NUL-padded arrays, not
/// `&str`: a table of pointers would cost the preloaded library one
/// relocation per name at every program start.
const NAMES: &[([u8; NAME_LEN], c_int)] = &[
    (*b"HUP\0\0\0", libc::SIGHUP),
    (*b"INT\0\0\0", libc::SIGINT),
    (*b"QUIT\0\0", libc::SIGQUIT),
    (*b"ILL\0\0\0", libc::SIGILL),
    (*b"TRAP\0\0", libc::SIGTRAP),
    (*b"ABRT\0\0", libc::SIGABRT),
    (*b"IOT\0\0\0", libc::SIGIOT),
    (*b"BUS\0\0\0", libc::SIGBUS),
    (*b"FPE\0\0\0", libc::SIGFPE),
    (*b"KILL\0\0", libc::SIGKILL),
    (*b"USR1\0\0", libc::SIGUSR1),
    (*b"SEGV\0\0", libc::SIGSEGV),
    (*b"USR2\0\0", libc::SIGUSR2),
    (*b"PIPE\0\0", libc::SIGPIPE),
    (*b"ALRM\0\0", libc::SIGALRM),
    (*b"TERM\0\0", libc::SIGTERM),
    (*b"STKFLT", libc::SIGSTKFLT),
    (*b"CHLD\0\0", libc::SIGCHLD),
    (*b"CLD\0\0\0", libc::SIGCHLD),
    (*b"CONT\0\0", libc::SIGCONT),
    (*b"STOP\0\0", libc::SIGSTOP),
    (*b"TSTP\0\0", libc::SIGTSTP),
    (*b"TTIN\0\0", libc::SIGTTIN),
    (*b"TTOU\0\0", libc::SIGTTOU),
    (*b"URG\0\0\0", libc::SIGURG),
    (*b"XCPU\0\0", libc::SIGXCPU),
    (*b"XFSZ\0\0", libc::SIGXFSZ),
    (*b"VTALRM", libc::SIGVTALRM),
    (*b"PROF\0\0", libc::SIGPROF),
    (*b"WINCH\0", libc::SIGWINCH),
    (*b"IO\0\0\0\0", libc::SIGIO),
    (*b"POLL\0\0", libc::SIGPOLL),
    (*b"PWR\0\0\0", libc::SIGPWR),
    (*b"SYS\0\0\0", libc::SIGSYS),
];

/// Room for the longest name (`STKFLT`, `VTALRM`).
const NAME_LEN: usize = 6;

/// A table name without its NUL padding.
fn name_of(padded: &[u8; NAME_LEN]) -> &[u8] {
    let len = padded.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    padded.get(..len).unwrap_or(padded)
}

/// Longest input worth looking at: `SIGRTMAX-30` is 11 bytes.
const MAX_NAME_LEN: usize = 16;

/// What [`Signal::parse`] accepts, for error messages.
pub const SIGNAL_ACCEPTED: &str =
    "accepted: a signal name with or without SIG in any case (TERM, SIGTERM, term), \
     a number from 1 to 31 or from SIGRTMIN to SIGRTMAX (34 to 64 with glibc), \
     RTMIN, RTMIN+n, RTMAX, RTMAX-n";

impl Signal {
    /// `SIGHUP`.
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// `SIGINT`.
    pub const INT: Signal = Signal(libc::SIGINT);
    /// `SIGQUIT`.
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// `SIGKILL`: cannot be caught or ignored.
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// `SIGUSR1`.
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// `SIGUSR2`.
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// `SIGPIPE`.
    pub const PIPE: Signal = Signal(libc::SIGPIPE);
    /// `SIGALRM`.
    pub const ALRM: Signal = Signal(libc::SIGALRM);
    /// `SIGTERM`: the usual choice, lets the child clean up.
    pub const TERM: Signal = Signal(libc::SIGTERM);

    /// The signal numbered `n`, or `None` when `n` is neither a standard
    /// signal (1 to 31) nor between libc's `SIGRTMIN()` and `SIGRTMAX()`
    /// (see signal(7), and [`Signal`] on 32 and 33).
    pub fn from_raw(n: c_int) -> Option<Signal> {
        if (1..=31).contains(&n) || (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n) {
            Some(Signal(n))
        } else {
            None
        }
    }

    /// The signal number.
    pub const fn as_raw(self) -> c_int {
        self.0
    }

    /// Parses a signal as `PDEATHSIG` spells it: a name with or without
    /// `SIG` in any case (`TERM`, `SIGTERM`, `term`), a decimal number
    /// (`15`), or a real-time signal (`RTMIN`, `RTMIN+3`, `RTMAX-1`).
    ///
    /// Takes bytes because environment values need not be UTF-8.
    pub fn parse(text: &[u8]) -> Option<Signal> {
        if text.is_empty() || text.len() > MAX_NAME_LEN {
            return None;
        }
        if let Some(n) = parse_decimal(text) {
            return c_int::try_from(n).ok().and_then(Signal::from_raw);
        }
        let mut upper = [0u8; MAX_NAME_LEN];
        let upper = upper.get_mut(..text.len())?;
        upper.copy_from_slice(text);
        upper.make_ascii_uppercase();
        let name: &[u8] = upper.strip_prefix(b"SIG").unwrap_or(upper);
        if let Some(&(_, n)) = NAMES.iter().find(|(s, _)| name_of(s) == name) {
            return Some(Signal(n));
        }
        Self::parse_realtime(name)
    }

    /// `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n`, within the real-time range.
    fn parse_realtime(name: &[u8]) -> Option<Signal> {
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        let n = if let Some(rest) = name.strip_prefix(b"RTMIN") {
            match rest {
                [] => min,
                [b'+', digits @ ..] => min.checked_add(small(digits)?)?,
                _ => return None,
            }
        } else if let Some(rest) = name.strip_prefix(b"RTMAX") {
            match rest {
                [] => max,
                [b'-', digits @ ..] => max.checked_sub(small(digits)?)?,
                _ => return None,
            }
        } else {
            return None;
        };
        if (min..=max).contains(&n) {
            Some(Signal(n))
        } else {
            None
        }
    }

    /// Writes `SIGTERM`, `SIGRTMIN+3`, or `signal 33` (no name) to `out`.
    pub(crate) fn describe(self, out: &mut dyn Sink) {
        if let Some((name, _)) = NAMES.iter().find(|&&(_, n)| n == self.0) {
            out.put(b"SIG");
            out.put(name_of(name));
            return;
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        if self.0 == max {
            out.put(b"SIGRTMAX");
        } else if (min..max).contains(&self.0) {
            out.put(b"SIGRTMIN");
            if self.0 > min {
                out.put(b"+");
                out.put_int(i64::from(self.0 - min));
            }
        } else {
            out.put(b"signal ");
            out.put_int(i64::from(self.0));
        }
    }
}

fn small(digits: &[u8]) -> Option<c_int> {
    parse_decimal(digits).and_then(|n| c_int::try_from(n).ok())
}

impl From<Signal> for c_int {
    fn from(sig: Signal) -> c_int {
        sig.0
    }
}

impl fmt::Display for Signal {
    /// `SIGTERM`, `SIGRTMIN+3`, or `signal 33` for numbers without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = crate::error::FmtSink::new(f);
        self.describe(&mut out);
        out.finish()
    }
}

/// The error of `"...".parse::<Signal>()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseSignalError;

impl fmt::Display for ParseSignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid signal; {SIGNAL_ACCEPTED}")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParseSignalError {}

impl core::str::FromStr for Signal {
    type Err = ParseSignalError;

    /// Same rules as [`Signal::parse`].
    fn from_str(s: &str) -> Result<Signal, ParseSignalError> {
        Signal::parse(s.as_bytes()).ok_or(ParseSignalError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn names_numbers_and_realtime() {
        let rtmin = libc::SIGRTMIN();
        let rtmax = libc::SIGRTMAX();
        for (text, want) in [
            ("TERM", libc::SIGTERM),
            ("SIGTERM", libc::SIGTERM),
            ("term", libc::SIGTERM),
            ("sigTerm", libc::SIGTERM),
            ("15", libc::SIGTERM),
            ("kill", libc::SIGKILL),
            ("CLD", libc::SIGCHLD),
            ("1", 1),
            ("RTMIN", rtmin),
            ("SIGRTMIN+3", rtmin + 3),
            ("rtmax", rtmax),
            ("RTMAX-1", rtmax - 1),
        ] {
            assert_eq!(Signal::parse(text.as_bytes()), Some(Signal(want)), "{text}");
        }
        assert_eq!(
            Signal::parse(rtmax.to_string().as_bytes()),
            Some(Signal(rtmax))
        );
    }

    #[test]
    fn rejects() {
        for text in [
            "",
            "0",
            "65",
            "-9",
            "+9",
            " TERM",
            "TERM ",
            "SIGFOO",
            "SIG",
            "RTMIN+",
            "RTMIN+99",
            "RTMAX-99",
            "RTMIN-1",
            "RTMAX+1",
            "99999999999999999999",
            "4294967311",
            "SIGSIGTERM",
            "T\u{e9}RM",
        ] {
            assert_eq!(Signal::parse(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(Signal::parse(b"TE\xffRM"), None);
    }

    #[test]
    fn glibc_reserved_signals_are_refused() {
        for n in 32..libc::SIGRTMIN() {
            assert_eq!(Signal::from_raw(n), None, "{n}");
            assert_eq!(Signal::parse(n.to_string().as_bytes()), None, "{n}");
        }
        assert_eq!(Signal::from_raw(31), Some(Signal(31)));
        assert!(Signal::from_raw(libc::SIGRTMIN()).is_some());
        assert_eq!(Signal::from_raw(libc::SIGRTMAX() + 1), None);
    }

    #[test]
    fn display() {
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
        assert_eq!(Signal::parse(b"RTMIN+3").unwrap().to_string(), "SIGRTMIN+3");
        assert_eq!(
            Signal::from_raw(libc::SIGRTMAX()).unwrap().to_string(),
            "SIGRTMAX"
        );
        assert_eq!(Signal::from_raw(0), None);
        assert_eq!("sigint".parse::<Signal>(), Ok(Signal::INT));
        assert!("nope".parse::<Signal>().is_err());
    }
}
