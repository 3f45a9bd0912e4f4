//! Tree mode without a handoff, as a user types it: `LD_PRELOAD=...
//! PDEATHSIG=TERM PDEATHSIG_MODE=tree tool` and `pdeathsig --mode tree --
//! tool` (with the library preloaded for the rest of the tree). The tool is
//! then the tree's anchor: when it is SIGKILLed, its whole tree dies, the
//! fork-only workers of a child of it included, and what it detached
//! (`setsid -f`, `nohup ... &`) lives until then and dies with it.
//! Control: process mode leaves the fork-only workers alive (the watcher
//! thread does not survive fork) and kills the detached processes at once.
// Children are reaped by pid (support::wait_status, the Tree's cleanup).
#![allow(clippy::zombie_processes)]
mod support;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// Long enough for every process of the tool to have started and armed.
const SETTLE: Duration = Duration::from_millis(1500);

/// The tool: a shell that starts a forker (3 fork-only workers) and two
/// detached sleeps, then waits.
const TOOL: &str = "\"$0\" 3 & setsid -f sleep 601; nohup sleep 602 >/dev/null 2>&1 & wait";

fn comm(pid: Pid) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Starts the tool under `mode` (through the exec wrapper when `wrapped`),
/// waits until its 6 processes run (forker, 3 workers, 2 sleeps), SIGKILLs
/// the tool (the wrapper, when wrapped) and returns (alive before the kill,
/// workers alive after, sleeps alive after).
fn run(mode: &str, wrapped: bool) -> (usize, usize, usize) {
    let mut tree = Tree::new();
    let forker = c_helper("tree_forker.c", "tree_forker", &[]);
    let mut cmd: Command = if wrapped {
        let mut c = tree.command(env!("CARGO_BIN_EXE_pdeathsig"));
        c.args(["--mode", mode, "--", "sh", "-c", TOOL])
            .arg(&forker);
        c
    } else {
        let mut c = tree.command("sh");
        c.args(["-c", TOOL]).arg(&forker);
        c
    };
    clean(&mut cmd)
        .env("LD_PRELOAD", preload_lib())
        .env("PDEATHSIG", "TERM")
        .env("PDEATHSIG_MODE", mode)
        .stdout(std::process::Stdio::null());
    let tool = tree.spawn(&mut cmd).id() as Pid;
    let deadline = Instant::now() + DEATH_TIMEOUT;
    let (mut workers, mut sleeps);
    loop {
        let living = tree.living();
        workers = living
            .iter()
            .copied()
            .filter(|&p| comm(p) == "tree_forker")
            .collect::<Vec<_>>();
        sleeps = living
            .iter()
            .copied()
            .filter(|&p| comm(p) == "sleep")
            .collect::<Vec<_>>();
        if workers.len() == 4 && sleeps.len() == 2 || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(SETTLE);
    let before = workers.iter().chain(&sleeps).filter(|&&p| alive(p)).count();
    assert_eq!(kill_reap(tool), Some(Status::Signaled(libc::SIGKILL)));
    std::thread::sleep(Duration::from_secs(2));
    let workers_after = workers.iter().filter(|&&p| alive(p)).count();
    let sleeps_after = sleeps.iter().filter(|&&p| alive(p)).count();
    tree.cleanup();
    (before, workers_after, sleeps_after)
}

#[test]
fn tool_without_handoff_is_the_anchor() {
    preload_lib();
    for wrapped in [false, true] {
        let how = if wrapped {
            "pdeathsig --mode tree --"
        } else {
            "LD_PRELOAD"
        };
        let (before, workers, sleeps) = run("tree", wrapped);
        eprintln!("{how}: alive before the kill {before}/6, after: forker and workers {workers}/4, detached {sleeps}/2");
        assert_eq!(
            before, 6,
            "{how}: tree mode killed something while the tool lived"
        );
        assert_eq!(
            (workers, sleeps),
            (0, 0),
            "{how}: survivors of the tool's SIGKILL"
        );
    }
    // Control: process mode. The fork-only workers outlive the tool; the
    // detached sleeps die with their launchers, while the tool lives.
    let (before, workers, _) = run("process", false);
    eprintln!("process mode (control): alive before the kill {before}/6, workers after {workers}");
    assert!(
        before < 6,
        "control: process mode kept the detached processes"
    );
    assert!(
        workers >= 3,
        "control: process mode's fork-only workers should outlive the tool"
    );
}
