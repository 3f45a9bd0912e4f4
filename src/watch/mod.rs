//! Process mode: a pidfd on the parent *process* (pidfd_open(2)), watched by
//! one small thread of this process (pthread_create(3)).
//!
//! `PR_SET_PDEATHSIG` fires when the parent *thread* exits; a pidfd polls
//! readable only when the whole parent process has exited. The watcher is
//! created with libc's pthread_create (the C library is `no_std`), a 64 KiB
//! stack, every signal blocked, and does nothing but system calls (through `sys.rs`). Nothing here
//! allocates (pthread_create(3) itself allocates the thread's stack and
//! descriptor).
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
//! `PDEATHSIG_PPID`; in process mode a fork child that does not exec is
//! not watched. In tree mode a pthread_atfork(3) handler starts a watcher
//! in every fork child, and the parent's prepare handler opens a pidfd on
//! itself for it: the child holds its parent from the fork on, even if the
//! parent ends before the child's watcher has started (see `fork.rs`).
//!
//! Files: this one holds the watcher thread and what process and tree mode
//! share (arming, the verdict's hand-off, waiting for a death); `tree.rs`
//! what only tree mode does (the anchor, detached processes, a dead
//! parent's exit status); `fork.rs` the pthread_atfork handlers that give
//! a tree's fork children their own watcher.
//! execve(2): the watcher ends with the old image. The stamp the process
//! wrote (`PID:TICKS:WATCHED`) tells the new image, which arms again at load
//! time, which process the old one watched (see `verdict.rs`, rule 3).

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use core::time::Duration;
use libc::{c_int, c_void, pid_t};

use crate::environ::{Anchor, Mode, Stamp};
use crate::error::Error;
use crate::signal::Signal;
use crate::sys;
use crate::verdict::{self, Armed, UnverifiedReason, Verdict};

mod fork;
mod tree;

use fork::*;
#[cfg(feature = "std")]
pub use tree::anchor_env_for_children;
#[cfg(feature = "auto-arm")]
pub(crate) use tree::anchor_for_children;
use tree::*;

/// Stack of the watcher thread. glibc carves static TLS out of it too; if
/// that does not fit, the thread is created with the default size instead.
const STACK_SIZE: usize = 64 * 1024;

/// If poll(2) on the pidfd ever fails, how often to look instead.
const FALLBACK_PERIOD_MS: u32 = 100;

/// With the pidfd in the program's own descriptor table, how often the
/// watcher also looks without being woken: the program may have put a pipe
/// or socket at the pidfd's number, which poll(2) then watches instead and
/// which may never become readable.
const SHARED_TABLE_RECHECK_MS: c_int = 1000;

/// How long the arming call waits for the new watcher's verdict before
/// giving up (the thread normally answers within microseconds).
const VERDICT_TIMEOUT_MS: u32 = 10_000;

/// How often the watcher judges again when the process it was about to
/// watch dies between the verdict and the pidfd_open.
const JUDGE_ATTEMPTS: usize = 4;

/// The pid of the process whose watcher thread runs; 0 when none. A fork
/// child sees its parent's pid here and knows it has no watcher.
static OWNER: AtomicI32 = AtomicI32::new(0);
/// The stamp the watcher judges (set before the thread starts): its pid,
/// its tick (`NO_TICKS` for none) and the pid it names as watched (0: none).
static STAMP_PID: AtomicI32 = AtomicI32::new(0);
static STAMP_TICKS: AtomicU64 = AtomicU64::new(NO_TICKS);
static STAMP_WATCHED: AtomicI32 = AtomicI32::new(0);
/// The stamp's pidfs inode number (`NO_TICKS` for none).
static STAMP_INO: AtomicU64 = AtomicU64::new(NO_TICKS);
const NO_TICKS: u64 = u64::MAX;
/// The pid the watcher watches (the parent, the stamped ancestor...).
static WATCHED: AtomicI32 = AtomicI32::new(0);
/// The signal to send when the parent dies; 0 after disarm.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The grace period before SIGKILL, in milliseconds; 0 for none.
static GRACE_MS: AtomicU32 = AtomicU32::new(0);

