//! Process mode: a pidfd on the parent *process* (pidfd_open(2)), watched by
//! one small thread of this process (pthread_create(3)).
//!
//! `PR_SET_PDEATHSIG` fires when the parent *thread* exits; a pidfd polls
//! readable only when the whole parent process has exited. The watcher is
//! created with libc's pthread_create (the C library is `no_std`), a 64 KiB
//! stack, every signal blocked, and does nothing but system calls (unshare,
//! close_range, pidfd_open, poll, getppid, kill, nanosleep). Nothing here
//! allocates.
//!
//! No file descriptor in the program's table: the watcher first gives
//! itself a private descriptor table (unshare(2) `CLONE_FILES`), empties
//! it (close_range(2)), and only then opens the pidfd, so the program never
//! sees, inherits or accidentally closes it. The race check (pidfd opened,
//! then `getppid()` still the expected pid) runs in the watcher, and the
//! arming call waits for its verdict. On kernels without close_range
//! (before 5.9) the watcher keeps the shared table and the pidfd is a
//! visible close-on-exec descriptor.
//!
//! Nothing in this file runs unless process mode is asked for: no thread,
//! no file descriptor in the default (prctl) mode.
//!
//! fork(2): the watcher thread does not survive in the child (only the
//! forking thread does). A fork child is a *child* of the watched process,
//! not its sibling, so it has a different parent to watch anyway: a child
//! that execs re-arms itself through `LD_PRELOAD` and the stamped
//! `PDEATHSIG_PPID`; a fork child that does not exec is not watched.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU8, Ordering};
use core::time::Duration;
use libc::{c_int, c_void, pid_t};

use crate::arm::{judge, Armed};
use crate::error::Error;
use crate::signal::Signal;
use crate::sys;

/// Stack of the watcher thread. glibc carves static TLS out of it too; if
/// that does not fit, the thread is created with the default size instead.
const STACK_SIZE: usize = 64 * 1024;

/// If poll(2) on the pidfd ever fails, how often to look instead.
const FALLBACK_PERIOD_MS: u32 = 100;

/// How long the arming call waits for the new watcher's verdict before
/// giving up (the thread normally answers within microseconds).
const VERDICT_TIMEOUT_MS: u32 = 10_000;

/// The pid of the process whose watcher thread runs; 0 when none. A fork
/// child sees its parent's pid here and knows it has no watcher.
static OWNER: AtomicI32 = AtomicI32::new(0);
/// The pid the watcher is asked to watch (set before the thread starts),
/// then the pid it watches (the parent, or the stamped ancestor).
static WATCHED: AtomicI32 = AtomicI32::new(0);
/// The signal to send when the parent dies; 0 after disarm.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The grace period before SIGKILL, in milliseconds; 0 for none.
static GRACE_MS: AtomicU32 = AtomicU32::new(0);

/// The watcher's answer to the arming call, published with Release.
static VERDICT: AtomicI32 = AtomicI32::new(PENDING);
/// With `VERDICT == WATCHING`: how the parent was found ([`Armed`] kind) and
/// the `getppid()` the watcher saw.
static VERDICT_KIND: AtomicU8 = AtomicU8::new(0);
static VERDICT_PARENT: AtomicI32 = AtomicI32::new(0);
/// Set when the arming call gave up waiting: the watcher then exits.
static ABANDONED: AtomicBool = AtomicBool::new(false);

const PENDING: c_int = 0;
const WATCHING: c_int = 1;
const GONE: c_int = 2;
// Negative: -errno of pidfd_open.

const KIND_PARENT: u8 = 0;
const KIND_ANCESTOR: u8 = 1;
const KIND_REEXEC: u8 = 2;
const KIND_UNVERIFIED: u8 = 3;

/// A lock over the statics above, held by pid (arming is rare: it spins).
/// A lock held at fork(2) by another thread of the parent is stale in the
/// child, where that thread does not exist: it is taken over.
static LOCK: AtomicI32 = AtomicI32::new(0);

struct Locked;

