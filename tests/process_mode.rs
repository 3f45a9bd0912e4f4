//! Process mode (`PDEATHSIG_MODE=process`) and graceful escalation
//! (`PDEATHSIG_GRACE`): real processes, real kernel.
mod support;
use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Reads lines until one holds a pid (the helper's) and, when `ready` is
/// set, one says "ready" (the child's, printed after its constructor): the
/// two writers share the pipe, so their order is free.
fn read_pid_and_ready(parent: &mut Child, ready: bool) -> Pid {
    let mut pid = None;
    let mut seen_ready = !ready;
    while pid.is_none() || !seen_ready {
        let line = read_line(parent, DEATH_TIMEOUT);
        match line.trim().parse() {
            Ok(p) => pid = Some(p),
            Err(_) if line.trim() == "ready" => seen_ready = true,
            Err(_) => panic!("unexpected line {line:?}"),
        }
    }
    pid.unwrap()
}

/// Starts `thread_spawn --handoff -- sh -c 'echo ready; exec sleep 60'`,
/// the child preloaded with `PDEATHSIG=TERM` in `mode` (None: no library),
/// and makes the spawning thread exit once the child is armed. Returns the
/// helper and the child.
fn child_of_exited_thread(tree: &mut Tree, mode: Option<&str>) -> (Child, Pid) {
    let helper = c_helper("thread_spawn.c", "thread_spawn", &["-pthread"]);
    let mut cmd = tree.command(&helper);
    cmd.args(["--handoff", "--", "sh", "-c", "echo ready; exec sleep 60"])
        .stdin(Stdio::piped());
    if let Some(mode) = mode {
        cmd.env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM")
            .env("PDEATHSIG_MODE", mode);
    }
    let mut parent = tree.spawn(piped(&mut cmd));
    let child = read_pid_and_ready(&mut parent, true);
    tree.track(child);
    assert!(alive(child), "child died before its spawning thread exited");
    // Let the spawning thread exit; the process lives on.
    parent.stdin.as_mut().unwrap().write_all(b"x").unwrap();
    assert_eq!(read_line(&mut parent, DEATH_TIMEOUT), "joined");
    (parent, child)
}

/// The kernel trap, asserted: in prctl mode the child dies when the thread
/// that spawned it exits, although the parent process lives.
#[test]
fn prctl_mode_fires_when_the_spawning_thread_exits() {
    let mut tree = Tree::new();
    let (mut parent, child) = child_of_exited_thread(&mut tree, Some("prctl"));
    // The parent process reaps it and reports.
    assert_eq!(
        read_line(&mut parent, DEATH_TIMEOUT),
        "child signaled 15",
        "prctl mode: the child should die with its parent *thread*"
    );
    assert!(!alive(child));
    assert!(alive(parent.id() as Pid), "the parent process lives on");
}

/// Process mode: the child survives the thread's exit and dies once the
/// parent process is SIGKILLed. Control: no library, the child survives both.
#[test]
fn process_mode_ignores_thread_exit_and_fires_on_process_death() {
    let mut tree = Tree::new();
    for mode in ["process", "PROCESS"] {
        let (mut parent, child) = child_of_exited_thread(&mut tree, Some(mode));
        std::thread::sleep(Duration::from_millis(500));
        assert!(alive(child), "process mode: thread exit must not kill");
        parent.kill().unwrap();
        parent.wait().unwrap();
        assert_eq!(
            wait_status(child, DEATH_TIMEOUT),
            Some(Status::Signaled(libc::SIGTERM)),
            "process mode ({mode}): the child should die with its parent process"
        );
    }
    // Control: without the library, the orphan lives on.
    let (mut parent, child) = child_of_exited_thread(&mut tree, None);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(child));
    parent.kill().unwrap();
    parent.wait().unwrap();
    assert_eq!(wait_status(child, Duration::from_millis(500)), None);
    assert!(alive(child), "the unguarded orphan should be alive");
}

