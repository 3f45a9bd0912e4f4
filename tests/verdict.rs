//! The verdict on real process trees: no innocent killed, no orphan left.
//!
//! - A process that forks without exec and outlives its launcher (a
//!   background subshell, tmux's server) spawns children whose stamp names
//!   a dead process that is not their ancestor: they must live, because
//!   their parent started after the stamp was written (it inherited it).
//! - Process mode across a re-exec: the new image watches what the old one
//!   watched (the stamped root), and a parent that died during the exec is
//!   a death (a ≥ 500-trial race, and a chain of re-execs).
//! - A parent-death signal set by the spawner (`unshare --kill-child`) is
//!   kept, not weakened to `PDEATHSIG`'s.
//! - A signal this process ignores is armed and reported, not silent;
//!   signals glibc keeps for itself (32, 33) are refused.
// Children are reaped by pid (waitid in support::wait_status, or the Tree's
// cleanup on drop), which this lint cannot see.
#![allow(clippy::zombie_processes)]
mod support;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

/// Long enough for a child that would kill itself at start-up to have done
/// so (it does that in its constructor, within milliseconds).
const SETTLE: Duration = Duration::from_millis(500);
const RACE_TRIALS: usize = 500;
const CHAIN_TRIALS: usize = 200;
const CONTROL_TRIALS: usize = 150;
/// A control child still alive this long after its parent died is an orphan.
const ORPHAN_AFTER: Duration = Duration::from_secs(1);

fn spawn_bin() -> std::path::PathBuf {
    c_helper("spawn.c", "spawn", &[])
}

/// `spawn --handoff-stamp -- sh -c SCRIPT`, preloaded with TERM in `mode`,
/// started in `tree`: the spawner prints the shell's pid first.
fn stamped_shell(tree: &mut Tree, script: &str, mode: &str) -> std::process::Child {
    let mut cmd = tree.command(spawn_bin());
    clean(&mut cmd).args(["--handoff-stamp", "--", "sh", "-c", script]);
    preload(&mut cmd, "TERM", mode);
    tree.spawn(piped(&mut cmd))
}

/// The library preloaded and armed with `signal` in `mode` for `cmd`.
fn preload(cmd: &mut Command, signal: &str, mode: &str) {
    cmd.env("LD_PRELOAD", preload_lib())
        .env("PDEATHSIG", signal)
        .env("PDEATHSIG_MODE", mode);
}

/// `sh -c '(sleep 0.3; sleep 60; true) & echo sub $!; exit 0'`: the shell
/// (armed, stamped) exits at once; its background subshell (a fork, never
/// exec'd: it does not re-stamp) is reparented to this subreaper, and then,
/// once the shell is gone, starts `sleep 60`, whose stamp names the dead
/// shell. Before the stamp carried a time, the child judged its parent gone
/// and killed itself at start-up. (`sleep 0.3` may arm while the shell
/// still lives: in process mode it then follows the stamped shell, and
/// dies with it, as process mode does for any child of a subshell.)
fn detached_subshell_child(mode: &str) {
    let mut tree = Tree::new();
    let script = "(sleep 0.3; sleep 60; true) & echo sub $!; exit 0";
    let mut top = stamped_shell(&mut tree, script, mode);
    // spawn's line (sh's pid) and sh's line (the subshell's, labelled) share
    // the pipe and come in either order.
    let (pids, other) = split_pids(&read_lines(&mut top, 2, DEATH_TIMEOUT));
    let subshell: Pid = match other.as_slice() {
        [line] => line.strip_prefix("sub ").and_then(|p| p.parse().ok()),
        _ => None,
    }
    .unwrap_or_else(|| panic!("no 'sub PID' line: {other:?}"));
    assert_eq!(pids.len(), 1, "{pids:?}");
    let sh = pids[0];
    tree.track(sh);
    tree.track(subshell);
    let leaf = find_descendant(subshell, "sleep 60");
    tree.track(leaf);
    assert!(wait_gone(sh, DEATH_TIMEOUT), "the shell did not exit");
    assert_eq!(
        parent_of(subshell),
        Some(std::process::id() as Pid),
        "the subshell should have been reparented to this subreaper"
    );
    // The scenario the old rule got wrong: the stamp the leaf inherited
    // names a dead process that is not an ancestor (the stamped shell is
    // gone). The subshell, a fork of sh, shows it when sh stamped in place;
    // in process mode sh's stamp (PID:TICKS:WATCHED) is longer than the
    // spawner's and went through setenv(3), which /proc/PID/environ does
    // not show: there it still names the spawner.
    let stamp = stamp_pid(&proc_env(subshell, "PDEATHSIG_PPID").expect("no stamp"));
    let spawner = top.id() as Pid;
    assert!(
        stamp == Some(sh) || (mode == "process" && stamp == Some(spawner)),
        "the subshell should carry sh's stamp, not {stamp:?}"
    );

    std::thread::sleep(SETTLE);
    assert!(
        alive(leaf),
        "{mode}: the child of a live detached subshell killed itself at start-up"
    );
    // Still guarded: its real parent, the subshell, dies; it follows.
    assert_eq!(kill_reap(subshell), Some(Status::Signaled(libc::SIGKILL)));
    assert_eq!(
        wait_status(leaf, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM)),
        "{mode}: the child should die with the subshell"
    );
}