/// The watcher's answer to the arming call, published with Release.
static VERDICT: AtomicI32 = AtomicI32::new(PENDING);
/// With `VERDICT == WATCHING`: the [`Armed`] value, encoded.
static ARMED_KIND: AtomicU8 = AtomicU8::new(0);
static ARMED_PARENT: AtomicI32 = AtomicI32::new(0);
static ARMED_OTHER: AtomicI32 = AtomicI32::new(0);
static ARMED_REASON: AtomicU8 = AtomicU8::new(0);
/// Set when the arming call gave up waiting: the watcher then exits.
static ABANDONED: AtomicBool = AtomicBool::new(false);
/// Tree mode: the watcher follows the anchor as well as the parent, and
/// every fork child starts a watcher of its own.
static TREE: AtomicBool = AtomicBool::new(false);
/// Tree mode: the anchor (0: none), when the tree learned of it and its
/// pidfs inode number (`NO_TICKS`: unknown).
static ANCHOR_PID: AtomicI32 = AtomicI32::new(0);
static ANCHOR_TICKS: AtomicU64 = AtomicU64::new(NO_TICKS);
static ANCHOR_INO: AtomicU64 = AtomicU64::new(NO_TICKS);
/// The PID namespace in which `ANCHOR_PID` names the anchor (`NO_TICKS`:
/// unknown).
static ANCHOR_NS: AtomicU64 = AtomicU64::new(NO_TICKS);
/// Tree mode: the session and detach flags (see [`detach_flags`]) the
/// parent passed on, and this process's own when it armed (passed on to
/// its children: the environment for exec'd ones, these statics for fork
/// children).
static INHERITED_SESSION: AtomicI32 = AtomicI32::new(0);
static INHERITED_FLAGS: AtomicU8 = AtomicU8::new(0);
static OWN_SESSION: AtomicI32 = AtomicI32::new(0);
static OWN_FLAGS: AtomicU8 = AtomicU8::new(0);
/// Tree mode: the parent is not watched, only the anchor (this process had
/// detached when it armed, or its parent is outside our PID namespace).
static ANCHOR_ONLY: AtomicBool = AtomicBool::new(false);
/// The process that called fork(2) last (the pthread_atfork prepare
/// handler): in a fork child, its parent.
static FORKER: AtomicI32 = AtomicI32::new(0);
/// How long a watcher waits for the exit status of its dead parent (it is
/// known once the parent's reaper has reaped it), in seconds.
const EXIT_STATUS_WAIT_SECS: u64 = 2;
/// No arming call waits for this watcher's verdict (a fork child's): the
/// watcher sends the signal itself when the anchor is already gone.
static ASYNC: AtomicBool = AtomicBool::new(false);
/// Set while a credential change has the watcher stop (see
/// [`pause_for_credentials`]): its blocking calls end with EINTR then.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// The watcher thread's id (gettid(2)), stored by the thread itself; 0
/// until a newly created one has started.
static WATCHER_TID: AtomicI32 = AtomicI32::new(0);
/// The process in which a watcher thread was created last (it may not have
/// published its verdict yet: `OWNER` is set then).
static STARTED_IN: AtomicI32 = AtomicI32::new(0);
#[cfg(feature = "capi")]
/// How long a credential change waits for the watcher to be gone (it
/// normally takes microseconds; a watcher asking for a dead parent's exit
/// status may take up to 2 s).
const STOP_TIMEOUT_MS: u32 = 2500;

/// pthread_atfork(3) registered in this process image.
static ATFORK: AtomicBool = AtomicBool::new(false);

const PENDING: c_int = 0;
const WATCHING: c_int = 1;
const GONE: c_int = 2;
// Negative: -errno of pidfd_open.

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
        sys::sched_yield();
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

#[cfg(feature = "auto-arm")]
/// The pid the running watcher of this process watches, for the stamp.
pub(crate) fn watched() -> Option<pid_t> {
    running().then(|| WATCHED.load(Ordering::Acquire))
}

/// Disarms the watcher (it stays blocked on the pidfd, and does nothing
/// when the parent dies) and stops fork children from starting their own.
/// Returns whether one was running.
pub(crate) fn disarm() -> bool {
    let _locked = lock();
    // Also when no watcher runs: the anchor of a tree has none, but its
    // fork children would start theirs.
    SIGNAL.store(0, Ordering::Release);
    running()
}

