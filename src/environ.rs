//! The environment protocol: `PDEATHSIG` (which signal) and `PDEATHSIG_PPID`
//! (the pid the parent really had, exported by whoever spawned us).
//!
//! Reading uses getenv(3) and never allocates. Stamping (a process armed at
//! load time writes its own pid into `PDEATHSIG_PPID` for its children) is
//! the one place that may allocate, inside setenv(3).

use core::ffi::CStr;
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

const PDEATHSIG_C: &CStr = c"PDEATHSIG";
const PDEATHSIG_PPID_C: &CStr = c"PDEATHSIG_PPID";

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

/// Parses a pid: decimal digits only, 1 to `i32::MAX`.
pub(crate) fn parse_pid(text: &[u8]) -> Option<pid_t> {
    parse_decimal(text)
        .and_then(|n| pid_t::try_from(n).ok())
        .filter(|&pid| pid > 0)
}

/// The signal `PDEATHSIG` asks for: `Ok(None)` when unset or empty.
pub fn requested_signal() -> Result<Option<Signal>, Error> {
    match getenv(PDEATHSIG_C) {
        None => Ok(None),
        Some(text) => match Signal::parse(text) {
            Some(sig) => Ok(Some(sig)),
            None => Err(Error::InvalidEnv(InvalidEnv::new(PDEATHSIG, text))),
        },
    }
}

/// The parent pid the spawner exported in `PDEATHSIG_PPID`: `Ok(None)` when
/// unset or empty.
pub fn exported_parent() -> Result<Option<pid_t>, Error> {
    match getenv(PDEATHSIG_PPID_C) {
        None => Ok(None),
        Some(text) => match parse_pid(text) {
            Some(pid) => Ok(Some(pid)),
            None => Err(Error::InvalidEnv(InvalidEnv::new(PDEATHSIG_PPID, text))),
        },
    }
}

#[cfg(feature = "auto-arm")]
/// Writes `PDEATHSIG_PPID=<our pid>` into the environment so that children
/// that arm themselves compare against this process.
///
/// # Safety
///
/// setenv(3) is not thread-safe: no other thread may read or write the
/// environment meanwhile. The load-time constructor calls this before `main`.
pub(crate) unsafe fn stamp_own_pid() {
    let mut storage = [0u8; 16];
    let mut value = Buf::new(&mut storage);
    value.put_int(i64::from(crate::sys::getpid()));
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
}
