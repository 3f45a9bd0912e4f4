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
//! parent ends before the child's watcher has started (see `FORK_PIDFD`).
//!
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
/// pthread_atfork(3) registered in this process image.
static ATFORK: AtomicBool = AtomicBool::new(false);

/// Tree mode, fork(2): a pidfd on the forking process, opened by the
/// prepare handler and so inherited by the child. The child then holds its
/// parent from its first instruction: a parent that exits before the
/// child's watcher runs (`setsid -f`, a daemon's first fork, a killed
/// shell) still tells how it ended (see [`left_behind`]). -1: none. The
/// parent handler closes the parent's copy; the child hands its copy to its
/// watcher (see [`HANDOVER`]).
static FORK_PIDFD: AtomicI32 = AtomicI32::new(-1);
/// In a fork child: the number of the pidfd being handed to the watcher.
static HANDED_FD: AtomicI32 = AtomicI32::new(-1);
/// In a fork child: how the pidfd on the parent passes from the main
/// thread to its watcher, without making the fork wait for the thread. The
/// main thread leaves the descriptor table it shares with the new watcher
/// (unshare(2) `CLONE_FILES`: it takes a copy) and closes the pidfd in its
/// copy, so the program's table never keeps it; the watcher, in the
/// original table, keeps the pidfd and closes everything else.
static HANDOVER: AtomicU8 = AtomicU8::new(HANDOVER_NONE);
/// Nothing is handed over.
const HANDOVER_NONE: u8 = 0;
/// The main thread has not decided yet.
const HANDOVER_PENDING: u8 = 1;
/// The main thread has left the table: the pidfd in it is the watcher's.
const HANDOVER_GIVEN: u8 = 2;
/// The main thread could not leave the table (an older kernel, a seccomp
/// filter) and closed the pidfd: the watcher does without it.
const HANDOVER_WITHHELD: u8 = 3;
/// The watcher stopped waiting for the decision and does without it.
const HANDOVER_ABANDONED: u8 = 4;
/// How long a fork child's watcher waits for the main thread's decision
/// (made microseconds after the thread is created).
const HANDOVER_TIMEOUT_MS: u32 = 200;

/// Tree mode: from now on, every fork(2) child of this process (and of
/// those children) starts a watcher on the anchor, as long as `TREE` is
/// set and `SIGNAL` is not 0 (disarmed); both are inherited by fork(2) and
/// gone with execve(2).
fn watch_fork_children() {
    if !ATFORK.swap(true, Ordering::AcqRel) {
        sys::atfork(before_fork, after_fork_in_parent, after_fork_in_child);
    }
}

/// Do this process's fork children start a watcher (tree mode, armed)?
fn forks_get_watcher() -> bool {
    TREE.load(Ordering::Acquire) && SIGNAL.load(Ordering::Acquire) != 0
}

/// pthread_atfork(3) prepare handler: remembers who forks and, when the
/// child will start a watcher, opens a pidfd on this process for it.
extern "C" fn before_fork() {
    let me = sys::getpid();
    FORKER.store(me, Ordering::Release);
    let fd = if forks_get_watcher() {
        sys::pidfd_open(me).unwrap_or(-1)
    } else {
        -1
    };
    FORK_PIDFD.store(fd, Ordering::Release);
}

/// pthread_atfork(3) parent handler: the pidfd was for the child only.
extern "C" fn after_fork_in_parent() {
    let fd = FORK_PIDFD.swap(-1, Ordering::AcqRel);
    if fd >= 0 {
        sys::close(fd);
    }
}

/// Tree mode's detach flags of this process now: 1 when SIGHUP is ignored
/// (`nohup`), 2 when SIGINT and SIGQUIT are (a non-interactive shell's
/// background job, `cmd &`).
pub(crate) fn detach_flags() -> u8 {
    let hup = sys::signal_ignored(libc::SIGHUP);
    let bg = sys::signal_ignored(libc::SIGINT) && sys::signal_ignored(libc::SIGQUIT);
    u8::from(hup) | (u8::from(bg) << 1)
}

