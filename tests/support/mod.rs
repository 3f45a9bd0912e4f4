//! Test support: real processes under a subreaper, pidfd waits, and a
//! cleanup guard that kills and reaps everything a test started, on success
//! and on failure (it runs in `Drop`, which also runs while a failed
//! assertion unwinds).
//!
//! Every process a test starts carries `PDEATHSIG_TEST_TAG=<unique>` in its
//! environment (inherited by its whole tree); cleanup finds them by that tag
//! in /proc/PID/environ, so nothing unrelated is ever killed, even after pid
//! reuse.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

pub type Pid = libc::pid_t;

/// The variable that marks every process a test starts.
pub const TAG_VAR: &str = "PDEATHSIG_TEST_TAG";

/// Default bound for "the child dies": generous for a loaded CI machine;
/// a death that takes longer is a failure, never a hang.
pub const DEATH_TIMEOUT: Duration = Duration::from_secs(5);

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Makes this test process a child subreaper (PR_SET_CHILD_SUBREAPER):
/// orphans of everything it starts are reparented to it.
fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(
        rc,
        0,
        "PR_SET_CHILD_SUBREAPER: {}",
        std::io::Error::last_os_error()
    );
}

static BUILD_C_LIBRARY: Once = Once::new();

/// Builds libpdeathsig.so/.a in release mode (what users preload), once per
/// test process; cargo's own lock serialises concurrent test processes.
fn build_c_library() {
    BUILD_C_LIBRARY.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet", "-p", "pdeathsig-capi"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build -p pdeathsig-capi");
        assert!(
            status.success(),
            "cargo build --release -p pdeathsig-capi failed"
        );
    });
}

/// Absolute path of the release `libpdeathsig.so`.
pub fn preload_lib() -> PathBuf {
    build_c_library();
    target_dir().join("release/libpdeathsig.so")
}

/// Absolute path of the release `libpdeathsig.a`.
pub fn static_lib() -> PathBuf {
    build_c_library();
    target_dir().join("release/libpdeathsig.a")
}

/// Compiles `tests/helpers/<source>` with gcc and `args` into a binary named
/// `out` under CARGO_TARGET_TMPDIR (rebuilt when the source is newer).
pub fn c_helper(source: &str, out: &str, args: &[&str]) -> PathBuf {
    let src = workspace_root().join("tests/helpers").join(source);
    let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(out);
    let fresh = match (std::fs::metadata(&src), std::fs::metadata(&bin)) {
        (Ok(s), Ok(b)) => b.modified().unwrap() >= s.modified().unwrap(),
        _ => false,
    };
    if !fresh {
        compile_c(&src, out, args);
    }
    bin
}