#[test]
fn child_of_detached_subshell_lives_prctl_mode() {
    detached_subshell_child("prctl");
}

#[test]
fn child_of_detached_subshell_lives_process_mode() {
    detached_subshell_child("process");
}

/// tmux's server is a fork of the client (no exec) that outlives it; its
/// panes are exec'd children whose stamp names the dead client. They must
/// live. Needs tmux (Debian's package; `.ci/run` installs it).
fn tmux_panes_live(mode: &str) {
    if tmux_missing(&format!("tmux_panes_live_{mode}")) {
        return;
    }
    let mut tree = Tree::new();
    let tmux = Tmux::start(&mut tree, &format!("panes-{mode}"), "sleep 60", |cmd| {
        preload(cmd, "TERM", mode);
    });
    let panes = tmux.pane_pids();
    assert_eq!(panes.len(), 1, "one pane: {panes:?}");
    let pane = panes[0];
    let server = parent_of(pane).unwrap();
    tree.track(server);
    std::thread::sleep(SETTLE);
    let alive_now = alive(pane);
    drop(tmux);
    assert!(alive_now, "{mode}: tmux's pane killed itself at start-up");
}

#[test]
fn tmux_panes_live_prctl_mode() {
    tmux_panes_live("prctl");
}

#[test]
fn tmux_panes_live_process_mode() {
    tmux_panes_live("process");
}

/// One race trial's parent: `spawn --handoff --die-after-us 3000 -- sh -c
/// SCRIPT`, the child preloaded in process mode when `guarded`.
fn reexec_trial(tree: &Tree, guarded: bool, script: &str) -> Command {
    let mut cmd = tree.command(spawn_bin());
    clean(&mut cmd)
        .arg(if guarded { "--handoff" } else { "--no-handoff" })
        .args(["--die-after-us", "3000", "--", "sh", "-c", script]);
    if guarded {
        preload(&mut cmd, "TERM", "process");
    }
    cmd
}

/// Guarded race: every child must die of SIGTERM. Returns the orphans.
fn guarded_reexec_race(trials: usize, script: &str) -> usize {
    let mut tree = Tree::new();
    let mut orphans = 0;
    for i in 0..trials {
        let cmd = reexec_trial(&tree, true, script);
        let child = start_race_trial(&mut tree, cmd);
        match wait_status(child, DEATH_TIMEOUT) {
            Some(status) => assert_eq!(
                status,
                Status::Signaled(libc::SIGTERM),
                "trial {i}: the child ended otherwise than by SIGTERM"
            ),
            None => {
                orphans += 1;
                eprintln!("trial {i}: child {child} outlived its parent");
                kill_reap(child);
                if orphans >= 3 {
                    break;
                }
            }
        }
    }
    orphans
}

