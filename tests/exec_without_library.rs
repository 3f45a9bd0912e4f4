//! Exec into a program that does not load the library (`env -u
//! LD_PRELOAD prog`, a static binary, `env -i prog`): process and tree
//! mode's guard is a thread, and it ends with the old image; prctl mode's
//! kernel setting survives the exec. The README documents this limit (why
//! no PR_SET_PDEATHSIG floor: it fires on the parent *thread*'s exit, the
//! false alarm those modes exist to avoid); this test pins it, with prctl
//! mode as the control that keeps its guard.
mod support;
use std::time::Duration;
use support::*;

/// `spawn --handoff -- env LD_PRELOAD=... PDEATHSIG=TERM PDEATHSIG_MODE=mode
/// sh -c 'echo ready; exec env -u LD_PRELOAD sleep 600'`: sh arms, then
/// its image is replaced by `env`, which arms too and execs `sleep` without
/// the library. Kills the parent once `sleep` runs; how `sleep` ended
/// within a second (None: alive).
fn parent_dies_after_exec_without_library(mode: &str) -> Option<Status> {
    let mut tree = Tree::new();
    let (mut parent, child) = spawn_preloaded(
        &mut tree,
        mode,
        &["sh", "-c", "echo ready; exec env -u LD_PRELOAD sleep 600"],
    );
    assert!(wait_comm(child, "sleep", DEATH_TIMEOUT), "{mode}: no sleep");
    let threads = std::fs::read_dir(format!("/proc/{child}/task")).map_or(0, |d| d.count());
    assert_eq!(threads, 1, "{mode}: sleep runs no watcher thread");
    parent.kill().unwrap();
    parent.wait().unwrap();
    wait_status(child, Duration::from_secs(1))
}

#[test]
fn process_and_tree_mode_end_with_an_exec_into_a_program_without_the_library() {
    for mode in ["process", "tree"] {
        assert_eq!(
            parent_dies_after_exec_without_library(mode),
            None,
            "{mode}: the documented limit changed (sleep no longer outlives its parent)"
        );
    }
}

#[test]
fn prctl_mode_keeps_its_guard_across_that_exec() {
    assert_eq!(
        parent_dies_after_exec_without_library("prctl"),
        Some(Status::Signaled(libc::SIGTERM))
    );
}