/// The process-mode watcher: one thread named "pdeathsig" with every
/// ordinary signal blocked, whose pidfd lives in a descriptor table of its
/// own (the program's table has none); no thread without
/// `PDEATHSIG_MODE=process`.
#[test]
fn process_mode_costs_one_thread_and_no_program_fd_only_when_asked() {
    let mut tree = Tree::new();
    for (mode, threads) in [(Some("process"), 2), (None, 1)] {
        let mut cmd = tree.command("sh");
        cmd.args(["-c", "echo ready; exec sleep 60"])
            .env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM");
        if let Some(mode) = mode {
            cmd.env("PDEATHSIG_MODE", mode);
        }
        let mut child = tree.spawn(piped(&mut cmd));
        assert_eq!(read_line(&mut child, DEATH_TIMEOUT), "ready");
        let pid = child.id();
        // After the exec: sleep re-armed itself (the re-exec rule).
        std::thread::sleep(Duration::from_millis(100));
        let tasks: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(tasks.len(), threads, "{mode:?}: threads {tasks:?}");
        let pidfds = |dir: String| {
            std::fs::read_dir(dir)
                .unwrap()
                .filter(|e| {
                    std::fs::read_link(e.as_ref().unwrap().path())
                        .is_ok_and(|l| l.to_string_lossy().contains("pidfd"))
                })
                .count()
        };
        assert_eq!(
            pidfds(format!("/proc/{pid}/fd")),
            0,
            "{mode:?}: program's pidfds"
        );
        for task in tasks.iter().filter(|t| **t != pid.to_string()) {
            // The watcher's own table: exactly its pidfd, nothing else.
            let own = format!("/proc/{pid}/task/{task}/fd");
            assert_eq!(pidfds(own.clone()), 1, "watcher's pidfd");
            assert_eq!(
                std::fs::read_dir(own).unwrap().count(),
                1,
                "watcher's table"
            );
            let comm = std::fs::read_to_string(format!("/proc/{pid}/task/{task}/comm")).unwrap();
            assert_eq!(comm.trim(), "pdeathsig");
            let status =
                std::fs::read_to_string(format!("/proc/{pid}/task/{task}/status")).unwrap();
            let blocked = status
                .lines()
                .find_map(|l| l.strip_prefix("SigBlk:"))
                .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
                .unwrap();
            // Every standard signal except KILL and STOP (which cannot be).
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD] {
                assert_ne!(blocked & (1 << (sig - 1)), 0, "signal {sig} not blocked");
            }
        }
    }
}

/// `spawn --handoff -- sh -c 'trap "" TERM; echo ready; sleep 60'` in
/// process mode with `grace`; the parent is SIGKILLed. Returns the child's
/// pid after the kill, and when it was killed.
fn term_ignoring_child(tree: &mut Tree, grace: Option<&str>) -> (Pid, Instant) {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut cmd = tree.command(&spawn);
    cmd.args([
        "--handoff",
        "--",
        "sh",
        "-c",
        "trap '' TERM; echo ready; sleep 60",
    ])
    .env("LD_PRELOAD", preload_lib())
    .env("PDEATHSIG", "TERM")
    .env("PDEATHSIG_MODE", "process");
    if let Some(grace) = grace {
        cmd.env("PDEATHSIG_GRACE", grace);
    }
    let mut parent = tree.spawn(piped(&mut cmd));
    let child = read_pid_and_ready(&mut parent, true);
    tree.track(child);
    // The clock starts before the kill: the grace runs from the parent's
    // death, and a clock started after wait() would run short under load.
    let killed_at = Instant::now();
    parent.kill().unwrap();
    parent.wait().unwrap();
    (child, killed_at)
}

