//! Tree mode (`PDEATHSIG_MODE=tree`) with real processes and real tools:
//! every process of a tree dies when its parent dies, unless it has
//! detached (setsid, nohup, a background job, or left behind by a parent
//! that exited 0), and every process, detached or not, dies with the tree's
//! *anchor* (the process named in `PDEATHSIG_PPID` when the tree starts),
//! however it was started (exec'd, forked without exec, daemonized); a
//! detached process is not killed while the anchor lives. Each test has a
//! control that shows the gap without tree mode (prctl or process mode, or
//! no guard): survivors, or a detached process killed while the anchor
//! lives.
//!
//! The Python tools (honcho, gunicorn) are installed from PyPI into a venv
//! under CARGO_TARGET_TMPDIR, once; without network the tests that need them
//! print `SKIP <test>: <reason>` and pass. git credential-cache needs git.
//! Figures are printed as `FIG ...` lines (`-- --nocapture` shows them).
// Children are reaped by pid (waitid in support::wait_status, or the Tree's
// cleanup on drop), which this lint cannot see.
#![allow(clippy::zombie_processes)]
mod support;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::*;

/// Long enough for a process that would kill itself at start-up to have
/// done so, and for a launcher's exit to have killed what prctl armed.
const SETTLE: Duration = Duration::from_secs(1);
/// The bound: survivors are counted this long after the SIGKILL.
const AFTER_KILL: Duration = Duration::from_secs(2);
/// How long a tool may take to start (Python on a loaded 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn tmpdir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn spawn_bin() -> PathBuf {
    c_helper("spawn.c", "spawn", &[])
}

/// A fresh directory under CARGO_TARGET_TMPDIR, unique to this call.
fn scratch(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = tmpdir().join(format!("tree-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// How a tree is guarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    Tree,
    Prctl,
    Process,
    Unguarded,
}

impl Guard {
    fn name(self) -> &'static str {
        match self {
            Guard::Tree => "tree",
            Guard::Prctl => "prctl",
            Guard::Process => "process",
            Guard::Unguarded => "none",
        }
    }

    /// The environment that arms a tree this way, as `NAME=VALUE` pairs.
    fn vars(self) -> Vec<(String, String)> {
        if self == Guard::Unguarded {
            return Vec::new();
        }
        vec![
            ("LD_PRELOAD".into(), preload_lib().display().to_string()),
            ("PDEATHSIG".into(), "TERM".into()),
            ("PDEATHSIG_MODE".into(), self.name().into()),
        ]
    }

    fn apply(self, cmd: &mut Command) -> &mut Command {
        for (k, v) in self.vars() {
            cmd.env(k, v);
        }
        cmd
    }
}

/// A `sleep 600` started by the test: a tree's anchor.
fn start_anchor(tree: &mut Tree) -> Pid {
    let mut cmd = tree.command("sleep");
    clean(&mut cmd).arg("600").stdin(Stdio::null());
    tree.spawn(&mut cmd).id() as Pid
}

/// Does `pid` run a pdeathsig watcher thread (named "pdeathsig")?
fn has_watcher(pid: Pid) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).any(|t| {
        std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == "pdeathsig")
    })
}

fn comm(pid: Pid) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_default()
}

/// Waits (bounded) until `cond` holds; false if it does not within `timeout`.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Living processes of `tree` other than `except`.
fn living_except(tree: &Tree, except: &[Pid]) -> Vec<Pid> {
    let mut pids = tree.living();
    pids.retain(|p| !except.contains(p));
    pids
}

