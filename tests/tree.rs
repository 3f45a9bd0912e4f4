//! Whole trees under LD_PRELOAD: re-exec, a subshell or a static binary in
//! the middle (processes that do not re-stamp `PDEATHSIG_PPID`), and a tree
//! of depth 4 that dies from the top down.
// Children are reaped by pid (waitid in support::wait_status, or the Tree's
// cleanup on drop), which this lint cannot see.
#![allow(clippy::zombie_processes)]
mod support;
use std::process::{Child, Command};
use std::time::Duration;
use support::*;

/// Long enough for a child that would kill itself at start-up to have done
/// so (it does that in its constructor, within milliseconds).
const SETTLE: Duration = Duration::from_millis(500);
/// How long a control child is watched after its parent died.
const CONTROL_WATCH: Duration = Duration::from_millis(300);

fn spawn_bin() -> std::path::PathBuf {
    c_helper("spawn.c", "spawn", &[])
}

/// The library preloaded and armed with `signal` for `cmd` and its tree.
fn preload(cmd: &mut Command, signal: &str) {
    cmd.env("LD_PRELOAD", preload_lib())
        .env("PDEATHSIG", signal);
}

/// PDEATHSIG_PPID as /proc/PID/environ shows it: the block the process was
/// exec'd with, or forked with, as it is now in memory.
fn stamp(pid: Pid) -> Option<Pid> {
    stamp_pid(&proc_env(pid, "PDEATHSIG_PPID")?)
}

/// Did `pid` inherit the stamp `from`? A preloaded process re-stamps its own
/// pid, in place when it fits, which /proc then shows instead.
fn inherited(pid: Pid, from: Pid) -> bool {
    let now = stamp(pid);
    now == Some(from) || now == Some(pid)
}

#[test]
fn reexec_stays_alive_and_dies_with_parent() {
    let mut tree = Tree::new();
    // `exec` replaces the armed, stamped shell by sleep in the same
    // process: sleep finds its own pid in PDEATHSIG_PPID (the shell's
    // stamp) and its parent is not that pid. The setting survived the exec;
    // this is no death.
    let mut cmd = tree.command(spawn_bin());
    clean(&mut cmd).args(["--handoff", "--", "env"]);
    cmd.arg(format!("LD_PRELOAD={}", preload_lib().display()))
        .args(["PDEATHSIG=TERM", "sh", "-c", "exec sleep 60"]);
    let mut parent = tree.spawn(piped(&mut cmd));
    let child = read_pid(&mut parent, DEATH_TIMEOUT);
    tree.track(child);
    assert!(
        wait_comm(child, "sleep", DEATH_TIMEOUT),
        "sh did not exec sleep"
    );
    std::thread::sleep(SETTLE);
    assert!(
        alive(child),
        "the re-exec'd child killed itself at start-up"
    );
    assert_eq!(
        stamp(child),
        Some(child),
        "the shell should have stamped its own pid, which sleep inherits (the re-exec case)"
    );
    assert_eq!(parent_of(child), Some(parent.id() as Pid));
    assert_eq!(
        kill_reap(parent.id() as Pid),
        Some(Status::Signaled(libc::SIGKILL))
    );
    assert_eq!(
        wait_status(child, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM)),
        "the re-exec'd child should die with its parent"
    );

    // Control: no library; the same process outlives its parent.
    let mut cmd = tree.command(spawn_bin());
    clean(&mut cmd).args(["--handoff", "--", "sh", "-c", "exec sleep 60"]);
    let mut parent = tree.spawn(piped(&mut cmd));
    let child = read_pid(&mut parent, DEATH_TIMEOUT);
    tree.track(child);
    assert!(wait_comm(child, "sleep", DEATH_TIMEOUT));
    kill_reap(parent.id() as Pid);
    assert_eq!(wait_status(child, CONTROL_WATCH), None);
    assert!(alive(child), "the unarmed control died");
}

