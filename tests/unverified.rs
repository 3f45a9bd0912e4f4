//! An unverified verdict is never silent: the C API returns
//! `PDEATHSIG_UNVERIFIED` (2) where it would return 0, the Rust API
//! returns `Armed::Unverified`, the constructor prints one stderr line (and
//! the Go and Python bindings, tested with them, return `ErrUnverified` /
//! `False` with an `UnverifiedWarning`). The case: the expected parent is a
//! living process that is not our ancestor. Control: the real parent
//! verifies (0, `Armed::Parent`, no stderr line).
mod support;
use std::process::Command;
use support::*;

/// A `sleep 60` of ours: alive, and no ancestor of this process.
fn live_non_ancestor(tree: &mut Tree) -> Pid {
    let mut cmd = tree.command("sleep");
    cmd.arg("60");
    tree.spawn(&mut cmd).id() as Pid
}

#[test]
fn c_api_returns_unverified_and_verified_control() {
    let tree = Tree::new();
    let helper = c_helper(
        "unverified.c",
        "unverified",
        &[static_lib().to_str().unwrap()],
    );
    let mut cmd = tree.command(&helper);
    clean(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        "unverified 2 process 2 control 0 expected 2",
        "{text}"
    );
}

#[test]
fn rust_api_returns_unverified_and_verified_control() {
    let mut tree = Tree::new();
    let other = live_non_ancestor(&mut tree);
    let armed = pdeathsig::arm_parent_death_signal_expecting(pdeathsig::Signal::TERM, other);
    assert!(
        matches!(armed, Ok(pdeathsig::Armed::Unverified { expected, .. }) if expected == other),
        "{armed:?}"
    );
    let parent = std::os::unix::process::parent_id() as Pid;
    let armed = pdeathsig::arm_parent_death_signal_expecting(pdeathsig::Signal::TERM, parent);
    assert_eq!(armed.unwrap(), pdeathsig::Armed::Parent(parent));
    pdeathsig::disarm_parent_death_signal().unwrap();
}

/// The constructor: one stderr line naming both pids, and the program runs.
/// Control: a stamp naming the real parent prints nothing.
#[test]
fn constructor_says_unverified_on_stderr() {
    let mut tree = Tree::new();
    let other = live_non_ancestor(&mut tree);
    let me = std::process::id();
    for (stamp, expect_line) in [(other.to_string(), true), (me.to_string(), false)] {
        let mut cmd: Command = tree.command("/bin/true");
        clean(&mut cmd)
            .env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM")
            .env("PDEATHSIG_PPID", &stamp);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if expect_line {
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.starts_with(&format!(
                    "pdeathsig: cannot verify that parent process {other} is alive"
                )),
                "{stderr}"
            );
        } else {
            assert!(stderr.is_empty(), "control: {stderr}");
        }
    }
}

/// Tree mode: an anchor handed over as a plain pid that is neither the
/// parent nor an ancestor cannot be told from a reused pid: one stderr
/// line, and the program runs. Controls: the same anchor as `PID:TICKS`,
/// and a plain pid naming our own ancestor (this test), print nothing.
#[test]
fn tree_mode_plain_pid_anchor_elsewhere_says_so() {
    let mut tree = Tree::new();
    let other = live_non_ancestor(&mut tree);
    let me = std::process::id();
    let cases = [
        (other.to_string(), true),
        (format!("{other}:{}", boot_ticks()), false),
        (me.to_string(), false),
    ];
    for (stamp, expect_line) in cases {
        let mut cmd: Command = tree.command("/bin/true");
        clean(&mut cmd)
            .env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM")
            .env("PDEATHSIG_MODE", "tree")
            .env("PDEATHSIG_PPID", &stamp);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{stamp}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if expect_line {
            assert_eq!(stderr.lines().count(), 1, "{stamp}: {stderr}");
            assert!(
                stderr.contains("is given as a plain pid"),
                "{stamp}: {stderr}"
            );
        } else {
            assert!(stderr.is_empty(), "{stamp}: control: {stderr}");
        }
    }
}