/// Escalation: a child that ignores SIGTERM is SIGKILLed after the grace
/// period, and not before. Control: without a grace it survives the TERM.
#[test]
fn escalation_kills_a_child_that_ignores_term() {
    let mut tree = Tree::new();
    let grace = Duration::from_millis(1500);
    let (child, killed_at) = term_ignoring_child(&mut tree, Some("1500ms"));
    std::thread::sleep(grace / 3);
    assert!(
        alive(child),
        "the TERM is ignored: the child must outlive the start of the grace period"
    );
    assert_eq!(
        wait_status(child, grace + DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGKILL)),
        "escalation: SIGKILL after the grace period"
    );
    assert!(
        killed_at.elapsed() >= grace,
        "killed before the grace period ended: {:?}",
        killed_at.elapsed()
    );
    // The child's own child (sleep, also preloaded, TERM ignored as
    // inherited) goes the same way once its parent is gone.
    let deadline = Instant::now() + grace + DEATH_TIMEOUT;
    while !tree.living().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(tree.living(), Vec::<Pid>::new(), "the whole tree is gone");

    // Control: the same child with no grace survives the ignored TERM.
    let (child, _) = term_ignoring_child(&mut tree, None);
    assert_eq!(wait_status(child, grace + Duration::from_millis(500)), None);
    assert!(
        alive(child),
        "without a grace the TERM-ignoring child lives"
    );
}

/// The race in process mode: the parent dies 0-2 ms after spawning the
/// child. With the handoff no child may be left; without it (control) the
/// children whose parent died before their constructor watch the reaper
/// instead, and leak.
#[test]
fn process_mode_race_with_handoff_leaves_no_orphan() {
    let mut tree = Tree::new();
    let guarded = race(&mut tree, "--handoff", 300);
    assert_eq!(guarded, 0, "orphans with the handoff in process mode");
    let unguarded = race(&mut tree, "--no-handoff", 150);
    eprintln!("process mode race: with handoff 0/300 orphans, without {unguarded}/150");
    assert!(
        unguarded > 0,
        "control: without the handoff some children should leak"
    );
}

/// Runs `trials` spawns whose parent dies 0-2 ms later; returns how many
/// children are still alive after a bounded wait.
fn race(tree: &mut Tree, handoff: &str, trials: usize) -> usize {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut children = Vec::new();
    for _ in 0..trials {
        let mut cmd = tree.command(&spawn);
        cmd.args([handoff, "--die-after-us", "2000", "--", "sleep", "60"])
            .env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "KILL")
            .env("PDEATHSIG_MODE", "process");
        let mut parent = tree.spawn(piped(&mut cmd));
        let child = read_pid(&mut parent, DEATH_TIMEOUT);
        tree.track(child);
        parent.wait().unwrap();
        children.push(child);
    }
    let deadline = Instant::now() + DEATH_TIMEOUT;
    let mut left = 0;
    for child in children {
        let wait = deadline.saturating_duration_since(Instant::now());
        if !wait_gone(child, wait) {
            left += 1;
        }
    }
    tree.cleanup();
    left
}

