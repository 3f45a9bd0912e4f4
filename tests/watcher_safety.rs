//! Process mode's watcher thread is safe against what a program does around
//! it: real processes, real kernel.
//!
//! 1. Where unshare(2) or close_range(2) is refused, the watcher's pidfd is
//!    a visible descriptor in the program's own table. A program that closes
//!    it and opens a regular file at the same number, then is stopped and
//!    continued (the watcher's poll(2) restarts on the number and finds a
//!    readable file), must not be signalled while its parent lives, and
//!    must still be signalled when the parent dies.
//! 2. A program that dlopen(3)s libpdeathsig.so, arms process mode and
//!    dlclose(3)s the library must die of the signal when its parent dies,
//!    not of SIGSEGV in the watcher thread's unmapped code.
mod support;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};
use support::*;

/// How long a child must survive what should not kill it.
const SURVIVAL: Duration = Duration::from_millis(500);

/// How many stop/continue rounds make the watcher's poll(2) restart.
const STOP_CONT_ROUNDS: usize = 3;

/// `kill(pid, sig)` on a process this test started; panics on failure.
fn signal(pid: Pid, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; `pid` is a process
    // this test started (tracked by its Tree) and has not reaped.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// The state letter of `/proc/PID/stat` (`R`, `S`, `T`...), if readable.
fn state(pid: Pid) -> Option<u8> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

/// Waits (bounded) until `pid` is in state `want`.
fn wait_state(pid: Pid, want: u8, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if state(pid) == Some(want) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SIGSTOPs and SIGCONTs `pid` a few times, each stop awaited (a SIGCONT
/// sent before the stop took effect would cancel it), with small sleeps.
/// Stops early if `pid` dies (the caller reports how it ended).
fn stop_and_continue(pid: Pid) {
    for _ in 0..STOP_CONT_ROUNDS {
        if !alive(pid) {
            return;
        }
        signal(pid, libc::SIGSTOP);
        assert!(
            wait_state(pid, b'T', DEATH_TIMEOUT) || !alive(pid),
            "{pid} did not stop (state {:?})",
            state(pid).map(char::from)
        );
        std::thread::sleep(Duration::from_millis(20));
        signal(pid, libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads lines from the pipe that `spawn` and its child share until both
/// the child's pid (spawn's line) and a line for which `last` holds (the
/// child's) have come; their order is free. Returns the pid and the
/// child's lines.
fn read_child_lines(parent: &mut Child, last: impl Fn(&str) -> bool) -> (Pid, Vec<String>) {
    let mut pid = None;
    let mut lines = Vec::new();
    let mut finished = false;
    while pid.is_none() || !finished {
        assert!(lines.len() < 8, "too many lines: {lines:?}");
        let line = read_line(parent, DEATH_TIMEOUT);
        match line.trim().parse() {
            Ok(p) if pid.is_none() => pid = Some(p),
            _ => {
                finished = last(line.trim());
                lines.push(line.trim().to_string());
            }
        }
    }
    (pid.unwrap(), lines)
}

/// SIGKILLs `spawn` (`parent`), reaps it, then reaps `child`, which is now
/// ours (this test is the subreaper): how the child ended within `wait`,
/// `None` if it is still alive.
fn kill_parent_and_wait(parent: &mut Child, child: Pid, wait: Duration) -> Option<Status> {
    parent.kill().unwrap();
    parent.wait().unwrap();
    wait_status(child, wait)
}

/// What starts the fd-reuse child under `spawn --handoff`.
struct FdReuse {
    /// Run under watcher_seccomp (unshare and close_range refused).
    seccomp: bool,
    /// Preload the library with PDEATHSIG=TERM PDEATHSIG_MODE=process.
    preload: bool,
    /// `--allow-none`: carry on to "ready" without a pidfd.
    allow_none: bool,
}

/// Starts `spawn --handoff -- [watcher_seccomp] env [LD_PRELOAD=...
/// PDEATHSIG=TERM PDEATHSIG_MODE=process] watcher_fd_reuse`: `env` sets
/// the variables after the seccomp wrapper, so only watcher_fd_reuse is
/// preloaded; all of them run as one process, spawn's child. Returns spawn,
/// the child's pid and its lines, up to "ready", "no pidfd" (without
/// `allow_none`) or "seccomp unavailable: ...".
fn start_fd_reuse(tree: &mut Tree, how: FdReuse) -> (Child, Pid, Vec<String>) {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let seccomp = c_helper("watcher_seccomp.c", "watcher_seccomp", &[]);
    let fd_reuse = c_helper("watcher_fd_reuse.c", "watcher_fd_reuse", &[]);
    let mut cmd = tree.command(&spawn);
    clean(&mut cmd).args(["--handoff", "--"]);
    if how.seccomp {
        cmd.arg(&seccomp);
    }
    cmd.arg("env");
    if how.preload {
        let mut preload = std::ffi::OsString::from("LD_PRELOAD=");
        preload.push(preload_lib());
        cmd.arg(preload)
            .args(["PDEATHSIG=TERM", "PDEATHSIG_MODE=process"]);
    }
    cmd.arg(&fd_reuse);
    if how.allow_none {
        cmd.arg("--allow-none");
    }
    let mut parent = tree.spawn(piped(&mut cmd));
    let allow_none = how.allow_none;
    let (child, lines) = read_child_lines(&mut parent, |line| {
        line == "ready"
            || (line == "no pidfd" && !allow_none)
            || line.starts_with("seccomp unavailable")
    });
    tree.track(child);
    (parent, child, lines)
}

/// The watcher never fires on a descriptor that is not its pidfd: with
/// unshare and close_range refused, the child finds the watcher's pidfd in
/// its own table, closes it and opens a regular file at its number, and is
/// stopped and continued (the watcher's poll restarts and sees a readable
/// file). It must live on while its parent lives, and die of SIGTERM once
/// the parent is SIGKILLed. Controls: `reused_descriptor_controls`.
#[test]
fn reused_pidfd_number_does_not_fire_the_watcher() {
    let mut tree = Tree::new();
    let (mut parent, child, lines) = start_fd_reuse(
        &mut tree,
        FdReuse {
            seccomp: true,
            preload: true,
            allow_none: false,
        },
    );
    if let Some(reason) = lines
        .iter()
        .find_map(|l| l.strip_prefix("seccomp unavailable: "))
    {
        skip(
            "watcher_safety::reused_pidfd_number_does_not_fire_the_watcher",
            reason,
        );
        return;
    }
    // Not exercised is a failure, never a pass.
    assert_ne!(
        lines.first().map(String::as_str),
        Some("no pidfd"),
        "the child found no pidfd in its table under the seccomp filter: \
         the watcher kept a private table, the scenario was not exercised ({lines:?})"
    );
    let n: i32 = lines
        .first()
        .and_then(|l| l.strip_prefix("pidfd "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected \"pidfd N\" first, got {lines:?}"));
    assert_eq!(
        lines[1..],
        [format!("reused {n}"), "ready".to_string()],
        "child's lines"
    );
    let link = std::fs::read_link(format!("/proc/{child}/fd/{n}")).unwrap();
    assert!(
        link.to_string_lossy().contains("watcher_fd_reuse."),
        "fd {n} should now be the regular temporary file, is {link:?}"
    );
    assert!(pidfds(child).is_empty(), "no pidfd left in the table");

    stop_and_continue(child);
    std::thread::sleep(SURVIVAL);
    if !alive(child) {
        let status = kill_parent_and_wait(&mut parent, child, DEATH_TIMEOUT);
        panic!(
            "the child died while its parent lived, ended by {status:?}: the watcher \
             took the regular file at fd {n} for its pidfd"
        );
    }
    // The scenario ran: the watcher woke on the reused number, found the
    // parent alive and opened a new pidfd (in the shared table).
    let reopened = pidfds(child);
    assert!(
        !reopened.is_empty() && !reopened.contains(&n),
        "expected the watcher to have re-opened a pidfd at another number than {n}, \
         the table's pidfds are {reopened:?}"
    );
    eprintln!(
        "reused_pidfd_number: pidfd {n} replaced by a regular file; after \
         {STOP_CONT_ROUNDS} stop/continue rounds the child lives, the watcher \
         re-opened its pidfd at {reopened:?}"
    );

    // The guard still works on the re-opened pidfd.
    let status = kill_parent_and_wait(&mut parent, child, DEATH_TIMEOUT);
    assert_eq!(
        status,
        Some(Status::Signaled(libc::SIGTERM)),
        "after the descriptor was taken away, the child should still die of \
         SIGTERM when its parent dies"
    );
    eprintln!("reused_pidfd_number: parent SIGKILLed, child ended by {status:?}");
}

/// Controls for `reused_pidfd_number_does_not_fire_the_watcher`.
/// Without the seccomp filter the watcher's pidfd is in a private table:
/// the same child finds none ("no pidfd", exit 3), so the filter is what
/// exposes it. Without the library, the same child (under the filter,
/// stopped and continued alike) survives its parent's death: the SIGTERM
/// of the main test comes from the library.
#[test]
fn reused_descriptor_controls() {
    let mut tree = Tree::new();

    let (mut parent, child, lines) = start_fd_reuse(
        &mut tree,
        FdReuse {
            seccomp: false,
            preload: true,
            allow_none: false,
        },
    );
    assert_eq!(
        lines,
        ["no pidfd"],
        "without the filter, the pidfd should be invisible"
    );
    assert!(wait_gone(child, DEATH_TIMEOUT), "the child should exit");
    assert_eq!(
        kill_parent_and_wait(&mut parent, child, DEATH_TIMEOUT),
        Some(Status::Exited(3))
    );
    eprintln!("control (no seccomp filter): {lines:?}, exit status 3");

    let (mut parent, child, lines) = start_fd_reuse(
        &mut tree,
        FdReuse {
            seccomp: true,
            preload: false,
            allow_none: true,
        },
    );
    if let Some(reason) = lines
        .iter()
        .find_map(|l| l.strip_prefix("seccomp unavailable: "))
    {
        skip(
            "watcher_safety::reused_descriptor_controls (no library)",
            reason,
        );
        return;
    }
    assert_eq!(lines, ["no pidfd", "ready"]);
    stop_and_continue(child);
    assert!(alive(child));
    assert_eq!(
        kill_parent_and_wait(&mut parent, child, SURVIVAL),
        None,
        "without the library the orphan should live on"
    );
    assert!(alive(child), "the unguarded orphan should be alive");
    eprintln!("control (no library): the orphan is alive {SURVIVAL:?} after its parent's SIGKILL");
}

/// Starts `spawn --handoff -- watcher_dlclose LIBRARY [--keep]`, waits for
/// "ready" and checks the watcher thread runs; SIGKILLs spawn and returns
/// how the child ended, and whether the library was still mapped before.
fn dlclose_child_after_parent_death(keep: bool) -> (Option<Status>, bool) {
    let mut tree = Tree::new();
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let helper = c_helper("watcher_dlclose.c", "watcher_dlclose", &["-ldl"]);
    let lib: PathBuf = preload_lib();
    let mut cmd = tree.command(&spawn);
    clean(&mut cmd)
        .args(["--handoff", "--"])
        .arg(&helper)
        .arg(&lib);
    if keep {
        cmd.arg("--keep");
    }
    let mut parent = tree.spawn(piped(&mut cmd));
    let (child, lines) = read_child_lines(&mut parent, |line| line == "ready");
    tree.track(child);
    assert_eq!(lines, ["ready"]);
    let watcher = std::fs::read_dir(format!("/proc/{child}/task"))
        .unwrap()
        .filter_map(|e| {
            let task = e.ok()?.file_name();
            std::fs::read_to_string(format!("/proc/{child}/task/{}/comm", task.to_str()?)).ok()
        })
        .any(|comm| comm.trim() == "pdeathsig");
    assert!(watcher, "no watcher thread: process mode is not armed");
    let mapped = std::fs::read_to_string(format!("/proc/{child}/maps"))
        .unwrap()
        .contains("libpdeathsig");
    assert!(alive(child), "the child died before its parent");
    let status = kill_parent_and_wait(&mut parent, child, DEATH_TIMEOUT);
    (status, mapped)
}

/// dlclose must not crash the host: a program that dlopens the library,
/// arms process mode and dlcloses the library dies of SIGTERM when its
/// parent is SIGKILLed, not of SIGSEGV (the watcher thread returning into
/// unmapped code). Control: `dlclose_control_without_dlclose`.
#[test]
fn dlclose_after_arming_does_not_crash() {
    let (status, mapped) = dlclose_child_after_parent_death(false);
    eprintln!(
        "dlclose: library mapped after dlclose: {mapped}; parent SIGKILLed, \
         child ended by {status:?}"
    );
    assert_eq!(
        status,
        Some(Status::Signaled(libc::SIGTERM)),
        "after dlclose the child should die of SIGTERM ({} is SIGSEGV: the \
         watcher thread ran unmapped code; library mapped after dlclose: {mapped})",
        libc::SIGSEGV
    );
}

/// Control: the same program without the dlclose dies of SIGTERM, so the
/// signal path itself works from a dlopened library.
#[test]
fn dlclose_control_without_dlclose() {
    let (status, mapped) = dlclose_child_after_parent_death(true);
    eprintln!("dlclose control (--keep): child ended by {status:?}");
    assert!(mapped, "the library should be mapped while loaded");
    assert_eq!(status, Some(Status::Signaled(libc::SIGTERM)));
}