fn kill(pid: Pid) {
    // SAFETY: kill has no memory-safety preconditions; the pid is a process
    // this test started (tracked by its Tree).
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Can the port be bound again (no process holds a listening socket)?
fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn port_listening(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// Runs `cmd` (from a [`Tree`]) to its end, at most `timeout`, with stdin
/// from `input`; returns its stdout, or why it failed (its stderr).
fn run_bounded(
    tree: &mut Tree,
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<String, String> {
    let out = scratch("out");
    let (stdout, stderr) = (out.join("stdout"), out.join("stderr"));
    cmd.stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = tree.spawn(cmd);
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).map_err(|e| format!("stdin: {e}"))?;
    }
    let status = wait_status(child.id() as Pid, timeout);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (o, e) = (read(&stdout), read(&stderr));
    let _ = std::fs::remove_dir_all(&out);
    match status {
        Some(Status::Exited(0)) => Ok(o),
        None => {
            kill(child.id() as Pid);
            wait_status(child.id() as Pid, DEATH_TIMEOUT);
            Err(format!("{cmd:?}: no end within {timeout:?}; stderr: {e}"))
        }
        Some(s) => Err(format!("{cmd:?}: {s:?}; stderr: {e}")),
    }
}

// ---------------------------------------------------------------------------
// 1. Semantics: a chain follows the anchor; a dead anchor at start; a
//    process behind a detached middle.

/// `spawn -- spawn -- spawn -- sleep 600` (depth 4) armed as `guard`
/// against `anchor`. Returns the chain from the top down.
fn chain(tree: &mut Tree, guard: Guard, anchor: Pid) -> Vec<Pid> {
    let spawn = spawn_bin();
    let mut cmd = tree.command(&spawn);
    clean(&mut cmd).arg("--");
    for _ in 0..2 {
        cmd.arg(&spawn).arg("--");
    }
    cmd.args(["sleep", "600"])
        .env("PDEATHSIG_PPID", anchor.to_string());
    guard.apply(&mut cmd);
    let mut top = tree.spawn(piped(&mut cmd));
    let top_pid = top.id() as Pid;
    let (pids, other) = split_pids(&read_lines(&mut top, 3, DEATH_TIMEOUT));
    assert!(other.is_empty(), "{other:?}");
    let mut chain = vec![top_pid];
    while let Some(&next) = pids
        .iter()
        .find(|&&p| parent_of(p) == Some(*chain.last().unwrap()))
    {
        chain.push(next);
    }
    for &pid in &chain {
        tree.track(pid);
    }
    assert_eq!(chain.len(), 4, "not a chain: {pids:?}");
    assert!(wait_comm(chain[3], "sleep", DEATH_TIMEOUT));
    chain
}

#[test]
fn chain_of_depth_4_dies_with_the_anchor_at_once() {
    let mut tree = Tree::new();
    let anchor = start_anchor(&mut tree);
    let levels = chain(&mut tree, Guard::Tree, anchor);
    std::thread::sleep(SETTLE);
    for (i, &pid) in levels.iter().enumerate() {
        assert!(alive(pid), "tree: level {i} died while the anchor lives");
        assert!(has_watcher(pid), "tree: level {i} has no watcher thread");
        // The top got the anchor as the handoff; below it every level
        // passes it on in PDEATHSIG_ANCHOR (PDEATHSIG_PPID is the parent's,
        // or, rewritten in place, the level's own: /proc shows the bytes).
        let var = if i == 0 {
            "PDEATHSIG_PPID"
        } else {
            "PDEATHSIG_ANCHOR"
        };
        assert_eq!(
            proc_env(pid, var).as_deref().and_then(stamp_pid),
            Some(anchor),
            "tree: level {i} should carry the anchor in {var}"
        );
    }
    let killed = Instant::now();
    assert_eq!(kill_reap(anchor), Some(Status::Signaled(libc::SIGKILL)));
    assert!(
        wait_until(DEATH_TIMEOUT, || levels.iter().all(|&p| !alive(p))),
        "tree: survivors after the anchor died: {:?}",
        tree.living()
    );
    let took = killed.elapsed();
    // Each level is reparented to this subreaper as the one above dies, so
    // all of them are reaped here, with their statuses.
    for (i, &pid) in levels.iter().enumerate() {
        assert_eq!(
            wait_status(pid, DEATH_TIMEOUT),
            Some(Status::Signaled(libc::SIGTERM)),
            "tree: level {i} should die of SIGTERM"
        );
    }
    println!(
        "FIG chain depth=4 guard=tree survivors=0 all_gone_after_ms={}",
        took.as_millis()
    );

    // Controls: the same chain, the same PDEATHSIG_PPID, in prctl and
    // process mode: each level follows its own parent (the top: this test,
    // with a warning that the stamped process is not an ancestor), so the
    // anchor's death leaves the whole chain running.
    for guard in [Guard::Prctl, Guard::Process] {
        let mut tree = Tree::new();
        let anchor = start_anchor(&mut tree);
        let levels = chain(&mut tree, guard, anchor);
        assert_eq!(kill_reap(anchor), Some(Status::Signaled(libc::SIGKILL)));
        std::thread::sleep(AFTER_KILL);
        let survivors = levels.iter().filter(|&&p| alive(p)).count();
        println!(
            "FIG chain depth=4 guard={} survivors={survivors}",
            guard.name()
        );
        assert_eq!(
            survivors,
            4,
            "{}: the chain should outlive the anchor",
            guard.name()
        );
    }
}

#[test]
fn anchor_already_dead_at_start_signals_itself() {
    let mut tree = Tree::new();
    let dead = dead_pid(&mut tree);
    // The stamp as tree mode writes it (ANCHOR:TICKS), stamped now: the
    // launcher (spawn, unguarded: a middle that passes the environment on,
    // as a static binary or a fork-only daemon would) starts after it.
    let stamp = format!("{dead}:{}", boot_ticks());
    let start = |tree: &mut Tree, guard: Guard| {
        let mut cmd = tree.command(spawn_bin());
        clean(&mut cmd)
            .args(["--", "env"])
            .args(guard.vars().iter().map(|(k, v)| format!("{k}={v}")))
            .args(["sleep", "600"])
            .env("PDEATHSIG_PPID", &stamp);
        let mut launcher = tree.spawn(piped(&mut cmd));
        let child = read_pid(&mut launcher, DEATH_TIMEOUT);
        tree.track(child);
        child
    };
    let child = start(&mut tree, Guard::Tree);
    assert!(
        wait_gone(child, DEATH_TIMEOUT),
        "tree: a process whose anchor is already dead should signal itself"
    );
    // Its parent (the launcher) reaps it: its status is not ours to read;
    // the launcher is alive, so it was not the launcher's death.
    println!("FIG dead-anchor guard=tree child_alive_after_start=false");

    // Control: prctl and process mode judge the *parent* (alive, younger
    // than the stamp: it inherited the stamp), so the dead anchor goes
    // unnoticed and the process runs on.
    for guard in [Guard::Prctl, Guard::Process] {
        let child = start(&mut tree, guard);
        assert!(wait_comm(child, "sleep", DEATH_TIMEOUT));
        std::thread::sleep(SETTLE);
        println!(
            "FIG dead-anchor guard={} child_alive_after_start={}",
            guard.name(),
            alive(child)
        );
        assert!(
            alive(child),
            "{}: the dead anchor is not this mode's business",
            guard.name()
        );
    }
}

/// `setsid -f sh -c 'sleep 600; true'` armed as `guard` (tree mode against
/// `anchor`): a detached middle (sh, its own session, reparented to this
/// subreaper when setsid exits) and its child. Returns (middle, leaf) or
/// `None` if the middle died at once.
fn detached_middle(tree: &mut Tree, guard: Guard, anchor: Pid) -> Option<(Pid, Pid)> {
    let mut cmd = tree.command("setsid");
    clean(&mut cmd).args(["-f", "sh", "-c", "sleep 600; true"]);
    if guard == Guard::Tree {
        cmd.env("PDEATHSIG_PPID", anchor.to_string());
    }
    guard.apply(&mut cmd);
    run_bounded(tree, &mut cmd, None, DEATH_TIMEOUT).unwrap();
    let mut found = None;
    wait_until(DEATH_TIMEOUT, || {
        let pids = living_except(tree, &[anchor]);
        let sh = pids.iter().copied().find(|&p| comm(p) == "sh");
        let leaf = pids.iter().copied().find(|&p| comm(p) == "sleep");
        if let (Some(sh), Some(leaf)) = (sh, leaf) {
            found = Some((sh, leaf));
        }
        found.is_some() || (guard != Guard::Tree && pids.is_empty())
    });
    if let Some((sh, leaf)) = found {
        tree.track(sh);
        tree.track(leaf);
    }
    found
}

#[test]
fn process_behind_a_detached_middle_follows_the_anchor() {
    let mut tree = Tree::new();
    let anchor = start_anchor(&mut tree);
    let (middle, leaf) =
        detached_middle(&mut tree, Guard::Tree, anchor).expect("tree: no detached sh and sleep");
    std::thread::sleep(SETTLE);
    assert!(
        alive(middle) && alive(leaf),
        "tree: killed while the anchor lives"
    );
    assert_eq!(parent_of(middle), Some(std::process::id() as Pid));
    assert_eq!(parent_of(leaf), Some(middle));
    assert!(has_watcher(middle) && has_watcher(leaf));
    assert_eq!(kill_reap(anchor), Some(Status::Signaled(libc::SIGKILL)));
    assert!(
        wait_until(AFTER_KILL, || !alive(middle) && !alive(leaf)),
        "tree: the detached middle or its child outlived the anchor"
    );
    println!("FIG detached-middle guard=tree alive_after_1s=2 survivors=0");

    // Control: prctl mode (the usual way: armed against the parent): the
    // middle dies as soon as setsid, its launcher, exits, while the anchor
    // still lives, and its child with it.
    let mut tree = Tree::new();
    let anchor = start_anchor(&mut tree);
    let found = detached_middle(&mut tree, Guard::Prctl, anchor);
    std::thread::sleep(SETTLE);
    let living = living_except(&tree, &[anchor]).len();
    println!("FIG detached-middle guard=prctl alive_after_1s={living} (anchor alive)");
    assert!(alive(anchor));
    assert_eq!(
        living, 0,
        "prctl: the detached middle should have died with its launcher ({found:?})"
    );
}

// ---------------------------------------------------------------------------
// 2. Fork-only children: a C pre-fork helper, honcho, gunicorn,
//    multiprocessing.Pool (fork, spawn, forkserver).

/// The venv with honcho and gunicorn, installed once per test run (a lock
/// file orders concurrent test processes); `Err` (why) without network.
fn venv() -> Result<PathBuf, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(make_venv).clone()
}