/// The parent SIGKILLed 0-3 ms after spawning `sh -c 'exec sleep 30'` in
/// process mode: the watcher thread dies at the exec, and the new image arms
/// again at load time. A parent that died meanwhile must be seen.
#[test]
fn process_mode_reexec_race_leaves_no_orphan() {
    let orphans = guarded_reexec_race(RACE_TRIALS, "exec sleep 30");
    eprintln!("process mode, sh -c 'exec sleep 30': {orphans}/{RACE_TRIALS} orphans");
    assert_eq!(orphans, 0);

    // Control: without the guard the same race leaks (else it proves nothing).
    let mut tree = Tree::new();
    let mut children = Vec::new();
    for _ in 0..CONTROL_TRIALS {
        let cmd = reexec_trial(&tree, false, "exec sleep 30");
        let child = start_race_trial(&mut tree, cmd);
        children.push(child);
    }
    std::thread::sleep(ORPHAN_AFTER);
    let leaked = children.iter().filter(|&&c| alive(c)).count();
    eprintln!("control, unguarded: {leaked}/{CONTROL_TRIALS} orphans");
    assert!(leaked > 0, "control: no orphan, the race was not exercised");
}

/// A chain of re-execs (sh execs sh execs sleep), each image arming again:
/// still no orphan, and the chain keeps following the stamped parent.
#[test]
fn process_mode_reexec_chain_race_leaves_no_orphan() {
    let script = r#"exec sh -c 'exec sh -c "exec sleep 30"'"#;
    let orphans = guarded_reexec_race(CHAIN_TRIALS, script);
    eprintln!("process mode, a chain of 3 re-execs: {orphans}/{CHAIN_TRIALS} orphans");
    assert_eq!(orphans, 0);
}

/// Process mode follows the stamped process, also after a re-exec: root sh
/// (stamps itself) forks a subshell (no exec, no stamp), which runs
/// `sh -c 'exec sleep 60'`: that shell finds the root as an ancestor and
/// watches it; after its exec, sleep must still watch the root, not the
/// subshell. Killing the root ends the leaf; in prctl mode (the control) the
/// leaf follows its direct parent, the subshell, and lives on.
/// Returns whether the leaf was gone within a second (it is the subshell's
/// child, not ours: its status goes to the subshell).
fn leaf_after_root_dies(mode: &str) -> bool {
    let mut tree = Tree::new();
    let mut top = stamped_shell(&mut tree, "(sh -c 'exec sleep 60'; true); true", mode);
    let root = read_pid(&mut top, DEATH_TIMEOUT);
    tree.track(root);
    let leaf = find_descendant(root, "sleep");
    tree.track(leaf);
    let subshell = parent_of(leaf).unwrap();
    assert_ne!(subshell, root, "no subshell between the root and the leaf");
    tree.track(subshell);
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(leaf), "{mode}: the leaf died at start-up");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(root, libc::SIGKILL) };
    assert!(wait_gone(root, DEATH_TIMEOUT));
    wait_gone(leaf, Duration::from_secs(1))
}

#[test]
fn process_mode_follows_stamped_root_after_reexec() {
    assert!(
        leaf_after_root_dies("process"),
        "process mode: the re-exec'd leaf should follow the stamped root"
    );
    assert!(
        !leaf_after_root_dies("prctl"),
        "control: in prctl mode the leaf follows its living direct parent"
    );
}

