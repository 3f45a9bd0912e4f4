//! The system-call layer: every libc call the guard makes, one thin wrapper
//! each, with its man page and the argument for its `unsafe`.
//!
//! Policy lives elsewhere (`verdict.rs` judges, `arm.rs` and `watch/`
//! arm); a reviewer audits the unsafe surface here, in one file. Nothing
//! here allocates or panics: this code also runs in a load-time constructor
//! (see `load.rs`) and in the watcher thread. Failures come back as the
//! errno (`Err(c_int)`), which callers turn into [`crate::Error`].

use core::ptr;
use libc::{c_int, c_void, pid_t};

/// The calling thread's `errno`. See errno(3).
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

/// `Ok(())` for a zero return, the errno otherwise.
fn check(rc: c_int) -> Result<(), c_int> {
    if rc == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `prctl(PR_SET_PDEATHSIG, sig)`; `sig == 0` clears the setting.
/// See PR_SET_PDEATHSIG(2const).
pub(crate) fn set_pdeathsig(sig: c_int) -> Result<(), c_int> {
    // SAFETY: PR_SET_PDEATHSIG reads only its integer argument; the unused
    // trailing arguments are passed as zero, as prctl(2) asks.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) })
}

/// `prctl(PR_GET_PDEATHSIG, &sig)`: 0 when nothing is armed.
/// See PR_GET_PDEATHSIG(2const).
pub(crate) fn get_pdeathsig() -> Result<c_int, c_int> {
    let mut sig: c_int = 0;
    // SAFETY: PR_GET_PDEATHSIG writes one c_int through the pointer, which
    // points to a live local of that type.
    check(unsafe { libc::prctl(libc::PR_GET_PDEATHSIG, &mut sig as *mut c_int, 0, 0, 0) })?;
    Ok(sig)
}

/// `prctl(PR_SET_NAME, name)`: names the calling thread. See
/// PR_SET_NAME(2const).
pub(crate) fn set_thread_name(name: &core::ffi::CStr) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes
    // (longer ones are truncated by the kernel); `name` is one.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
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

/// `gettid(2)`: the calling thread's id (the pid, on the main thread).
pub(crate) fn gettid() -> pid_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as pid_t }
}

#[cfg(feature = "capi")]
/// Does thread `tid` of this process still exist (tgkill(2) with signal
/// 0)? A thread that has exited answers ESRCH.
pub(crate) fn thread_alive(tid: pid_t) -> bool {
    // SAFETY: tgkill with signal 0 only checks that the thread exists; it
    // takes no pointers.
    let rc = unsafe { libc::syscall(libc::SYS_tgkill, getpid(), tid, 0 as c_int) };
    rc == 0 || errno() != libc::ESRCH
}

/// `kill(pid, sig)`. See kill(2).
pub(crate) fn kill(pid: pid_t, sig: c_int) -> Result<(), c_int> {
    // SAFETY: kill has no memory-safety preconditions.
    check(unsafe { libc::kill(pid, sig) })
}

/// Sends `sig` to the whole calling process, as the kernel's parent-death
/// signal is (process-directed, not thread-directed like `raise(3)`). If
/// the signal's action is to terminate, the process ends here.
pub(crate) fn kill_self(sig: c_int) {
    let _ = kill(getpid(), sig);
}

/// Is `sig` ignored (`SIG_IGN`) in this process? See sigaction(2).
/// False when the disposition cannot be read.
pub(crate) fn signal_ignored(sig: c_int) -> bool {
    // SAFETY: sigaction is a plain C struct; all-zero is a valid value, and
    // sigaction(2) fills it in.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: a NULL new action only reads the current one into `old`, a
    // live local of the right type.
    let rc = unsafe { libc::sigaction(sig, ptr::null(), &mut old) };
    rc == 0 && old.sa_sigaction == libc::SIG_IGN
}

#[cfg(feature = "std")]
/// Sets `sig` to `SIG_DFL` if a handler catches it; leaves an ignored or
/// default disposition alone (execve(2) keeps ignored signals ignored and
/// resets caught ones). Async-signal-safe: only sigaction(2). See
/// sigaction(2).
pub(crate) fn reset_caught_signal(sig: c_int) {
    // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags,
    // SIG_DFL); sigaction reads and writes only these two live locals.
    // Failure (SIGKILL, SIGSTOP) leaves the disposition as it was.
    unsafe {
        let mut old: libc::sigaction = core::mem::zeroed();
        if libc::sigaction(sig, ptr::null(), &mut old) != 0 {
            return;
        }
        if old.sa_sigaction == libc::SIG_IGN || old.sa_sigaction == libc::SIG_DFL {
            return;
        }
        let dfl: libc::sigaction = core::mem::zeroed();
        libc::sigaction(sig, &dfl, ptr::null_mut());
    }
}