fn make_venv() -> Result<PathBuf, String> {
    let dir = tmpdir().join("tree-venv");
    let done = dir.join(".pdeathsig-installed");
    let lock = File::create(tmpdir().join("tree-venv.lock")).map_err(|e| e.to_string())?;
    let locked = wait_until(Duration::from_secs(600), || {
        // SAFETY: flock on a descriptor that `lock` owns for this call.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
    });
    if !locked {
        return Err("another test process holds the venv lock".into());
    }
    if done.exists() {
        return Ok(dir);
    }
    let mut tree = Tree::new();
    let mut cmd = tree.command("python3");
    clean(&mut cmd).args(["-m", "venv", "--clear"]).arg(&dir);
    run_bounded(&mut tree, &mut cmd, None, Duration::from_secs(120))
        .map_err(|e| format!("python3 -m venv (apt-get install python3-venv?): {e}"))?;
    let mut cmd = tree.command(dir.join("bin/python3"));
    clean(&mut cmd).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--timeout",
        "20",
        "--retries",
        "1",
        "honcho",
        "gunicorn",
    ]);
    run_bounded(&mut tree, &mut cmd, None, Duration::from_secs(300))
        .map_err(|e| format!("pip install honcho gunicorn: {e}"))?;
    File::create(&done).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Where the tool's top is, relative to the anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Top {
    /// The anchor is a spawn helper whose child is the tool's top
    /// (`spawn --handoff -- env LD_PRELOAD=... tool`); the anchor is killed.
    Below,
    /// The tool's top is the anchor itself (`sh -c 'export
    /// PDEATHSIG_PPID=$$; exec tool'`); the top is killed.
    IsAnchor,
}

/// A tool to run: its command line for the ports given, how many ports,
/// and whether it prints "ready".
/// A tool's command line for the ports given, in its scratch directory.
type Argv = Box<dyn Fn(&[u16], &Path) -> Vec<OsString>>;

struct Tool {
    name: &'static str,
    argv: Argv,
    ports: usize,
    ready_line: bool,
    /// Processes below the tool's top once it is up.
    workers: usize,
}