#[test]
fn child_of_subshell_stays_alive_and_is_armed() {
    let mut tree = Tree::new();
    // sh (armed, stamps its pid) forks a subshell for ( ... ; true) that
    // does not exec, so it neither arms nor re-stamps; the subshell starts
    // sleep, whose PDEATHSIG_PPID names sh, its grandparent.
    let mut cmd = tree.command(spawn_bin());
    // A stamp with a time, as pdeathsig's spawners write it: sh re-stamps
    // in place (same length), which /proc/PID/environ of its fork shows.
    clean(&mut cmd).args([
        "--handoff-stamp",
        "--",
        "sh",
        "-c",
        "(sleep 60; true); true",
    ]);
    preload(&mut cmd, "TERM");
    let mut parent = tree.spawn(piped(&mut cmd));
    let sh = read_pid(&mut parent, DEATH_TIMEOUT);
    tree.track(sh);
    let leaf = find_descendant(sh, "sleep");
    let subshell = parent_of(leaf).unwrap();
    assert_ne!(subshell, sh, "no subshell between sh and sleep");
    assert_eq!(parent_of(subshell), Some(sh));
    // The subshell is a fork of the stamped sh: its environment (which
    // sleep inherits) names sh.
    assert_eq!(
        stamp(subshell),
        Some(sh),
        "the subshell should carry sh's stamp"
    );
    assert!(inherited(leaf, sh), "sleep should carry sh's (stale) stamp");

    std::thread::sleep(SETTLE);
    assert!(
        alive(leaf),
        "the child of a subshell killed itself at start-up (stale stamp taken for a death)"
    );
    assert!(alive(subshell) && alive(sh));

    // The root's parent dies: the armed root dies of its signal.
    assert_eq!(
        kill_reap(parent.id() as Pid),
        Some(Status::Signaled(libc::SIGKILL))
    );
    assert_eq!(
        wait_status(sh, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM)),
        "the preloaded root shell should die with its parent"
    );
    // The subshell was forked, not exec'd: fork clears PR_SET_PDEATHSIG and
    // no constructor ran, so nothing arms it and it outlives the root (see
    // the ignored test below). The leaf is armed against the subshell, its
    // real parent: it dies when that one does.
    std::thread::sleep(CONTROL_WATCH);
    eprintln!(
        "subshell after the root died: subshell alive={}, leaf alive={}",
        alive(subshell),
        alive(leaf)
    );
    if alive(subshell) {
        assert_eq!(kill_reap(subshell), Some(Status::Signaled(libc::SIGKILL)));
    }
    assert_eq!(
        wait_status(leaf, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM)),
        "the child of the subshell should die with the subshell"
    );
}

/// In prctl mode (above) a forked-not-exec'd subshell is never armed (fork
/// clears PR_SET_PDEATHSIG, no constructor runs), so it outlives the root,
/// and so does its child. Process mode watches the *stamped* process (the
/// root shell) rather than the direct parent, so the leaf follows the root.
#[test]
fn child_of_subshell_dies_with_root_in_process_mode() {
    let mut tree = Tree::new();
    let mut cmd = tree.command(spawn_bin());
    clean(&mut cmd).args(["--handoff", "--", "sh", "-c", "(sleep 60; true); true"]);
    preload(&mut cmd, "TERM");
    cmd.env("PDEATHSIG_MODE", "process");
    let mut parent = tree.spawn(piped(&mut cmd));
    let sh = read_pid(&mut parent, DEATH_TIMEOUT);
    tree.track(sh);
    let leaf = find_descendant(sh, "sleep");
    // The subshell outlives the root (never armed) and comes back to this
    // subreaper as a zombie: tracked, so that cleanup reaps it.
    tree.track(parent_of(leaf).unwrap());
    // Armed first (its watcher thread runs): comm changes at exec, before
    // the constructor; a root killed earlier is a different case (the leaf
    // then judges a dead stamper and a live younger parent, see verdict.rs).
    let deadline = std::time::Instant::now() + DEATH_TIMEOUT;
    while std::fs::read_dir(format!("/proc/{leaf}/task")).map_or(0, |d| d.count()) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the leaf's watcher never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    kill_reap(parent.id() as Pid);
    assert!(
        wait_gone(leaf, DEATH_TIMEOUT),
        "the child of the subshell outlived the tree's root parent"
    );
}

#[test]
fn child_of_static_binary_stays_alive() {
    let mut tree = Tree::new();
    let spawn_static = c_helper("spawn.c", "spawn-static", &["-static"]);
    // spawn (dynamic, preloaded: armed against this test, stamps its pid)
    //  -> spawn-static (ignores LD_PRELOAD: neither armed nor re-stamping)
    //     -> sleep (preloaded; PDEATHSIG_PPID names spawn, its grandparent).
    let mut cmd = tree.command(spawn_bin());
    clean(&mut cmd)
        .arg("--")
        .arg(&spawn_static)
        .args(["--", "sleep", "60"]);
    preload(&mut cmd, "TERM");
    let mut top = tree.spawn(piped(&mut cmd));
    let top_pid = top.id() as Pid;
    let (pids, _) = split_pids(&read_lines(&mut top, 2, DEATH_TIMEOUT));
    for &pid in &pids {
        tree.track(pid);
    }
    let middle = *pids
        .iter()
        .find(|&&p| parent_of(p) == Some(top_pid))
        .expect("the static spawner");
    let leaf = *pids.iter().find(|&&p| p != middle).unwrap();
    assert!(
        wait_comm(leaf, "sleep", DEATH_TIMEOUT),
        "sleep did not start"
    );
    assert_eq!(parent_of(leaf), Some(middle));
    assert_eq!(
        stamp(middle),
        Some(top_pid),
        "spawn should have stamped its pid"
    );
    assert!(inherited(leaf, top_pid), "the static spawner re-stamped");

    std::thread::sleep(SETTLE);
    assert!(
        alive(leaf),
        "the child of a static binary killed itself at start-up (stale stamp taken for a death)"
    );
    assert!(alive(middle) && alive(top_pid));

    // The leaf is armed against its real parent, the static spawner (not
    // our child: it cannot be reaped here, only waited for).
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(middle, libc::SIGKILL) };
    assert!(wait_gone(middle, DEATH_TIMEOUT));
    assert_eq!(
        wait_status(leaf, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM)),
        "the child of the static binary should die with it"
    );
}

