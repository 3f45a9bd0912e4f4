//! The start-up race: the parent dies at a random 0-2 ms after spawning the
//! child, often before the child has armed. With the handoff
//! (`PDEATHSIG_PPID`) no child may survive; without it (the control), some
//! must, or the test would prove nothing.
//!
//! Each trial: `spawn [--handoff|--no-handoff] --die-after-us 2000 -- CHILD`
//! prints the child's pid and SIGKILLs itself 0-2000 us later (one trial in
//! four at once, so that the race is run even on a loaded machine, whose
//! wake-up latency stretches short sleeps). The orphaned child comes back
//! to this test process (a subreaper), which reaps it.
// Children are reaped by pid (waitid in support::wait_status, or the Tree's
// cleanup on drop), which this lint cannot see.
#![allow(clippy::zombie_processes)]
mod support;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const GUARDED_TRIALS: usize = 500;
const CONTROL_TRIALS: usize = 300;
const RUST_TRIALS: usize = 200;
/// A guarded run stops after this many orphans: it has failed already, and
/// each orphan costs a full DEATH_TIMEOUT.
const GIVE_UP_AFTER: usize = 3;
/// A control child still alive this long after its parent died is an
/// orphan: guarded deaths come within milliseconds.
const ORPHAN_AFTER: Duration = Duration::from_secs(1);
/// Control children are judged in batches, so each waits ORPHAN_AFTER once.
const BATCH: usize = 100;

/// The parent command of a trial: `spawn HANDOFF --die-after-us 2000 -- CHILD`.
fn trial_command(tree: &Tree, handoff: bool, child: &[&std::ffi::OsStr]) -> Command {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut cmd = tree.command(spawn);
    cmd.arg(if handoff { "--handoff" } else { "--no-handoff" })
        .args(["--die-after-us", "2000", "--"])
        .args(child)
        .env_remove("LD_PRELOAD")
        .env_remove("PDEATHSIG")
        .env_remove("PDEATHSIG_PPID");
    cmd
}

/// Guarded trials: every child must die of `signal_for(i)` within
/// DEATH_TIMEOUT (it normally takes milliseconds). Returns the orphans.
fn guarded(
    tree: &mut Tree,
    trials: usize,
    make: impl Fn(&Tree, usize) -> (Command, i32),
) -> (usize, usize) {
    let mut orphans = 0;
    let mut done = 0;
    for i in 0..trials {
        let (cmd, signal) = make(tree, i);
        let child = start_race_trial(tree, cmd);
        match wait_status(child, DEATH_TIMEOUT) {
            Some(status) => assert_eq!(
                status,
                Status::Signaled(signal),
                "trial {i}: the child ended otherwise than by its signal"
            ),
            None => {
                orphans += 1;
                eprintln!("trial {i}: child {child} outlived its parent");
                kill_reap(child);
            }
        }
        done += 1;
        if orphans >= GIVE_UP_AFTER {
            break;
        }
    }
    (orphans, done)
}

/// Control trials: counts the children still alive ORPHAN_AFTER after
/// their parent died. Kills and reaps everything, batch by batch.
fn control(tree: &mut Tree, trials: usize, make: impl Fn(&Tree) -> Command) -> usize {
    let me = std::process::id() as Pid;
    let mut orphans = 0;
    let mut batch: Vec<(Pid, Instant)> = Vec::new();
    for i in 0..trials {
        let child = start_race_trial(tree, make(tree));
        batch.push((child, Instant::now()));
        if batch.len() == BATCH || i + 1 == trials {
            let last_due = batch[batch.len() - 1].1 + ORPHAN_AFTER;
            std::thread::sleep(last_due.saturating_duration_since(Instant::now()));
            for (pid, _) in batch.drain(..) {
                // Alive, and reparented to us: an orphan that lives on.
                if alive(pid) && parent_of(pid) == Some(me) {
                    orphans += 1;
                }
                kill_reap(pid);
            }
        }
    }
    orphans
}

fn percent(n: usize, of: usize) -> f64 {
    100.0 * n as f64 / of as f64
}

/// LD_PRELOAD + PDEATHSIG: `sleep 60` armed by the library's constructor.
fn preloaded_sleep(tree: &Tree, handoff: bool, signal: &str) -> Command {
    let mut cmd = trial_command(tree, handoff, &["sleep".as_ref(), "60".as_ref()]);
    cmd.env("LD_PRELOAD", preload_lib())
        .env("PDEATHSIG", signal);
    cmd
}

