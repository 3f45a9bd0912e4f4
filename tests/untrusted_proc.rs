//! A `/proc` that cannot be trusted never convicts. When `getppid()` is not
//! the stamped pid, the verdict walks `/proc` (src/verdict.rs); if that
//! `/proc` is another PID namespace's (`unshare -p` without `--mount-proc`:
//! `/proc/self/stat` does not name `getpid()`) or hides the process tree
//! (`hidepid=`), the process is armed against its current parent without
//! signalling itself (`Armed::Unverified`), and the load-time constructor
//! prints one line on stderr: `pdeathsig: cannot verify that parent process
//! ...` with the reason. Before that rule, such processes killed themselves
//! at start-up.
//!
//! Real processes under LD_PRELOAD, each test with a control:
//!
//! - a foreign `/proc` in a new PID namespace: the process lives, warns,
//!   and ends with the namespace; control (a test of its own, run several
//!   times: its outcome depends on timing): the same tree with
//!   `--mount-proc` lives and does not warn;
//! - a stamp naming a dead process, seen through a foreign `/proc`: the
//!   process lives, warns, and still dies of SIGTERM with its parent;
//!   control: with `--mount-proc` (a `/proc` it trusts) the same stamp is a
//!   death, and the process SIGTERMs itself at start-up: the untrusted
//!   `/proc` alone changes the verdict;
//! - `hidepid=2` in a private mount namespace, the leaf unprivileged and
//!   its root-owned parent not the stamped process: it lives, warns, and
//!   dies of SIGTERM with its parent; control: a fresh `/proc` without
//!   `hidepid`: it lives, finds the stamped process as an ancestor, no
//!   warning, and dies with its parent.
//!
//! Needs root and unshare(1) (util-linux); the hidepid test also needs
//! Linux 5.8 or later (a `/proc` mount of its own: on older kernels a mount
//! in the same PID namespace would change the machine's `/proc` options).
//! Where that is missing, each test prints `SKIP <test>: <reason>` (see
//! support::skip) and returns.
// Children are reaped by pid (waitid in support::wait_status, or the Tree's
// cleanup on drop), which this lint cannot see.
#![allow(clippy::zombie_processes)]
mod support;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::*;

/// Long enough for a process that would kill itself at start-up to have
/// done so (it does that in its constructor, within milliseconds).
const SETTLE: Duration = Duration::from_millis(500);
/// The start of the line the constructor prints for `Armed::Unverified`.
const CANNOT_VERIFY: &str = "pdeathsig: cannot verify that parent process";
/// `UnverifiedReason::ProcNotOurs`, as the line names it.
const NOT_OURS: &str = "/proc is not this PID namespace's";
/// `UnverifiedReason::ProcUnreadable`, as the line names it.
const HIDDEN: &str = "/proc hides the process tree";
/// The unprivileged user the hidepid leaf runs as (nobody).
const NOBODY: u32 = 65534;

fn spawn_static() -> PathBuf {
    c_helper("spawn.c", "spawn-static", &["-static"])
}

/// Drops to a uid and execs, linked statically: no preload, no re-stamp.
fn setuid_static() -> PathBuf {
    c_helper("untrusted_setuid.c", "untrusted_setuid", &["-static"])
}

/// Root and unshare(1), or a reason to skip.
fn missing_privileges(tree: &mut Tree) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (namespaces, mount, setuid)".into());
    }
    let mut cmd = tree.command("unshare");
    clean(&mut cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match cmd.spawn() {
        Ok(child) => {
            let pid = child.id() as Pid;
            tree.track(pid);
            if wait_status(pid, DEATH_TIMEOUT) != Some(Status::Exited(0)) {
                return Some("unshare --version failed".into());
            }
            None
        }
        Err(e) => Some(format!(
            "unshare(1) not found ({e}): apt-get install util-linux"
        )),
    }
}