fn lock() -> Locked {
    let me = sys::getpid();
    loop {
        match LOCK.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Locked,
            Err(holder) if holder != me => {
                if LOCK
                    .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Locked;
                }
            }
            Err(_) => {}
        }
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        LOCK.store(0, Ordering::Release);
    }
}

/// Is a watcher thread running in this process (not a pre-fork parent's)?
fn running() -> bool {
    OWNER.load(Ordering::Acquire) == sys::getpid()
}

/// The signal process mode will send, when a watcher runs in this process
/// and was not disarmed.
pub(crate) fn armed_signal() -> Option<Signal> {
    if !running() {
        return None;
    }
    Signal::from_raw(SIGNAL.load(Ordering::Acquire))
}

/// Disarms the watcher (it stays blocked on the pidfd, and does nothing
/// when the parent dies). Returns whether one was running.
pub(crate) fn disarm() -> bool {
    let _locked = lock();
    if running() {
        SIGNAL.store(0, Ordering::Release);
        true
    } else {
        false
    }
}

fn grace_millis(grace: Option<Duration>) -> u32 {
    grace.map_or(0, |g| {
        let ms = g.as_millis() + u128::from(g.subsec_nanos() % 1_000_000 != 0);
        u32::try_from(ms).unwrap_or(u32::MAX)
    })
}

/// pidfd_open(2): the fd, or the errno.
fn pidfd_open(pid: pid_t) -> Result<c_int, c_int> {
    // SAFETY: pidfd_open takes a pid and a flags word and returns a new
    // file descriptor (close-on-exec) or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        Err(sys::errno())
    } else {
        c_int::try_from(fd).map_err(|_| libc::EBADF)
    }
}

fn close(fd: c_int) {
    // SAFETY: callers pass an fd this module opened and still owns, once.
    unsafe { libc::close(fd) };
}

fn watch_error(errno: c_int) -> Error {
    Error::Watch {
        op: "pidfd_open",
        errno,
    }
}

/// Process mode: starts the watcher thread, which opens a pidfd on
/// `expected` and checks that it is our parent (or a stamped ancestor, or
/// we were re-exec'd) exactly as prctl mode does; waits for its verdict.
pub(crate) fn watch(sig: Signal, expected: pid_t, grace: Option<Duration>) -> Result<Armed, Error> {
    let grace_ms = grace_millis(grace);
    if sys::getppid() == 0 {
        return Err(Error::ParentOutsideNamespace);
    }
    let _locked = lock();
    if running() {
        return rearm_running(sig, expected, grace_ms);
    }
    WATCHED.store(expected, Ordering::Relaxed);
    SIGNAL.store(sig.as_raw(), Ordering::Relaxed);
    GRACE_MS.store(grace_ms, Ordering::Relaxed);
    ABANDONED.store(false, Ordering::Relaxed);
    VERDICT.store(PENDING, Ordering::Release);
    if let Err(errno) = spawn() {
        return Err(Error::Watch {
            op: "pthread_create",
            errno,
        });
    }
    let verdict = wait_for_verdict();
    match verdict {
        WATCHING => {
            OWNER.store(sys::getpid(), Ordering::Release);
            let parent = VERDICT_PARENT.load(Ordering::Acquire);
            Ok(match VERDICT_KIND.load(Ordering::Acquire) {
                KIND_ANCESTOR => Armed::Ancestor {
                    parent,
                    stamped: expected,
                },
                KIND_REEXEC => Armed::ReExec,
                KIND_UNVERIFIED => Armed::Unverified { parent, expected },
                _ => Armed::Parent(parent),
            })
        }
        GONE => {
            // The race was lost: signal now, as prctl mode does. The
            // watcher escalates after the grace period, then exits.
            sys::kill_self(sig.as_raw());
            Err(Error::ParentDied {
                signal: sig,
                expected,
                parent: sys::getppid(),
            })
        }
        PENDING => {
            ABANDONED.store(true, Ordering::Release);
            Err(Error::Watch {
                op: "pthread_create",
                errno: libc::ETIMEDOUT,
            })
        }
        negative => Err(watch_error(-negative)),
    }
}

