//! Thin wrappers over the few system calls the guard needs.
//!
//! Every function here is one libc call plus errno handling; the policy lives
//! in `arm.rs`. Nothing here allocates or panics: this code also runs in a
//! load-time constructor (see `load.rs`).

use libc::{c_int, pid_t};

/// The calling thread's `errno`.
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

#[cfg(feature = "capi")]
/// Sets the calling thread's `errno` (the C ABI reports failures this way).
pub(crate) fn set_errno(value: c_int) {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() = value }
}

/// `prctl(PR_SET_PDEATHSIG, sig)`; `sig == 0` clears the setting.
pub(crate) fn set_pdeathsig(sig: c_int) -> Result<(), c_int> {
    // SAFETY: PR_SET_PDEATHSIG reads only its integer argument; the unused
    // trailing arguments are passed as zero, as prctl(2) asks.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `prctl(PR_GET_PDEATHSIG, &sig)`: 0 when nothing is armed.
pub(crate) fn get_pdeathsig() -> Result<c_int, c_int> {
    let mut sig: c_int = 0;
    // SAFETY: PR_GET_PDEATHSIG writes one c_int through the pointer, which
    // points to a live local of that type.
    let rc = unsafe { libc::prctl(libc::PR_GET_PDEATHSIG, &mut sig as *mut c_int, 0, 0, 0) };
    if rc == 0 {
        Ok(sig)
    } else {
        Err(errno())
    }
}

/// `getppid(2)`: 0 when the parent is outside our PID namespace.
pub(crate) fn getppid() -> pid_t {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() }
}

/// `getpid(2)`.
pub(crate) fn getpid() -> pid_t {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

/// Sends `sig` to the whole calling process, as the kernel's parent-death
/// signal is (process-directed, not thread-directed like `raise(3)`).
pub(crate) fn kill_self(sig: c_int) {
    // SAFETY: kill has no memory-safety preconditions. If the signal's action
    // is to terminate, the process ends here; otherwise kill returns.
    unsafe {
        libc::kill(libc::getpid(), sig);
    }
}

#[cfg(feature = "auto-arm")]
/// Writes all of `bytes` to standard error, ignoring failures (there is no
/// one to report them to). Retries on EINTR and short writes.
pub(crate) fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return;
        }
        match bytes.get(n as usize..) {
            Some(rest) if n > 0 => bytes = rest,
            _ => return,
        }
    }
}

/// Reads the parent pid of `pid` from `/proc/PID/stat` (field 4), without
/// allocating. `None` when the process is gone or /proc is unreadable.
pub(crate) fn parent_of(pid: pid_t) -> Option<pid_t> {
    let mut path = [0u8; 32];
    use crate::text::Sink;
    let mut w = crate::text::Buf::new(&mut path);
    w.put(b"/proc/");
    w.put_int(pid as i64);
    w.put(b"/stat\0");
    if w.overflowed() {
        return None;
    }
    let mut stat = [0u8; 512];
    // SAFETY: `path` is NUL-terminated (written above, checked for overflow).
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the pointer and length describe the live buffer `stat`.
    let n = unsafe { libc::read(fd, stat.as_mut_ptr().cast(), stat.len()) };
    // SAFETY: `fd` was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    if n <= 0 {
        return None;
    }
    parse_stat_ppid(stat.get(..n as usize)?)
}

/// Field 4 of a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may itself contain spaces and ')', so parse from the last ')'.
pub(crate) fn parse_stat_ppid(stat: &[u8]) -> Option<pid_t> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    // After ") ": the state (one char), a space, then the ppid.
    let rest = stat.get(close + 2..)?;
    let mut fields = rest.split(|&b| b == b' ');
    let _state = fields.next()?;
    let ppid = fields.next()?;
    crate::text::parse_decimal(ppid).and_then(|v| pid_t::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_names() {
        assert_eq!(parse_stat_ppid(b"42 (sh) S 7 42 42 0"), Some(7));
        assert_eq!(parse_stat_ppid(b"42 (a) b) (c) R 9 1 1"), Some(9));
        assert_eq!(parse_stat_ppid(b"1 (init) S 0 1 1"), Some(0));
        assert_eq!(parse_stat_ppid(b"garbage"), None);
        assert_eq!(parse_stat_ppid(b"1 (x)"), None);
    }

    #[test]
    fn own_parent_from_proc() {
        assert_eq!(parent_of(getpid()), Some(getppid()));
    }
}
