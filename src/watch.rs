//! Process mode: a pidfd on the parent *process* (pidfd_open(2)), watched by
//! one small thread of this process (pthread_create(3)).
//!
//! `PR_SET_PDEATHSIG` fires when the parent *thread* exits; a pidfd polls
//! readable only when the whole parent process has exited. The watcher is
//! created with libc's pthread_create (the C library is `no_std`), a 64 KiB
//! stack, every signal blocked, and does nothing but poll(2), getppid(2),
//! kill(2) and nanosleep(2). Nothing here allocates.
//!
//! Nothing in this file runs unless process mode is asked for: no thread,
//! no file descriptor in the default (prctl) mode.
//!
//! fork(2): the watcher thread does not survive in the child (only the
//! forking thread does). A fork child is a *child* of the watched process,
//! not its sibling, so it has a different parent to watch anyway: a child
//! that execs re-arms itself through `LD_PRELOAD` and the stamped
//! `PDEATHSIG_PPID`; a fork child that does not exec is not watched. The
//! pidfd is close-on-exec; a fork child without exec keeps a copy of it.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use core::time::Duration;
use libc::{c_int, c_void, pid_t};

use crate::arm::{judge, Armed};
use crate::error::Error;
use crate::signal::Signal;
use crate::sys;

/// Stack of the watcher thread. glibc carves static TLS out of it too; if
/// that does not fit, the thread is created with the default size instead.
const STACK_SIZE: usize = 64 * 1024;

/// While the expected parent is only confirmed through getppid(), and the
/// pidfd was closed or replaced under us, how often to look (fallback).
const FALLBACK_PERIOD_MS: u32 = 100;

/// The pid of the process whose watcher thread runs; 0 when none. A fork
/// child sees its parent's pid here and knows it has no watcher.
static OWNER: AtomicI32 = AtomicI32::new(0);
/// The watched pid (the parent, or the stamped ancestor).
static WATCHED: AtomicI32 = AtomicI32::new(0);
/// The watcher's pidfd.
static PIDFD: AtomicI32 = AtomicI32::new(-1);
/// `WATCHED` was our direct parent when the watch began: a death is then
/// confirmed by getppid() changing (reparenting happens before the pidfd
/// is notified).
static DIRECT: AtomicBool = AtomicBool::new(false);
/// The signal to send when the parent dies; 0 after disarm.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The grace period before SIGKILL, in milliseconds; 0 for none.
static GRACE_MS: AtomicU32 = AtomicU32::new(0);

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

/// Process mode: opens a pidfd on `expected`, checks that it is our parent
/// (or a stamped ancestor, or we were re-exec'd) exactly as prctl mode
/// does, and starts the watcher thread.
pub(crate) fn watch(sig: Signal, expected: pid_t, grace: Option<Duration>) -> Result<Armed, Error> {
    let grace_ms = grace_millis(grace);
    if sys::getppid() == 0 {
        return Err(Error::ParentOutsideNamespace);
    }
    let fd = match pidfd_open(expected) {
        Ok(fd) => Some(fd),
        // The expected parent is gone (and reaped): the race was lost.
        Err(libc::ESRCH) => None,
        Err(errno) => {
            return Err(Error::Watch {
                op: "pidfd_open",
                errno,
            })
        }
    };
    // After the open: a parent that is still ours now is the process the
    // pidfd refers to (a reused pid would not be our parent).
    let parent = sys::getppid();
    let verdict = if fd.is_some() {
        judge(expected, parent)
    } else {
        None
    };
    // What to watch: the pidfd on `expected`, or one on our current parent
    // when `expected` is ourselves (re-exec) or /proc cannot tell.
    let target = match verdict {
        Some(Armed::Parent(_)) => fd.map(|fd| (fd, expected, true)),
        Some(Armed::Ancestor { .. }) => fd.map(|fd| (fd, expected, false)),
        Some(Armed::ReExec) | Some(Armed::Unverified { .. }) => {
            if let Some(fd) = fd {
                close(fd);
            }
            match pidfd_open(parent) {
                // Still our parent after the open: the fd is that process.
                Ok(fd) if sys::getppid() == parent => Some((fd, parent, true)),
                Ok(fd) => {
                    close(fd);
                    None
                }
                Err(libc::ESRCH) => None,
                Err(errno) => {
                    return Err(Error::Watch {
                        op: "pidfd_open",
                        errno,
                    })
                }
            }
        }
        Some(Armed::OutsideNamespace) => {
            if let Some(fd) = fd {
                close(fd);
            }
            return Err(Error::ParentOutsideNamespace);
        }
        None => {
            if let Some(fd) = fd {
                close(fd);
            }
            None
        }
    };
    let Some((fd, watched, direct)) = target else {
        // The parent is gone: signal now, as prctl mode does, and escalate
        // after the grace period from a thread that only sleeps.
        sys::kill_self(sig.as_raw());
        if grace_ms > 0 {
            // If the thread cannot be created the signal was still sent;
            // the error below says so.
            let _ = spawn(grace_ms as usize);
        }
        return Err(Error::ParentDied {
            signal: sig,
            expected,
            parent: sys::getppid(),
        });
    };
    let armed = verdict.unwrap_or(Armed::Parent(watched));
    let _locked = lock();
    if running() {
        close(fd);
        let current = WATCHED.load(Ordering::Acquire);
        if current != watched {
            return Err(Error::AlreadyWatching {
                watched: current,
                requested: watched,
            });
        }
        SIGNAL.store(sig.as_raw(), Ordering::Release);
        GRACE_MS.store(grace_ms, Ordering::Release);
        return Ok(armed);
    }
    PIDFD.store(fd, Ordering::Release);
    WATCHED.store(watched, Ordering::Release);
    DIRECT.store(direct, Ordering::Release);
    SIGNAL.store(sig.as_raw(), Ordering::Release);
    GRACE_MS.store(grace_ms, Ordering::Release);
    if let Err(errno) = spawn(0) {
        close(fd);
        PIDFD.store(-1, Ordering::Release);
        return Err(Error::Watch {
            op: "pthread_create",
            errno,
        });
    }
    OWNER.store(sys::getpid(), Ordering::Release);
    Ok(armed)
}