/// Tree mode: has this process detached from its parent? It has when it is
/// in another session than the one its parent passed on (setsid(2):
/// `setsid -f`, daemon(3), a double fork's second child), or ignores
/// SIGHUP, or SIGINT with SIGQUIT, where its parent did not (`nohup`,
/// `cmd &`). A detached process follows the anchor only.
fn detached_now() -> bool {
    let inherited = INHERITED_FLAGS.load(Ordering::Acquire);
    sys::getsid() != INHERITED_SESSION.load(Ordering::Acquire) || detach_flags() & !inherited != 0
}

/// Takes `session` and `flags` as what the parent passed on, and records
/// this process's own: the detach facts at arming time.
fn record_detach_facts(session: pid_t, flags: u8) {
    INHERITED_SESSION.store(session, Ordering::Release);
    INHERITED_FLAGS.store(flags, Ordering::Release);
    OWN_SESSION.store(sys::getsid(), Ordering::Release);
    OWN_FLAGS.store(detach_flags(), Ordering::Release);
}

#[cfg(any(feature = "auto-arm", feature = "std"))]
/// Tree mode: the anchor as this process passes it on to the children it
/// execs (`PDEATHSIG_ANCHOR`), with its own session and detach flags.
pub(crate) fn anchor_for_children() -> Option<Anchor> {
    let pid = ANCHOR_PID.load(Ordering::Acquire);
    if !TREE.load(Ordering::Acquire) || pid == 0 {
        return None;
    }
    let known = |v: u64| (v != NO_TICKS).then_some(v);
    Some(Anchor {
        pid,
        ticks: known(ANCHOR_TICKS.load(Ordering::Acquire)),
        ino: known(ANCHOR_INO.load(Ordering::Acquire)),
        session: Some(OWN_SESSION.load(Ordering::Acquire)).filter(|&s| s > 0),
        flags: Some(OWN_FLAGS.load(Ordering::Acquire)),
        pid_ns: known(ANCHOR_NS.load(Ordering::Acquire)),
    })
}