struct Run {
    label: String,
    guard: Guard,
    top: Top,
    tree: Tree,
    launcher: Child,
    /// The process this run SIGKILLs (the anchor, or the top).
    victim: Pid,
    ports: Vec<u16>,
    home: PathBuf,
    procs: usize,
    comms: Vec<String>,
    watched: usize,
    survivors: Option<usize>,
    gone_after: Option<Duration>,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn launch(tool: &Tool, guard: Guard, top: Top) -> Run {
    let mut tree = Tree::new();
    let ports: Vec<u16> = (0..tool.ports).map(|_| free_port()).collect();
    let label = format!(
        "{}/{}/{}",
        tool.name,
        guard.name(),
        match top {
            Top::Below => "anchor-above",
            Top::IsAnchor => "top-is-anchor",
        }
    );
    let home = scratch(&format!("home-{}", tool.name));
    let argv = (tool.argv)(&ports, &home);
    let mut cmd = match top {
        Top::Below => {
            let mut cmd = tree.command(spawn_bin());
            clean(&mut cmd).args(["--handoff", "--", "env"]);
            cmd.args(guard.vars().iter().map(|(k, v)| format!("{k}={v}")));
            cmd.args(&argv);
            cmd
        }
        Top::IsAnchor => {
            let mut cmd = tree.command("sh");
            clean(&mut cmd)
                .args(["-c", "export PDEATHSIG_PPID=$$; exec \"$@\"", "sh"])
                .args(&argv);
            guard.apply(&mut cmd);
            cmd
        }
    };
    cmd.env("HOME", &home)
        .current_dir(&home)
        .stdin(Stdio::null())
        .stderr(File::create(home.join("stderr")).unwrap());
    let launcher = tree.spawn(piped(&mut cmd));
    let victim = launcher.id() as Pid;
    Run {
        label,
        guard,
        top,
        tree,
        launcher,
        victim,
        ports,
        home,
        procs: 0,
        comms: Vec::new(),
        watched: 0,
        survivors: None,
        gone_after: None,
    }
}

/// Waits (bounded) until the tool is up: "ready" printed, ports
/// listening, its workers started. Records what runs, and tracks it.
fn wait_ready(run: &mut Run, tool: &Tool) {
    let deadline = Instant::now() + START_TIMEOUT;
    if tool.ready_line {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if read_line(&mut run.launcher, left).trim() == "ready" {
                break;
            }
        }
    }
    for &port in &run.ports {
        let up = wait_until(deadline.saturating_duration_since(Instant::now()), || {
            port_listening(port)
        });
        assert!(
            up,
            "{}: port {port} not listening; {}",
            run.label,
            stderr_of(run)
        );
    }
    let want = tool.workers + usize::from(run.top == Top::Below);
    let victim = run.victim;
    let mut below = Vec::new();
    let up = wait_until(deadline.saturating_duration_since(Instant::now()), || {
        below = living_except(&run.tree, &[victim]);
        below.len() >= want
    });
    assert!(
        up,
        "{}: {} processes below the victim, want {want}; {}",
        run.label,
        below.len(),
        stderr_of(run)
    );
    // A fork child starts its watcher without waiting: give it a moment
    // before counting watchers (the kill does not wait for it).
    if run.guard != Guard::Unguarded {
        wait_until(Duration::from_secs(2), || {
            living_except(&run.tree, &[victim])
                .iter()
                .all(|&p| has_watcher(p))
        });
    }
    let below = living_except(&run.tree, &[victim]);
    run.procs = below.len();
    run.comms = below.iter().map(|&p| comm(p)).collect();
    run.watched = below.iter().filter(|&&p| has_watcher(p)).count();
    for pid in below {
        run.tree.track(pid);
    }
}

fn stderr_of(run: &Run) -> String {
    let text = std::fs::read_to_string(run.home.join("stderr")).unwrap_or_default();
    let tail: String = text
        .chars()
        .rev()
        .take(1500)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("stderr: {tail}")
}

