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
        // What was said while the anchor lived (the teardown may add more).
        let lines = stderr_lines(flags, "TERM");
        tree.cleanup();
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

/// A whole tree inside a container-like PID namespace whose session
/// leader is outside it (`unshare -pf --mount-proc` from a process that
/// does not lead the namespace's session), where getsid(2) answers 0 for
/// every process inside. A `setsid -f` child there is in a session of its
/// own, which it must count as detached: it lives while the anchor lives
/// and dies with it. (It was killed at once: session 0 could not be passed
/// on, and the child took its own new session for the one it inherited.)
/// A background job's child in the same session still dies with its
/// killed parent. Control: the same without the library, where the
/// detached `sleep` outlives the anchor and the job's child its parent.
#[test]
fn detached_in_a_namespace_whose_session_leader_is_outside() {
    if !unshare_works("detached_in_a_namespace_whose_session_leader_is_outside") {
        return;
    }
    // Run by the anchor (not the namespace's init, whose end would end
    // everything inside: the init outlives the anchor): a detached child,
    // a background job, then the anchor becomes `sleep 600`.
    const ANCHOR: &str = r#"
        guard() { env LD_PRELOAD="$G_LIB" PDEATHSIG=TERM PDEATHSIG_MODE=tree PDEATHSIG_PPID=$$ "$@"; }
        guard setsid -f sleep 601
        guard sh -c 'sleep 602; true' &
        exec sleep 600
    "#;
    const INIT: &str =
        r#"cut -d' ' -f6 /proc/self/stat >"$SID_FILE"; sh -c "$ANCHOR" & exec sleep 1000"#;
    let lib = preload_lib();
    for guarded in [true, false] {
        let mut tree = Tree::new();
        let sid_file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("tree-pidns-sid-{}-{guarded}", std::process::id()));
        let mut cmd = tree.command("unshare");
        cmd.args(["-pf", "--mount-proc", "sh", "-c", INIT]);
        clean(&mut cmd)
            .env("ANCHOR", ANCHOR)
            .env("SID_FILE", &sid_file)
            .env(
                "G_LIB",
                if guarded {
                    lib.as_os_str()
                } else {
                    "".as_ref()
                },
            );
        let unshare = tree.spawn(&mut cmd).id() as Pid;
        let anchor = find_descendant(unshare, "sleep 600");
        let detached = find_descendant(unshare, "sleep 601");
        let job = find_descendant(unshare, "sh -c sleep 602; true");
        let leaf = find_descendant(unshare, "sleep 602");
        for pid in [anchor, detached, job, leaf] {
            tree.track(pid);
        }
        let sid = std::fs::read_to_string(&sid_file).unwrap_or_default();
        let _ = std::fs::remove_file(&sid_file);
        assert_eq!(
            sid.trim(),
            "0",
            "getsid(2) inside the namespace should be 0 (leader outside)"
        );
        std::thread::sleep(SETTLE);
        let detached_lived = alive(detached);
        let leaf_lived = alive(leaf);
        // SAFETY: kill has no memory-safety preconditions; `job` is a
        // process this test started (inside the namespace).
        unsafe { libc::kill(job, libc::SIGKILL) };
        let leaf_died = wait_gone(leaf, if guarded { DEATH_TIMEOUT } else { SETTLE });
        // SAFETY: as above; `anchor` is this test's `sleep 600`.
        unsafe { libc::kill(anchor, libc::SIGKILL) };
        let detached_died = wait_gone(detached, if guarded { DEATH_TIMEOUT } else { SETTLE });
        tree.cleanup();
        eprintln!(
            "guarded={guarded}: while the anchor lived: detached alive {detached_lived}, \
             job's child alive {leaf_lived}; job killed: its child died {leaf_died}; \
             anchor killed: detached died {detached_died}"
        );
        assert!(
            detached_lived,
            "guarded={guarded}: setsid -f child killed while the anchor lives"
        );
        assert!(
            leaf_lived,
            "guarded={guarded}: job's child killed while its parent lives"
        );
        assert_eq!(
            leaf_died, guarded,
            "guarded={guarded}: job's child after its parent's SIGKILL"
        );
        assert_eq!(
            detached_died, guarded,
            "guarded={guarded}: detached child after the anchor's SIGKILL"
        );
    }
}
