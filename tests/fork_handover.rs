//! Tree mode, fork(2): a fork child holds a pidfd on its parent from the
//! fork on. The parent's pthread_atfork prepare handler opens it; the
//! child's main thread leaves it to its new watcher thread (it takes a copy
//! of the descriptor table without it) and goes on without waiting.
//!
//! 1. A parent that ends before the child's watcher has started (a
//!    launcher that forks and exits at once: `setsid -f`, a daemon's first
//!    fork) still tells how it ended, through that pidfd: exit status 0
//!    leaves the child behind on purpose (it follows the anchor), exit 1 or
//!    a SIGKILL takes it along (the controls). Before the handover such a
//!    child of a parent that exited 0 was killed as an orphan about half
//!    the time (tests/helpers/fork_exit.c pins the launcher to one CPU so
//!    that its parent half ends first; 10/20 lived in the run that showed
//!    it), and `setsid -f sleep` under load 1 time in 300.
//! 2. The pidfd never stays in the program's table: neither the forker's
//!    nor the child's holds a pidfd afterwards, and the child's watcher
//!    holds exactly the pidfds of its parent and the anchor.
mod support;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::*;

/// Launches per case of the early-exit tests.
const LAUNCHES: usize = 20;

/// `LAUNCHES` runs of tests/helpers/fork_exit.c under tree mode against a
/// live anchor: the launcher forks and its parent half ends at once by
/// `how` ("0", "1" or "kill"), before the fork child's watcher can have
/// looked. Returns how many fork children live a second later, and how many
/// are left 2 s after the anchor's SIGKILL.
fn early_exits(how: &str, want: Status) -> (usize, usize) {
    let bin = c_helper("fork_exit.c", "fork_exit", &[]);
    let mut tree = Tree::new();
    let mut anchor = tree.command("sleep");
    clean(&mut anchor).arg("600").stdin(Stdio::null());
    let anchor = tree.spawn(&mut anchor).id() as Pid;
    for _ in 0..LAUNCHES {
        let mut cmd = tree.command(&bin);
        clean(&mut cmd)
            .arg(how)
            .env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM")
            .env("PDEATHSIG_MODE", "tree")
            .env("PDEATHSIG_PPID", anchor.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let launcher = tree.spawn(&mut cmd).id() as Pid;
        assert_eq!(
            wait_status(launcher, DEATH_TIMEOUT),
            Some(want),
            "launcher {how}"
        );
    }
    let others = |tree: &Tree| {
        let mut pids = tree.living();
        pids.retain(|&p| p != anchor);
        pids
    };
    std::thread::sleep(Duration::from_secs(1));
    let living = others(&tree).len();
    assert_eq!(kill_reap(anchor), Some(Status::Signaled(libc::SIGKILL)));
    let deadline = Instant::now() + Duration::from_secs(2);
    while !others(&tree).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = others(&tree).len();
    eprintln!("fork_exit {how}: {living}/{LAUNCHES} fork children alive after 1 s, {left} after the anchor's SIGKILL");
    (living, left)
}

#[test]
fn a_parent_that_exits_0_before_the_childs_watcher_starts_leaves_it_following_the_anchor() {
    assert_eq!(
        early_exits("0", Status::Exited(0)),
        (LAUNCHES, 0),
        "left behind with status 0: alive while the anchor lives, gone with it"
    );
}

#[test]
fn a_parent_that_exits_1_or_is_killed_before_the_childs_watcher_starts_takes_it_along() {
    // The controls of the test above: the same launches, another end.
    assert_eq!(early_exits("1", Status::Exited(1)).0, 0, "exit 1");
    assert_eq!(
        early_exits("kill", Status::Signaled(libc::SIGKILL)).0,
        0,
        "SIGKILL"
    );
}

/// The tasks of `pid` named "pdeathsig" (its watcher threads).
fn watcher_tasks(pid: Pid) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim_end() == "pdeathsig")
        })
        .filter_map(|t| t.file_name().into_string().ok())
        .collect()
}

/// The pids that the pidfds in a task's table name (their fdinfo `Pid:`).
fn pidfd_targets(pid: Pid, task: &str) -> Vec<Pid> {
    let dir = format!("/proc/{pid}/task/{task}");
    let mut targets: Vec<Pid> = pidfds_in(Path::new(&format!("{dir}/fd")))
        .into_iter()
        .filter_map(|fd| {
            let info = std::fs::read_to_string(format!("{dir}/fdinfo/{fd}")).ok()?;
            info.lines()
                .find_map(|l| l.strip_prefix("Pid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .collect();
    targets.sort_unstable();
    targets
}

#[test]
fn the_handed_pidfd_stays_in_no_program_table() {
    let forker = c_helper("tree_forker.c", "tree_forker", &[]);
    let mut tree = Tree::new();
    let mut anchor = tree.command("sleep");
    clean(&mut anchor).arg("600").stdin(Stdio::null());
    let anchor = tree.spawn(&mut anchor).id() as Pid;
    let mut cmd = tree.command(&forker);
    clean(&mut cmd)
        .arg("3")
        .env("LD_PRELOAD", preload_lib())
        .env("PDEATHSIG", "TERM")
        .env("PDEATHSIG_MODE", "tree")
        .env("PDEATHSIG_PPID", anchor.to_string())
        .stderr(Stdio::null());
    let mut top = tree.spawn(piped(&mut cmd));
    let top_pid = top.id() as Pid;
    let lines = read_lines(&mut top, 4, DEATH_TIMEOUT);
    let (children, rest) = split_pids(&lines);
    assert_eq!(rest, ["ready"], "{lines:?}");
    for &child in &children {
        tree.track(child);
    }
    let mut want = vec![top_pid, anchor];
    want.sort_unstable();
    for &child in &children {
        // The watcher holds its parent (the forker) and the anchor, and
        // nothing else; bounded wait for it to have opened both.
        let deadline = Instant::now() + DEATH_TIMEOUT;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            seen = watcher_tasks(child)
                .iter()
                .map(|task| pidfd_targets(child, task))
                .collect();
            if seen == [want.clone()] {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(seen, [want.clone()], "child {child}: the watcher's pidfds");
        let task = &watcher_tasks(child)[0];
        let table = std::fs::read_dir(format!("/proc/{child}/task/{task}/fd"))
            .unwrap()
            .count();
        assert_eq!(
            table, 2,
            "child {child}: the watcher's table holds its pidfds only"
        );
        assert_eq!(
            pidfds(child),
            Vec::<i32>::new(),
            "child {child}: the program's table"
        );
    }
    assert_eq!(pidfds(top_pid), Vec::<i32>::new(), "the forker's table");
    // And the watchers act on what they hold: the forker's SIGKILL takes
    // its children along (the anchor lives).
    assert_eq!(kill_reap(top_pid), Some(Status::Signaled(libc::SIGKILL)));
    for &child in &children {
        assert_eq!(
            wait_status(child, DEATH_TIMEOUT),
            Some(Status::Signaled(libc::SIGTERM)),
            "child {child} after its parent's SIGKILL"
        );
    }
    assert!(alive(anchor));
}