#[test]
fn stamp_of_an_unrelated_process_is_a_death() {
    // The contrast to the stale-stamp rule: a stamp naming a process that is
    // neither this one, its parent nor an ancestor means the parent is gone.
    let mut tree = Tree::new();
    let dead = dead_pid(&mut tree);
    let mut cmd = tree.command("sleep");
    clean(&mut cmd)
        .arg("60")
        .env("PDEATHSIG_PPID", dead.to_string());
    preload(&mut cmd, "TERM");
    let child = tree.spawn(&mut cmd);
    assert_eq!(
        wait_status(child.id() as Pid, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );
}

/// `spawn --handoff -- spawn -- spawn -- spawn -- sleep 60`: the root's
/// parent, then a tree of depth 4 (3 spawners and sleep). Returns the root's
/// parent and the tree from the top down.
fn deep_tree(tree: &mut Tree, preloaded: bool) -> (Child, Vec<Pid>) {
    let spawn = spawn_bin();
    let mut cmd = tree.command(&spawn);
    clean(&mut cmd).args(["--handoff", "--"]);
    if preloaded {
        // Through env(1): the root's parent itself stays unarmed.
        cmd.arg("env")
            .arg(format!("LD_PRELOAD={}", preload_lib().display()))
            .arg("PDEATHSIG=TERM");
    }
    for _ in 0..3 {
        cmd.arg(&spawn).arg("--");
    }
    cmd.args(["sleep", "60"]);
    let mut parent = tree.spawn(piped(&mut cmd));
    let (pids, other) = split_pids(&read_lines(&mut parent, 4, DEATH_TIMEOUT));
    assert!(other.is_empty(), "{other:?}");
    for &pid in &pids {
        tree.track(pid);
    }
    // Order the tree from the root down.
    let mut chain = Vec::new();
    let mut up = parent.id() as Pid;
    while let Some(&next) = pids.iter().find(|&&p| parent_of(p) == Some(up)) {
        chain.push(next);
        up = next;
    }
    assert_eq!(chain.len(), 4, "not a chain: {pids:?}");
    assert!(wait_comm(chain[3], "sleep", DEATH_TIMEOUT));
    (parent, chain)
}

#[test]
fn deep_tree_dies_top_down_and_control_survives() {
    let mut tree = Tree::new();
    let (parent, chain) = deep_tree(&mut tree, true);
    std::thread::sleep(SETTLE);
    for (i, &pid) in chain.iter().enumerate() {
        assert!(alive(pid), "level {i} died at start-up");
        // Each level is stamped by the one above (the root by its parent,
        // through --handoff: env(1) itself is not preloaded).
        let above = if i == 0 {
            parent.id() as Pid
        } else {
            chain[i - 1]
        };
        assert!(inherited(pid, above), "level {i}'s stamp: {:?}", stamp(pid));
    }
    assert_eq!(
        kill_reap(parent.id() as Pid),
        Some(Status::Signaled(libc::SIGKILL))
    );
    // Each level is reparented to this subreaper when the one above dies,
    // so all of them are reaped here, with their statuses.
    for (i, &pid) in chain.iter().enumerate() {
        assert_eq!(
            wait_status(pid, DEATH_TIMEOUT),
            Some(Status::Signaled(libc::SIGTERM)),
            "level {i} of the tree should die of SIGTERM"
        );
    }

    // Control: the same tree without the library outlives the root's parent.
    let (parent, chain) = deep_tree(&mut tree, false);
    kill_reap(parent.id() as Pid);
    std::thread::sleep(CONTROL_WATCH);
    for (i, &pid) in chain.iter().enumerate() {
        assert!(alive(pid), "control: level {i} died without the library");
    }
    assert_eq!(tree.living().len(), 4);
}