/// strerror_r(3) (the XSI version) into `buf`: the message's bytes, or
/// `None` for an unknown errno or a buffer too small.
pub(crate) fn strerror(errno: c_int, buf: &mut [u8]) -> Option<&[u8]> {
    // SAFETY: strerror_r (the XSI version, which the libc crate binds) writes
    // a NUL-terminated string of at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0)?;
    buf.get(..end)
}

#[cfg(feature = "auto-arm")]
/// A private anonymous mapping of `len` bytes, readable and writable,
/// zero-filled; never unmapped by its callers. See mmap(2).
pub(crate) fn map_anonymous(len: usize) -> Result<*mut c_void, c_int> {
    // SAFETY: an anonymous private mapping at an address the kernel picks
    // touches no existing memory; the result is checked for MAP_FAILED.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(addr)
    }
}

#[cfg(feature = "auto-arm")]
/// Where the kernel put the initial environment: the address of libc's
/// `environ` array and of the AT_EXECFN string (getauxval(3)), 0 if absent.
///
/// # Safety
///
/// No other thread may change the environment meanwhile.
pub(crate) unsafe fn initial_environment_bounds() -> (usize, usize) {
    // SAFETY: `environ` is libc's variable; reading the pointer is a plain
    // load (the caller guarantees no concurrent writer).
    let array = unsafe { ptr::addr_of!(libc::environ).read() } as usize;
    // SAFETY: getauxval has no preconditions; 0 when AT_EXECFN is absent.
    let top = unsafe { libc::getauxval(libc::AT_EXECFN) } as usize;
    (array, top)
}

/// `pidfd_open(pid, 0)` (Linux 5.3+): a close-on-exec descriptor that polls
/// readable once the process has exited. See pidfd_open(2).
pub(crate) fn pidfd_open(pid: pid_t) -> Result<c_int, c_int> {
    // SAFETY: pidfd_open takes a pid and a flags word and returns a new
    // file descriptor or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        Err(errno())
    } else {
        c_int::try_from(fd).map_err(|_| libc::EBADF)
    }
}

/// The magic number of pidfs, the file system of pidfds since Linux 6.9
/// (`PID_FS_MAGIC`, linux/magic.h).
const PID_FS_MAGIC: i64 = 0x5049_4446;

/// The pidfs inode number of process `pid`: fstat(2) of a pidfd, checked
/// to be pidfs by fstatfs(2) (before Linux 6.9 every pidfd shares one
/// anonymous inode, which identifies nothing: then `Err(ENOTSUP)`). Unique
/// since boot across all PID namespaces and handed out when the process is
/// created (alloc_pid), in increasing order. See pidfd_open(2).
pub(crate) fn pidfs_ino(pid: pid_t) -> Result<u64, c_int> {
    let fd = pidfd_open(pid)?;
    // `as`: f_type is a __fsword_t, whose width varies by architecture.
    // SAFETY: both structs are plain C data (all-zero is valid) that the
    // calls fill in; `fd` is the descriptor opened just above, closed once
    // below.
    let result = unsafe {
        let mut fs: libc::statfs = core::mem::zeroed();
        let mut st: libc::stat = core::mem::zeroed();
        if libc::fstatfs(fd, &mut fs) != 0 {
            Err(errno())
        } else if fs.f_type as i64 != PID_FS_MAGIC {
            Err(libc::ENOTSUP)
        } else if libc::fstat(fd, &mut st) != 0 {
            Err(errno())
        } else {
            Ok(st.st_ino)
        }
    };
    close(fd);
    result
}

/// The inode number of this process's PID namespace (stat(2) of
/// `/proc/self/ns/pid`; the link follows the process, whichever PID
/// namespace the /proc mount belongs to, as long as it shows us); `None`
/// when it cannot be read. See pid_namespaces(7), namespaces(7).
pub(crate) fn pid_namespace() -> Option<u64> {
    // SAFETY: an all-zero stat is valid output space; the path is a
    // NUL-terminated literal.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above; stat writes only into `st`.
    let rc = unsafe { libc::stat(c"/proc/self/ns/pid".as_ptr(), &mut st) };
    (rc == 0).then_some(st.st_ino)
}