fn grace_millis(grace: Option<Duration>) -> u32 {
    grace.map_or(0, |g| {
        let ms = g.as_millis() + u128::from(g.subsec_nanos() % 1_000_000 != 0);
        u32::try_from(ms).unwrap_or(u32::MAX)
    })
}

/// Process or tree mode: starts the watcher thread, which judges `stamp`
/// (`verdict::judge`, as prctl mode does), opens a pidfd on the process to
/// watch and confirms it; waits for its verdict. In tree mode `anchor`
/// (required) is followed too: the watcher signals when the anchor dies,
/// and when the parent dies unless this process has detached (see
/// [`detached_now`]) or its parent exited with status 0, leaving it behind
/// on purpose (a launcher).
pub(crate) fn watch(
    sig: Signal,
    stamp: &Stamp,
    grace: Option<Duration>,
    mode: Mode,
    anchor: Option<Anchor>,
) -> Result<Armed, Error> {
    let grace_ms = grace_millis(grace);
    let tree = mode == Mode::Tree;
    let anchor = anchor.filter(|_| tree);
    if !tree && sys::getppid() == 0 {
        return Err(Error::ParentOutsideNamespace);
    }
    if let Some(mut anchor) = anchor {
        let _locked = lock();
        if running() {
            return rearm_running_tree(sig, anchor, grace_ms);
        }
        let me = sys::getpid();
        let own_ns = sys::pid_namespace();
        let foreign = match (anchor.pid_ns, own_ns) {
            (Some(theirs), Some(ours)) => theirs != ours,
            // Our parent is outside our PID namespace: so is an anchor
            // that is not us (the tree came in through unshare -p).
            _ => sys::getppid() == 0 && anchor.pid != me,
        };
        if foreign {
            warn_foreign_anchor(anchor.pid);
            anchor = Anchor {
                pid: me,
                ticks: sys::boot_ticks(),
                ino: None,
                ..anchor
            };
        }
        set_anchor(anchor.pid, anchor.ticks, anchor.ino, own_ns);
        record_detach_facts(
            anchor.session.unwrap_or_else(crate::arm::load_time_session),
            anchor.flags.unwrap_or_else(detach_flags),
        );
        let outside = sys::getppid() == 0;
        ANCHOR_ONLY.store(outside || detached_now(), Ordering::Release);
        TREE.store(true, Ordering::Release);
        SIGNAL.store(sig.as_raw(), Ordering::Release);
        GRACE_MS.store(grace_ms, Ordering::Release);
        watch_fork_children();
        if anchor.pid == me && outside {
            // The anchor, with its parent outside our PID namespace (a
            // namespace's init): no pidfd can name that parent, but the
            // kernel's PR_SET_PDEATHSIG crosses namespaces; fork children
            // follow this process.
            let _ = sys::set_pdeathsig(sig.as_raw());
            return Ok(Armed::Tree { anchor: me });
        }
    }
    let _locked = lock();
    if running() {
        return rearm_running(sig, stamp, grace_ms);
    }
    TREE.store(tree, Ordering::Relaxed);
    ASYNC.store(false, Ordering::Relaxed);
    STAMP_PID.store(stamp.pid, Ordering::Relaxed);
    STAMP_TICKS.store(stamp.ticks.unwrap_or(NO_TICKS), Ordering::Relaxed);
    STAMP_WATCHED.store(stamp.watched.unwrap_or(0), Ordering::Relaxed);
    STAMP_INO.store(stamp.ino.unwrap_or(NO_TICKS), Ordering::Relaxed);
    SIGNAL.store(sig.as_raw(), Ordering::Relaxed);
    GRACE_MS.store(grace_ms, Ordering::Relaxed);
    ABANDONED.store(false, Ordering::Relaxed);
    HANDOVER.store(HANDOVER_NONE, Ordering::Relaxed);
    VERDICT.store(PENDING, Ordering::Release);
    if let Err(errno) = spawn() {
        return Err(Error::Watch {
            op: "pthread_create",
            errno,
        });
    }
    match wait_for_verdict() {
        WATCHING => Ok(load_armed()),
        GONE => {
            // The race was lost: signal now, as prctl mode does. The
            // watcher escalates after the grace period, then exits.
            sys::kill_self(sig.as_raw());
            Err(Error::ParentDied {
                signal: sig,
                expected: stamp.pid,
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
        negative => Err(Error::Watch {
            op: "pidfd_open",
            errno: -negative,
        }),
    }
}

/// Arming again while a watcher runs: same watched process, new signal
/// and grace; another process is refused.
fn rearm_running(sig: Signal, stamp: &Stamp, grace_ms: u32) -> Result<Armed, Error> {
    let current = WATCHED.load(Ordering::Acquire);
    let parent = sys::getppid();
    let (armed, watch) = match verdict::judge(stamp, parent) {
        Verdict::Alive { armed, watch } => (armed, watch),
        Verdict::Gone => {
            sys::kill_self(sig.as_raw());
            return Err(Error::ParentDied {
                signal: sig,
                expected: stamp.pid,
                parent,
            });
        }
    };
    if watch != current && stamp.pid != current {
        return Err(Error::AlreadyWatching {
            watched: current,
            requested: stamp.pid,
        });
    }
    SIGNAL.store(sig.as_raw(), Ordering::Release);
    GRACE_MS.store(grace_ms, Ordering::Release);
    Ok(armed)
}

const KIND_PARENT: u8 = 0;
const KIND_ANCESTOR: u8 = 1;
const KIND_REEXEC: u8 = 2;
const KIND_UNVERIFIED: u8 = 3;
const KIND_INHERITED: u8 = 4;
const KIND_TREE: u8 = 5;

/// Publishes `armed` for the arming call (before `VERDICT` is released).
fn store_armed(armed: Armed) {
    let (kind, parent, other, reason) = match armed {
        Armed::Ancestor { parent, stamped } => (KIND_ANCESTOR, parent, stamped, 0),
        Armed::Inherited { parent, stamped } => (KIND_INHERITED, parent, stamped, 0),
        Armed::ReExec => (KIND_REEXEC, 0, 0, 0),
        Armed::Tree { anchor } => (KIND_TREE, 0, anchor, 0),
        Armed::Unverified {
            parent,
            expected,
            reason,
        } => {
            let reason = match reason {
                UnverifiedReason::ProcNotOurs => 0,
                UnverifiedReason::ProcUnreadable => 1,
                UnverifiedReason::StamperElsewhere => 2,
                UnverifiedReason::SameTick => 3,
            };
            (KIND_UNVERIFIED, parent, expected, reason)
        }
        Armed::Parent(parent) => (KIND_PARENT, parent, 0, 0),
        Armed::OutsideNamespace => (KIND_PARENT, 0, 0, 0),
    };
    ARMED_KIND.store(kind, Ordering::Relaxed);
    ARMED_PARENT.store(parent, Ordering::Relaxed);
    ARMED_OTHER.store(other, Ordering::Relaxed);
    ARMED_REASON.store(reason, Ordering::Relaxed);
}

/// Reads what [`store_armed`] published (after `VERDICT` was acquired).
fn load_armed() -> Armed {
    let parent = ARMED_PARENT.load(Ordering::Relaxed);
    let other = ARMED_OTHER.load(Ordering::Relaxed);
    match ARMED_KIND.load(Ordering::Relaxed) {
        KIND_ANCESTOR => Armed::Ancestor {
            parent,
            stamped: other,
        },
        KIND_INHERITED => Armed::Inherited {
            parent,
            stamped: other,
        },
        KIND_REEXEC => Armed::ReExec,
        KIND_TREE => Armed::Tree { anchor: other },
        KIND_UNVERIFIED => Armed::Unverified {
            parent,
            expected: other,
            reason: match ARMED_REASON.load(Ordering::Relaxed) {
                0 => UnverifiedReason::ProcNotOurs,
                1 => UnverifiedReason::ProcUnreadable,
                2 => UnverifiedReason::StamperElsewhere,
                _ => UnverifiedReason::SameTick,
            },
        },
        _ => Armed::Parent(parent),
    }
}

/// Waits until the watcher has published its verdict; `PENDING` after
/// `VERDICT_TIMEOUT_MS`.
fn wait_for_verdict() -> c_int {
    wait_for(VERDICT_TIMEOUT_MS, || {
        VERDICT.load(Ordering::Acquire) != PENDING
    });
    VERDICT.load(Ordering::Acquire)
}

/// Waits for `done` (yielding 1000 times, then sleeping 1 ms at a time, at
/// most `timeout_ms`); whether it came true.
fn wait_for(timeout_ms: u32, mut done: impl FnMut() -> bool) -> bool {
    for spin in 0..(1000 + timeout_ms) {
        if done() {
            return true;
        }
        if spin < 1000 {
            sys::sched_yield();
        } else {
            sys::sleep_ms(1);
        }
    }
    done()
}

/// Creates the watcher thread (see [`sys::spawn_detached`]).
fn spawn() -> Result<(), c_int> {
    WATCHER_TID.store(0, Ordering::Release);
    STARTED_IN.store(sys::getpid(), Ordering::Release);
    let spawned = match sys::spawn_detached(watcher_main, Some(STACK_SIZE)) {
        // The small stack could not hold this program's static TLS.
        Err(libc::EINVAL) => sys::spawn_detached(watcher_main, None),
        other => other,
    };
    if spawned.is_err() {
        STARTED_IN.store(0, Ordering::Release);
    }
    spawned
}

/// The stamp handed to the watcher by [`watch`].
fn handed_stamp() -> Stamp {
    let ticks = STAMP_TICKS.load(Ordering::Relaxed);
    let watched = STAMP_WATCHED.load(Ordering::Relaxed);
    let ino = STAMP_INO.load(Ordering::Relaxed);
    Stamp {
        pid: STAMP_PID.load(Ordering::Relaxed),
        ticks: (ticks != NO_TICKS).then_some(ticks),
        watched: (watched > 0).then_some(watched),
        ino: (ino != NO_TICKS).then_some(ino),
    }
}

/// What the watcher watches: a pidfd on `pid`, and whether `pid` is our
/// parent (then `getppid()` changing means it died).
#[derive(Clone, Copy)]
struct Target {
    fd: c_int,
    pid: pid_t,
    is_parent: bool,
}

/// What a watcher follows: the parent (or the process the verdict chose in
/// its place), and in tree mode the anchor; either may be absent.
#[derive(Clone, Copy)]
struct Targets {
    parent: Option<Target>,
    anchor: Option<Target>,
}

/// Tree mode: the anchor's pidfd, opened after the verdict on it
/// (`Err(verdict)` to publish: GONE, or -errno).
fn open_anchor() -> Result<Option<Target>, c_int> {
    let anchor = handed_anchor();
    if anchor.pid == sys::getpid() {
        return Ok(None);
    }
    if verdict::judge_anchor(&anchor) == Verdict::Gone {
        return Err(GONE);
    }
    match sys::pidfd_open(anchor.pid) {
        Ok(fd) if !sys::pidfd_exited(fd) => Ok(Some(Target {
            fd,
            pid: anchor.pid,
            is_parent: anchor.pid == sys::getppid(),
        })),
        Ok(fd) => {
            sys::close(fd);
            Err(GONE)
        }
        Err(libc::ESRCH) => Err(GONE),
        Err(errno) => Err(-errno),
    }
}

/// The parent's pidfd, opened after the verdict and confirmed:
/// `Ok(None)` when the parent is gone, `Err(-errno)` when pidfd_open fails.
fn open_parent() -> Result<Option<(Target, Armed)>, c_int> {
    let stamp = handed_stamp();
    for _ in 0..JUDGE_ATTEMPTS {
        let parent = sys::getppid();
        let (armed, pid) = match verdict::judge(&stamp, parent) {
            Verdict::Alive { armed, watch } => (armed, watch),
            Verdict::Gone => return Ok(None),
        };
        let fd = match sys::pidfd_open(pid) {
            Ok(fd) => fd,
            // Died since the verdict: judge again with what is now true.
            Err(libc::ESRCH) => continue,
            Err(errno) => return Err(-errno),
        };
        // After the open: a parent that is still ours now, or a process
        // that has not exited, is the one the pidfd refers to (a reused
        // pid would be neither our parent nor alive in its place).
        let is_parent = pid == parent;
        let confirmed = if is_parent {
            sys::getppid() == parent
        } else {
            !sys::pidfd_exited(fd)
        };
        if !confirmed {
            sys::close(fd);
            continue;
        }
        return Ok(Some((Target { fd, pid, is_parent }, armed)));
    }
    Ok(None)
}

/// A fork child's parent, through the pidfd `fd` it opened on itself
/// before the fork (see [`FORK_PIDFD`]), owned by the watcher: `Ok(Some)`
/// while it lives; dead already, `Ok(None)` when this process stays
/// (detached, or left behind with status 0: it then follows the anchor
/// only), else `Err(GONE)`.
fn handed_parent(
    fd: c_int,
    anchor: Option<Target>,
    private: bool,
) -> Result<Option<Target>, c_int> {
    let target = Target {
        fd,
        pid: STAMP_PID.load(Ordering::Acquire),
        is_parent: true,
    };
    if !confirmed_dead(target) {
        return Ok(Some(target));
    }
    // The same rule as a death seen later (wait_tree): the parent may have
    // exited on purpose before this process got as far as setsid(2).
    let stay = detached_now() || left_behind(target, anchor, private);
    sys::close(fd);
    if stay {
        ANCHOR_ONLY.store(true, Ordering::Release);
        Ok(None)
    } else {
        Err(GONE)
    }
}

/// The watcher's start: judge, open the pidfds, confirm, publish.
/// `handed`: a fork child's pidfd on its parent, in the watcher's own
/// table. Returns what to watch, or `None` (verdict published).
fn open_and_judge(handed: Option<c_int>, private: bool) -> Option<Targets> {
    let publish = |verdict: c_int| VERDICT.store(verdict, Ordering::Release);
    let tree = TREE.load(Ordering::Acquire);
    let anchor = if tree {
        match open_anchor() {
            Ok(anchor) => anchor,
            Err(verdict) => {
                if let Some(fd) = handed {
                    sys::close(fd);
                }
                publish(verdict);
                return None;
            }
        }
    } else {
        None
    };
    let give_up = |verdict: c_int| {
        if let Some(a) = anchor {
            sys::close(a.fd);
        }
        publish(verdict);
    };
    let parent = if tree && ANCHOR_ONLY.load(Ordering::Acquire) {
        if let Some(fd) = handed {
            sys::close(fd);
        }
        None
    } else if let Some(fd) = handed.filter(|_| tree) {
        let armed = Armed::Tree {
            anchor: ANCHOR_PID.load(Ordering::Acquire),
        };
        match handed_parent(fd, anchor, private) {
            Ok(target) => target.map(|t| (t, armed)),
            Err(verdict) => {
                give_up(verdict);
                return None;
            }
        }
    } else {
        match open_parent() {
            Ok(Some((target, armed))) => Some((target, armed)),
            // Gone before we armed: a death, unless we have detached.
            Ok(None) if tree && detached_now() => {
                ANCHOR_ONLY.store(true, Ordering::Release);
                None
            }
            Ok(None) => {
                give_up(GONE);
                return None;
            }
            Err(verdict) => {
                give_up(verdict);
                return None;
            }
        }
    };
    let armed = match parent {
        Some((_, armed)) if !tree => armed,
        _ => Armed::Tree {
            anchor: ANCHOR_PID.load(Ordering::Acquire),
        },
    };
    // The anchor's pidfd covers a parent that is the anchor.
    let mut parent = parent.map(|(target, _)| target);
    if let (Some(p), Some(a)) = (parent, anchor) {
        if p.pid == a.pid {
            sys::close(p.fd);
            parent = None;
        }
    }
    let watched = parent.or(anchor).map_or(0, |t| t.pid);
    WATCHED.store(watched, Ordering::Release);
    OWNER.store(sys::getpid(), Ordering::Release);
    store_armed(armed);
    publish(WATCHING);
    Some(Targets { parent, anchor })
}

/// The watcher thread. Only system calls, no allocation.
extern "C" fn watcher_main(_: *mut c_void) -> *mut c_void {
    WATCHER_TID.store(sys::gettid(), Ordering::Release);
    if stopping() {
        // A credential change came before this thread had started.
        return ptr::null_mut();
    }
    sys::set_thread_name(c"pdeathsig");
    // A fork child's pidfd on its parent, kept when the table is emptied.
    let handed = receive_handover();
    let private = sys::private_descriptor_table(handed);
    // Handed over, the table is this thread's alone even if it could not
    // be emptied (not expected: the main thread checked close_range).
    let private = private || handed.is_some();
    let Some(targets) = open_and_judge(handed, private) else {
        // Parent already gone: the arming call sent the signal (a fork
        // child's watcher sends it itself); escalate.
        let gone = VERDICT.load(Ordering::Acquire) == GONE;
        if gone && ASYNC.load(Ordering::Acquire) {
            sys::kill_self(SIGNAL.load(Ordering::Acquire));
        }
        let grace = GRACE_MS.load(Ordering::Acquire);
        if grace > 0 && gone {
            sys::sleep_ms(grace);
            sys::kill_self(libc::SIGKILL);
        }
        return ptr::null_mut();
    };
    if stopping() {
        // Its descriptors go with its private table; a new watcher starts
        // once the credential change is made.
        return ptr::null_mut();
    }
    let die = if TREE.load(Ordering::Acquire) {
        wait_tree(targets, private)
    } else {
        match targets.parent {
            Some(target) => wait_for_death(target, private),
            None => false,
        }
    };
    if !die || ABANDONED.load(Ordering::Acquire) || stopping() {
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
        sys::sleep_ms(grace);
        // Still here: the process survived the signal for the whole grace.
        sys::kill_self(libc::SIGKILL);
    }
    // Nothing is left to do. Parked rather than ended: the signal usually
    // ends the process, and a thread exit of its own would only compete for
    // the CPU with the rest of a tree's teardown (a process that survives
    // the signal keeps an idle thread, until a credential change stops it).
    while !stopping() {
        sys::nap_ms(u32::try_from(poll_timeout(3_600_000)).unwrap_or(STOP_CHECK_MS));
    }
    ptr::null_mut()
}

/// Has a credential change asked the watcher to stop?
fn stopping() -> bool {
    STOPPING.load(Ordering::Acquire)
}

/// How often a watcher looks whether a credential change wants it gone
/// where no glibc call can wake it (a fully static program that links
/// libpdeathsig.a: see setxid.rs). Elsewhere it is woken and never looks.
const STOP_CHECK_MS: u32 = 100;

/// `timeout` (milliseconds, -1 for none) for a watcher's poll(2), shortened
/// to `STOP_CHECK_MS` where the watcher must look by itself.
fn poll_timeout(timeout: c_int) -> c_int {
    #[cfg(feature = "capi")]
    if sys::statically_linked() {
        let check = STOP_CHECK_MS as c_int;
        return if timeout < 0 {
            check
        } else {
            timeout.min(check)
        };
    }
    timeout
}

#[cfg(feature = "capi")]
/// A credential change is about to be made through glibc, which runs the
/// set*id(2) system call in every thread of the process and aborts the
/// program when one thread fails where the calling one succeeds. The
/// watcher thread may lack a privilege that the calling thread holds
/// (capabilities kept across a uid change are per thread: setpriv
/// `--reuid --regid`), so it is stopped first: `wake` must make every
/// thread's blocking system call return EINTR (a no-op set*id call through
/// glibc does). Returns whether a watcher was stopped; then
/// [`resume_after_credentials`] starts it again.
pub(crate) fn pause_for_credentials(wake: impl FnOnce()) -> bool {
    // Looked at before the lock: a vfork(2) child shares this memory with
    // its parent, whose watcher it must neither lock out nor stop. A
    // watcher that has not published its verdict yet (a fork child's) is
    // stopped too.
    let me = sys::getpid();
    if OWNER.load(Ordering::Acquire) != me && STARTED_IN.load(Ordering::Acquire) != me {
        return false;
    }
    let _locked = lock();
    STOPPING.store(true, Ordering::Release);
    wake();
    // Gone from the kernel: glibc no longer counts it among the threads
    // that must run the call.
    wait_for(STOP_TIMEOUT_MS, || {
        let tid = WATCHER_TID.load(Ordering::Acquire);
        tid != 0 && !sys::thread_alive(tid)
    });
    OWNER.store(0, Ordering::Release);
    STARTED_IN.store(0, Ordering::Release);
    true
}

#[cfg(feature = "capi")]
/// After a credential change: a new watcher judges again what the stopped
/// one watched (the same stamp and anchor) and watches it; waits for its
/// verdict, and if the watched process died in the meantime, sends the
/// signal, as arming does.
pub(crate) fn resume_after_credentials() {
    let _locked = lock();
    STOPPING.store(false, Ordering::Release);
    let sig = SIGNAL.load(Ordering::Acquire);
    if sig == 0 {
        return;
    }
    ASYNC.store(false, Ordering::Release);
    ABANDONED.store(false, Ordering::Release);
    fork::HANDOVER.store(fork::HANDOVER_NONE, Ordering::Release);
    VERDICT.store(PENDING, Ordering::Release);
    if let Err(errno) = spawn() {
        fall_back_to_prctl(b"after a credential change", errno);
        return;
    }
    match wait_for_verdict() {
        GONE => sys::kill_self(sig),
        PENDING => ABANDONED.store(true, Ordering::Release),
        _ => {}
    }
}

/// No watcher thread could start (RLIMIT_NPROC, no memory): never
/// silently unguarded. The kernel's PR_SET_PDEATHSIG as a floor, and one
/// line on stderr saying so (`when`: which watcher).
fn fall_back_to_prctl(when: &[u8], errno: c_int) {
    let _ = sys::set_pdeathsig(SIGNAL.load(Ordering::Acquire));
    use crate::text::Sink;
    let mut storage = [0u8; 240];
    let mut line = crate::text::Buf::new(&mut storage);
    line.put(b"pdeathsig: ");
    line.put(when);
    line.put(b" ");
    line.put_int(i64::from(sys::getpid()));
    line.put(b": cannot start its watcher thread (pthread_create: ");
    let mut text = [0u8; 64];
    match sys::strerror(errno, &mut text) {
        Some(msg) => line.put(msg),
        None => line.put_int(i64::from(errno)),
    }
    line.put(b"); armed with prctl(PR_SET_PDEATHSIG) against the parent thread only\n");
    sys::write_stderr(line.as_bytes());
}

/// Has the watched process exited, looked at afresh (never through the
/// descriptor the watcher was polling, which the program may have reused)?
fn confirmed_dead(target: Target) -> bool {
    if target.is_parent && sys::getppid() != target.pid {
        return true;
    }
    match sys::pidfd_open(target.pid) {
        Err(libc::ESRCH) => true,
        Ok(fd) => {
            let exited = sys::pidfd_exited(fd);
            sys::close(fd);
            exited
        }
        Err(_) => sys::kill(target.pid, 0) == Err(libc::ESRCH),
    }
}

/// Blocks until the watched process has exited, confirmed by
/// [`confirmed_dead`]. `private`: the pidfd lives in the watcher's own
/// descriptor table, so it is ours to close; otherwise the watcher also
/// looks once a second (see [`SHARED_TABLE_RECHECK_MS`]). Should poll(2)
/// itself fail, falls back to looking every 100 ms. True once it has
/// exited; false when a credential change stops the watcher.
fn wait_for_death(mut target: Target, private: bool) -> bool {
    let timeout = poll_timeout(if private { -1 } else { SHARED_TABLE_RECHECK_MS });
    loop {
        if stopping() {
            return false;
        }
        let woken = match sys::poll_in(target.fd, timeout) {
            Err(libc::EINTR) if stopping() => return false,
            Err(libc::EINTR) => continue,
            Ok(0) if private => continue,
            Ok(revents) => revents != 0,
            Err(_) => break,
        };
        if confirmed_dead(target) {
            if private {
                sys::close(target.fd);
            }
            return true;
        }
        if !woken {
            // The periodic look of a shared table: alive, keep waiting.
            continue;
        }
        // Woken while the process lives: in a shared table the program
        // closed our descriptor and reused its number (a regular file polls
        // readable). Watch a new pidfd; the old number is not ours to close.
        if private {
            sys::close(target.fd);
        }
        match sys::pidfd_open(target.pid) {
            Ok(fd) => target.fd = fd,
            Err(libc::ESRCH) => return true,
            Err(_) => break,
        }
    }
    while !confirmed_dead(target) {
        if stopping() {
            return false;
        }
        sys::sleep_ms(FALLBACK_PERIOD_MS);
    }
    true
}