/// Compiles the C file `src` with `gcc -O2 -Wall -Wextra -Werror -I include`
/// and `args` into CARGO_TARGET_TMPDIR/`out`, always. Writes a temporary
/// file unique to this call and renames it, so that concurrent builds (test
/// threads and test processes) never see a half-written binary.
pub fn compile_c(src: &Path, out: &str, args: &[&str]) -> PathBuf {
    static BUILDS: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let bin = dir.join(out);
    let n = BUILDS.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{out}.tmp{}-{n}", std::process::id()));
    let output = Command::new("gcc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(workspace_root().join("include"))
        .arg("-o")
        .arg(&tmp)
        .arg(src)
        .args(args)
        .output()
        .expect("run gcc (install it: apt-get install gcc)");
    assert!(
        output.status.success(),
        "gcc {} {args:?} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&tmp, &bin).unwrap();
    bin
}

/// Path of an example built by `cargo test` (target/<profile>/examples/).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", name])
            .current_dir(workspace_root())
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example {name} failed");
    }
    path
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

/// pidfd_open(2): `None` if the process is already gone (ESRCH).
pub fn pidfd(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        None
    } else {
        // SAFETY: the fd was just returned to us and is owned by no one else.
        Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

/// Waits until `pid` has exited (a zombie counts as exited), at most
/// `timeout`. True when it is gone.
pub fn wait_gone(pid: Pid, timeout: Duration) -> bool {
    let Some(fd) = pidfd(pid) else { return true };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc > 0 {
            return true;
        }
        if rc == 0 && Instant::now() >= deadline {
            return false;
        }
    }
}

/// Reaps `pid` if it is our exited child (directly or as an orphan
/// reparented to this subreaper) and returns how it ended.
pub fn reap(pid: Pid) -> Option<Status> {
    // SAFETY: a zeroed siginfo_t is a valid output buffer for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes into `info`, which lives for the call.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    // SAFETY: after a successful waitid, si_pid/si_status are initialised.
    if rc != 0 || unsafe { info.si_pid() } != pid {
        return None;
    }
    // SAFETY: as above: waitid succeeded and reported `pid`.
    let status = unsafe { info.si_status() };
    Some(match info.si_code {
        libc::CLD_EXITED => Status::Exited(status),
        _ => Status::Signaled(status),
    })
}

/// Waits (bounded) for `pid` to exit and reaps it. `None`: still alive
/// after `timeout`, or not our child to reap.
pub fn wait_status(pid: Pid, timeout: Duration) -> Option<Status> {
    if !wait_gone(pid, timeout) {
        return None;
    }
    // The exit may be visible through the pidfd a moment before waitid sees it.
    for _ in 0..200 {
        if let Some(status) = reap(pid) {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Alive and not a zombie.
pub fn alive(pid: Pid) -> bool {
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let close = stat.iter().rposition(|&b| b == b')').unwrap_or(0);
            !matches!(stat.get(close + 2), Some(b'Z') | Some(b'X') | None)
        }
        Err(_) => false,
    }
}

/// Parent pid from /proc/PID/stat.
pub fn parent_of(pid: Pid) -> Option<Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

fn all_pids() -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Living descendants of `pid` (children, grandchildren...), from /proc.
pub fn descendants(pid: Pid) -> Vec<Pid> {
    let pairs: Vec<(Pid, Pid)> = all_pids()
        .into_iter()
        .filter_map(|p| Some((p, parent_of(p)?)))
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            pairs
                .iter()
                .filter(|&&(_, pp)| pp == parent)
                .map(|&(p, _)| p),
        );
        i += 1;
    }
    found.remove(0);
    found.retain(|&p| alive(p));
    found
}

fn has_tag(pid: Pid, needle: &[u8]) -> bool {
    match std::fs::read(format!("/proc/{pid}/environ")) {
        Ok(env) => env.split(|&b| b == 0).any(|kv| kv == needle),
        Err(_) => false,
    }
}

/// A test's process tree. Every command made with [`Tree::command`] carries
/// the tree's tag; dropping the tree SIGKILLs every tagged process and reaps
/// the ones that are (or became) our children.
pub struct Tree {
    tag: String,
    /// Every pid of the tree ever seen (spawned, tracked, or found living):
    /// cleanup reaps those that end up as our children, zombies included.
    seen: std::cell::RefCell<Vec<Pid>>,
}

impl Tree {
    /// Becomes a subreaper and starts an empty tree.
    pub fn new() -> Tree {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        become_subreaper();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Tree {
            tag: format!("{}-{n}", std::process::id()),
            seen: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// A command that carries this tree's tag.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env(TAG_VAR, &self.tag);
        cmd
    }

    /// Spawns `cmd` (which should come from [`Tree::command`]) and remembers it.
    pub fn spawn(&mut self, cmd: &mut Command) -> Child {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        self.seen.borrow_mut().push(child.id() as Pid);
        child
    }

    /// Remembers a pid learned another way (printed by a helper).
    pub fn track(&mut self, pid: Pid) {
        self.seen.borrow_mut().push(pid);
    }

    /// Living processes that carry this tree's tag (remembered, so that
    /// cleanup reaps them once they are zombies whose tag is unreadable).
    pub fn living(&self) -> Vec<Pid> {
        let needle = format!("{TAG_VAR}={}", self.tag).into_bytes();
        let living: Vec<Pid> = all_pids()
            .into_iter()
            .filter(|&p| alive(p) && has_tag(p, &needle))
            .collect();
        self.seen.borrow_mut().extend(&living);
        living
    }

    /// Kills and reaps everything now (also done on drop).
    pub fn cleanup(&mut self) {
        let me = std::process::id() as Pid;
        for _round in 0..20 {
            let living = self.living();
            if living.is_empty() {
                break;
            }
            for &pid in &living {
                // SAFETY: kill has no memory-safety preconditions; the pid
                // was just checked to carry our tag.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                self.seen.borrow_mut().push(pid);
            }
            for &pid in &living {
                wait_gone(pid, Duration::from_secs(2));
            }
        }
        let mut seen = self.seen.take();
        seen.sort_unstable();
        seen.dedup();
        for &pid in &seen {
            if parent_of(pid) == Some(me) {
                wait_status(pid, Duration::from_secs(2));
            }
        }
    }
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Reads one line from a child's stdout, at most `timeout`; panics (which
/// fails the test and runs cleanup) if none arrives.
pub fn read_line(child: &mut Child, timeout: Duration) -> String {
    let stdout = child.stdout.as_mut().expect("stdout must be piped");
    let fd = stdout.as_raw_fd();
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
        assert!(
            rc > 0,
            "no line from child within {timeout:?} (got {line:?})"
        );
        let mut byte = [0u8; 1];
        match stdout.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => return String::from_utf8_lossy(&line).into_owned(),
            Ok(1) => line.push(byte[0]),
            _ => panic!("child closed stdout before a full line (got {line:?})"),
        }
    }
}