/// `getsig` run by `unshare -pf [--kill-child]` under the library with
/// PDEATHSIG=TERM: "<PR_GET_PDEATHSIG> <getppid()>".
fn getsig_under_unshare(kill_child: bool, preloaded: bool) -> Option<String> {
    let getsig = c_helper("getsig.c", "getsig", &[]);
    let mut cmd = Command::new("unshare");
    clean(&mut cmd).arg("-pf");
    if kill_child {
        cmd.arg("--kill-child");
    }
    cmd.arg("--").arg(&getsig);
    if preloaded {
        preload(&mut cmd, "TERM", "prctl");
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!(
            "unshare failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// `unshare -pf --kill-child` sets PR_SET_PDEATHSIG(SIGKILL) in the child
/// before exec: the library keeps it (a namespace's init ignores SIGTERM,
/// so replacing it with PDEATHSIG=TERM would let the namespace outlive
/// unshare).
#[test]
fn inherited_parent_death_signal_is_kept() {
    let Some(kept) = getsig_under_unshare(true, true) else {
        skip(
            "inherited_parent_death_signal_is_kept",
            "unshare -pf is not permitted here",
        );
        return;
    };
    assert_eq!(kept, "9 0", "the library replaced --kill-child's SIGKILL");
    // Control: without --kill-child the library arms PDEATHSIG's TERM.
    assert_eq!(getsig_under_unshare(false, true).unwrap(), "15 0");

    // And it works: unshare SIGKILLed, the namespace's init dies of SIGKILL.
    let mut tree = Tree::new();
    let mut cmd = tree.command(spawn_bin());
    clean(&mut cmd).args(["--handoff", "--", "unshare", "-pf", "--kill-child", "--"]);
    cmd.arg(c_helper("getsig.c", "getsig", &[])).arg("--pause");
    preload(&mut cmd, "TERM", "prctl");
    let mut top = tree.spawn(piped(&mut cmd));
    // spawn's pid line and getsig's "9 0" share the pipe, in either order.
    let (pids, other) = split_pids(&read_lines(&mut top, 2, DEATH_TIMEOUT));
    assert_eq!(
        (pids.len(), other.as_slice()),
        (1, &["9 0".to_string()][..])
    );
    let unshare = pids[0];
    tree.track(unshare);
    let init = find_descendant(unshare, "getsig");
    tree.track(init);
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(unshare, libc::SIGKILL) };
    assert!(
        wait_gone(init, DEATH_TIMEOUT),
        "the namespace's init outlived unshare --kill-child"
    );
}

/// Runs `getsig` preloaded with `PDEATHSIG=signal`, `ignored` set to SIG_IGN
/// first (as a background job inherits SIGINT). Returns (stdout, stderr).
fn getsig_with(signal: &str, ignored: Option<i32>) -> (String, String) {
    let getsig = c_helper("getsig.c", "getsig", &[]);
    let mut cmd = Command::new(getsig);
    clean(&mut cmd)
        .env("PDEATHSIG_PPID", std::process::id().to_string())
        .stdin(Stdio::null());
    preload(&mut cmd, signal, "prctl");
    if let Some(sig) = ignored {
        // SAFETY: the hook runs in the fork child and only calls signal(2),
        // which is async-signal-safe; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(sig, libc::SIG_IGN);
                Ok(())
            });
        }
    }
    let out = cmd.output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn ignored_signal_is_reported_not_silent() {
    let me = std::process::id();
    let (out, err) = getsig_with("INT", Some(libc::SIGINT));
    assert_eq!(out.trim(), format!("2 {me}"), "armed all the same");
    assert!(
        err.starts_with("pdeathsig: SIGINT is ignored in this process") && err.lines().count() == 1,
        "no one-line warning: {err:?}"
    );
    // Control: the same signal, not ignored: armed, nothing said.
    let (out, err) = getsig_with("INT", None);
    assert_eq!(out.trim(), format!("2 {me}"));
    assert_eq!(err, "", "a warning without cause");
}

#[test]
fn signals_glibc_reserves_are_refused() {
    let me = std::process::id();
    for reserved in ["32", "33"] {
        let (out, err) = getsig_with(reserved, None);
        assert_eq!(out.trim(), format!("0 {me}"), "{reserved} was armed");
        assert!(
            err.starts_with(&format!(
                "pdeathsig: invalid PDEATHSIG=\"{reserved}\"; accepted:"
            )) && err.contains("from 1 to 31 or from SIGRTMIN to SIGRTMAX")
                && err.lines().count() == 1,
            "{reserved}: {err:?}"
        );
    }
    // Control: the first real-time signal glibc leaves to programs.
    // SAFETY: __libc_current_sigrtmin has no preconditions.
    let rtmin = libc::SIGRTMIN();
    let (out, err) = getsig_with("RTMIN", None);
    assert_eq!(out.trim(), format!("{rtmin} {me}"));
    assert_eq!(err, "");
}
