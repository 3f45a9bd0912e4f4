//! Tree mode across a PID namespace (`unshare -pf [--mount-proc]`), the
//! anchor alive outside: the anchor cannot be seen from inside (pidfd_open
//! gives ESRCH there), which must count as unknown, never as its death.
//! The namespace's init takes itself as the anchor of its part of the tree
//! and says so in one stderr line; its parent outside (unshare) is
//! followed by the kernel's PR_SET_PDEATHSIG. Control: `unshare -f` (no new
//! PID namespace) under the same anchor lives too, and says nothing. With
//! `PDEATHSIG=KILL` (a namespace's init ignores SIGTERM) the anchor's death
//! ends everything inside.
// Children are reaped by pid (support::wait_status, the Tree's cleanup).
#![allow(clippy::zombie_processes)]
mod support;
use std::time::{Duration, Instant};
use support::*;

const SETTLE: Duration = Duration::from_secs(1);

fn unshare_works(test: &str) -> bool {
    let ok = command_succeeds("unshare", &["-pf", "--mount-proc", "true"]);
    if !ok {
        skip(
            test,
            "unshare -pf --mount-proc does not work here (needs root and util-linux)",
        );
    }
    ok
}

/// `unshare FLAGS sh -c 'sleep 600; true'` in tree mode against a live
/// anchor. Returns (the tree, anchor, unshare's pid, sleep's pid).
fn start(flags: &[&str], signal: &str) -> (Tree, Pid, std::process::Child, Pid) {
    start_program(flags, signal, &["sh", "-c", "sleep 600; true"], true)
}

/// `unshare FLAGS PROGRAM...` in tree mode against a live anchor, under
/// the library when `preload`. Returns as [`start`].
fn start_program(
    flags: &[&str],
    signal: &str,
    program: &[&str],
    preload: bool,
) -> (Tree, Pid, std::process::Child, Pid) {
    let mut tree = Tree::new();
    let mut cmd = tree.command("sleep");
    cmd.arg("600");
    let anchor = tree.spawn(clean(&mut cmd)).id() as Pid;
    let mut cmd = tree.command("unshare");
    cmd.args(flags).args(program);
    clean(&mut cmd);
    if preload {
        cmd.env("LD_PRELOAD", preload_lib());
    }
    cmd.env("PDEATHSIG", signal)
        .env("PDEATHSIG_MODE", "tree")
        // As pdeathsig's spawners hand it (PID:TICKS): a plain pid that is
        // no ancestor would add a line of its own.
        .env("PDEATHSIG_PPID", format!("{anchor}:{}", boot_ticks()))
        .stderr(std::fs::File::create(stderr_file(flags, signal)).unwrap());
    let child = tree.spawn(&mut cmd);
    let unshare = child.id() as Pid;
    let deadline = Instant::now() + DEATH_TIMEOUT;
    let leaf = loop {
        if let Some(p) = descendants(unshare).into_iter().find(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        }) {
            break p;
        }
        assert!(Instant::now() < deadline, "no sleep under {flags:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    tree.track(leaf);
    (tree, anchor, child, leaf)
}

/// Where the run's stderr goes (a file: the processes inside the namespace
/// hold it open after unshare is gone).
fn stderr_file(flags: &[&str], signal: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "tree-pidns-{}-{}-{signal}.err",
        std::process::id(),
        flags.join("")
    ))
}

fn stderr_lines(flags: &[&str], signal: &str) -> Vec<String> {
    let path = stderr_file(flags, signal);
    let err = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    err.lines()
        .filter(|l| l.starts_with("pdeathsig:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn new_pid_namespace_under_a_live_anchor_lives_and_says_so() {
    if !unshare_works("new_pid_namespace_under_a_live_anchor_lives_and_says_so") {
        return;
    }
    preload_lib();
    for flags in [&["-pf"][..], &["-pf", "--mount-proc"], &["-f"]] {
        let (mut tree, anchor, child, leaf) = start(flags, "TERM");
        std::thread::sleep(SETTLE);
        let alive_now = alive(leaf) && alive(child.id() as Pid);
        assert!(alive(anchor));
        tree.cleanup();
        let lines = stderr_lines(flags, "TERM");
        eprintln!("unshare {flags:?}: alive with the anchor alive: {alive_now}; stderr {lines:?}");
        assert!(
            alive_now,
            "unshare {flags:?}: killed while the anchor lives"
        );
        if flags.contains(&"-p") || flags.contains(&"-pf") {
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(
                lines[0].contains("is outside this PID namespace"),
                "{lines:?}"
            );
        } else {
            assert!(
                lines.is_empty(),
                "control (no new PID namespace): {lines:?}"
            );
        }
        tree.cleanup();
    }
}

#[test]
fn new_pid_namespace_dies_with_the_anchor() {
    if !unshare_works("new_pid_namespace_dies_with_the_anchor") {
        return;
    }
    preload_lib();
    let (mut tree, anchor, child, leaf) = start(&["-pf", "--mount-proc"], "KILL");
    std::thread::sleep(SETTLE);
    assert!(alive(leaf), "killed while the anchor lives");
    assert_eq!(kill_reap(anchor), Some(Status::Signaled(libc::SIGKILL)));
    assert!(
        wait_gone(child.id() as Pid, DEATH_TIMEOUT),
        "unshare outlived the anchor"
    );
    assert!(
        wait_gone(leaf, DEATH_TIMEOUT),
        "the namespace's sleep outlived the anchor"
    );
    tree.cleanup();
}

/// The exec wrapper in tree mode as a new PID namespace's init
/// (`unshare -pf [--mount-proc] pdeathsig --mode tree -- sleep 600`) under
/// a live anchor: it once exited 125 at once, taking the anchor it cannot
/// see for dead. It must supervise `sleep` while the anchor lives, saying
/// so in one line; control: `unshare -f` (no new namespace), silent.
#[test]
fn the_exec_wrapper_as_a_namespace_init_lives_under_a_live_anchor() {
    if !unshare_works("the_exec_wrapper_as_a_namespace_init_lives_under_a_live_anchor") {
        return;
    }
    let wrapper = env!("CARGO_BIN_EXE_pdeathsig");
    for flags in [&["-pf"][..], &["-pf", "--mount-proc"], &["-f"]] {
        let program = [wrapper, "--mode", "tree", "--", "sleep", "600"];
        let (mut tree, anchor, child, leaf) = start_program(flags, "TERM", &program, false);
        std::thread::sleep(SETTLE);
        let alive_now = alive(leaf) && alive(child.id() as Pid);
        assert!(alive(anchor));
        tree.cleanup();
        let lines = stderr_lines(flags, "TERM");
        eprintln!("wrapper under unshare {flags:?}: alive with the anchor alive: {alive_now}; stderr {lines:?}");
        assert!(
            alive_now,
            "wrapper under unshare {flags:?}: ended while the anchor lives: {lines:?}"
        );
        if flags.contains(&"-pf") {
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains("is outside this PID namespace")),
                "{lines:?}"
            );
        } else {
            assert!(
                lines.is_empty(),
                "control (no new PID namespace): {lines:?}"
            );
        }
    }
}