/// Runs `tool` in every combination of `guards` x `tops` at once, SIGKILLs
/// every victim, and counts survivors 2 s later. Prints one FIG line each.
fn kill_and_count(tool: &Tool, plan: &[(Guard, Top)]) -> Vec<Run> {
    let mut runs: Vec<Run> = plan.iter().map(|&(g, t)| launch(tool, g, t)).collect();
    for run in &mut runs {
        wait_ready(run, tool);
    }
    let killed = Instant::now();
    for run in &runs {
        kill(run.victim);
    }
    for run in &runs {
        assert!(
            wait_status(run.victim, DEATH_TIMEOUT).is_some(),
            "{}: the victim was not reaped",
            run.label
        );
    }
    while killed.elapsed() < AFTER_KILL {
        for run in &mut runs {
            if run.gone_after.is_none() && run.tree.living().is_empty() {
                run.gone_after = Some(killed.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for run in &mut runs {
        let survivors = run.tree.living();
        for &pid in &survivors {
            run.tree.track(pid);
        }
        run.survivors = Some(survivors.len());
        let ports_free = run.ports.iter().all(|&p| port_free(p));
        println!(
            "FIG {} procs_below_victim={} {:?} with_watcher={} survivors={} ports_free={} all_gone_after_ms={}",
            run.label,
            run.procs,
            run.comms,
            run.watched,
            survivors.len(),
            ports_free,
            run.gone_after
                .map_or("-".to_string(), |d| d.as_millis().to_string()),
        );
    }
    runs
}

fn survivors(runs: &[Run], guard: Guard, top: Top) -> usize {
    runs.iter()
        .find(|r| r.guard == guard && r.top == top)
        .and_then(|r| r.survivors)
        .unwrap()
}

fn ports_free(runs: &[Run], guard: Guard, top: Top) -> bool {
    let run = runs
        .iter()
        .find(|r| r.guard == guard && r.top == top)
        .unwrap();
    run.ports.iter().all(|&p| port_free(p))
}

/// Every tool runs in these six ways at once. With the anchor above the
/// tool (SIGKILL of the anchor): tree mode, and prctl mode for comparison.
/// With the tool's top as the anchor (SIGKILL of the top, the issue's
/// case): tree, prctl and process mode, and no guard at all.
const PLAN: &[(Guard, Top)] = &[
    (Guard::Tree, Top::Below),
    (Guard::Prctl, Top::Below),
    (Guard::Tree, Top::IsAnchor),
    (Guard::Prctl, Top::IsAnchor),
    (Guard::Process, Top::IsAnchor),
    (Guard::Unguarded, Top::IsAnchor),
];

/// The checks every tool gets (the FIG lines have the figures).
/// `survive_top_kill`: the controls whose SIGKILL of the top leaves
/// survivors (workers that nothing arms and that do not notice by
/// themselves): the gap tree mode closes.
fn check(tool: &Tool, runs: &[Run], survive_top_kill: &[Guard]) {
    assert_eq!(
        survivors(runs, Guard::Tree, Top::Below),
        0,
        "{}: tree mode left survivors 2 s after the anchor's SIGKILL",
        tool.name
    );
    assert!(
        ports_free(runs, Guard::Tree, Top::Below),
        "{}: tree mode: ports held after the anchor's SIGKILL",
        tool.name
    );
    assert_eq!(
        survivors(runs, Guard::Tree, Top::IsAnchor),
        0,
        "{}: tree mode left survivors 2 s after SIGKILL of the top (the anchor)",
        tool.name
    );
    assert!(
        ports_free(runs, Guard::Tree, Top::IsAnchor),
        "{}: tree mode: ports held after SIGKILL of the top",
        tool.name
    );
    {
        for &guard in survive_top_kill {
            assert!(
                survivors(runs, guard, Top::IsAnchor) > 0,
                "{}: control {}: SIGKILL of the top should leave survivors",
                tool.name,
                guard.name()
            );
        }
    }
}

fn forker_tool() -> Tool {
    let bin = c_helper("tree_forker.c", "tree_forker", &[]);
    Tool {
        name: "c-forker",
        argv: Box::new(move |_, _| vec![bin.clone().into(), "3".into()]),
        ports: 0,
        ready_line: true,
        workers: 3,
    }
}

#[test]
fn fork_only_children_of_a_c_program() {
    let tool = forker_tool();
    let runs = kill_and_count(&tool, PLAN);
    check(
        &tool,
        &runs,
        &[Guard::Prctl, Guard::Process, Guard::Unguarded],
    );
    let tree = runs
        .iter()
        .find(|r| r.guard == Guard::Tree && r.top == Top::Below)
        .unwrap();
    assert_eq!(
        tree.watched, tree.procs,
        "every fork child should run a watcher"
    );
}

/// The tool's top is the anchor (`PDEATHSIG_PPID=$$; exec tool`) and its
/// children are forked without exec: they follow the top as every other
/// process of the tree does (the anchor watches nothing itself, but its
/// pthread_atfork handler gives each fork child a watcher on it).
#[test]
fn top_as_anchor_fork_children_follow_it() {
    let tool = forker_tool();
    let runs = kill_and_count(&tool, &[(Guard::Tree, Top::IsAnchor)]);
    assert_eq!(survivors(&runs, Guard::Tree, Top::IsAnchor), 0);
}

/// The venv, or `None` after printing why the test is skipped.
fn venv_or_skip(test: &str) -> Option<PathBuf> {
    match venv() {
        Ok(v) => Some(v),
        Err(e) => {
            println!("SKIP {test}: {e}");
            None
        }
    }
}

#[test]
fn honcho_procfile_of_two_servers() {
    let Some(venv) = venv_or_skip("honcho_procfile_of_two_servers") else {
        return;
    };
    let argv = move |ports: &[u16], home: &Path| {
        let py = venv.join("bin/python3");
        let procfile: String = ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                format!(
                    "web{i}: {} -m http.server --bind 127.0.0.1 {port}\n",
                    py.display()
                )
            })
            .collect();
        std::fs::write(home.join("Procfile"), procfile).unwrap();
        vec![
            py.clone().into(),
            venv.join("bin/honcho").into(),
            "--no-colour".into(),
            "-f".into(),
            home.join("Procfile").into(),
            "start".into(),
        ]
    };
    let tool = Tool {
        name: "honcho",
        argv: Box::new(argv),
        ports: 2,
        ready_line: false,
        workers: 2,
    };
    let runs = kill_and_count(&tool, PLAN);
    check(&tool, &runs, &[Guard::Prctl, Guard::Unguarded]);
}

#[test]
fn gunicorn_with_two_sync_workers() {
    let Some(venv) = venv_or_skip("gunicorn_with_two_sync_workers") else {
        return;
    };
    let argv = move |ports: &[u16], home: &Path| {
        std::fs::write(
            home.join("tree_app.py"),
            "def app(environ, start_response):\n    \
             start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
             return [b'ok\\n']\n",
        )
        .unwrap();
        vec![
            venv.join("bin/python3").into(),
            venv.join("bin/gunicorn").into(),
            "--chdir".into(),
            home.into(),
            "--workers".into(),
            "2".into(),
            "--worker-class".into(),
            "sync".into(),
            "--bind".into(),
            format!("127.0.0.1:{}", ports[0]).into(),
            "tree_app:app".into(),
        ]
    };
    let tool = Tool {
        name: "gunicorn",
        argv: Box::new(argv),
        ports: 1,
        ready_line: false,
        workers: 2,
    };
    let runs = kill_and_count(&tool, PLAN);
    check(
        &tool,
        &runs,
        &[Guard::Prctl, Guard::Process, Guard::Unguarded],
    );
}

/// `python3 tests/helpers/tree_pool.py METHOD` with `python`: a Pool(2).
fn pool_tool(python: PathBuf, method: &'static str, name: &'static str) -> Tool {
    let script = workspace_root().join("tests/helpers/tree_pool.py");
    Tool {
        name,
        argv: Box::new(move |_, _| {
            vec![
                python.clone().into(),
                "-W".into(),
                "always::DeprecationWarning".into(),
                script.clone().into(),
                method.into(),
            ]
        }),
        ports: 0,
        ready_line: true,
        workers: 2,
    }
}

/// DeprecationWarning lines the runs' Python printed (3.12+ warns about
/// fork() in a multi-threaded process).
fn fork_warnings(runs: &[Run]) {
    for run in runs {
        let text = std::fs::read_to_string(run.home.join("stderr")).unwrap_or_default();
        let line = text
            .lines()
            .find(|l| l.contains("DeprecationWarning") && l.contains("fork"));
        println!(
            "FIG {} fork_deprecation_warning={} {}",
            run.label,
            line.is_some(),
            line.unwrap_or("").trim()
        );
    }
}

/// A `multiprocessing.Pool(2)` with start method `method`, killed and
/// counted under every guard of the plan. `None` when the venv is missing.
fn pool_case(
    test: &str,
    method: &'static str,
    name: &'static str,
    survive_top_kill: &[Guard],
) -> Option<Vec<Run>> {
    let venv = venv_or_skip(test)?;
    let tool = pool_tool(venv.join("bin/python3"), method, name);
    let runs = kill_and_count(&tool, PLAN);
    check(&tool, &runs, survive_top_kill);
    Some(runs)
}

#[test]
fn multiprocessing_pool_fork() {
    let all_controls = [Guard::Prctl, Guard::Process, Guard::Unguarded];
    if let Some(runs) = pool_case(
        "multiprocessing_pool_fork",
        "fork",
        "mp-fork",
        &all_controls,
    ) {
        fork_warnings(&runs);
    }
}

#[test]
fn multiprocessing_pool_spawn() {
    pool_case(
        "multiprocessing_pool_spawn",
        "spawn",
        "mp-spawn",
        &[Guard::Unguarded],
    );
}

#[test]
fn multiprocessing_pool_forkserver() {
    let all_controls = [Guard::Prctl, Guard::Process, Guard::Unguarded];
    pool_case(
        "multiprocessing_pool_forkserver",
        "forkserver",
        "mp-forkserver",
        &all_controls,
    );
}

/// Python 3.12+ warns (DeprecationWarning) when os.fork() runs in a
/// multi-threaded process; tree mode's watcher thread makes every process
/// multi-threaded. Runs the fork pool with a 3.12+ interpreter if there is
/// one (`python3.13`, `python3.12` on PATH) and records the warning.
#[test]
fn python312_fork_warning_under_tree_mode() {
    let mut tree = Tree::new();
    let mut python = None;
    let mut candidates: Vec<PathBuf> = vec!["python3.13".into(), "python3.12".into()];
    // pyenv's interpreters that its shims do not select.
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(std::env::var_os("HOME")?).join(".pyenv")));
    if let Some(Ok(versions)) = pyenv.map(|p| std::fs::read_dir(p.join("versions"))) {
        let mut found: Vec<PathBuf> = versions
            .filter_map(|e| Some(e.ok()?.path().join("bin/python3")))
            .filter(|p| p.exists())
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    for candidate in candidates {
        let mut cmd = tree.command(&candidate);
        clean(&mut cmd).args([
            "-c",
            "import sys; print(sys.executable if sys.version_info >= (3, 12) else '')",
        ]);
        if let Ok(out) = run_bounded(&mut tree, &mut cmd, None, Duration::from_secs(20)) {
            if !out.trim().is_empty() {
                python = Some(PathBuf::from(out.trim()));
                break;
            }
        }
    }
    let Some(python) = python else {
        println!("SKIP python312_fork_warning_under_tree_mode: no Python 3.12+ interpreter");
        return;
    };
    println!("FIG python312 interpreter={}", python.display());
    let tool = pool_tool(python, "fork", "mp-fork-py3.12+");
    let runs = kill_and_count(
        &tool,
        &[(Guard::Tree, Top::Below), (Guard::Prctl, Top::Below)],
    );
    fork_warnings(&runs);
    assert_eq!(survivors(&runs, Guard::Tree, Top::Below), 0);
}

// ---------------------------------------------------------------------------
// 3. Detached processes: kept while the anchor lives, gone with it.

/// Runs the launcher `argv` armed as `guard` (tree mode: against
/// `anchor`), with `input` on its stdin, to its end; then waits for the
/// processes it left behind (`want` of them, at most 5 s) and returns them.
fn launch_detached(
    tree: &mut Tree,
    guard: Guard,
    anchor: Pid,
    argv: &[OsString],
    input: Option<&[u8]>,
    want: usize,
    wait: Duration,
) -> Vec<Pid> {
    let mut cmd = tree.command(&argv[0]);
    clean(&mut cmd).args(&argv[1..]);
    if guard == Guard::Tree {
        cmd.env("PDEATHSIG_PPID", anchor.to_string());
    }
    guard.apply(&mut cmd);
    run_bounded(tree, &mut cmd, input, DEATH_TIMEOUT).unwrap();
    // The set seen when the condition held: a second look could catch a
    // process in the middle of its exec, whose /proc/PID/environ (the tag)
    // reads empty for a moment (longer on a loaded machine).
    let mut left = Vec::new();
    wait_until(wait, || {
        left = living_except(tree, &[anchor]);
        left.len() >= want
    });
    for &pid in &left {
        tree.track(pid);
    }
    left
}

/// A detached launch, under tree mode and under prctl mode (the control).
struct Detached<'a> {
    name: &'a str,
    argv: Vec<OsString>,
    input: Option<&'a [u8]>,
    /// Processes the launch leaves running (under tree mode).
    want: usize,
    /// Checks made while the anchor lives (the credential daemon answers).
    while_alive: &'a dyn Fn() -> bool,
    /// Does the prctl control kill the detached processes at the
    /// launcher's exit (exec'd, so armed against the launcher)? Otherwise
    /// (fork-only) prctl never arms them and they outlive the anchor.
    prctl_kills_at_launch: bool,
}

