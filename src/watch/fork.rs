//! Tree mode, fork(2): every fork child of a tree's process starts a
//! watcher of its own (pthread_atfork(3) handlers), and holds its parent
//! from the fork on through a pidfd the parent opens on itself before the
//! fork, handed to the child's watcher without making the fork wait.

use core::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use libc::c_int;

use super::*;

/// Tree mode, fork(2): a pidfd on the forking process, opened by the
/// prepare handler and so inherited by the child. The child then holds its
/// parent from its first instruction: a parent that exits before the
/// child's watcher runs (`setsid -f`, a daemon's first fork, a killed
/// shell) still tells how it ended (see [`left_behind`]). -1: none. The
/// parent handler closes the parent's copy; the child hands its copy to its
/// watcher (see [`HANDOVER`]) and keeps the number here for it (the next
/// fork's prepare handler overwrites it).
pub(super) static FORK_PIDFD: AtomicI32 = AtomicI32::new(-1);

/// In a fork child: how the pidfd on the parent passes from the main
/// thread to its watcher, without making the fork wait for the thread. The
/// main thread leaves the descriptor table it shares with the new watcher
/// (unshare(2) `CLONE_FILES`: it takes a copy) and closes the pidfd in its
/// copy, so the program's table never keeps it; the watcher, in the
/// original table, keeps the pidfd and closes everything else.
pub(super) static HANDOVER: AtomicU8 = AtomicU8::new(HANDOVER_NONE);

/// Nothing is handed over.
pub(super) const HANDOVER_NONE: u8 = 0;

/// The main thread has not decided yet.
pub(super) const HANDOVER_PENDING: u8 = 1;

/// The main thread has left the table: the pidfd in it is the watcher's.
pub(super) const HANDOVER_GIVEN: u8 = 2;

/// The main thread could not leave the table (an older kernel, a seccomp
/// filter) and closed the pidfd: the watcher does without it.
pub(super) const HANDOVER_WITHHELD: u8 = 3;

/// The watcher stopped waiting for the decision and does without it.
pub(super) const HANDOVER_ABANDONED: u8 = 4;

/// How long a fork child's watcher waits for the main thread's decision
/// (made microseconds after the thread is created).
pub(super) const HANDOVER_TIMEOUT_MS: u32 = 200;

/// Tree mode: from now on, every fork(2) child of this process (and of
/// those children) starts a watcher on the anchor, as long as `TREE` is
/// set and `SIGNAL` is not 0 (disarmed); both are inherited by fork(2) and
/// gone with execve(2).
pub(super) fn watch_fork_children() {
    if !ATFORK.swap(true, Ordering::AcqRel) {
        sys::atfork(before_fork, after_fork_in_parent, after_fork_in_child);
    }
}

/// Do this process's fork children start a watcher (tree mode, armed)?
pub(super) fn forks_get_watcher() -> bool {
    TREE.load(Ordering::Acquire) && SIGNAL.load(Ordering::Acquire) != 0
}

/// pthread_atfork(3) prepare handler: remembers who forks and, when the
/// child will start a watcher, opens a pidfd on this process for it.
pub(super) extern "C" fn before_fork() {
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
pub(super) extern "C" fn after_fork_in_parent() {
    let fd = FORK_PIDFD.swap(-1, Ordering::AcqRel);
    if fd >= 0 {
        sys::close(fd);
    }
}

/// Tree mode, in the child of a fork(2) of a process whose watcher runs
/// (pthread_atfork(3) child handler): the child is single-threaded, its
/// copy of the statics describes the anchor; start its own watcher without
/// waiting (a fork should not block), which signals the child itself if
/// the anchor is already gone.
pub(super) extern "C" fn after_fork_in_child() {
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
    STOPPING.store(false, Ordering::Release);
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
    let outside = sys::getppid() == 0;
    if outside {
        // Forked into a new PID namespace (by a forker that called
        // unshare(CLONE_NEWPID)): the anchor cannot be seen from here.
        become_own_anchor(SIGNAL.load(Ordering::Acquire));
    }
    // A parent outside our PID namespace is followed by the kernel's
    // setting (become_own_anchor); from here its pidfd could not tell how
    // it ended, only that it did.
    let handing = parent_fd >= 0 && !outside;
    if parent_fd >= 0 && !handing {
        sys::close(parent_fd);
    }
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
        sys::close(parent_fd);
    }
    if let Err(errno) = spawned {
        // No watcher (RLIMIT_NPROC, no memory): the kernel's setting
        // follows the forker at least (the forking thread: see the README
        // on thread exit).
        fall_back_to_prctl(b"fork child", errno);
    }
}

/// The watcher's side of the handover: the pidfd on the parent, when the
/// main thread has left it in this thread's table (see [`HANDOVER`]).
/// Waits for the main thread's decision, at most `HANDOVER_TIMEOUT_MS`.
pub(super) fn receive_handover() -> Option<c_int> {
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
        .then(|| FORK_PIDFD.load(Ordering::Acquire))
        .filter(|&fd| fd >= 0)
}