#[cfg(feature = "std")]
/// Tree mode: the `PDEATHSIG_ANCHOR` value this process passes on to the
/// children it execs (the anchor, and this process's session and detach
/// flags); `None` outside tree mode. For the exec wrapper, which sets its
/// program's environment itself.
pub fn anchor_env_for_children() -> Option<std::string::String> {
    let anchor = anchor_for_children()?;
    let mut storage = [0u8; 96];
    let mut value = crate::text::Buf::new(&mut storage);
    anchor.write(&mut value, 0);
    Some(std::string::String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The anchor as a stamp, for the verdict's liveness checks.
fn handed_anchor() -> Stamp {
    let known = |v: u64| (v != NO_TICKS).then_some(v);
    Stamp {
        pid: ANCHOR_PID.load(Ordering::Acquire),
        ticks: known(ANCHOR_TICKS.load(Ordering::Acquire)),
        watched: None,
        ino: known(ANCHOR_INO.load(Ordering::Acquire)),
    }
}

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

/// Tree mode, in the child of a fork(2) of a process whose watcher runs
/// (pthread_atfork(3) child handler): the child is single-threaded, its
/// copy of the statics describes the anchor; start its own watcher without
/// waiting (a fork should not block), which signals the child itself if
/// the anchor is already gone.
extern "C" fn after_fork_in_child() {
    let parent_fd = FORK_PIDFD.load(Ordering::Acquire);
    // Decided by what the parent set before any thread started, so a child
    // that forks again at once (a daemon's double fork) passes the duty on
    // whether or not its own watcher has judged yet.
    if !forks_get_watcher() {
        HANDOVER.store(HANDOVER_NONE, Ordering::Release);
        if parent_fd >= 0 {
            FORK_PIDFD.store(-1, Ordering::Release);
            sys::close(parent_fd);
        }
        return;
    }
    OWNER.store(0, Ordering::Release);
    LOCK.store(0, Ordering::Release);
    ASYNC.store(true, Ordering::Release);
    ABANDONED.store(false, Ordering::Release);
    VERDICT.store(PENDING, Ordering::Release);
    // Our parent is the forker; what it passes on is its own session and
    // flags of when it armed (or forked): a forker that has called setsid
    // since (a double fork's first child) has forked a detached child.
    STAMP_PID.store(FORKER.load(Ordering::Acquire), Ordering::Release);
    STAMP_TICKS.store(NO_TICKS, Ordering::Release);
    STAMP_WATCHED.store(0, Ordering::Release);
    STAMP_INO.store(NO_TICKS, Ordering::Release);
    record_detach_facts(
        OWN_SESSION.load(Ordering::Acquire),
        OWN_FLAGS.load(Ordering::Acquire),
    );
    ANCHOR_ONLY.store(detached_now(), Ordering::Release);
    if sys::getppid() == 0 {
        // Forked into a new PID namespace (by a forker that called
        // unshare(CLONE_NEWPID)): the anchor cannot be seen from here.
        become_own_anchor(SIGNAL.load(Ordering::Acquire));
    }
    let handing = parent_fd >= 0;
    HANDED_FD.store(parent_fd, Ordering::Release);
    HANDOVER.store(
        if handing {
            HANDOVER_PENDING
        } else {
            HANDOVER_NONE
        },
        Ordering::Release,
    );
    let spawned = spawn();
    if handing {
        // Only where the watcher can then empty the table it keeps (it
        // holds the program's descriptors until it does).
        let given =
            spawned.is_ok() && sys::close_range_available() && sys::unshare_descriptor_table();
        let decision = if given {
            HANDOVER_GIVEN
        } else {
            HANDOVER_WITHHELD
        };
        // Fails only when the watcher gave up waiting: it does without.
        let _ = HANDOVER.compare_exchange(
            HANDOVER_PENDING,
            decision,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        // In the program's own copy now (or, withheld, in the shared
        // table, where the watcher does not use it).
        FORK_PIDFD.store(-1, Ordering::Release);
        sys::close(parent_fd);
    }
    if let Err(errno) = spawned {
        // No watcher (RLIMIT_NPROC, no memory): never silently unguarded.
        // The kernel's setting follows the forker at least (the forking
        // thread: see the README on thread exit), and one line says so.
        let sig = SIGNAL.load(Ordering::Acquire);
        let _ = sys::set_pdeathsig(sig);
        warn_no_fork_watcher(errno);
    }
}

/// The watcher's side of the handover: the pidfd on the parent, when the
/// main thread has left it in this thread's table (see [`HANDOVER`]).
/// Waits for the main thread's decision, at most `HANDOVER_TIMEOUT_MS`.
fn receive_handover() -> Option<c_int> {
    if HANDOVER.load(Ordering::Acquire) == HANDOVER_NONE {
        return None;
    }
    let decided = wait_for(HANDOVER_TIMEOUT_MS, || {
        HANDOVER.load(Ordering::Acquire) != HANDOVER_PENDING
    });
    if !decided
        && HANDOVER
            .compare_exchange(
                HANDOVER_PENDING,
                HANDOVER_ABANDONED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    {
        return None;
    }
    (HANDOVER.load(Ordering::Acquire) == HANDOVER_GIVEN)
        .then(|| HANDED_FD.load(Ordering::Acquire))
        .filter(|&fd| fd >= 0)
}

/// One line on stderr: a fork child's watcher could not start.
fn warn_no_fork_watcher(errno: c_int) {
    use crate::text::Sink;
    let mut storage = [0u8; 240];
    let mut line = crate::text::Buf::new(&mut storage);
    line.put(b"pdeathsig: fork child ");
    line.put_int(i64::from(sys::getpid()));
    line.put(b": cannot start its watcher thread (pthread_create: ");
    let mut text = [0u8; 64];
    match sys::strerror(errno, &mut text) {
        Some(msg) => line.put(msg),
        None => line.put_int(i64::from(errno)),
    }
    line.put(b"); armed with prctl(PR_SET_PDEATHSIG) against its parent only\n");
    sys::write_stderr(line.as_bytes());
}

/// Tree mode, in a new PID namespace whose parent is outside (getppid() is
/// 0): the tree's anchor cannot be seen, nor the parent. This process is
/// the anchor of its part of the tree, and the kernel's
/// PR_SET_PDEATHSIG, which crosses namespaces, follows its parent.
fn become_own_anchor(sig: c_int) {
    warn_foreign_anchor(ANCHOR_PID.load(Ordering::Acquire));
    set_anchor(sys::getpid(), sys::boot_ticks(), None, sys::pid_namespace());
    let _ = sys::set_pdeathsig(sig);
    #[cfg(feature = "auto-arm")]
    if let Some(anchor) = anchor_for_children() {
        // SAFETY: a fork child runs this one thread; the environment is
        // this process's copy, which the child handler is the first to
        // touch (the rule of the constructor's stamping).
        unsafe { crate::stamp::stamp_anchor(&anchor) };
    }
}

/// Records the anchor (its pidfs inode looked up when not given).
fn set_anchor(pid: pid_t, ticks: Option<u64>, ino: Option<u64>, pid_ns: Option<u64>) {
    ANCHOR_PID.store(pid, Ordering::Release);
    ANCHOR_TICKS.store(ticks.unwrap_or(NO_TICKS), Ordering::Release);
    let ino = ino.or_else(|| sys::pidfs_ino(pid).ok());
    ANCHOR_INO.store(ino.unwrap_or(NO_TICKS), Ordering::Release);
    ANCHOR_NS.store(pid_ns.unwrap_or(NO_TICKS), Ordering::Release);
}

/// One line on stderr: the anchor is in another PID namespace.
fn warn_foreign_anchor(anchor: pid_t) {
    use crate::text::Sink;
    let mut storage = [0u8; 240];
    let mut line = crate::text::Buf::new(&mut storage);
    line.put(b"pdeathsig: the tree's anchor ");
    line.put_int(i64::from(anchor));
    line.put(
        b" is outside this PID namespace and cannot be watched from here; this process \
          is the anchor of its part of the tree\n",
    );
    sys::write_stderr(line.as_bytes());
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

/// Tree mode, arming again while a watcher runs: the same anchor gets the
/// new signal and grace; another anchor is refused.
fn rearm_running_tree(sig: Signal, anchor: Anchor, grace_ms: u32) -> Result<Armed, Error> {
    let current = ANCHOR_PID.load(Ordering::Acquire);
    if !TREE.load(Ordering::Acquire) || current != anchor.pid {
        return Err(Error::AlreadyWatching {
            watched: if current != 0 {
                current
            } else {
                WATCHED.load(Ordering::Acquire)
            },
            requested: anchor.pid,
        });
    }
    SIGNAL.store(sig.as_raw(), Ordering::Release);
    GRACE_MS.store(grace_ms, Ordering::Release);
    Ok(Armed::Tree { anchor: current })
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
    match sys::spawn_detached(watcher_main, Some(STACK_SIZE)) {
        // The small stack could not hold this program's static TLS.
        Err(libc::EINVAL) => sys::spawn_detached(watcher_main, None),
        other => other,
    }
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
    let die = if TREE.load(Ordering::Acquire) {
        wait_tree(targets, private)
    } else {
        match targets.parent {
            Some(target) => {
                wait_for_death(target, private);
                true
            }
            None => false,
        }
    };
    if !die || ABANDONED.load(Ordering::Acquire) {
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
    // the signal keeps an idle thread).
    loop {
        sys::sleep_ms(3_600_000);
    }
}

/// Tree mode: waits for the anchor's death (then true: signal) and the
/// parent's. When the parent dies, this process dies too (true) unless it
/// has detached, or the parent exited with status 0 (it left us behind on
/// purpose: a launcher); then it follows the anchor alone. With nothing
/// left to follow, false.
fn wait_tree(targets: Targets, private: bool) -> bool {
    let Targets {
        mut parent,
        mut anchor,
    } = targets;
    let timeout = if private { -1 } else { SHARED_TABLE_RECHECK_MS };
    let release = |t: Option<Target>| {
        if let (true, Some(t)) = (private, t) {
            sys::close(t.fd);
        }
    };
    loop {
        if parent.is_none() && anchor.is_none() {
            return false;
        }
        let fds = [parent.map_or(-1, |t| t.fd), anchor.map_or(-1, |t| t.fd)];
        let woken = match sys::poll_in_two(fds, timeout) {
            Err(libc::EINTR) => continue,
            Ok(revents) => revents,
            Err(_) => {
                sys::sleep_ms(FALLBACK_PERIOD_MS);
                [0, 0]
            }
        };
        // A pidfd of our own table polls readable only once its process
        // has exited: no second look needed (it costs the teardown of a
        // whole tree three system calls per process).
        let anchor_dead = |a: Target, revents: libc::c_short| {
            (private && revents != 0 && !a.is_parent) || confirmed_dead(a)
        };
        if let Some(a) = anchor {
            if anchor_dead(a, woken[1]) {
                release(parent);
                release(anchor);
                return true;
            }
        }
        if let Some(p) = parent {
            if confirmed_dead(p) {
                let stay = detached_now() || left_behind(p, anchor, private);
                release(parent);
                parent = None;
                if !stay {
                    release(anchor);
                    return true;
                }
                continue;
            }
        }
        // Woken while alive: in a shared table the program reused the
        // number (see wait_for_death). Watch a new pidfd.
        for (slot, revents) in [(&mut parent, woken[0]), (&mut anchor, woken[1])] {
            if let (Some(t), true) = (*slot, revents != 0) {
                release(Some(t));
                *slot = match sys::pidfd_open(t.pid) {
                    Ok(fd) => Some(Target { fd, ..t }),
                    Err(_) => None,
                };
            }
        }
    }
}

/// Tree mode, the parent `p` dead: did it exit with status 0, leaving this
/// process behind on purpose (git's credential daemon, a launcher)? Known
/// once the parent's reaper has reaped it (Linux 6.15+); waits for that at
/// most EXIT_STATUS_WAIT_SECS, and stops early when the anchor dies. Unknown
/// (an older kernel, no reaper): one line on stderr, and this process
/// follows the anchor, never killed on a guess.
fn left_behind(p: Target, anchor: Option<Target>, private: bool) -> bool {
    // A deadline in clock ticks of CLOCK_BOOTTIME (none: no wait).
    let deadline =
        sys::boot_ticks().map(|now| now + EXIT_STATUS_WAIT_SECS * sys::clock_ticks_per_second());
    let before_deadline =
        || matches!((sys::boot_ticks(), deadline), (Some(now), Some(end)) if now <= end);
    // Only our own table's descriptor is surely still this pidfd.
    while private && before_deadline() {
        match sys::pidfd_exit_status(p.fd) {
            Ok(Some(status)) => return status == 0,
            // ESRCH: reaped, and the status not recorded yet (the kernel
            // unhashes a reaped process before it stores its exit): asked
            // again. Taking it for "unknown" let a killed shell's child
            // live on, about 1 time in 500 under load.
            Ok(None) | Err(libc::ESRCH) => {}
            Err(_) => break,
        }
        if anchor.is_some_and(confirmed_dead) {
            return false;
        }
        sys::sleep_ms(1);
    }
    warn_unknown_exit(p.pid, anchor.map(|a| a.pid));
    true
}

/// One line on stderr: the parent's end could not be told.
fn warn_unknown_exit(parent: pid_t, anchor: Option<pid_t>) {
    use crate::text::Sink;
    let mut storage = [0u8; 200];
    let mut line = crate::text::Buf::new(&mut storage);
    line.put(b"pdeathsig: parent process ");
    line.put_int(i64::from(parent));
    line.put(b" has ended and how cannot be known (its exit status is not available); ");
    match anchor {
        Some(a) => {
            line.put(b"following the tree's anchor ");
            line.put_int(i64::from(a));
            line.put(b" only, no signal sent\n");
        }
        None => line.put(b"no signal sent\n"),
    }
    // The watcher's own descriptor table has no stderr.
    sys::write_program_stderr(line.as_bytes());
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
/// itself fail, falls back to looking every 100 ms.
fn wait_for_death(mut target: Target, private: bool) {
    let timeout = if private { -1 } else { SHARED_TABLE_RECHECK_MS };
    loop {
        let woken = match sys::poll_in(target.fd, timeout) {
            Err(libc::EINTR) => continue,
            Ok(0) if private => continue,
            Ok(revents) => revents != 0,
            Err(_) => break,
        };
        if confirmed_dead(target) {
            if private {
                sys::close(target.fd);
            }
            return;
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
            Err(libc::ESRCH) => return,
            Err(_) => break,
        }
    }
    while !confirmed_dead(target) {
        sys::sleep_ms(FALLBACK_PERIOD_MS);
    }
}