/// A detached case launched under `guard` against a fresh anchor, and what
/// is left alive once the launcher is done and things settled.
struct Launched {
    tree: Tree,
    anchor: Pid,
    left: Vec<Pid>,
    alive_now: usize,
}

fn launch_case(case: &Detached, guard: Guard, timeout: Duration) -> Launched {
    let mut tree = Tree::new();
    let anchor = start_anchor(&mut tree);
    let left = launch_detached(
        &mut tree, guard, anchor, &case.argv, case.input, case.want, timeout,
    );
    std::thread::sleep(SETTLE);
    let alive_now = left.iter().filter(|&&p| alive(p)).count();
    Launched {
        tree,
        anchor,
        left,
        alive_now,
    }
}

fn detached_case(case: &Detached) {
    let Launched {
        tree,
        anchor,
        left,
        alive_now,
    } = launch_case(case, Guard::Tree, DEATH_TIMEOUT);
    let watched = left.iter().filter(|&&p| has_watcher(p)).count();
    let comms: Vec<String> = left.iter().map(|&p| comm(p)).collect();
    assert_eq!(
        left.len(),
        case.want,
        "{}: tree: want {} detached processes, found {comms:?}",
        case.name,
        case.want
    );
    assert_eq!(
        alive_now, case.want,
        "{}: tree: killed while the anchor lives",
        case.name
    );
    let answered = (case.while_alive)();
    assert!(
        answered,
        "{}: tree: the detached process does not answer",
        case.name
    );
    let killed = Instant::now();
    assert_eq!(kill_reap(anchor), Some(Status::Signaled(libc::SIGKILL)));
    let gone = wait_until(AFTER_KILL, || left.iter().all(|&p| !alive(p)));
    let took = killed.elapsed();
    println!(
        "FIG detached {} guard=tree procs={comms:?} with_watcher={watched} alive_after_1s={alive_now} answers={answered} survivors={} gone_after_ms={}",
        case.name,
        left.iter().filter(|&&p| alive(p)).count(),
        took.as_millis()
    );
    assert!(gone, "{}: tree: outlived the anchor by 2 s", case.name);
    assert!(
        has_watcher_count_ok(watched, case.want),
        "{}: tree: {watched}/{} watched",
        case.name,
        case.want
    );
    drop(tree);

    // Control: prctl mode, armed against the parent as usual.
    let Launched {
        tree,
        anchor,
        alive_now,
        ..
    } = launch_case(case, Guard::Prctl, SETTLE);
    let answered = (case.while_alive)();
    assert_eq!(kill_reap(anchor), Some(Status::Signaled(libc::SIGKILL)));
    std::thread::sleep(if alive_now > 0 {
        AFTER_KILL
    } else {
        Duration::ZERO
    });
    let survivors = living_except(&tree, &[anchor]).len();
    println!(
        "FIG detached {} guard=prctl alive_after_1s={alive_now} (anchor alive) answers={answered} survivors_after_anchor_kill={survivors}",
        case.name
    );
    if case.prctl_kills_at_launch {
        // Armed against its launcher, the detached process dies when the
        // launcher exits; or, when its direct parent was already gone
        // when it armed (a double fork under load) and the launcher still
        // lived, the verdict cannot tell adoption from a stamp that came
        // another way, arms against the reaper without a signal, and then
        // outlives the anchor. Either way it does not do what tree mode
        // does: live while the anchor lives and die with it.
        assert!(
            alive_now == 0 || survivors > 0,
            "{}: prctl: the detached process lived while the anchor lived and died with it, \
             as only tree mode should",
            case.name
        );
    } else {
        assert!(
            survivors > 0,
            "{}: prctl: a fork-only daemon is never armed: it should outlive the anchor",
            case.name
        );
    }
}