/// `close(fd)`, once, for a descriptor the caller owns. See close(2).
pub(crate) fn close(fd: c_int) {
    // SAFETY: callers pass an fd they opened and still own, exactly once.
    unsafe { libc::close(fd) };
}

/// poll(2) for `POLLIN` on one descriptor: `Ok(revents)` (0 on timeout),
/// or the errno. `timeout_ms < 0` waits without limit.
pub(crate) fn poll_in(fd: c_int, timeout_ms: c_int) -> Result<libc::c_short, c_int> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(pfd.revents)
    }
}

/// poll(2) for `POLLIN` on up to two descriptors (a negative one is
/// skipped, as poll(2) does): `Ok([revents; 2])`, zeros on timeout.
pub(crate) fn poll_in_two(fds: [c_int; 2], timeout_ms: c_int) -> Result<[libc::c_short; 2], c_int> {
    let mut pfds = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: two valid pollfds for the duration of the call.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), 2, timeout_ms) };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(pfds.map(|p| p.revents))
    }
}

/// `getsid(0)`: the calling process's session; 0 when the session's leader
/// is outside the caller's PID namespace (a container entered from outside).
/// See getsid(2).
pub(crate) fn getsid() -> pid_t {
    // SAFETY: getsid takes a pid and cannot fail for the caller itself.
    unsafe { libc::getsid(0) }
}