/// Arming again while a watcher runs: same watched process, new signal
/// and grace; another process is refused.
fn rearm_running(sig: Signal, expected: pid_t, grace_ms: u32) -> Result<Armed, Error> {
    let current = WATCHED.load(Ordering::Acquire);
    let parent = sys::getppid();
    let armed = match judge(expected, parent) {
        Some(armed) => armed,
        None => {
            sys::kill_self(sig.as_raw());
            return Err(Error::ParentDied {
                signal: sig,
                expected,
                parent,
            });
        }
    };
    let same = current == expected || (current == parent && armed == Armed::ReExec);
    if !same {
        return Err(Error::AlreadyWatching {
            watched: current,
            requested: expected,
        });
    }
    SIGNAL.store(sig.as_raw(), Ordering::Release);
    GRACE_MS.store(grace_ms, Ordering::Release);
    Ok(armed)
}

/// Waits (yielding, then sleeping 1 ms at a time) until the watcher has
/// published its verdict; `PENDING` after the timeout.
fn wait_for_verdict() -> c_int {
    for spin in 0..(1000 + VERDICT_TIMEOUT_MS) {
        let verdict = VERDICT.load(Ordering::Acquire);
        if verdict != PENDING {
            return verdict;
        }
        if spin < 1000 {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        } else {
            sleep_ms(1);
        }
    }
    PENDING
}

/// Creates the detached watcher thread with every signal blocked (so that
/// process-directed signals go to the program's threads), a small stack
/// and the name `pdeathsig`. See pthread_create(3), pthread_sigmask(3).
fn spawn() -> Result<(), c_int> {
    let rc = spawn_with_stack(Some(STACK_SIZE));
    if rc == libc::EINVAL {
        // The small stack could not hold this program's static TLS.
        return match spawn_with_stack(None) {
            0 => Ok(()),
            rc => Err(rc),
        };
    }
    match rc {
        0 => Ok(()),
        rc => Err(rc),
    }
}

fn spawn_with_stack(stack: Option<usize>) -> c_int {
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
    // setuid(2) in another thread still reaches the watcher.
    unsafe {
        let rc = libc::pthread_attr_init(&mut attr);
        if rc != 0 {
            return rc;
        }
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        if let Some(size) = stack {
            libc::pthread_attr_setstacksize(&mut attr, size);
        }
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let rc = libc::pthread_create(&mut thread, &attr, watcher_main, ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        if rc == 0 {
            libc::pthread_setname_np(thread, c"pdeathsig".as_ptr());
        }
        rc
    }
}

/// Gives the calling thread a descriptor table of its own, emptied: what
/// it opens next is invisible to the program. False (nothing changed) on
/// kernels without close_range(2), where the table stays shared.
fn private_descriptor_table() -> bool {
    // SAFETY: close_range on the empty range [MAX, MAX] closes nothing; it
    // only tells whether the system call exists (Linux 5.9+).
    let probe = unsafe { libc::syscall(libc::SYS_close_range, u32::MAX, u32::MAX, 0u32) };
    if probe != 0 {
        return false;
    }
    // SAFETY: unshare(CLONE_FILES) gives this thread a private copy of the
    // descriptor table; it takes no pointers.
    if unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
        return false;
    }
    // SAFETY: closes every descriptor of the private copy (the program's
    // table is untouched): the copy must not keep the program's pipes and
    // sockets open behind its back.
    unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
    true
}

