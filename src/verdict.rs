//! The verdict: after arming, is the parent this process should have still
//! alive, or did it die before the guard took effect?
//!
//! The facts: the stamp from `PDEATHSIG_PPID` (`X`, the process that wrote
//! it, and `T`, when it wrote it, in clock ticks of `CLOCK_BOOTTIME`, the
//! clock of `/proc/PID/stat`'s start time), and `P = getppid()` after
//! arming. The rule, in order (the README's protocol section states it):
//!
//! 1. `P == X`: the parent is the expected one. No `/proc` read: this is
//!    the path of nearly every process.
//! 2. `P == 0`: the parent is outside our PID namespace; the kernel still
//!    signals us when it dies.
//! 3. `X` is our own pid: we were re-exec'd after stamping. The prctl
//!    setting survived the exec; a stamp `X:T:W` (process mode) also names
//!    the process `W` the image before the exec watched: alive, it is
//!    watched again; gone, the parent died during the exec.
//!
//!    From here on `/proc` is read, and trusted only if `/proc/self/stat`
//!    names our own pid (else it is another PID namespace's, or missing).
//! 4. `X` is an ancestor of `P`: a process in between (a subshell, a static
//!    or set-user-ID binary) did not re-stamp. Alive: no signal.
//! 5. `P` started after `T` (or in the same tick, with a higher pid than
//!    `X`): `P` inherited the stamp, so it is not a reaper that adopted us
//!    (a reaper is an ancestor of `X`, older than `X`'s stamp). It is a
//!    middle that forked without exec and was perhaps reparented (a daemon,
//!    `setsid -f`, tmux's server): alive, no signal. In the same tick with
//!    a lower pid nothing is known (pids of two namespaces do not compare):
//!    unverified, no signal.
//! 6. Otherwise `P` predates the stamp: we were adopted, unless `X` itself
//!    lives (then the stamp came from elsewhere, say an environment copied
//!    into a service manager, and nothing is known). `X` dead (no such
//!    process, a zombie, or a pid reused since `T`): **the parent died
//!    before the guard took effect**, the one case that signals.
//!
//! Whatever cannot be read (`/proc` foreign or hidden, an entry missing)
//! ends in [`Armed::Unverified`]: armed against the current parent, no
//! signal. A plain pid stamp (`PDEATHSIG_PPID=$$`, no `T`) skips rule 5.

use libc::pid_t;

use crate::environ::Stamp;
use crate::sys;

/// How far up the process tree rule 4 looks (`/proc` reads).
const MAX_ANCESTRY_DEPTH: usize = 1024;

/// How the parent was found alive after arming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Armed {
    /// `getppid()` is the expected parent: the usual case.
    Parent(pid_t),
    /// `getppid()` is 0: the parent is outside our PID namespace (see
    /// pid_namespaces(7)). The kernel still signals us when it dies.
    OutsideNamespace,
    /// The expected pid is our own: we were re-exec'd by a process that had
    /// armed and stamped itself (`sh -c 'exec prog'`).
    ReExec,
    /// The expected pid is an ancestor of our parent: a process between them
    /// (a subshell, a static binary, a set-user-ID program) did not re-stamp
    /// `PDEATHSIG_PPID`. The stamped process is alive, so this is no death.
    Ancestor {
        /// Our parent, `getppid()`.
        parent: pid_t,
        /// The expected pid, found above `parent`.
        stamped: pid_t,
    },
    /// Our parent started after the stamp was written, so it inherited the
    /// stamp without re-stamping: a process that forked without exec (a
    /// daemon's double fork, `setsid -f`, tmux's server), perhaps since
    /// reparented. It is alive and is our real parent; this is no death.
    Inherited {
        /// Our parent, `getppid()`, younger than the stamp.
        parent: pid_t,
        /// The pid in the stamp, no longer our ancestor.
        stamped: pid_t,
    },
    /// Tree mode ([`Mode::Tree`](crate::Mode::Tree)): the tree's anchor is
    /// alive and watched, whether or not it is an ancestor. When `anchor`
    /// is this process itself, it is the anchor, and nothing is watched.
    Tree {
        /// The anchor's pid.
        anchor: pid_t,
    },
    /// The facts could not be established (see [`UnverifiedReason`]); the
    /// guard is armed against the current parent and did not signal.
    Unverified {
        /// Our parent, `getppid()`.
        parent: pid_t,
        /// The expected pid.
        expected: pid_t,
        /// What could not be known.
        reason: UnverifiedReason,
    },
}