/// How the process behind `fd` (a pidfd) ended, once it has been reaped:
/// `Ok(Some(wait status))`, `Ok(None)` while it is not (a zombie, or still
/// running); `Err(errno)` where the kernel cannot tell (PIDFD_GET_INFO
/// with PIDFD_INFO_EXIT needs Linux 6.15), and `Err(ESRCH)` for a moment
/// right after the reap, before the kernel has recorded the status. See
/// pidfd_open(2), ioctl_pidfd(2).
pub(crate) fn pidfd_exit_status(fd: c_int) -> Result<Option<c_int>, c_int> {
    /// struct pidfd_info of linux/pidfd.h (its first 88 bytes, which every
    /// kernel that has the ioctl fills in).
    #[repr(C)]
    struct PidfdInfo {
        mask: u64,
        cgroupid: u64,
        ids: [u32; 11],
        exit_code: i32,
        coredump_mask: u32,
        spare: u32,
    }
    const PIDFD_INFO_EXIT: u64 = 1 << 3;
    // _IOWR(0xFF, 11, struct pidfd_info): direction 3, size 64, type, nr.
    const PIDFD_GET_INFO: libc::c_ulong =
        (3 << 30) | ((core::mem::size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_EXIT,
        cgroupid: 0,
        ids: [0; 11],
        exit_code: 0,
        coredump_mask: 0,
        spare: 0,
    };
    // SAFETY: PIDFD_GET_INFO reads `mask` and writes at most the size
    // encoded in the request into `info`, a live local of that size.
    let rc = unsafe { libc::ioctl(fd, PIDFD_GET_INFO as _, &mut info as *mut PidfdInfo) };
    if rc != 0 {
        return Err(errno());
    }
    Ok((info.mask & PIDFD_INFO_EXIT != 0).then_some(info.exit_code))
}

/// Has the process behind the pidfd exited (poll(2) with no wait)?
pub(crate) fn pidfd_exited(fd: c_int) -> bool {
    matches!(poll_in(fd, 0), Ok(revents) if revents & libc::POLLIN != 0)
}

/// Is close_range(2) there (Linux 5.9+, not refused by a seccomp filter)?
pub(crate) fn close_range_available() -> bool {
    // SAFETY: close_range on the empty range [MAX, MAX] closes nothing; it
    // only tells whether the system call is available.
    unsafe { libc::syscall(libc::SYS_close_range, u32::MAX, u32::MAX, 0u32) == 0 }
}

/// unshare(2) `CLONE_FILES`: the calling thread stops sharing its
/// descriptor table with the process's other threads and takes a copy.
pub(crate) fn unshare_descriptor_table() -> bool {
    // SAFETY: unshare(CLONE_FILES) takes no pointers; it gives this thread
    // a private copy of the descriptor table (a no-op if it shares it with
    // no other thread).
    unsafe { libc::unshare(libc::CLONE_FILES) == 0 }
}

/// Gives the calling thread a descriptor table of its own, emptied but for
/// `keep` (a descriptor the thread was handed, if any): what it opens next
/// is invisible to the program. False (nothing changed) where
/// close_range(2) (Linux 5.9+) or unshare(2) `CLONE_FILES` is missing or
/// refused (a seccomp filter), and the table stays shared.
pub(crate) fn private_descriptor_table(keep: Option<c_int>) -> bool {
    if !close_range_available() || !unshare_descriptor_table() {
        return false;
    }
    let close_range = |first: u32, last: u32| {
        // SAFETY: closes descriptors of this thread's own table only (the
        // program's is untouched): it must not keep the program's pipes
        // and sockets open behind its back.
        unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    };
    match keep.and_then(|fd| u32::try_from(fd).ok()) {
        Some(fd) => {
            if fd > 0 {
                close_range(0, fd - 1);
            }
            if fd < u32::MAX {
                close_range(fd + 1, u32::MAX);
            }
        }
        None => close_range(0, u32::MAX),
    }
    true
}

/// Writes `bytes` to the program's stderr from the watcher thread, whose
/// descriptor table may be private (see [`private_descriptor_table`]) and
/// then has no descriptor 2: borrows the program's descriptor 2 with
/// pidfd_getfd(2) (Linux 5.6+; the same open file, so the same offset and
/// flags) and closes the copy at once, so that nothing is kept open behind
/// the program's back. Where that fails (a shared table on an older
/// kernel) writes to descriptor 2 itself; nothing if stderr is closed.
pub(crate) fn write_program_stderr(bytes: &[u8]) {
    let borrowed = pidfd_open(getpid()).ok().and_then(|me| {
        // SAFETY: pidfd_getfd takes a pidfd, a descriptor number and a
        // flags word and returns a new descriptor or -1; no memory is
        // passed. A process may always take descriptors of its own.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, me, 2 as c_int, 0 as libc::c_uint) };
        close(me);
        c_int::try_from(fd).ok().filter(|&fd| fd >= 0)
    });
    match borrowed {
        Some(fd) => {
            write_all(fd, bytes);
            close(fd);
        }
        None => write_stderr(bytes),
    }
}

/// sched_yield(2).
pub(crate) fn sched_yield() {
    // SAFETY: sched_yield has no preconditions.
    unsafe { libc::sched_yield() };
}

/// nanosleep(2) for `ms` milliseconds, resumed after signal handlers.
pub(crate) fn sleep_ms(ms: u32) {
    let mut req = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: (ms % 1000) as libc::c_long * 1_000_000,
    };
    let mut rem = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both pointers are to live timespecs.
    while unsafe { libc::nanosleep(&req, &mut rem) } == -1 && errno() == libc::EINTR {
        req = rem;
    }
}

#[cfg(feature = "capi")]
/// Is this a fully static executable (no program interpreter: getauxval(3)
/// `AT_BASE` is 0)? There the C library's set*id definitions replace
/// glibc's at link time. Reads the auxiliary vector: no system call, no
/// lock, so the watcher thread may ask.
pub(crate) fn statically_linked() -> bool {
    // SAFETY: getauxval reads the auxiliary vector; it takes no pointers.
    unsafe { libc::getauxval(libc::AT_BASE) == 0 }
}

/// Sleeps `ms` milliseconds or until a signal handler runs in this thread
/// (one nanosleep(2), EINTR not retried).
pub(crate) fn nap_ms(ms: u32) {
    let req = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: (ms % 1000) as libc::c_long * 1_000_000,
    };
    // SAFETY: the request points to a live timespec; no remainder wanted.
    unsafe { libc::nanosleep(&req, ptr::null_mut()) };
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times
/// (sysconf(3) `_SC_CLK_TCK`, from the auxiliary vector: no system call).
pub(crate) fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&hz| hz > 0).unwrap_or(100)
}