/// Every detached process runs a watcher.
fn has_watcher_count_ok(watched: usize, want: usize) -> bool {
    watched == want
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

#[test]
fn detached_setsid_f() {
    detached_case(&Detached {
        name: "setsid-f",
        argv: os(&["setsid", "-f", "sleep", "600"]),
        input: None,
        want: 1,
        while_alive: &|| true,
        prctl_kills_at_launch: true,
    });
}

#[test]
fn detached_nohup_background() {
    detached_case(&Detached {
        name: "nohup",
        argv: os(&["sh", "-c", "nohup sleep 600 >/dev/null 2>&1 &"]),
        input: None,
        want: 1,
        while_alive: &|| true,
        prctl_kills_at_launch: true,
    });
}

#[test]
fn detached_double_fork_daemon() {
    let bin = c_helper("tree_daemon.c", "tree_daemon", &[]);
    let dir = scratch("daemon");
    // The daemon execs sleep: prctl arms it against its launcher.
    let mut argv = vec![bin.clone().into_os_string(), dir.join("pid-exec").into()];
    argv.extend(os(&["sleep", "600"]));
    detached_case(&Detached {
        name: "double-fork-exec",
        argv,
        input: None,
        want: 1,
        while_alive: &|| true,
        prctl_kills_at_launch: true,
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The daemon is a fork of a fork, no exec: only the pthread_atfork
/// handler gives it a watcher. 20 daemons against one anchor: each should
/// run a watcher while the anchor lives and be gone 2 s after its SIGKILL.
/// (It once failed 8 times in 20: the middle forked the daemon before its
/// own watcher had published itself, and the daemon's child handler
/// returned early. The child handler now decides by what the parent set
/// before any thread started.) The prctl control never arms such a daemon
/// (no exec, fork clears PR_SET_PDEATHSIG): it outlives the anchor every
/// time.
#[test]
fn detached_double_fork_daemon_without_exec() {
    const TRIALS: usize = 20;
    let bin = c_helper("tree_daemon.c", "tree_daemon", &[]);
    let dir = scratch("daemon-fork");
    for guard in [Guard::Prctl, Guard::Tree] {
        let mut tree = Tree::new();
        let anchor = start_anchor(&mut tree);
        let mut daemons = Vec::new();
        for i in 0..TRIALS {
            let pidfile = dir.join(format!("{}-{i}", guard.name()));
            let mut cmd = tree.command(&bin);
            clean(&mut cmd).arg(&pidfile);
            if guard == Guard::Tree {
                cmd.env("PDEATHSIG_PPID", anchor.to_string());
            }
            guard.apply(&mut cmd);
            run_bounded(&mut tree, &mut cmd, None, DEATH_TIMEOUT).unwrap();
            let mut pid = None;
            wait_until(DEATH_TIMEOUT, || {
                pid = std::fs::read_to_string(&pidfile)
                    .ok()
                    .and_then(|s| s.trim().parse::<Pid>().ok());
                pid.is_some()
            });
            let pid = pid.expect("no pid file from the daemon");
            tree.track(pid);
            daemons.push(pid);
        }
        std::thread::sleep(SETTLE);
        let alive_now = daemons.iter().filter(|&&p| alive(p)).count();
        let watched = daemons.iter().filter(|&&p| has_watcher(p)).count();
        assert_eq!(kill_reap(anchor), Some(Status::Signaled(libc::SIGKILL)));
        std::thread::sleep(AFTER_KILL);
        let survivors = daemons.iter().filter(|&&p| alive(p)).count();
        println!(
            "FIG detached double-fork-only guard={} daemons={TRIALS} alive_after_1s={alive_now} with_watcher={watched} survivors={survivors}",
            guard.name()
        );
        if guard == Guard::Tree {
            assert_eq!(
                alive_now, TRIALS,
                "tree: daemons killed while the anchor lives"
            );
            assert_eq!(watched, TRIALS, "tree: daemons without a watcher");
            assert_eq!(survivors, 0, "tree: daemons outlived the anchor");
        } else {
            assert_eq!(
                survivors, TRIALS,
                "prctl: a fork-only daemon is never armed"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn detached_git_credential_cache_daemon() {
    let mut probe = Tree::new();
    let mut cmd = probe.command("git");
    clean(&mut cmd).arg("--version");
    if let Err(e) = run_bounded(&mut probe, &mut cmd, None, Duration::from_secs(20)) {
        println!("SKIP detached_git_credential_cache_daemon: git: {e}");
        return;
    }
    drop(probe);
    let dir = scratch("git");
    // git refuses a socket directory that others may read.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let socket = dir.join("sock");
    let get = || {
        let mut tree = Tree::new();
        let mut cmd = tree.command("git");
        clean(&mut cmd)
            .args(["credential-cache", "--socket"])
            .arg(&socket)
            .arg("get");
        run_bounded(
            &mut tree,
            &mut cmd,
            Some(b"protocol=https\nhost=example.invalid\n\n"),
            DEATH_TIMEOUT,
        )
        .is_ok_and(|out| out.contains("password=p\n"))
    };
    let mut argv = os(&["git", "credential-cache", "--timeout", "600", "--socket"]);
    argv.push(socket.clone().into());
    argv.push("store".into());
    detached_case(&Detached {
        name: "git-credential-cache",
        argv,
        input: Some(b"protocol=https\nhost=example.invalid\nusername=u\npassword=p\n\n"),
        want: 1,
        while_alive: &get,
        prctl_kills_at_launch: true,
    });
    let _ = std::fs::remove_dir_all(&dir);
}