/// Reads a line holding a pid.
pub fn read_pid(child: &mut Child, timeout: Duration) -> Pid {
    let line = read_line(child, timeout);
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("expected a pid, got {line:?}"))
}

/// A piped-stdout command helper.
pub fn piped(cmd: &mut Command) -> &mut Command {
    cmd.stdout(Stdio::piped())
}

/// Is `path` an existing file?
pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// Reads `n` lines from a child's stdout, each bounded by `timeout` (see
/// [`read_line`]). A parent and its child writing to one pipe may come in
/// either order: callers classify the lines.
pub fn read_lines(child: &mut Child, n: usize, timeout: Duration) -> Vec<String> {
    (0..n).map(|_| read_line(child, timeout)).collect()
}

/// Splits lines into the ones that are pids and the others.
pub fn split_pids(lines: &[String]) -> (Vec<Pid>, Vec<String>) {
    let mut pids = Vec::new();
    let mut other = Vec::new();
    for line in lines {
        match line.trim().parse() {
            Ok(pid) => pids.push(pid),
            Err(_) => other.push(line.clone()),
        }
    }
    (pids, other)
}

/// SIGKILLs `pid` (a process this test started) and reaps it, bounded.
pub fn kill_reap(pid: Pid) -> Option<Status> {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_status(pid, DEATH_TIMEOUT)
}

/// The pid of a process that has exited and been reaped: a parent that is
/// certainly dead (pid reuse within a test's lifetime is not a concern at
/// pid_max >= 32768 for the few processes a test starts meanwhile).
// Reaped by pid in wait_status, which the lint cannot see.
#[allow(clippy::zombie_processes)]
pub fn dead_pid(tree: &mut Tree) -> Pid {
    let mut cmd = tree.command("true");
    let child = tree.spawn(&mut cmd);
    let pid = child.id() as Pid;
    assert_eq!(wait_status(pid, DEATH_TIMEOUT), Some(Status::Exited(0)));
    pid
}

/// The value of `name` in /proc/PID/environ (the environment `pid` was
/// exec'd with), if present.
/// `CLOCK_BOOTTIME` now in clock ticks: the unit of `/proc/PID/stat`'s
/// start time, and of the time in pdeathsig's `PID:TICKS` stamps.
pub fn boot_ticks() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the pointer is to a live timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) };
    assert_eq!(rc, 0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    now.tv_sec as u64 * hz + now.tv_nsec as u64 / (1_000_000_000 / hz)
}

/// The start time of `pid` (`/proc/PID/stat` field 22), in clock ticks.
pub fn start_ticks(pid: Pid) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// Reports a test that cannot run here (no root, no unshare, a tool not
/// installed) as skipped, not passed: one `SKIP test: reason` line on
/// stderr, and the same line appended to `skipped-tests.txt` in the
/// target's tmp directory, which scripts/test-all.sh counts and prints
/// after `cargo test`. The caller returns right after.
pub fn skip(test: &str, reason: &str) {
    let line = format!("SKIP {test}: {reason}");
    eprintln!("{line}");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        use std::io::Write;
        let _ = writeln!(file, "{line}");
    }
}

