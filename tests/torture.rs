//! Torture: the start-up race, 10,000 trials per mode, 0 orphans allowed.
//! Ignored by default (minutes of run time); run with
//!
//! ```text
//! cargo test --release --test torture -- --ignored --nocapture
//! ```
//!
//! `PDEATHSIG_TORTURE_TRIALS=N` changes the number of trials.
//!
//! Each trial: `spawn --handoff --die-after-us 2000 -- sleep 60` with the
//! library preloaded (`PDEATHSIG` alternating TERM and KILL): the parent
//! SIGKILLs itself a random 0-2000 us after forking, often before the child
//! has armed. Every child must die of its signal. A control (no handoff)
//! must leak, or the race was not exercised.
// Children are reaped by pid (support::wait_status, Tree cleanup).
#![allow(clippy::zombie_processes)]
mod support;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

fn trials() -> usize {
    std::env::var("PDEATHSIG_TORTURE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn trial(tree: &mut Tree, handoff: bool, mode: &str, signal: &str) -> Pid {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut cmd: Command = tree.command(spawn);
    cmd.arg(if handoff { "--handoff" } else { "--no-handoff" })
        .args(["--die-after-us", "2000", "--", "sleep", "60"])
        .env("LD_PRELOAD", preload_lib())
        .env("PDEATHSIG", signal)
        .env("PDEATHSIG_MODE", mode)
        .env_remove("PDEATHSIG_PPID")
        .env_remove("PDEATHSIG_GRACE");
    start_race_trial(tree, cmd)
}

fn torture(mode: &str) {
    let mut tree = Tree::new();
    preload_lib();
    let n = trials();
    let started = Instant::now();
    let mut orphans = Vec::new();
    for i in 0..n {
        let (signal, number) = if i % 2 == 0 {
            ("TERM", libc::SIGTERM)
        } else {
            ("KILL", libc::SIGKILL)
        };
        let child = trial(&mut tree, true, mode, signal);
        match wait_status(child, DEATH_TIMEOUT) {
            Some(status) => assert_eq!(
                status,
                Status::Signaled(number),
                "trial {i}: the child ended otherwise than by SIG{signal}"
            ),
            None => {
                eprintln!("trial {i}: child {child} outlived its parent");
                orphans.push(i);
                // Kill it now: the Tree would, but not before the end.
                // SAFETY: kill has no memory-safety preconditions; the pid
                // is our tracked child, not yet reaped.
                unsafe { libc::kill(child, libc::SIGKILL) };
                wait_status(child, DEATH_TIMEOUT);
            }
        }
        if orphans.len() >= 3 {
            break;
        }
        if (i + 1) % 1000 == 0 {
            eprintln!("{mode} mode: {} trials, {} orphans", i + 1, orphans.len());
            tree.cleanup();
        }
    }
    eprintln!(
        "{mode} mode, handoff: {} orphans in {n} trials ({:.0} s)",
        orphans.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(orphans.is_empty(), "orphans in trials {orphans:?}");

    // Control: without the handoff the same race must leak.
    let mut leaked = 0;
    let mut batch = Vec::new();
    for _ in 0..200 {
        batch.push(trial(&mut tree, false, mode, "KILL"));
    }
    std::thread::sleep(Duration::from_secs(1));
    let me = std::process::id() as Pid;
    for child in batch {
        if alive(child) && parent_of(child) == Some(me) {
            leaked += 1;
        }
    }
    eprintln!("{mode} mode, control without handoff: {leaked}/200 orphans");
    assert!(leaked > 0, "the control never leaked: race not exercised");
}

#[test]
#[ignore = "10,000 trials: minutes; run with --ignored"]
fn race_10000_trials_prctl_mode() {
    torture("prctl");
}

#[test]
#[ignore = "10,000 trials: minutes; run with --ignored"]
fn race_10000_trials_process_mode() {
    torture("process");
}

#[test]
#[ignore = "10,000 trials: minutes; run with --ignored"]
fn race_10000_trials_tree_mode() {
    torture("tree");
}