/// The watcher's start: open the pidfd, judge, publish the verdict.
/// Returns the fd to watch and the pid, or `None` (verdict published).
fn open_and_judge() -> Option<(c_int, pid_t)> {
    let expected = WATCHED.load(Ordering::Relaxed);
    let publish = |verdict: c_int| VERDICT.store(verdict, Ordering::Release);
    let fd = match pidfd_open(expected) {
        Ok(fd) => fd,
        // The expected parent is gone (and reaped): the race was lost.
        Err(libc::ESRCH) => {
            publish(GONE);
            return None;
        }
        Err(errno) => {
            publish(-errno);
            return None;
        }
    };
    // After the open: a parent that is still ours now is the process the
    // pidfd refers to (a reused pid would not be our parent).
    let parent = sys::getppid();
    let (kind, target) = match judge(expected, parent) {
        Some(Armed::Parent(_)) => (KIND_PARENT, Some((fd, expected))),
        Some(Armed::Ancestor { .. }) => (KIND_ANCESTOR, Some((fd, expected))),
        // Re-exec'd (we are `expected`) or /proc cannot tell: watch the
        // current parent instead, confirmed the same way.
        Some(armed) => {
            close(fd);
            let kind = if armed == Armed::ReExec {
                KIND_REEXEC
            } else {
                KIND_UNVERIFIED
            };
            match pidfd_open(parent) {
                Ok(fd) if sys::getppid() == parent => (kind, Some((fd, parent))),
                Ok(fd) => {
                    close(fd);
                    (kind, None)
                }
                Err(libc::ESRCH) => (kind, None),
                Err(errno) => {
                    publish(-errno);
                    return None;
                }
            }
        }
        None => {
            close(fd);
            (KIND_PARENT, None)
        }
    };
    match target {
        Some((fd, watched)) => {
            WATCHED.store(watched, Ordering::Relaxed);
            VERDICT_KIND.store(kind, Ordering::Relaxed);
            VERDICT_PARENT.store(parent, Ordering::Relaxed);
            publish(WATCHING);
            Some((fd, watched))
        }
        None => {
            publish(GONE);
            None
        }
    }
}

/// The watcher thread. Only system calls, no allocation.
extern "C" fn watcher_main(_: *mut c_void) -> *mut c_void {
    private_descriptor_table();
    let Some((fd, watched)) = open_and_judge() else {
        // Parent already gone: the arming call sent the signal; escalate.
        let grace = GRACE_MS.load(Ordering::Acquire);
        if grace > 0 && VERDICT.load(Ordering::Acquire) == GONE {
            sleep_ms(grace);
            sys::kill_self(libc::SIGKILL);
        }
        return ptr::null_mut();
    };
    wait_for_death(fd, watched);
    close(fd);
    if ABANDONED.load(Ordering::Acquire) {
        return ptr::null_mut();
    }
    let (sig, grace) = {
        let _locked = lock();
        OWNER.store(0, Ordering::Release);
        (
            SIGNAL.load(Ordering::Acquire),
            GRACE_MS.load(Ordering::Acquire),
        )
    };
    if sig == 0 {
        return ptr::null_mut();
    }
    sys::kill_self(sig);
    if grace > 0 {
        sleep_ms(grace);
        // Still here: the process survived the signal for the whole grace.
        sys::kill_self(libc::SIGKILL);
    }
    ptr::null_mut()
}

/// Blocks until the watched process has exited: the pidfd polls readable.
/// Should poll(2) itself fail, falls back to kill(pid, 0) every 100 ms.
fn wait_for_death(fd: c_int, watched: pid_t) {
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, -1) };
        if rc > 0 && pfd.revents & libc::POLLIN != 0 {
            return;
        }
        if rc < 0 && sys::errno() == libc::EINTR || rc == 0 {
            continue;
        }
        break;
    }
    // SAFETY: signal 0 only checks that the process exists.
    while unsafe { libc::kill(watched, 0) } == 0 || sys::errno() != libc::ESRCH {
        sleep_ms(FALLBACK_PERIOD_MS);
    }
}

/// nanosleep(2) for `ms` milliseconds, resumed after signal handlers.
fn sleep_ms(ms: u32) {
    let mut req = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: (ms % 1000) as libc::c_long * 1_000_000,
    };
    let mut rem = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both pointers are to live timespecs.
    while unsafe { libc::nanosleep(&req, &mut rem) } == -1 && sys::errno() == libc::EINTR {
        req = rem;
    }
}
