//! Credentials: setuid/setgid clear PR_SET_PDEATHSIG; the re-arm helper
//! restores it. Process and tree mode's watcher thread never makes a
//! credential change fail: glibc runs set*id in every thread and aborts the
//! program when one fails, and a program that keeps a capability in its
//! own thread only (setpriv --reuid --regid) used to die of SIGABRT 14/14;
//! the C library's set*id functions stop the watcher around the call and
//! start it again. Needs root (to change uid); skipped otherwise.
mod support;
use std::time::Duration;
use support::*;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `spawn --handoff -- drop_privileges ARGS`: returns the child's pid and
/// the lines it printed up to "ready", then SIGKILLs the parent.
fn drop_then_kill_parent(tree: &mut Tree, args: &[&str]) -> (Pid, Vec<String>) {
    let static_lib = static_lib();
    let helper = c_helper(
        "drop_privileges.c",
        "drop_privileges",
        &[static_lib.to_str().unwrap()],
    );
    drop_then_kill_parent_with(tree, &helper, args)
}

/// As [`drop_then_kill_parent`], with the helper built as `helper`.
fn drop_then_kill_parent_with(
    tree: &mut Tree,
    helper: &std::path::Path,
    args: &[&str],
) -> (Pid, Vec<String>) {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut cmd = tree.command(&spawn);
    cmd.arg("--handoff").arg("--").arg(helper).args(args);
    let mut parent = tree.spawn(piped(&mut cmd));
    // The spawner's pid line and the child's lines share the pipe, in any
    // order.
    let mut child = None;
    let mut lines = Vec::new();
    loop {
        let line = read_line(&mut parent, DEATH_TIMEOUT);
        if let Ok(pid) = line.parse::<Pid>() {
            tree.track(pid);
            child = Some(pid);
        } else if line == "ready" {
            break;
        } else {
            lines.push(line);
        }
    }
    let child = match child {
        Some(pid) => pid,
        None => read_pid(&mut parent, DEATH_TIMEOUT),
    };
    tree.track(child);
    // Never killed while its parent lives: the credential change (and, in
    // process mode, the watcher's restart) took nothing for a death.
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(child), "killed while its parent lives: {lines:?}");
    parent.kill().unwrap();
    parent.wait().unwrap();
    (child, lines)
}