/// Creates the detached watcher thread with every signal blocked (so that
/// process-directed signals go to the program's threads), a small stack
/// and the name `pdeathsig`. `arg` 0: watch; otherwise: only escalate
/// after `arg` milliseconds. See pthread_create(3), pthread_sigmask(3).
fn spawn(arg: usize) -> Result<(), c_int> {
    let rc = spawn_with_stack(arg, Some(STACK_SIZE));
    if rc == libc::EINVAL {
        // The small stack could not hold this program's static TLS.
        return match spawn_with_stack(arg, None) {
            0 => Ok(()),
            rc => Err(rc),
        };
    }
    match rc {
        0 => Ok(()),
        rc => Err(rc),
    }
}

fn spawn_with_stack(arg: usize, stack: Option<usize>) -> c_int {
    // SAFETY: pthread_attr_t and sigset_t are plain C structs that their
    // init functions below fill in; zeroed is a valid starting value.
    let mut attr: libc::pthread_attr_t = unsafe { core::mem::zeroed() };
    let mut all: libc::sigset_t = unsafe { core::mem::zeroed() };
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
        let rc = libc::pthread_create(&mut thread, &attr, watcher_main, arg as *mut c_void);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        if rc == 0 {
            libc::pthread_setname_np(thread, c"pdeathsig".as_ptr());
        }
        rc
    }
}

/// The watcher thread. Only async-signal-safe libc calls.
extern "C" fn watcher_main(arg: *mut c_void) -> *mut c_void {
    let escalate_only = arg as usize;
    if escalate_only != 0 {
        sleep_ms(u32::try_from(escalate_only).unwrap_or(u32::MAX));
        sys::kill_self(libc::SIGKILL);
        return ptr::null_mut();
    }
    let fd = PIDFD.load(Ordering::Acquire);
    let watched = WATCHED.load(Ordering::Acquire);
    let direct = DIRECT.load(Ordering::Acquire);
    let closed = wait_for_death(fd, watched, direct);
    let (sig, grace) = {
        let _locked = lock();
        OWNER.store(0, Ordering::Release);
        PIDFD.store(-1, Ordering::Release);
        (
            SIGNAL.load(Ordering::Acquire),
            GRACE_MS.load(Ordering::Acquire),
        )
    };
    if !closed {
        close(fd);
    }
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

/// Has the watched process died? For a direct parent, getppid(2) changing
/// is the proof; for a stamped ancestor, the pidfd's word (or, after the
/// fd was lost, kill(pid, 0) failing with ESRCH).
fn gone(watched: pid_t, direct: bool) -> bool {
    if direct {
        sys::getppid() != watched
    } else {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(watched, 0) == -1 && sys::errno() == libc::ESRCH }
    }
}

/// Blocks until the watched process has exited. Returns true when the fd
/// must not be closed (it was closed or replaced by the program: a
/// program that closes descriptors it does not own, as some daemons do).
fn wait_for_death(fd: c_int, watched: pid_t, direct: bool) -> bool {
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, -1) };
        if rc < 0 {
            if sys::errno() == libc::EINTR {
                continue;
            }
            break;
        }
        if rc == 0 {
            continue;
        }
        if pfd.revents & libc::POLLNVAL == 0 && pfd.revents & libc::POLLIN != 0 {
            if !direct {
                return false;
            }
            // The kernel reparents children before it notifies the pidfd:
            // allow for a little scheduling delay, no more.
            for _ in 0..100 {
                if gone(watched, true) {
                    return false;
                }
                sleep_ms(10);
            }
        }
        // Not our pidfd any more (POLLNVAL, or readable while the parent
        // lives): leave the fd alone and fall back to looking.
        break;
    }
    while !gone(watched, direct) {
        sleep_ms(FALLBACK_PERIOD_MS);
    }
    true
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
