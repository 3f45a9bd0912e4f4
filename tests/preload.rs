//! LD_PRELOAD auto-arm: real processes, real kernel.
mod support;
use support::*;

/// `spawn` (the parent) starts `sleep` with the library preloaded, then is
/// SIGKILLed; the child must die by the chosen signal. Returns the status.
fn parent_killed(tree: &mut Tree, preload: bool, signal: &str) -> Option<Status> {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut cmd = tree.command(&spawn);
    cmd.args(["--handoff", "--", "sleep", "60"]);
    if preload {
        cmd.env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", signal);
    }
    let mut parent = tree.spawn(piped(&mut cmd));
    let child = read_pid(&mut parent, DEATH_TIMEOUT);
    tree.track(child);
    // Let the child get past its constructor, then kill the parent.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(alive(child), "child died before its parent");
    parent.kill().unwrap();
    parent.wait().unwrap();
    wait_status(
        child,
        std::time::Duration::from_millis(if preload { 5000 } else { 300 }),
    )
}

#[test]
fn child_dies_with_parent_and_control_survives() {
    let mut tree = Tree::new();
    assert_eq!(
        parent_killed(&mut tree, true, "TERM"),
        Some(Status::Signaled(libc::SIGTERM))
    );
    assert_eq!(
        parent_killed(&mut tree, true, "sigkill"),
        Some(Status::Signaled(libc::SIGKILL))
    );
    // Control: the same tree without the library; the orphan lives on.
    assert_eq!(parent_killed(&mut tree, false, "TERM"), None);
    assert_eq!(
        tree.living().len(),
        1,
        "the unguarded orphan should be alive"
    );
}