#[test]
fn rearm_after_dropping_privileges() {
    if !is_root() {
        skip(
            "rearm_after_dropping_privileges",
            "needs root to setuid (run as root)",
        );
        return;
    }
    let mut tree = Tree::new();
    // Armed, dropped (the kernel cleared it), re-armed: dies with its parent.
    let (child, lines) = drop_then_kill_parent(&mut tree, &["--rearm"]);
    assert_eq!(
        lines,
        ["armed 15 15", "dropped 0 0 uid=65534", "rearmed 15 15"],
        "PR_GET_PDEATHSIG before, after setuid, after re-arm"
    );
    assert_eq!(
        wait_status(child, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );

    // Control: the same without the re-arm survives its parent.
    let (child, lines) = drop_then_kill_parent(&mut tree, &[]);
    assert_eq!(lines, ["armed 15 15", "dropped 0 0 uid=65534"]);
    assert_eq!(wait_status(child, Duration::from_millis(500)), None);
    assert!(alive(child), "without the re-arm the setting is lost");
}

/// Process mode is not a prctl setting: the watcher thread survives the
/// credential change, no re-arm needed (PR_GET_PDEATHSIG stays 0 all along;
/// get_parent_death_signal() reports the watcher's signal).
#[test]
fn process_mode_survives_dropping_privileges() {
    if !is_root() {
        skip(
            "process_mode_survives_dropping_privileges",
            "needs root to setuid",
        );
        return;
    }
    let mut tree = Tree::new();
    let (child, lines) = drop_then_kill_parent(&mut tree, &["--process"]);
    assert_eq!(lines, ["armed 15 0", "dropped 15 0 uid=65534"]);
    assert_eq!(
        wait_status(child, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );
}

/// A program that drops privileges the way setpriv does (capabilities kept
/// in its own thread only) while its watcher runs: the credential change
/// succeeds (glibc aborted it when the watcher's copy of setresgid failed),
/// and the watcher, started again, still signals when the parent dies.
#[test]
fn process_mode_survives_a_per_thread_capability_drop() {
    if !is_root() {
        skip(
            "process_mode_survives_a_per_thread_capability_drop",
            "needs root to setuid",
        );
        return;
    }
    let mut tree = Tree::new();
    let (child, lines) = drop_then_kill_parent(&mut tree, &["--process", "--keepcaps"]);
    assert_eq!(lines, ["armed 15 0", "dropped 15 0 uid=65534"]);
    assert_eq!(
        wait_status(child, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );
}

/// `setpriv --reuid 65534 --regid 65534 --clear-groups -- sh` under the
/// library in every mode: setpriv runs (it died of SIGABRT in process and
/// tree mode), the shell it execs arms again at load time, and dies when
/// the parent dies. prctl mode is the control that never had the thread.
#[test]
fn setpriv_under_the_library_in_every_mode() {
    if !is_root() {
        skip(
            "setpriv_under_the_library_in_every_mode",
            "needs root to setuid",
        );
        return;
    }
    if !command_succeeds("setpriv", &["--version"]) {
        skip(
            "setpriv_under_the_library_in_every_mode",
            "setpriv (util-linux) is not installed",
        );
        return;
    }
    for mode in ["prctl", "process", "tree"] {
        let mut tree = Tree::new();
        let (mut parent, child) = spawn_preloaded(
            &mut tree,
            mode,
            &[
                "setpriv",
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
                "sh",
                "-c",
                "echo ready; exec sleep 600",
            ],
        );
        // sleep has replaced the shell and armed (a watcher thread outside
        // prctl mode) before the parent dies.
        let threads = if mode == "prctl" { 1 } else { 2 };
        let armed = wait_comm(child, "sleep", DEATH_TIMEOUT) && {
            let deadline = std::time::Instant::now() + DEATH_TIMEOUT;
            loop {
                let n = std::fs::read_dir(format!("/proc/{child}/task")).map_or(0, |d| d.count());
                if n == threads || std::time::Instant::now() > deadline {
                    break n == threads;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        assert!(armed, "{mode}: sleep did not arm");
        std::thread::sleep(Duration::from_millis(300));
        assert!(alive(child), "{mode}: killed while its parent lives");
        parent.kill().unwrap();
        parent.wait().unwrap();
        assert_eq!(
            wait_status(child, DEATH_TIMEOUT),
            Some(Status::Signaled(libc::SIGTERM)),
            "{mode}: sleep after its parent's SIGKILL"
        );
    }
}

/// A fully static program (`gcc -static` with libpdeathsig.a) has the
/// library's set*id functions in place of glibc's and no glibc function
/// behind them: the system call is made directly, the process being
/// single-threaded once the watcher is stopped (it looks every 100 ms, as
/// no glibc call can wake it). In prctl mode and in process mode with the
/// per-thread capability trick the privileges drop, and the guard still
/// acts on the parent's death (prctl mode: cleared by the drop, as the
/// kernel does, the control).
#[test]
fn a_fully_static_program_drops_privileges() {
    if !is_root() {
        skip(
            "a_fully_static_program_drops_privileges",
            "needs root to setuid",
        );
        return;
    }
    let static_lib = static_lib();
    let helper = c_helper(
        "drop_privileges.c",
        "drop_privileges-static",
        &[static_lib.to_str().unwrap(), "-static"],
    );
    let mut tree = Tree::new();
    let (child, lines) =
        drop_then_kill_parent_with(&mut tree, &helper, &["--process", "--keepcaps"]);
    assert_eq!(lines, ["armed 15 0", "dropped 15 0 uid=65534"]);
    assert_eq!(
        wait_status(child, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );
    // prctl mode: the drop clears the kernel's setting, which is the
    // kernel's rule (re-arm: the test above); the drop itself works.
    let (child, lines) = drop_then_kill_parent_with(&mut tree, &helper, &[]);
    assert_eq!(lines, ["armed 15 15", "dropped 0 0 uid=65534"]);
    assert_eq!(wait_status(child, Duration::from_millis(500)), None);
}
