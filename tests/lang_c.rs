//! The C example child (examples/c/child.c), built against libpdeathsig.so
//! and against libpdeathsig.a: real processes, real kernel.
mod support;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::*;

/// Compiles examples/c/child.c with `-Wall -Wextra -Werror` and `link`
/// (always: the library may have changed), into CARGO_TARGET_TMPDIR.
fn build_child(out: &str, link: &[&str]) -> PathBuf {
    compile_c(&workspace_root().join("examples/c/child.c"), out, link)
}

fn shared_child() -> PathBuf {
    let lib = preload_lib();
    let dir = lib.parent().unwrap().to_str().unwrap().to_owned();
    build_child(
        "c-child-shared",
        &[
            &format!("-L{dir}"),
            &format!("-Wl,-rpath,{dir}"),
            "-lpdeathsig",
        ],
    )
}

fn static_child() -> PathBuf {
    let lib = static_lib();
    build_child("c-child-static", &[lib.to_str().unwrap()])
}

/// `spawn --handoff -- PROGRAM ARGS` (the parent exports PDEATHSIG_PPID);
/// returns the parent and the child's pid, once the child printed "armed"
/// (when `armed`) or 100 ms after it started (the control).
fn start(
    tree: &mut Tree,
    program: &PathBuf,
    args: &[&str],
    armed: bool,
) -> (std::process::Child, Pid) {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut cmd = tree.command(&spawn);
    cmd.arg("--handoff").arg("--").arg(program).args(args);
    let mut parent = tree.spawn(piped(&mut cmd));
    // The parent's pid line and the child's "armed" line share the pipe, in
    // either order.
    let (mut child, mut seen_armed) = (None, false);
    while child.is_none() || (armed && !seen_armed) {
        let line = read_line(&mut parent, DEATH_TIMEOUT);
        if line.starts_with("armed ") {
            seen_armed = true;
        } else {
            let pid: Pid = line.trim().parse().expect("a pid line");
            tree.track(pid);
            child = Some(pid);
        }
    }
    if !armed {
        std::thread::sleep(Duration::from_millis(100));
    }
    (parent, child.unwrap())
}

fn kill_parent_wait_child(
    tree: &mut Tree,
    program: &PathBuf,
    args: &[&str],
    armed: bool,
) -> Option<Status> {
    let (mut parent, child) = start(tree, program, args, armed);
    assert!(alive(child), "child died before its parent");
    parent.kill().unwrap();
    parent.wait().unwrap();
    wait_status(
        child,
        if armed {
            DEATH_TIMEOUT
        } else {
            Duration::from_millis(300)
        },
    )
}

#[test]
fn shared_child_dies_with_parent() {
    let mut tree = Tree::new();
    let child = shared_child();
    assert_eq!(
        kill_parent_wait_child(&mut tree, &child, &["TERM"], true),
        Some(Status::Signaled(libc::SIGTERM))
    );
    assert_eq!(
        kill_parent_wait_child(&mut tree, &child, &["9"], true),
        Some(Status::Signaled(libc::SIGKILL))
    );
}

#[test]
fn static_child_dies_with_parent() {
    let mut tree = Tree::new();
    let child = static_child();
    let ldd = Command::new("ldd").arg(&child).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&ldd.stdout).contains("libpdeathsig"),
        "the static build links libpdeathsig.so"
    );
    assert_eq!(
        kill_parent_wait_child(&mut tree, &child, &["SIGTERM"], true),
        Some(Status::Signaled(libc::SIGTERM))
    );
}

#[test]
fn unarmed_control_survives() {
    let mut tree = Tree::new();
    let sleep = PathBuf::from("sleep");
    assert_eq!(
        kill_parent_wait_child(&mut tree, &sleep, &["60"], false),
        None
    );
    assert_eq!(
        tree.living().len(),
        1,
        "the unguarded orphan should be alive"
    );
}

/// The parent dies at once; the child starts 20 ms later (behind `sh -c
/// 'sleep 0.02; exec child'`) and arms after its parent is gone. With the
/// handoff it must die every time; without it (the library compares with
/// the parent seen at load time, already the reaper) it lives on.
#[test]
fn race_closed_by_handoff() {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    for (child, name) in [(shared_child(), "shared"), (static_child(), "static")] {
        for handoff in [true, false] {
            let mut tree = Tree::new();
            let mut cmd = tree.command(&spawn);
            cmd.arg(if handoff { "--handoff" } else { "--no-handoff" })
                .args(["--die-after-us", "0", "--", "sh", "-c"])
                .arg("sleep 0.02; exec \"$0\" TERM")
                .arg(&child);
            let mut parent = tree.spawn(piped(&mut cmd));
            let pid = read_pid(&mut parent, DEATH_TIMEOUT);
            tree.track(pid);
            parent.wait().unwrap();
            let status = wait_status(pid, Duration::from_secs(1));
            if handoff {
                assert_eq!(
                    status,
                    Some(Status::Signaled(libc::SIGTERM)),
                    "{name} child with the handoff"
                );
            } else {
                assert_eq!(status, None, "{name} child without the handoff should leak");
                assert!(alive(pid));
            }
        }
    }
}

/// Bad input: one line naming the value and what is accepted, exit 2.
#[test]
fn bad_signal_is_reported() {
    let child = shared_child();
    let tree = Tree::new();
    let out = tree.command(&child).arg("BOGUS").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'BOGUS'") && err.contains("TERM"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = tree
        .command(&child)
        .env("PDEATHSIG_PPID", "abc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Invalid argument"), "{err}");
}
