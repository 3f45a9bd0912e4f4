//! Credentials: setuid/setgid clear PR_SET_PDEATHSIG; the re-arm helper
//! restores it. Needs root (to change uid); skipped otherwise.
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
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let static_lib = static_lib();
    let helper = c_helper(
        "drop_privileges.c",
        "drop_privileges",
        &[static_lib.to_str().unwrap()],
    );
    let mut cmd = tree.command(&spawn);
    cmd.arg("--handoff").arg("--").arg(&helper).args(args);
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
