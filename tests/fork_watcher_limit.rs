//! Tree mode: a fork child whose watcher thread cannot start (RLIMIT_NPROC
//! reached) is never silently unguarded: one stderr line says so, and the
//! kernel's PR_SET_PDEATHSIG is set in the child as a floor. Control: with
//! room for the thread, no line and no prctl setting (the watcher guards).
mod support;
use support::*;

fn run(extra: &str) -> (String, String) {
    let tree = Tree::new();
    let helper = c_helper("fork_nproc.c", "fork_nproc", &[]);
    let mut cmd = tree.command(&helper);
    clean(&mut cmd)
        .arg(extra)
        .env("LD_PRELOAD", preload_lib())
        .env("PDEATHSIG", "TERM")
        .env("PDEATHSIG_MODE", "tree");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fork_child_without_a_watcher_says_so() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip(
            "fork_child_without_a_watcher_says_so",
            "needs root (setuid to 65533)",
        );
        return;
    }
    preload_lib();
    let (stdout, stderr) = run("1");
    assert_eq!(
        stdout.trim(),
        format!("child sig {}", libc::SIGTERM),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot start its watcher thread") && stderr.contains("PR_SET_PDEATHSIG"),
        "{stderr}"
    );
    let (stdout, stderr) = run("100");
    assert_eq!(stdout.trim(), "child sig 0", "control: {stderr}");
    assert!(stderr.is_empty(), "control: {stderr}");
}