/// Why a verdict is [`Armed::Unverified`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnverifiedReason {
    /// `/proc` is missing or belongs to another PID namespace
    /// (`/proc/self/stat` does not name our pid: `unshare -p` without
    /// `--mount-proc`). See pid_namespaces(7).
    ProcNotOurs,
    /// An entry of `/proc` could not be read (`hidepid=`, another user's
    /// process). See proc(5).
    ProcUnreadable,
    /// The stamped process lives, but is not our ancestor and our parent is
    /// older than its stamp: the stamp reached us some other way (an
    /// environment copied into a service manager).
    StamperElsewhere,
    /// Our parent started in the same clock tick as the stamp was written
    /// and has a lower pid than the stamp's: a reaper, or a process of
    /// another PID namespace, whose pids do not compare.
    SameTick,
}

impl UnverifiedReason {
    /// A short phrase for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            UnverifiedReason::ProcNotOurs => "/proc is not this PID namespace's",
            UnverifiedReason::ProcUnreadable => "/proc hides the process tree",
            UnverifiedReason::StamperElsewhere => {
                "the stamped process lives but is not an ancestor"
            }
            UnverifiedReason::SameTick => "our parent started in the same clock tick as the stamp",
        }
    }
}

/// The judgment: alive (and which pid process mode should watch), or gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No death: how the parent was found, and the pid to watch.
    Alive { armed: Armed, watch: pid_t },
    /// The parent died before the guard took effect.
    Gone,
}

impl Verdict {
    fn alive(armed: Armed, watch: pid_t) -> Verdict {
        Verdict::Alive { armed, watch }
    }
}

/// Judges `stamp` against `parent` (`getppid()` read after arming), by the
/// rule at the top of this file. Never compares with 1: reapers have any pid.
pub(crate) fn judge(stamp: &Stamp, parent: pid_t) -> Verdict {
    let expected = stamp.pid;
    if parent == expected {
        return Verdict::alive(Armed::Parent(parent), parent);
    }
    if parent == 0 {
        return Verdict::alive(Armed::OutsideNamespace, 0);
    }
    let unverified = |reason| {
        Verdict::alive(
            Armed::Unverified {
                parent,
                expected,
                reason,
            },
            parent,
        )
    };
    if expected == sys::getpid() {
        return reexec(stamp, parent);
    }
    if !proc_is_ours() {
        return unverified(UnverifiedReason::ProcNotOurs);
    }
    if is_ancestor(expected, parent) {
        let stamped = expected;
        return Verdict::alive(Armed::Ancestor { parent, stamped }, expected);
    }
    // Rule 5 by creation order: a pidfs inode number newer than the
    // stamper's is a process created after it (it inherited the stamp); an
    // older one predates it (a reaper), whatever the clock tick.
    let parent_ino = stamp.ino.and_then(|_| sys::pidfs_ino(parent).ok());
    if let (Some(stamper_ino), Some(parent_ino)) = (stamp.ino, parent_ino) {
        if parent_ino > stamper_ino {
            let stamped = expected;
            return Verdict::alive(Armed::Inherited { parent, stamped }, parent);
        }
    } else if let Some(stamped_at) = stamp.ticks {
        let Ok(ours) = sys::proc_stat(Some(parent)) else {
            return unverified(UnverifiedReason::ProcUnreadable);
        };
        if ours.start > stamped_at || (ours.start == stamped_at && parent > expected) {
            let stamped = expected;
            return Verdict::alive(Armed::Inherited { parent, stamped }, parent);
        }
        if ours.start == stamped_at {
            // Same tick, lower pid: a reaper, or pids of two namespaces (a
            // stamp from outside reaching a namespace's init) that pid
            // order cannot compare. Never convict on that.
            return unverified(UnverifiedReason::SameTick);
        }
    }
    match liveness_of_stamper(stamp, true) {
        Liveness::Dead => Verdict::Gone,
        Liveness::Alive => unverified(UnverifiedReason::StamperElsewhere),
        Liveness::Unknown => unverified(UnverifiedReason::ProcUnreadable),
    }
}