/// Runs a probe command (no preload) to its end, bounded: `None` when it
/// exits 0, else what went wrong (its stderr), for a SKIP line.
fn probe(tree: &mut Tree, args: &[&str]) -> Option<String> {
    let err = Captured::new("probe");
    let mut cmd = tree.command(args[0]);
    clean(&mut cmd)
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(err.stdio());
    let pid = tree.spawn(&mut cmd).id() as Pid;
    match wait_status(pid, DEATH_TIMEOUT) {
        Some(Status::Exited(0)) => None,
        status => Some(format!(
            "`{}` ended {status:?}: {}",
            args.join(" "),
            err.read().trim()
        )),
    }
}

/// A file under CARGO_TARGET_TMPDIR that a process tree's stderr goes to
/// (a file, not a pipe: reading it never waits for the writers to end).
/// Removed on drop.
struct Captured {
    path: PathBuf,
}

impl Captured {
    fn new(what: &str) -> Captured {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "untrusted_proc-{}-{n}-{what}.stderr",
            std::process::id()
        ));
        File::create(&path).unwrap();
        Captured { path }
    }

    fn stdio(&self) -> Stdio {
        Stdio::from(File::options().append(true).open(&self.path).unwrap())
    }

    fn read(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.path).unwrap()).into_owned()
    }

    /// The lines pdeathsig printed.
    fn pdeathsig_lines(&self) -> Vec<String> {
        self.read()
            .lines()
            .filter(|l| l.starts_with("pdeathsig"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The value of a `Key:` line of /proc/PID/status, split at whitespace.
fn status_field(pid: Pid, key: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// NSpid: the pid in each PID namespace, outermost first.
fn nspid(pid: Pid) -> Vec<Pid> {
    status_field(pid, "NSpid")
        .iter()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// The real uid.
fn uid_of(pid: Pid) -> Option<u32> {
    status_field(pid, "Uid").first()?.parse().ok()
}

/// /proc/PID/stat fields after the command name: `[0]` is field 3 (state).
fn stat_fields(pid: Pid) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// How a zombie we cannot reap (its parent is not us, and does not reap it
/// either) ended: field 52 of /proc/PID/stat, `exit_code`, in waitpid(2)'s
/// form. `None` while it runs, or once it is gone.
fn zombie_status(pid: Pid) -> Option<Status> {
    let fields = stat_fields(pid)?;
    if fields.first()? != "Z" {
        return None;
    }
    let code: i32 = fields.get(52 - 3)?.parse().ok()?;
    Some(if code & 0x7f == 0 {
        Status::Exited((code >> 8) & 0xff)
    } else {
        Status::Signaled(code & 0x7f)
    })
}

/// The children of `parent`, zombies included (support's descendants()
/// leaves zombies out).
fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&pid| parent_of(pid) == Some(parent))
        .collect()
}

/// Waits (bounded) for the one child of `parent`.
fn wait_child(parent: Pid) -> Pid {
    let deadline = Instant::now() + DEATH_TIMEOUT;
    loop {
        if let [child] = children_of(parent)[..] {
            return child;
        }
        assert!(Instant::now() < deadline, "no child of {parent}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn comm(pid: Pid) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// Waits (bounded) until `pid` has run `name` (alive or a zombie by then).
fn wait_ran(pid: Pid, name: &str) -> bool {
    let deadline = Instant::now() + DEATH_TIMEOUT;
    while Instant::now() < deadline {
        if comm(pid) == name {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// The pid in the `PDEATHSIG_PPID` of `pid`'s environment.
fn stamp(pid: Pid) -> Option<Pid> {
    stamp_pid(&proc_env(pid, "PDEATHSIG_PPID")?)
}

fn namespace(pid: Pid, kind: &str) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap()
}

/// The options of the last `/proc` mount in /proc/PID/mountinfo: the one
/// that process sees (a fresh mount stacks over the machine's).
fn proc_options(pid: Pid) -> String {
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    info.lines()
        .rfind(|l| l.split(' ').nth(4) == Some("/proc"))
        .unwrap_or_else(|| panic!("no /proc mount seen by {pid}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned()
}

fn hides(options: &str) -> bool {
    options
        .split(',')
        .any(|o| o == "hidepid=2" || o == "hidepid=invisible")
}

/// The whole command preloaded with PDEATHSIG=TERM, as a user would set it.
fn preload(cmd: &mut Command) -> &mut Command {
    cmd.env("LD_PRELOAD", preload_lib())
        .env("PDEATHSIG", "TERM")
}

/// Skips (true) unless this machine gives root a new PID namespace.
fn no_pid_namespace(test: &str, tree: &mut Tree) -> bool {
    if let Some(reason) = missing_privileges(tree) {
        skip(test, &reason);
        return true;
    }
    if let Some(reason) = probe(tree, &["unshare", "--pid", "--fork", "--", "true"]) {
        skip(test, &format!("no new PID namespace here: {reason}"));
        return true;
    }
    false
}

#[test]
fn foreign_proc_in_a_pid_namespace_does_not_convict() {
    let mut tree = Tree::new();
    if no_pid_namespace(
        "foreign_proc_in_a_pid_namespace_does_not_convict",
        &mut tree,
    ) {
        return;
    }
    let trial = pid_namespace_trial(&mut tree, false);
    eprintln!("case: {trial}");
    assert!(
        trial.alive,
        "sleep in the PID namespace died at start-up ({:?}): a foreign /proc convicted; \
         stderr: {:?}",
        trial.status, trial.stderr
    );
    let expected = format!(
        "{CANNOT_VERIFY} {} is alive ({NOT_OURS}); armed against the current parent 1, \
         no signal sent",
        trial.unshare
    );
    assert_eq!(trial.lines, [expected], "stderr: {:?}", trial.stderr);
    assert!(trial.ended_with_init, "sleep outlived its namespace's init");
}

/// How many times the control runs: its failure depends on timing (the
/// namespace's init starting in the stamp's clock tick, most of the time
/// here), so one trial could pass by luck.
const CONTROL_TRIALS: usize = 5;

#[test]
fn own_proc_in_a_pid_namespace_control() {
    // The control of the test above: the same tree with --mount-proc, where
    // /proc is the namespace's own. The namespace's init started after
    // unshare wrote the stamp, so it inherited it (rule 5): sleep lives.
    // When the init starts in the stamp's own clock tick (most trials
    // here), pid order would decide, but the init's pid inside (1) and
    // unshare's pid outside do not compare: the verdict is "unverified",
    // sleep lives and says so in one line. (Found convicting, i.e. sleep
    // SIGTERMing itself while its parent lived, when this test was written.)
    let mut tree = Tree::new();
    if no_pid_namespace("own_proc_in_a_pid_namespace_control", &mut tree) {
        return;
    }
    let trials: Vec<PidnsTrial> = (0..CONTROL_TRIALS)
        .map(|_| pid_namespace_trial(&mut tree, true))
        .collect();
    for trial in &trials {
        eprintln!("control: {trial}");
    }
    let failed: Vec<String> = trials
        .iter()
        .filter(|t| {
            let same_tick = format!(
                "{CANNOT_VERIFY} {} is alive (our parent started in the same clock tick as \
                 the stamp); armed against the current parent 1, no signal sent",
                t.unshare
            );
            let said = t.lines.is_empty() || t.lines == [same_tick];
            !t.alive || !said || !t.ended_with_init
        })
        .map(PidnsTrial::to_string)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {CONTROL_TRIALS} trials: sleep, under a /proc of its own, should live and \
         print nothing while its parent (the namespace's init) lives, and end with it:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// One run of `unshare --pid --fork [--mount-proc] -- spawn-static --
/// sleep 60`.
struct PidnsTrial {
    unshare: Pid,
    init: Pid,
    sleep: Pid,
    /// sleep's pid inside the namespace.
    inner: Pid,
    /// The time in the stamp that unshare wrote, and the init's start
    /// time (clock ticks).
    stamp_ticks: Option<u64>,
    init_start: Option<u64>,
    /// sleep alive after SETTLE; else how it ended.
    alive: bool,
    status: Option<Status>,
    /// The lines pdeathsig printed, and all of stderr.
    lines: Vec<String>,
    stderr: String,
    /// sleep was gone once the init was SIGKILLed.
    ended_with_init: bool,
}

impl std::fmt::Display for PidnsTrial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fate = if self.alive {
            format!("alive after {SETTLE:?}")
        } else {
            format!("dead at start-up ({:?})", self.status)
        };
        write!(
            f,
            "unshare {}, init {} (pid 1 inside), sleep {} (pid {} inside) {fate}; \
             stamp written at tick {:?}, init started at tick {:?}; \
             gone with the init: {}; pdeathsig lines: {:?}; stderr: {:?}",
            self.unshare,
            self.init,
            self.sleep,
            self.inner,
            self.stamp_ticks,
            self.init_start,
            self.ended_with_init,
            self.lines,
            self.stderr
        )
    }
}

/// `unshare --pid --fork [--mount-proc] -- spawn-static -- sleep 60`, all
/// preloaded with PDEATHSIG=TERM. unshare arms and stamps its (outer) pid;
/// spawn-static, static, ignores LD_PRELOAD: it becomes pid 1 of the
/// namespace and forks sleep, whose stamp names unshare while its parent
/// is 1: the mismatch path, which reads /proc. Asserts that the scenario
/// is what it should be; reports sleep's fate, then SIGKILLs the init.
fn pid_namespace_trial(tree: &mut Tree, mount_proc: bool) -> PidnsTrial {
    let what = if mount_proc { "control" } else { "case" };
    let err = Captured::new(what);
    let mut cmd = tree.command("unshare");
    clean(&mut cmd).args(["--pid", "--fork"]);
    if mount_proc {
        cmd.arg("--mount-proc");
    }
    cmd.arg("--")
        .arg(spawn_static())
        .args(["--", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(err.stdio());
    preload(&mut cmd);
    let unshare = tree.spawn(&mut cmd).id() as Pid;
    let init = wait_child(unshare);
    tree.track(init);
    let leaf = wait_child(init);
    tree.track(leaf);
    assert!(wait_ran(leaf, "sleep"), "{what}: sleep did not start");

    // The scenario is real: init is pid 1 inside, sleep's pid inside is
    // not its pid outside, and its stamp (inherited through the static
    // init, which did not re-stamp) names unshare, an outer pid.
    assert_eq!(nspid(init).last(), Some(&1), "{what}: init is not pid 1");
    let leaf_pids = nspid(leaf);
    assert_eq!(
        leaf_pids.len(),
        2,
        "{what}: sleep is not in a new PID namespace"
    );
    assert_eq!(leaf_pids[0], leaf);
    assert_ne!(
        leaf_pids[0], leaf_pids[1],
        "{what}: the inner pid is the outer one"
    );
    assert_eq!(stamp(init), Some(unshare), "{what}: unshare did not stamp");
    // sleep may be dead already (in the control): its namespaces are read
    // from its parent, the init, whose children's PID namespace it is in.
    let me = std::process::id() as Pid;
    assert_ne!(namespace(init, "pid_for_children"), namespace(me, "pid"));
    // The /proc that sleep sees: ours (numbered from outside) in the case,
    // the namespace's own in the control.
    let same_mounts = namespace(init, "mnt") == namespace(me, "mnt");
    assert_eq!(
        same_mounts, !mount_proc,
        "{what}: unexpected mount namespace"
    );
    let stamp_ticks = proc_env(init, "PDEATHSIG_PPID")
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.split(':').nth(1)?.parse().ok());
    let init_start = start_ticks(init);

    std::thread::sleep(SETTLE);
    let alive = alive(leaf);
    // sleep's parent, the init, reaps no one: a dead sleep stays a zombie.
    let status = zombie_status(leaf);
    let lines = err.pdeathsig_lines();
    let stderr = err.read();

    // The guard still ends it: the namespace's init dies, the namespace
    // with it (the kernel SIGKILLs the rest: any death will do).
    // SAFETY: kill has no memory-safety preconditions; init is ours.
    unsafe { libc::kill(init, libc::SIGKILL) };
    let ended_with_init = wait_gone(leaf, DEATH_TIMEOUT);
    assert!(
        wait_status(unshare, DEATH_TIMEOUT).is_some(),
        "{what}: unshare did not end"
    );
    PidnsTrial {
        unshare,
        init,
        sleep: leaf,
        inner: leaf_pids[1],
        stamp_ticks,
        init_start,
        alive,
        status,
        lines,
        stderr,
        ended_with_init,
    }
}

#[test]
fn dead_stamp_through_foreign_proc_does_not_convict() {
    let mut tree = Tree::new();
    if no_pid_namespace(
        "dead_stamp_through_foreign_proc_does_not_convict",
        &mut tree,
    ) {
        return;
    }
    let dead = dead_pid(&mut tree);
    // Case: /proc is not the namespace's: armed, not signalled, one line;
    // the guard then works against the real parent (SIGTERM).
    let (leaf, middle, err) = dead_stamp_tree(&mut tree, false, dead);
    assert!(wait_ran(leaf, "sleep"), "sleep did not start");
    std::thread::sleep(SETTLE);
    assert!(
        alive(leaf),
        "a foreign /proc convicted: sleep died at start-up ({:?}); stderr: {:?}",
        zombie_status(leaf),
        err.read()
    );
    let inner_parent = nspid(middle)[1];
    let expected = format!(
        "{CANNOT_VERIFY} {dead} is alive ({NOT_OURS}); armed against the current parent {inner_parent}, no signal sent"
    );
    let lines = err.pdeathsig_lines();
    assert_eq!(lines, [expected], "stderr: {:?}", err.read());
    // SAFETY: kill has no memory-safety preconditions; middle is ours.
    unsafe { libc::kill(middle, libc::SIGKILL) };
    assert!(wait_gone(leaf, DEATH_TIMEOUT), "sleep outlived its parent");
    // Its parent now is the namespace's init, which reaps no one.
    assert_eq!(
        zombie_status(leaf),
        Some(Status::Signaled(libc::SIGTERM)),
        "sleep should die of SIGTERM with its parent"
    );
    eprintln!(
        "case: sleep {leaf} alive after {SETTLE:?}, {lines:?}; SIGTERM when its parent was killed"
    );

    // Control: the same stamp judged on a /proc the process trusts
    // (--mount-proc) is a death: the stamped process is neither the parent
    // nor an ancestor, and is gone. sleep SIGTERMs itself at start-up.
    let (leaf, _, err) = dead_stamp_tree(&mut tree, true, dead);
    assert!(
        wait_gone(leaf, DEATH_TIMEOUT),
        "control: with its own /proc the dead stamp should have killed sleep; stderr: {:?}",
        err.read()
    );
    assert_eq!(comm(leaf), "sleep", "control: it died before it ran sleep");
    assert_eq!(
        zombie_status(leaf),
        Some(Status::Signaled(libc::SIGTERM)),
        "control: stderr: {:?}",
        err.read()
    );
    let lines = err.pdeathsig_lines();
    assert!(
        !lines.iter().any(|l| l.starts_with(CANNOT_VERIFY)),
        "control: {lines:?}"
    );
    eprintln!("control: sleep {leaf} died of SIGTERM at start-up; pdeathsig lines: {lines:?}");
}

/// `unshare --pid --fork [--mount-proc] -- spawn-static -- spawn-static --
/// env LD_PRELOAD=... PDEATHSIG=TERM PDEATHSIG_PPID=<dead> sleep 60`:
/// only sleep is preloaded; its parent is the second spawn-static (pid 2
/// inside, not init: its death is the guard's, not the namespace's) and
/// its stamp names a process that has exited. Returns (sleep, its parent,
/// the tree's stderr).
fn dead_stamp_tree(tree: &mut Tree, mount_proc: bool, dead: Pid) -> (Pid, Pid, Captured) {
    let err = Captured::new(if mount_proc {
        "dead-control"
    } else {
        "dead-case"
    });
    let spawn = spawn_static();
    let mut cmd = tree.command("unshare");
    clean(&mut cmd).args(["--pid", "--fork"]);
    if mount_proc {
        cmd.arg("--mount-proc");
    }
    cmd.arg("--")
        .arg(&spawn)
        .arg("--")
        .arg(&spawn)
        .args(["--", "env"])
        .arg(format!("LD_PRELOAD={}", preload_lib().display()))
        .arg("PDEATHSIG=TERM")
        .arg(format!("PDEATHSIG_PPID={dead}"))
        .args(["sleep", "60"])
        .stdout(Stdio::null())
        .stderr(err.stdio());
    let unshare = tree.spawn(&mut cmd).id() as Pid;
    let init = wait_child(unshare);
    tree.track(init);
    let middle = wait_child(init);
    tree.track(middle);
    let leaf = wait_child(middle);
    tree.track(leaf);
    assert_eq!(
        nspid(middle).get(1),
        Some(&2),
        "the middle is not pid 2 inside"
    );
    (leaf, middle, err)
}

/// Linux 5.8 gave each proc mount its own options (hidepid= per mount).
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    have >= (major, minor)
}

/// Can any user read `path` and search every directory above it?
fn reachable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let readable = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0);
    readable
        && path
            .ancestors()
            .skip(1)
            .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// The mount command the hidepid test and its control run in their own
/// mount namespace: a fresh proc over /proc, with or without hidepid.
fn mount_proc_script(hidepid: bool) -> &'static str {
    if hidepid {
        "mount -t proc -o hidepid=2 proc /proc && exec \"$@\""
    } else {
        "mount -t proc proc /proc && exec \"$@\""
    }
}

#[test]
fn hidden_proc_does_not_convict() {
    const TEST: &str = "hidden_proc_does_not_convict";
    let mut tree = Tree::new();
    if let Some(reason) = missing_privileges(&mut tree) {
        return skip(TEST, &reason);
    }
    if !kernel_at_least(5, 8) {
        return skip(
            TEST,
            "Linux before 5.8: a proc mount shares the machine's /proc options",
        );
    }
    if !reachable_by_others(&preload_lib()) {
        return skip(
            TEST,
            &format!(
                "uid {NOBODY} cannot read {} (a private CARGO_TARGET_DIR)",
                preload_lib().display()
            ),
        );
    }
    let probe_args = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        "mount -t proc -o hidepid=2 proc /proc",
    ];
    if let Some(reason) = probe(&mut tree, &probe_args) {
        return skip(TEST, &format!("cannot mount a hidepid /proc: {reason}"));
    }
    let me = std::process::id() as Pid;
    assert!(!hides(&proc_options(me)), "the machine's /proc hides pids");
    // Case, then control: the same tree over a fresh /proc without hidepid,
    // where the leaf finds the stamped process as its grandparent (rule 4):
    // alive, no line. Both live and die with their parent; only the case
    // warns.
    for hidepid in [true, false] {
        hidepid_case(&mut tree, hidepid);
        assert!(
            !hides(&proc_options(me)),
            "the hidepid mount leaked out of its mount namespace"
        );
    }
}

/// `unshare --mount --propagation private -- sh -c 'mount -t proc [-o
/// hidepid=2] proc /proc && exec "$@"' sh spawn-static -- spawn-static --
/// untrusted_setuid 65534 -- sleep 60`, all preloaded with PDEATHSIG=TERM.
/// The shell stamps its pid U and execs the first spawn-static (U); the
/// second (M, root) forks the static setuid helper, which drops to nobody
/// and execs sleep: preloaded, stamp U, parent M, which hidepid hides.
fn hidepid_case(tree: &mut Tree, hidepid: bool) {
    let what = if hidepid { "case" } else { "control" };
    let err = Captured::new(what);
    let spawn = spawn_static();
    let mut cmd = tree.command("unshare");
    clean(&mut cmd)
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(mount_proc_script(hidepid))
        .arg("sh")
        .arg(&spawn)
        .arg("--")
        .arg(&spawn)
        .arg("--")
        .arg(setuid_static())
        .arg(NOBODY.to_string())
        .args(["--", "sleep", "60"])
        .stderr(err.stdio());
    preload(&mut cmd);
    let mut top = tree.spawn(piped(&mut cmd));
    let top_pid = top.id() as Pid;
    let (pids, other) = split_pids(&read_lines(&mut top, 2, DEATH_TIMEOUT));
    assert!(other.is_empty(), "{what}: unexpected output {other:?}");
    for &pid in &pids {
        tree.track(pid);
    }
    let middle = *pids
        .iter()
        .find(|&&p| parent_of(p) == Some(top_pid))
        .unwrap_or_else(|| panic!("{what}: no middle spawner in {pids:?}"));
    let leaf = *pids.iter().find(|&&p| p != middle).unwrap();
    assert!(
        wait_comm(leaf, "sleep", DEATH_TIMEOUT),
        "{what}: sleep did not start; stderr: {:?}",
        err.read()
    );

    // The scenario is real: sleep runs as nobody, its parent is root's and
    // is not the stamped process (the one above it is), and the /proc it
    // sees is a fresh mount, hidepid in the case only, in a mount
    // namespace not ours.
    assert_eq!(parent_of(leaf), Some(middle));
    assert_eq!(parent_of(middle), Some(top_pid));
    assert_eq!(uid_of(leaf), Some(NOBODY), "{what}: sleep is not nobody's");
    assert_eq!(uid_of(middle), Some(0), "{what}: the parent is not root's");
    assert_eq!(
        stamp(middle),
        Some(top_pid),
        "{what}: the shell did not stamp"
    );
    assert_ne!(
        namespace(leaf, "mnt"),
        namespace(std::process::id() as Pid, "mnt")
    );
    let options = proc_options(leaf);
    assert_eq!(hides(&options), hidepid, "{what}: /proc options {options}");

    std::thread::sleep(SETTLE);
    assert!(
        alive(leaf),
        "{what}: sleep died at start-up; stderr: {:?}",
        err.read()
    );
    let lines = err.pdeathsig_lines();
    // With pidfs (Linux 6.9+) the verdict orders our parent and the
    // stamper by inode number, without /proc: nothing is unknown then.
    if hidepid && !pidfs() {
        let expected = format!(
            "{CANNOT_VERIFY} {top_pid} is alive ({HIDDEN}); armed against the current parent {middle}, no signal sent"
        );
        assert_eq!(lines, [expected], "{what}: stderr: {:?}", err.read());
    } else {
        assert!(
            lines.is_empty(),
            "{what}: the stamped grandparent should verify without a word: {lines:?}"
        );
    }
    eprintln!("{what} (hidepid: {hidepid}, /proc {options}): sleep {leaf} (uid {NOBODY}) alive after {SETTLE:?}; pdeathsig lines: {lines:?}");

    // The guard: the root-owned parent dies, sleep gets SIGTERM (and,
    // orphaned, is reparented to this subreaper, which reaps it).
    // SAFETY: kill has no memory-safety preconditions; middle is ours.
    unsafe { libc::kill(middle, libc::SIGKILL) };
    assert_eq!(
        wait_status(leaf, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM)),
        "{what}: sleep should die of SIGTERM with its parent"
    );
    assert_eq!(kill_reap(top_pid), Some(Status::Signaled(libc::SIGKILL)));
}