#[test]
fn preload_race_closed_by_handoff_and_leaks_without() {
    let mut tree = Tree::new();
    preload_lib();
    let (orphans, done) = guarded(&mut tree, GUARDED_TRIALS, |tree, i| {
        if i % 2 == 0 {
            (preloaded_sleep(tree, true, "KILL"), libc::SIGKILL)
        } else {
            (preloaded_sleep(tree, true, "TERM"), libc::SIGTERM)
        }
    });
    eprintln!(
        "LD_PRELOAD race, handoff: {orphans}/{done} orphans ({:.1}%)",
        percent(orphans, done)
    );
    assert_eq!(
        (orphans, done),
        (0, GUARDED_TRIALS),
        "children outlived a parent that died 0-2 ms after spawning them, despite PDEATHSIG_PPID"
    );

    // Control: same library, same signal, no PDEATHSIG_PPID. The child can
    // only compare with the parent it sees at load time, which is already
    // the reaper when the parent died first.
    let leaked = control(&mut tree, CONTROL_TRIALS, |tree| {
        preloaded_sleep(tree, false, "KILL")
    });
    eprintln!(
        "LD_PRELOAD race, no handoff (control): {leaked}/{CONTROL_TRIALS} orphans ({:.1}%)",
        percent(leaked, CONTROL_TRIALS)
    );
    assert!(
        leaked > 0,
        "the control without PDEATHSIG_PPID never leaked: the race was not exercised"
    );
}

fn rust_child(tree: &Tree, handoff: bool) -> Command {
    let child = example("rust_child");
    trial_command(tree, handoff, &[child.as_os_str(), "KILL".as_ref()])
}

#[test]
fn rust_api_race_closed_by_handoff_and_leaks_without() {
    let mut tree = Tree::new();
    example("rust_child");
    let (orphans, done) = guarded(&mut tree, RUST_TRIALS, |tree, _| {
        (rust_child(tree, true), libc::SIGKILL)
    });
    eprintln!(
        "Rust API race, handoff: {orphans}/{done} orphans ({:.1}%)",
        percent(orphans, done)
    );
    assert_eq!((orphans, done), (0, RUST_TRIALS));

    let leaked = control(&mut tree, RUST_TRIALS, |tree| rust_child(tree, false));
    eprintln!(
        "Rust API race, no handoff (control): {leaked}/{RUST_TRIALS} orphans ({:.1}%)",
        percent(leaked, RUST_TRIALS)
    );
    assert!(
        leaked > 0,
        "the control without PDEATHSIG_PPID never leaked: the race was not exercised"
    );
}

/// Tree mode, the same race: the anchor is the parent named by the handoff;
/// a child whose anchor is already gone when it arms signals itself, one
/// whose anchor dies later is signalled by its watcher. Control: the same
/// trials without the library leak.
#[test]
fn tree_mode_race_closed_by_handoff_and_leaks_without() {
    let mut tree = Tree::new();
    preload_lib();
    let tree_sleep = |tree: &Tree, handoff: bool| {
        let mut cmd = preloaded_sleep(tree, handoff, "TERM");
        cmd.env("PDEATHSIG_MODE", "tree");
        cmd
    };
    let (orphans, done) = guarded(&mut tree, GUARDED_TRIALS, |tree, _| {
        (tree_sleep(tree, true), libc::SIGTERM)
    });
    eprintln!(
        "tree mode race, handoff: {orphans}/{done} orphans ({:.1}%)",
        percent(orphans, done)
    );
    assert_eq!((orphans, done), (0, GUARDED_TRIALS));

    // Control: the same trials without the library. (Without the handoff
    // the tree-mode child would not leak either: the spawner loads the
    // library too, so it is the tree's anchor, and its death is the
    // child's.)
    let leaked = control(&mut tree, CONTROL_TRIALS, |tree| {
        trial_command(tree, true, &["sleep".as_ref(), "60".as_ref()])
    });
    eprintln!(
        "tree mode race, without the library (control): {leaked}/{CONTROL_TRIALS} orphans ({:.1}%)",
        percent(leaked, CONTROL_TRIALS)
    );
    assert!(
        leaked > 0,
        "the control without the library never leaked: the race was not exercised"
    );
}