/// pidfd_open unavailable (ENOSYS, as before Linux 5.3; here by seccomp):
/// a clear message and nothing armed, never a silent no-op.
#[test]
fn process_mode_without_pidfd_open_says_so() {
    let tree = Tree::new();
    let no_pidfd = c_helper("no_pidfd.c", "no_pidfd", &[]);
    let mut cmd = tree.command(&no_pidfd);
    cmd.arg("env")
        .arg(format!("LD_PRELOAD={}", preload_lib().display()))
        .args([
            "PDEATHSIG=TERM",
            "PDEATHSIG_MODE=process",
            "sh",
            "-c",
            "exit 7",
        ]);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "the host runs normally");
    assert!(
        stderr.starts_with("pdeathsig: pidfd_open failed: Function not implemented (os error 38); process mode needs pidfd_open (Linux 5.3 or later)"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Bad `PDEATHSIG_MODE` / `PDEATHSIG_GRACE` values, and a grace in prctl
/// mode: one line naming the value and what is accepted; the host exits 0.
#[test]
fn bad_mode_and_grace_values() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("PDEATHSIG_MODE", "thread")], "invalid PDEATHSIG_MODE=\"thread\"; accepted: prctl (the default), process or tree, any case; not armed"),
        (&[("PDEATHSIG_MODE", "proc")], "invalid PDEATHSIG_MODE=\"proc\"; accepted: prctl"),
        (&[("PDEATHSIG_MODE", "process"), ("PDEATHSIG_GRACE", "0")], "invalid PDEATHSIG_GRACE=\"0\"; accepted: a whole number of milliseconds or seconds from 1ms to 1 hour: 500ms, 5s, or 5 (seconds); not armed"),
        (&[("PDEATHSIG_MODE", "process"), ("PDEATHSIG_GRACE", "1.5s")], "invalid PDEATHSIG_GRACE=\"1.5s\"; accepted: "),
        (&[("PDEATHSIG_MODE", "process"), ("PDEATHSIG_GRACE", "3601")], "invalid PDEATHSIG_GRACE=\"3601\"; accepted: "),
        (&[("PDEATHSIG_MODE", "process"), ("PDEATHSIG_GRACE", "5m")], "invalid PDEATHSIG_GRACE=\"5m\"; accepted: "),
        (&[("PDEATHSIG_MODE", "process"), ("PDEATHSIG_GRACE", "-1s")], "invalid PDEATHSIG_GRACE=\"-1s\"; accepted: "),
        (&[("PDEATHSIG_MODE", "process"), ("PDEATHSIG_GRACE", "99999999999999999999999")], "invalid PDEATHSIG_GRACE=\"99999999999999999999999\"; accepted: "),
        (&[("PDEATHSIG_GRACE", "5s")], "PDEATHSIG_GRACE needs PDEATHSIG_MODE=process or tree: in prctl mode no watcher lives to send SIGKILL after the grace period; not armed"),
        (&[("PDEATHSIG_MODE", "prctl"), ("PDEATHSIG_GRACE", "500ms")], "PDEATHSIG_GRACE needs PDEATHSIG_MODE=process"),
    ];
    let tree = Tree::new();
    for (vars, expected) in cases {
        let mut cmd = tree.command("sh");
        cmd.args(["-c", "exit 0"])
            .env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM")
            .env_remove("PDEATHSIG_MODE")
            .env_remove("PDEATHSIG_GRACE");
        for (k, v) in *vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{vars:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{vars:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("pdeathsig: {expected}")),
            "{vars:?}: {stderr}"
        );
    }
}

/// The Rust API refuses a grace in prctl mode and out-of-range graces
/// before arming anything.
#[test]
fn rust_options_validation() {
    use pdeathsig::{Error, Mode, Options, Signal};
    assert_eq!(
        Options::new(Signal::TERM)
            .grace(Duration::from_secs(5))
            .arm(),
        Err(Error::GraceNeedsProcessMode)
    );
    for bad in [Duration::ZERO, Duration::from_secs(3601)] {
        assert_eq!(
            Options::new(Signal::TERM)
                .mode(Mode::Process)
                .grace(bad)
                .arm(),
            Err(Error::InvalidGrace(bad))
        );
    }
    assert_eq!(
        Options::new(0).mode(Mode::Process).arm(),
        Err(Error::InvalidSignal(0))
    );
    assert_eq!(
        Options::new(Signal::TERM)
            .mode(Mode::Process)
            .parent(-1)
            .arm(),
        Err(Error::InvalidParentPid(-1))
    );
    assert_eq!(pdeathsig::get_parent_death_signal(), Ok(None));
    assert_eq!(
        pdeathsig::rearm_parent_death_signal(),
        Err(Error::NothingToRearm)
    );
    assert_eq!(Error::GraceNeedsProcessMode.errno(), libc::EINVAL);
}