/// Waits (bounded) for a living descendant of `root` running `what`: a
/// command name (`sleep`), or a command line with its arguments (`sleep 60`).
pub fn find_descendant(root: Pid, what: &str) -> Pid {
    let deadline = Instant::now() + DEATH_TIMEOUT;
    loop {
        for pid in descendants(root) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if comm.trim_end() == what || cmdline.trim_end() == what {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "no {what} below {root}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The pid of a `PDEATHSIG_PPID` value: `PID`, or `PID:TICKS[:WATCHED]`
/// as pdeathsig stamps it.
pub fn stamp_pid(value: &[u8]) -> Option<Pid> {
    let text = std::str::from_utf8(value).ok()?;
    text.split(':').next()?.parse().ok()
}

pub fn proc_env(pid: Pid, name: &str) -> Option<Vec<u8>> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=").into_bytes();
    env.split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(&prefix[..]).map(<[u8]>::to_vec))
}

/// Waits (bounded) until `pid` runs the program called `comm` (it has
/// exec'd). False if it does not within `timeout` or is gone.
pub fn wait_comm(pid: Pid, comm: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
            Ok(c) if c.trim_end() == comm => return alive(pid),
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => return false,
        }
    }
}

/// Removes the protocol's variables a developer's shell might carry, so a
/// test starts from a known environment.
pub fn clean(cmd: &mut Command) -> &mut Command {
    for var in [
        "PDEATHSIG",
        "PDEATHSIG_PPID",
        "PDEATHSIG_MODE",
        "PDEATHSIG_GRACE",
        "LD_PRELOAD",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Starts one race trial: `cmd` is a parent (tests/helpers/spawn.c with
/// `--die-after-us`) that SIGKILLs itself soon after spawning its child.
/// Returns the child's pid once the parent is dead and reaped.
pub fn start_race_trial(tree: &mut Tree, mut cmd: Command) -> Pid {
    let mut parent = tree.spawn(piped(&mut cmd));
    let child = read_pid(&mut parent, DEATH_TIMEOUT);
    tree.track(child);
    assert_eq!(
        wait_status(parent.id() as Pid, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGKILL)),
        "the parent should have SIGKILLed itself"
    );
    child
}

/// How many bytes of a bad value the library's messages keep.
pub const MESSAGE_KEEPS: usize = 40;

/// A value as the library's messages quote it, written independently of
/// the library (a test oracle): printable ASCII as is, `"` and `\`
/// backslash-escaped, other bytes as `\xNN`; the first 40 bytes, without
/// the surrounding quotes.
pub fn message_escaped(value: &[u8]) -> String {
    let mut out = String::new();
    for &b in value.iter().take(MESSAGE_KEEPS) {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Spawns `cmd`, a parent that prints its child's pid; waits until the
/// child runs `comm`, SIGKILLs the parent, and returns how the child ended
/// within `wait` (`None`: still alive).
pub fn kill_parent_then_wait(
    tree: &mut Tree,
    cmd: &mut Command,
    comm: &str,
    wait: Duration,
) -> Option<Status> {
    let mut parent = tree.spawn(piped(cmd));
    let child = read_pid(&mut parent, DEATH_TIMEOUT);
    tree.track(child);
    assert!(
        wait_comm(child, comm, DEATH_TIMEOUT),
        "the child did not start {comm}"
    );
    assert!(alive(child), "child died before its parent");
    parent.kill().unwrap();
    parent.wait().unwrap();
    wait_status(child, wait)
}

/// Does this kernel give pidfds their own inodes (pidfs, Linux 6.9+), which
/// the library's stamps carry as the stamper's identity?
pub fn pidfs() -> bool {
    let Some(fd) = pidfd(std::process::id() as Pid) else {
        return false;
    };
    // SAFETY: a zeroed statfs is a valid output buffer for fstatfs.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the call; `fs` is a live output buffer.
    let rc = unsafe { libc::fstatfs(fd.as_raw_fd(), &mut fs) };
    rc == 0 && fs.f_type as i64 == 0x5049_4446
}

/// Does `program args...` run and exit 0 here (stderr discarded)? For
/// probing what the machine allows (unshare flags, namespaces).
pub fn command_succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The descriptor numbers in the descriptor table listed at `dir` (a
/// `/proc/PID/fd` or `/proc/PID/task/TID/fd`) whose link names a pidfd
/// (`anon_inode:[pidfd]`, or `pidfd:` on pidfs); empty if `dir` is gone.
pub fn pidfds_in(dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut fds: Vec<i32> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let link = std::fs::read_link(e.path()).ok()?;
            let link = link.to_string_lossy();
            let pidfd = link == "anon_inode:[pidfd]" || link.starts_with("pidfd:");
            pidfd.then(|| e.file_name().to_str()?.parse().ok())?
        })
        .collect();
    fds.sort_unstable();
    fds
}

/// The pidfds in `pid`'s own descriptor table (its main thread's).
pub fn pidfds(pid: Pid) -> Vec<i32> {
    pidfds_in(Path::new(&format!("/proc/{pid}/fd")))
}

/// `spawn --handoff -- env LD_PRELOAD=<the library> PDEATHSIG=TERM
/// PDEATHSIG_MODE=<mode> PROGRAM...`: only PROGRAM runs under the library
/// (`env` sets the variables after spawn), as spawn's child. PROGRAM must
/// print `ready` as its first line. Returns spawn and its child's pid
/// (tracked by `tree`), once `ready` came.
pub fn spawn_preloaded(tree: &mut Tree, mode: &str, program: &[&str]) -> (Child, Pid) {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut preload = std::ffi::OsString::from("LD_PRELOAD=");
    preload.push(preload_lib());
    let mut cmd = tree.command(&spawn);
    clean(&mut cmd)
        .args(["--handoff", "--", "env"])
        .arg(&preload)
        .arg("PDEATHSIG=TERM")
        .arg(format!("PDEATHSIG_MODE={mode}"))
        .args(program);
    let mut parent = tree.spawn(piped(&mut cmd));
    let lines = read_lines(&mut parent, 2, DEATH_TIMEOUT);
    let (pids, rest) = split_pids(&lines);
    assert_eq!(rest, ["ready"], "{mode} {program:?}: {lines:?}");
    tree.track(pids[0]);
    (parent, pids[0])
}

/// A tmux server on a socket of its own (Debian's tmux; `.ci/run` installs
/// it), killed with its panes when dropped.
pub struct Tmux {
    socket: PathBuf,
    dir: PathBuf,
}

impl Tmux {
    /// `tmux new-session -d COMMAND` in a 150x40 window, its pane tracked by
    /// `tree`; `setup` adds to tmux's own command (its environment).
    pub fn start(
        tree: &mut Tree,
        name: &str,
        command: &str,
        setup: impl FnOnce(&mut Command),
    ) -> Tmux {
        let dir =
            std::env::temp_dir().join(format!("pdeathsig-tmux-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("socket");
        let mut cmd = tree.command("tmux");
        clean(&mut cmd).arg("-S").arg(&socket).args([
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "150",
            "-y",
            "40",
            command,
        ]);
        setup(&mut cmd);
        let status = tree
            .spawn(cmd.stdin(Stdio::null()))
            .wait()
            .expect("tmux new-session");
        assert!(status.success(), "tmux new-session: {status}");
        let tmux = Tmux { socket, dir };
        for pid in tmux.pane_pids() {
            tree.track(pid);
        }
        tmux
    }

    /// `tmux -S SOCKET ARGS...`, its standard output.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pids of the programs in the server's panes.
    pub fn pane_pids(&self) -> Vec<Pid> {
        self.tmux(&["list-panes", "-a", "-F", "#{pane_pid}"])
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// `tmux send-keys KEYS...`.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// The pane's screen and 200 lines of history.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-S", "-200"])
    }

    /// Waits (bounded) until `text` shows `times` times on the screen.
    pub fn wait_for(&self, text: &str, times: usize) -> String {
        let deadline = Instant::now() + DEATH_TIMEOUT;
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= times {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} not shown {times} times:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Is tmux missing? Then `test` is reported skipped.
pub fn tmux_missing(test: &str) -> bool {
    let missing = Command::new("tmux").arg("-V").output().is_err();
    if missing {
        skip(test, "tmux is not installed (apt-get install tmux)");
    }
    missing
}
