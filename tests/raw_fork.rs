//! Tree mode and children made without fork(3): glibc's `_Fork()` and the
//! raw clone(2) system call run no pthread_atfork(3) handler, so no code of
//! the library runs in such a child until it execs. As the README says, a
//! child that stays gets no watcher (it outlives its killed parent, and
//! nothing can say so); one that execs arms again through `LD_PRELOAD`
//! and dies with its parent. Control: a fork(3) child, which the atfork
//! handler gives a watcher, dies with its parent; and without the library
//! it lives.
mod support;
use std::time::Duration;
use support::*;

const SETTLE: Duration = Duration::from_millis(500);

/// Threads of `pid` (1: no watcher thread).
fn threads(pid: Pid) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// tests/helpers/raw_fork.c `how then`, this test's child, under tree mode
/// (or, `guarded` false, without the library); the forker is SIGKILLed.
/// Returns (the child's threads before, whether it died with its parent).
fn case(how: &str, then: &str, guarded: bool) -> (usize, bool) {
    let helper = c_helper("raw_fork.c", "raw_fork", &[]);
    let helper = helper.to_str().unwrap();
    let mut tree = Tree::new();
    let mut cmd = tree.command(helper);
    clean(&mut cmd).args([how, then]);
    if guarded {
        // The anchor is the forker's parent, this test: alive throughout.
        cmd.env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM")
            .env("PDEATHSIG_MODE", "tree");
    }
    let mut spawn = tree.spawn(piped(&mut cmd));
    let forker = spawn.id() as Pid;
    assert_eq!(read_line(&mut spawn, DEATH_TIMEOUT), "ready");
    let child = read_pid(&mut spawn, DEATH_TIMEOUT);
    tree.track(child);
    if then == "exec" {
        assert!(
            wait_comm(child, "sleep", DEATH_TIMEOUT),
            "{how} {then}: no exec"
        );
    }
    std::thread::sleep(SETTLE);
    let before = threads(child);
    assert!(alive(child), "{how} {then}: killed while its parent lives");
    // Reaped at once: its exit status tells the child's watcher how it
    // ended (SIGKILL: not on purpose).
    assert_eq!(kill_reap(forker), Some(Status::Signaled(libc::SIGKILL)));
    let died = wait_gone(child, if guarded { DEATH_TIMEOUT } else { SETTLE });
    tree.cleanup();
    eprintln!("{how} {then} guarded={guarded}: threads {before}, died with its parent: {died}");
    (before, died)
}

#[test]
fn a_fork_child_is_watched_and_dies_with_its_parent() {
    let (threads, died) = case("fork", "stay", true);
    assert_eq!(threads, 2, "a fork(3) child runs a watcher thread");
    assert!(died, "a fork(3) child outlived its killed parent");
    // Control: without the library it lives.
    let (_, died) = case("fork", "stay", false);
    assert!(
        !died,
        "without the library the child died: the test shows nothing"
    );
}

#[test]
fn children_made_without_fork_are_unwatched_until_they_exec() {
    for how in ["_Fork", "clone"] {
        // The documented limit: no library code ran in the child.
        let (threads, died) = case(how, "stay", true);
        assert_eq!(
            threads, 1,
            "{how}: a watcher thread? (the README says none)"
        );
        assert!(
            !died,
            "{how}: died with its parent (the README says it does not)"
        );
        // Once it execs, LD_PRELOAD arms it again.
        let (threads, died) = case(how, "exec", true);
        assert_eq!(threads, 2, "{how} then exec: no watcher thread");
        assert!(died, "{how} then exec: outlived its killed parent");
    }
}