/// Tree mode's judgment: not "is my parent the expected one?" but "is the
/// tree's anchor (`stamp.pid`, stamped at `stamp.ticks`) alive?", whoever
/// our parent is. Its identity is checked against pid reuse by start time
/// (it must have started by the stamp's tick), except where it is our
/// parent, which a reused pid cannot be.
pub(crate) fn judge_anchor(stamp: &Stamp) -> Verdict {
    let anchor = stamp.pid;
    let armed = Armed::Tree { anchor };
    if anchor == sys::getppid() {
        return Verdict::alive(armed, anchor);
    }
    match liveness_of_stamper(stamp, proc_is_ours()) {
        Liveness::Dead => Verdict::Gone,
        Liveness::Alive | Liveness::Unknown => Verdict::alive(armed, anchor),
    }
}

/// Rule 3: we stamped `PDEATHSIG_PPID` ourselves before an exec.
fn reexec(stamp: &Stamp, parent: pid_t) -> Verdict {
    let Some(watched) = stamp.watched.filter(|&w| w != parent) else {
        // prctl mode: the setting survived the exec; process mode without
        // a record of what was watched: the parent we have.
        return Verdict::alive(Armed::ReExec, parent);
    };
    // The pid's start time is only meaningful in our own /proc.
    let trusted = proc_is_ours();
    match liveness(watched, stamp.ticks, trusted) {
        Liveness::Dead => Verdict::Gone,
        Liveness::Alive | Liveness::Unknown => Verdict::alive(Armed::ReExec, watched),
    }
}

/// Does `/proc` describe this process, as this PID namespace numbers it?
pub(crate) fn proc_is_ours() -> bool {
    matches!(sys::proc_stat(None), Ok(me) if me.pid == sys::getpid())
}

/// Rule 4: is `wanted` an ancestor of `pid`? False when the walk cannot
/// tell (an unreadable entry): the caller then decides on other facts.
pub(crate) fn is_ancestor(wanted: pid_t, pid: pid_t) -> bool {
    let mut pid = pid;
    for _ in 0..MAX_ANCESTRY_DEPTH {
        match sys::proc_stat(Some(pid)) {
            Ok(stat) if stat.ppid == wanted => return true,
            Ok(stat) if stat.ppid > 0 => pid = stat.ppid,
            _ => return false,
        }
    }
    false
}

