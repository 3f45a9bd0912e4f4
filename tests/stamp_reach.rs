//! The stamp reaches the children of every program that loads the library,
//! whatever that program does with getenv(3) and setenv(3) (bash defines
//! its own, which used to swallow the stamp), and whatever the spawner
//! exported: a plain pid (`PDEATHSIG_PPID=$$`, the README's handoff),
//! `PID:TICKS`, or nothing.
//!
//! Each case runs MIDDLE under the library; MIDDLE starts the static probe
//! (which cannot load the library, so it reports `PDEATHSIG_PPID` exactly
//! as MIDDLE passed it on) and the probe prints its parent and the stamp.
//! The stamp must name the probe's parent. Control: the same middles
//! without the library pass the spawner's value on unchanged, so the check
//! can tell a middle that re-stamped from one that did not.
mod support;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// The middles a user puts between a tool and its workload.
const MIDDLES: [&str; 6] = ["bash", "dash", "python3", "node", "perl", "make"];

/// What the spawner exports to MIDDLE.
#[derive(Clone, Copy, Debug)]
enum Handoff {
    PlainPid,
    PidTicks,
    Nothing,
}

const HANDOFFS: [Handoff; 3] = [Handoff::PlainPid, Handoff::PidTicks, Handoff::Nothing];

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The command that makes `middle` start `probe ppid` as its own child (not
/// by exec: each middle forks, as it does for a workload).
fn middle_command(tree: &Tree, middle: &str, probe: &Path, dir: &Path) -> Command {
    let probe_s = probe.to_str().unwrap();
    let mut cmd = match middle {
        "bash" | "dash" => {
            let mut c = tree.command(middle);
            c.args(["-c", "\"$0\" ppid; true", probe_s]);
            c
        }
        "python3" => {
            let mut c = tree.command(middle);
            c.args([
                "-c",
                "import subprocess, sys; subprocess.run([sys.argv[1], 'ppid'], check=True)",
                probe_s,
            ]);
            c
        }
        "node" => {
            let mut c = tree.command(middle);
            c.args([
                "-e",
                "require('child_process').spawnSync(process.argv[1], ['ppid'], {stdio: 'inherit'})",
                probe_s,
            ]);
            c
        }
        "perl" => {
            let mut c = tree.command(middle);
            c.args(["-e", "system($ARGV[0], 'ppid') == 0 or die", probe_s]);
            c
        }
        "make" => {
            let makefile = dir.join("Makefile");
            std::fs::write(&makefile, format!("all:\n\t{probe_s} ppid\n")).unwrap();
            let mut c = tree.command(middle);
            c.args(["-s", "-f"]).arg(&makefile);
            c
        }
        other => panic!("unknown middle {other}"),
    };
    clean(&mut cmd);
    cmd
}

/// Runs `middle` (under the library when `preload`) and returns the
/// probe's parent and the stamp it saw, with the stamp the spawner gave.
fn run_case(
    middle: &str,
    mode: &str,
    handoff: Handoff,
    preload: bool,
) -> (Pid, Option<Pid>, Option<Pid>) {
    let mut tree = Tree::new();
    let probe = c_helper("probe.c", "probe-static", &["-static"]);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "stamp-reach-{}-{middle}-{mode}-{handoff:?}-{preload}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = middle_command(&tree, middle, &probe, &dir);
    let me = std::process::id() as Pid;
    let given = match handoff {
        Handoff::PlainPid => Some(format!("{me}")),
        Handoff::PidTicks => Some(format!("{me}:{}", boot_ticks())),
        Handoff::Nothing => None,
    };
    if let Some(value) = &given {
        cmd.env("PDEATHSIG_PPID", value);
    }
    if preload {
        cmd.env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM")
            .env("PDEATHSIG_MODE", mode);
    }
    let mut child = tree.spawn(piped(&mut cmd));
    let line = read_line(&mut child, DEATH_TIMEOUT);
    let status = wait_status(child.id() as Pid, DEATH_TIMEOUT);
    assert_eq!(
        status,
        Some(Status::Exited(0)),
        "{middle} ({mode}, {handoff:?}) did not run the probe cleanly: {line:?}"
    );
    let mut words = line.split_whitespace();
    let ppid: Pid = words.next().and_then(|w| w.parse().ok()).unwrap();
    let stamp = words.next().and_then(|w| stamp_pid(w.as_bytes()));
    let _ = std::fs::remove_dir_all(&dir);
    (ppid, stamp, given.map(|_| me))
}

fn middles_here(test: &str) -> Vec<&'static str> {
    MIDDLES
        .iter()
        .copied()
        .filter(|m| {
            let here = on_path(m);
            if !here {
                skip(test, &format!("{m} is not installed"));
            }
            here
        })
        .collect()
}

/// Every mode (prctl, process, tree): every process re-stamps with its own
/// pid, so the probe's stamp is its parent, whichever middle and handoff.
#[test]
fn every_middle_passes_its_own_stamp_on() {
    preload_lib();
    let mut wrong = Vec::new();
    for middle in middles_here("every_middle_passes_its_own_stamp_on") {
        for mode in ["prctl", "process", "tree"] {
            for handoff in HANDOFFS {
                let (ppid, stamp, _) = run_case(middle, mode, handoff, true);
                if stamp != Some(ppid) {
                    wrong.push(format!(
                        "{middle} {mode} {handoff:?}: probe's parent {ppid}, stamp {stamp:?}"
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the stamp did not reach the child:\n{}",
        wrong.join("\n")
    );
}

/// Control: without the library nothing re-stamps, and the probe sees what
/// the spawner exported (our pid), not its parent: the check above would
/// catch a middle that swallowed the stamp.
#[test]
fn control_without_the_library_the_stamp_is_the_spawners() {
    for middle in middles_here("control_without_the_library_the_stamp_is_the_spawners") {
        for handoff in [Handoff::PlainPid, Handoff::PidTicks] {
            let (ppid, stamp, given) = run_case(middle, "prctl", handoff, false);
            assert_ne!(
                Some(ppid),
                given,
                "{middle}: the probe's parent is the spawner"
            );
            assert_eq!(
                stamp, given,
                "{middle} {handoff:?}: the stamp changed without the library"
            );
        }
    }
}