/// `CLOCK_BOOTTIME` now, in clock ticks since boot: the clock and unit of
/// the start time in `/proc/PID/stat` (field 22), rounded down the same
/// way. See clock_gettime(2) (a vDSO call: no system call) and proc_pid_stat(5).
pub(crate) fn boot_ticks() -> Option<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the pointer is to a live timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) } != 0 {
        return None;
    }
    let hz = clock_ticks_per_second();
    let secs = u64::try_from(now.tv_sec).ok()?;
    let nanos = u64::try_from(now.tv_nsec).ok()?;
    secs.checked_mul(hz)?
        .checked_add(nanos / (1_000_000_000 / hz))
}

/// What the guard reads of `/proc/PID/stat`. See proc_pid_stat(5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Field 1: the pid, as this /proc names it.
    pub pid: pid_t,
    /// Field 3: `R`, `S`, `Z` (zombie), `X` (dead)...
    pub state: u8,
    /// Field 4: the parent pid (0 for a namespace's init).
    pub ppid: pid_t,
    /// Field 9: the kernel's task flags (`PF_EXITING` among them).
    pub flags: u64,
    /// Field 20: the number of threads.
    pub threads: u64,
    /// Field 22: when the process started, in clock ticks since boot.
    pub start: u64,
}

/// `PF_EXITING` of include/linux/sched.h: set at the very start of exit,
/// before the process's children are handed to a reaper. A child that
/// already sees its new parent can find the old one in this state, not yet
/// a zombie (a preempted virtual CPU stretches that window).
const PF_EXITING: u64 = 0x4;

impl ProcStat {
    /// Exiting, a zombie or a dead task: exited, whatever else its entry
    /// still says.
    pub fn exited(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x') || self.flags & PF_EXITING != 0
    }
}

/// Reads `/proc/self/stat` (`pid == None`) or `/proc/PID/stat`, without
/// allocating. `Err(errno)` of open(2) or read(2) when the entry is missing
/// or hidden (hidepid), `Err(EINVAL)` when it does not parse.
pub(crate) fn proc_stat(pid: Option<pid_t>) -> Result<ProcStat, c_int> {
    use crate::text::Sink;
    let mut path = [0u8; 32];
    let mut w = crate::text::Buf::new(&mut path);
    w.put(b"/proc/");
    match pid {
        Some(pid) => w.put_int(i64::from(pid)),
        None => w.put(b"self"),
    }
    w.put(b"/stat\0");
    if w.overflowed() {
        return Err(libc::EINVAL);
    }
    let mut stat = [0u8; 512];
    // SAFETY: `path` is NUL-terminated (written above, checked for overflow).
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: the pointer and length describe the live buffer `stat`.
    let n = unsafe { libc::read(fd, stat.as_mut_ptr().cast(), stat.len()) };
    let read_errno = errno();
    close(fd);
    if n < 0 {
        return Err(read_errno);
    }
    let text = stat.get(..n as usize).ok_or(libc::EINVAL)?;
    parse_stat(text).ok_or(libc::EINVAL)
}

/// Fields 1, 3, 4, 9, 20 and 22 of a `/proc/PID/stat` line. The command name
/// (field 2) is in parentheses and may itself hold spaces and ')', so the
/// fields after it are counted from the last ')'.
pub(crate) fn parse_stat(stat: &[u8]) -> Option<ProcStat> {
    use crate::text::parse_decimal;
    let open = stat.iter().position(|&b| b == b'(')?;
    let pid = parse_decimal(stat.get(..open.checked_sub(1)?)?)?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    // After ") ": field 3 (state), 4 (ppid), 5-8, 9 (flags), ... 20
    // (threads), 21, 22 (start).
    let mut fields = stat.get(close + 2..)?.split(|&b| b == b' ');
    let state = *fields.next()?.first()?;
    let ppid = parse_decimal(fields.next()?)?;
    let flags = parse_decimal(fields.nth(4)?)?;
    let threads = parse_decimal(fields.nth(10)?)?;
    let start = parse_decimal(fields.nth(1)?)?;
    Some(ProcStat {
        pid: pid_t::try_from(pid).ok()?,
        state,
        ppid: pid_t::try_from(ppid).ok()?,
        flags,
        threads,
        start,
    })
}