/// [`liveness`] of the stamp's process, and where the stamp carries its
/// pidfs inode number, its identity: a living process with another number
/// under that pid is a reuse, so the stamper is dead. With the inode
/// number the stamp's time is not used: it is exact, and a time compared
/// across time namespaces (`unshare --time --boottime`, where /proc shows
/// start times with the reader's offset) is not.
pub(crate) fn liveness_of_stamper(stamp: &Stamp, trusted_proc: bool) -> Liveness {
    let ticks = stamp.ticks.filter(|_| stamp.ino.is_none());
    match liveness(stamp.pid, ticks, trusted_proc) {
        Liveness::Alive if trusted_proc => match (stamp.ino, sys::pidfs_ino(stamp.pid)) {
            (Some(stamped), Ok(now)) if stamped != now => Liveness::Dead,
            _ => Liveness::Alive,
        },
        other => other,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Liveness {
    Alive,
    Dead,
    Unknown,
}

/// Is `pid` a living process, and (given `stamped_at`, with a `/proc` we
/// trust) the one that existed at that tick rather than a reuse of its pid?
/// pidfd_open(2) and a zero-timeout poll(2) see zombies as dead and need no
/// `/proc` and no permission; kill(2) with signal 0 before Linux 5.3. With
/// a `/proc` we trust, a process that has begun to exit (`PF_EXITING`, set
/// before its children are reparented, while its pidfd is not yet
/// readable) is dead too.
pub(crate) fn liveness(pid: pid_t, stamped_at: Option<u64>, trusted_proc: bool) -> Liveness {
    let alive = match sys::pidfd_open(pid) {
        Err(libc::ESRCH) | Err(libc::EINVAL) => false,
        Ok(fd) => {
            let exited = sys::pidfd_exited(fd);
            sys::close(fd);
            !exited
        }
        Err(_) => match sys::kill(pid, 0) {
            Err(libc::ESRCH) => false,
            _ => match sys::proc_stat(Some(pid)) {
                Ok(stat) => !stat.exited(),
                Err(_) => return Liveness::Unknown,
            },
        },
    };
    if !alive {
        return Liveness::Dead;
    }
    if !trusted_proc {
        return Liveness::Alive;
    }
    match sys::proc_stat(Some(pid)) {
        // Already exiting: its children may be reparented before the pidfd
        // turns readable.
        Ok(stat) if stat.exited() => Liveness::Dead,
        // Started after the stamp: the pid was reused, the stamper is gone.
        Ok(stat) if stamped_at.is_some_and(|ticks| stat.start > ticks) => Liveness::Dead,
        _ => Liveness::Alive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(pid: pid_t) -> Stamp {
        Stamp {
            pid,
            ticks: None,
            watched: None,
            ino: None,
        }
    }

    #[test]
    fn verdicts_on_this_process_tree() {
        let me = sys::getpid();
        let parent = sys::getppid();
        let alive = |armed, watch| Verdict::Alive { armed, watch };
        assert_eq!(
            judge(&plain(parent), parent),
            alive(Armed::Parent(parent), parent)
        );
        assert_eq!(judge(&plain(12345), 0), alive(Armed::OutsideNamespace, 0));
        assert_eq!(judge(&plain(me), parent), alive(Armed::ReExec, parent));
        // Our parent's parent, seen from our parent: an ancestor.
        if let Ok(grand) = sys::proc_stat(Some(parent)).map(|s| s.ppid) {
            if grand > 0 {
                assert_eq!(
                    judge(&plain(grand), parent),
                    alive(
                        Armed::Ancestor {
                            parent,
                            stamped: grand
                        },
                        grand
                    )
                );
            }
        }
        // A pid that no process has (pid_max is at most 2^22): gone.
        assert_eq!(judge(&plain(i32::MAX), parent), Verdict::Gone);
        // Our parent is older than a stamp written now: adopted, gone.
        let now = sys::boot_ticks().unwrap();
        let stamp = Stamp {
            pid: i32::MAX,
            ticks: Some(now),
            watched: None,
            ino: None,
        };
        assert_eq!(judge(&stamp, parent), Verdict::Gone);
        // A stamp written long before our parent started: it inherited it.
        let stamp = Stamp {
            pid: i32::MAX - 1,
            ticks: Some(0),
            watched: None,
            ino: None,
        };
        let stamped = i32::MAX - 1;
        assert_eq!(
            judge(&stamp, parent),
            alive(Armed::Inherited { parent, stamped }, parent)
        );
    }

    #[test]
    fn liveness_of_known_processes() {
        assert_eq!(liveness(sys::getpid(), None, true), Liveness::Alive);
        assert_eq!(liveness(i32::MAX, None, true), Liveness::Dead);
        // Alive now, but started after tick 0: a reused pid.
        assert_eq!(liveness(sys::getpid(), Some(0), true), Liveness::Dead);
        assert_eq!(liveness(sys::getpid(), Some(0), false), Liveness::Alive);
        assert!(proc_is_ours());
    }
}
