//! Tree mode, a parent that dies: the child dies with it unless the parent
//! exited with status 0 (it left the child behind on purpose). The status
//! comes from the dead parent's pidfd once its reaper has reaped it; the
//! kernel answers ESRCH for a moment after the reap, before it has recorded
//! the status, and that moment once let about 1 child in 500 live on after
//! a live tool killed its shell (the restart race, tests/restart_race.rs).
//!
//! The tool here is a Python script, the anchor (it exports its pid), that
//! starts `sh -c 'sleep 30; true'` under the library, SIGKILLs the shell
//! and then reaps it at once, or only 4 s later. Reaped at once: `sleep`
//! dies (the status says SIGKILL). Reaped late: nothing can be known within
//! the 2 s the watcher waits, so `sleep` follows the anchor alone, alive,
//! and says so in one stderr line; the control is the prompt reap, where
//! the same `sleep` dies and says nothing.
//!
//! A parent that ends before its fork child's watcher has started:
//! tests/fork_handover.rs.
mod support;
use std::time::Duration;
use support::*;

/// The tool: prints the grandchild's pid once it has armed, kills the
/// shell, and reaps it at once (`sys.argv[2]` is 0) or that many seconds
/// later; prints whether the grandchild was alive just before a late reap
/// (5 s after a prompt one, or as soon as it is gone) and whether it is one
/// second after that.
const TOOL: &str = r#"
import os, signal, subprocess, sys, time
err = open(sys.argv[1], "w")
env = dict(os.environ, PDEATHSIG_PPID=str(os.getpid()))
shell = subprocess.Popen(["sh", "-c", "sleep 30; true"], env=env, stderr=err)
def threads(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return [l.split()[1] for l in f if l.startswith("Threads:")][0]
    except OSError:
        return "0"
def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False
grandchild = 0
for _ in range(500):
    try:
        with open("/proc/%d/task/%d/children" % (shell.pid, shell.pid)) as f:
            kids = f.read().split()
    except OSError:
        kids = []
    if kids and threads(int(kids[0])) == "2":
        grandchild = int(kids[0])
        break
    time.sleep(0.01)
print(grandchild, flush=True)
time.sleep(0.2)
shell.send_signal(signal.SIGKILL)
reap_after = float(sys.argv[2])
if reap_after > 0:
    time.sleep(reap_after)
    first = alive(grandchild)
    shell.wait()
else:
    shell.wait()
    for _ in range(500):
        if not alive(grandchild):
            break
        time.sleep(0.01)
    first = alive(grandchild)
time.sleep(1.0)
print(first, alive(grandchild), flush=True)
"#;

/// Runs the tool, reaping the shell after `reap_after_s`: the grandchild's
/// pid, whether it was alive at the two looks, and the stderr text of the
/// shell and its child.
fn run(test: &str, reap_after_s: &str) -> Option<(Pid, bool, bool, String)> {
    if !command_succeeds("python3", &["-c", "pass"]) {
        skip(test, "python3 is not installed");
        return None;
    }
    let mut tree = Tree::new();
    let dir = std::env::temp_dir().join(format!(
        "pdeathsig-exit-status-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::create_dir_all(&dir);
    let err_path = dir.join("stderr.txt");
    let mut cmd = tree.command("python3");
    clean(&mut cmd)
        .args(["-c", TOOL])
        .arg(&err_path)
        .arg(reap_after_s)
        .env("LD_PRELOAD", preload_lib())
        .env("PDEATHSIG", "TERM")
        .env("PDEATHSIG_MODE", "tree");
    let mut child = tree.spawn(piped(&mut cmd));
    let grandchild: Pid = read_line(&mut child, DEATH_TIMEOUT)
        .trim()
        .parse()
        .expect("the tool printed no pid");
    assert!(grandchild > 0, "sleep never armed under the shell");
    tree.track(grandchild);
    let line = read_line(&mut child, DEATH_TIMEOUT + Duration::from_secs(8));
    let words: Vec<&str> = line.split_whitespace().collect();
    let (first, second) = match words[..] {
        [a, b] => (a == "True", b == "True"),
        _ => panic!("unexpected report {line:?}"),
    };
    assert_eq!(
        wait_status(child.id() as Pid, DEATH_TIMEOUT),
        Some(Status::Exited(0))
    );
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    Some((grandchild, first, second, stderr))
}

#[test]
fn a_shell_reaped_at_once_takes_its_child_along() {
    let Some((_, first, second, stderr)) = run("a_shell_reaped_at_once_takes_its_child_along", "0")
    else {
        return;
    };
    assert_eq!(
        (first, second),
        (false, false),
        "sleep outlived its shell; stderr: {stderr}"
    );
    assert!(!stderr.contains("cannot be known"), "{stderr}");
}

#[test]
fn a_shell_reaped_late_leaves_its_child_following_the_anchor_and_says_so() {
    let Some((pid, first, second, stderr)) = run(
        "a_shell_reaped_late_leaves_its_child_following_the_anchor_and_says_so",
        "4",
    ) else {
        return;
    };
    assert_eq!(
        (first, second),
        (true, true),
        "sleep {pid} should follow the live anchor; stderr: {stderr}"
    );
    assert!(
        stderr.contains("has ended and how cannot be known")
            && stderr.contains("following the tree's anchor"),
        "the watcher said nothing (its own descriptor table has no stderr): {stderr:?}"
    );
}