/// A detached thread running `main`, with every signal blocked (so that
/// process-directed signals go to the program's threads) and a stack of
/// `stack` bytes (the default size when `None`). See pthread_create(3),
/// pthread_attr_setstacksize(3), pthread_sigmask(3).
pub(crate) fn spawn_detached(
    main: extern "C" fn(*mut c_void) -> *mut c_void,
    stack: Option<usize>,
) -> Result<(), c_int> {
    // SAFETY: pthread_attr_t is a plain C struct (an all-zero value is
    // valid) that pthread_attr_init below fills in.
    let mut attr: libc::pthread_attr_t = unsafe { core::mem::zeroed() };
    // SAFETY: sigset_t is a plain bit set; sigfillset below fills it.
    let mut all: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: as above; pthread_sigmask writes the old mask into it.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    let mut thread: libc::pthread_t = 0;
    // SAFETY: every pointer is to a live local of the right type; the
    // attribute object is initialised before use and destroyed once; the
    // signal mask is restored before returning. glibc's pthread_sigmask
    // leaves its internal signals (SIGCANCEL, SIGSETXID) unblocked, so
    // setuid(2) in another thread still reaches the new thread. `main` is
    // an `extern "C"` function that takes and ignores its argument.
    let rc = unsafe {
        let rc = libc::pthread_attr_init(&mut attr);
        if rc != 0 {
            return Err(rc);
        }
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        if let Some(size) = stack {
            libc::pthread_attr_setstacksize(&mut attr, size);
        }
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let rc = libc::pthread_create(&mut thread, &attr, main, ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        rc
    };
    match rc {
        0 => Ok(()),
        rc => Err(rc),
    }
}

/// pthread_atfork(3): `prepare` runs in the parent just before every
/// fork(2), `parent` in the parent and `child` in the child before fork
/// returns there (not for vfork(2) or posix_spawn(3)). glibc holds its
/// atfork lock from `prepare` to `parent` or `child`, so the handlers of
/// two concurrent forks do not interleave.
pub(crate) fn atfork(
    prepare: unsafe extern "C" fn(),
    parent: unsafe extern "C" fn(),
    child: unsafe extern "C" fn(),
) {
    // SAFETY: the handlers are `extern "C"` functions with no arguments,
    // valid for the life of the process (the library is linked -z
    // nodelete, and an rlib's code lives in the program). Registration
    // only fails with ENOMEM: then fork children simply get no watcher.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}

/// Writes all of `bytes` to standard error, ignoring failures (there is no
/// one to report them to). Retries on EINTR and short writes. See write(2).
pub(crate) fn write_stderr(bytes: &[u8]) {
    write_all(2, bytes);
}

/// Writes all of `bytes` to `fd`, as [`write_stderr`] does.
fn write_all(fd: c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_names() {
        let line = |head: &str, flags: u64| {
            let mut s = std::string::String::from(head);
            // Fields 5 to 8, 9 (flags), 10 to 19, 20 (threads) = 3, 21,
            // then 22 (start) = 777.
            s.push_str(" 0 0 0 0");
            s.push_str(&std::format!(" {flags}"));
            for _ in 10..=19 {
                s.push_str(" 0");
            }
            s.push_str(" 3 0 777 0 0");
            s
        };
        let sh = parse_stat(line("42 (sh) S 7", 0x400100).as_bytes()).unwrap();
        assert_eq!(
            (sh.pid, sh.state, sh.ppid, sh.flags, sh.threads, sh.start),
            (42, b'S', 7, 0x400100, 3, 777)
        );
        assert!(!sh.exited());
        let odd = parse_stat(line("42 (a) b) (c) Z 9", 0).as_bytes()).unwrap();
        assert_eq!((odd.state, odd.ppid), (b'Z', 9));
        assert!(odd.exited());
        // Exiting (PF_EXITING) but not yet a zombie: exited.
        let exiting = parse_stat(line("42 (sh) R 7", 0x404).as_bytes()).unwrap();
        assert!(exiting.exited());
        assert_eq!(parse_stat(b"garbage"), None);
        assert_eq!(parse_stat(b"1 (x)"), None);
        assert_eq!(parse_stat(b"1 (init) S 0 1 1"), None);
    }

    #[test]
    fn own_stat_from_proc() {
        let me = proc_stat(None).unwrap();
        assert_eq!(me.pid, getpid());
        assert_eq!(me.ppid, getppid());
        assert_eq!(proc_stat(Some(getpid())).unwrap().start, me.start);
        // We started before now.
        assert!(me.start <= boot_ticks().unwrap());
    }

    #[test]
    fn pidfd_of_self_lives() {
        let fd = pidfd_open(getpid()).unwrap();
        assert!(!pidfd_exited(fd));
        close(fd);
    }
}
