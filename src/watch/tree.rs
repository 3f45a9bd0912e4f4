//! Tree mode: the anchor every process of the tree also follows, what
//! makes a process detached (it then follows the anchor only), and how a
//! dead parent ended (exit status 0: it left this process behind).

use core::sync::atomic::Ordering;
use libc::{c_int, pid_t};

use super::*;

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
pub(super) fn detached_now() -> bool {
    let inherited = INHERITED_FLAGS.load(Ordering::Acquire);
    sys::getsid() != INHERITED_SESSION.load(Ordering::Acquire) || detach_flags() & !inherited != 0
}

/// Takes `session` and `flags` as what the parent passed on, and records
/// this process's own: the detach facts at arming time.
pub(super) fn record_detach_facts(session: pid_t, flags: u8) {
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
        // 0 is passed on too: a session whose leader is outside this PID
        // namespace (a container's), which a setsid(2) child leaves.
        session: Some(OWN_SESSION.load(Ordering::Acquire)).filter(|&s| s >= 0),
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
pub(super) fn handed_anchor() -> Stamp {
    let known = |v: u64| (v != NO_TICKS).then_some(v);
    Stamp {
        pid: ANCHOR_PID.load(Ordering::Acquire),
        ticks: known(ANCHOR_TICKS.load(Ordering::Acquire)),
        watched: None,
        ino: known(ANCHOR_INO.load(Ordering::Acquire)),
    }
}

/// Tree mode, in a new PID namespace whose parent is outside (getppid() is
/// 0): the tree's anchor cannot be seen, nor the parent. This process is
/// the anchor of its part of the tree, and the kernel's
/// PR_SET_PDEATHSIG, which crosses namespaces, follows its parent.
pub(super) fn become_own_anchor(sig: c_int) {
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
pub(super) fn set_anchor(pid: pid_t, ticks: Option<u64>, ino: Option<u64>, pid_ns: Option<u64>) {
    ANCHOR_PID.store(pid, Ordering::Release);
    ANCHOR_TICKS.store(ticks.unwrap_or(NO_TICKS), Ordering::Release);
    let ino = ino.or_else(|| sys::pidfs_ino(pid).ok());
    ANCHOR_INO.store(ino.unwrap_or(NO_TICKS), Ordering::Release);
    ANCHOR_NS.store(pid_ns.unwrap_or(NO_TICKS), Ordering::Release);
}

/// One line on stderr: the anchor is in another PID namespace.
pub(super) fn warn_foreign_anchor(anchor: pid_t) {
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

/// Tree mode, arming again while a watcher runs: the same anchor gets the
/// new signal and grace; another anchor is refused.
pub(super) fn rearm_running_tree(
    sig: Signal,
    anchor: Anchor,
    grace_ms: u32,
) -> Result<Armed, Error> {
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

/// Tree mode: waits for the anchor's death (then true: signal) and the
/// parent's. When the parent dies, this process dies too (true) unless it
/// has detached, or the parent exited with status 0 (it left us behind on
/// purpose: a launcher); then it follows the anchor alone. With nothing
/// left to follow, false.
pub(super) fn wait_tree(targets: Targets, private: bool) -> bool {
    let Targets {
        mut parent,
        mut anchor,
    } = targets;
    let timeout = poll_timeout(if private { -1 } else { SHARED_TABLE_RECHECK_MS });
    let release = |t: Option<Target>| {
        if let (true, Some(t)) = (private, t) {
            sys::close(t.fd);
        }
    };
    loop {
        if parent.is_none() && anchor.is_none() {
            return false;
        }
        if stopping() {
            release(parent);
            release(anchor);
            return false;
        }
        let fds = [parent.map_or(-1, |t| t.fd), anchor.map_or(-1, |t| t.fd)];
        let woken = match sys::poll_in_two(fds, timeout) {
            Err(libc::EINTR) if stopping() => {
                release(parent);
                release(anchor);
                return false;
            }
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
pub(super) fn left_behind(p: Target, anchor: Option<Target>, private: bool) -> bool {
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
pub(super) fn warn_unknown_exit(parent: pid_t, anchor: Option<pid_t>) {
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
