//! The pdeathsig benchmark suite: real processes, real kernel, every
//! comparison made in the same run (interleaved, so that load drift on a
//! shared machine hits every alternative alike).
//!
//! ```text
//! bench/run.sh [startup|orphans|latency|teardown|arm|all] [--quick] [--check]
//! ```
//!
//! (`bench/run.sh` builds the release C library first, then runs this.)
//! Results: a Markdown summary on stdout and in `bench/results/summary.md`,
//! raw samples as CSV in `bench/results/` (read by `bench/plot.py`).
//!
//! Process hygiene: this process is a child subreaper (PR_SET_CHILD_SUBREAPER),
//! so every orphan comes back to it; each trial kills and reaps what it
//! started, and every process started carries `PDEATHSIG_BENCH_TAG=<our pid>`
//! so a final sweep kills anything left. Every wait is bounded.

use std::ffi::{CString, OsString};
use std::fmt::Write as _;
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

type Pid = libc::pid_t;

const TAG_VAR: &str = "PDEATHSIG_BENCH_TAG";
/// Longest any single wait may take; beyond it the trial counts as stuck.
const BOUND: Duration = Duration::from_secs(10);
/// After the child reached `main` with its parent dead: how long it gets to
/// die before it counts as an orphan (its signal, if any, was sent when the
/// parent exited, before we saw the parent's exit).
const GRACE: Duration = Duration::from_millis(25);
/// The parent dies this long (at most) after spawning the child.
const MAX_DELAY_US: u64 = 2000;

fn main() {
    let mut what = String::from("all");
    let mut quick = false;
    let mut check = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "--check" => check = true,
            "startup" | "orphans" | "latency" | "teardown" | "arm" | "all" => what = arg,
            _ => {
                eprintln!(
                    "pdeathsig-bench: unknown argument {arg:?}; accepted: \
                     startup|orphans|latency|teardown|arm|all, --quick, --check"
                );
                std::process::exit(2);
            }
        }
    }
    let ctx = Ctx::new(quick);
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        eprintln!("pdeathsig-bench: cannot become a child subreaper");
        std::process::exit(1);
    }
    let mut report = String::new();
    writeln!(report, "{}", ctx.machine()).unwrap();
    let mut failures = Vec::new();
    let all = what == "all";
    if all || what == "startup" {
        let ratio = startup(&ctx, &mut report);
        if ratio > 1.05 {
            failures.push(format!("start-up ratio library/C shim {ratio:.3} > 1.05"));
        }
    }
    if all || what == "arm" {
        arm_cost(&ctx, &mut report);
    }
    if all || what == "orphans" {
        let leaked = orphans(&ctx, &mut report);
        if leaked > 0 {
            failures.push(format!("{leaked} orphans with the handoff"));
        }
    }
    if all || what == "latency" {
        latency(&ctx, &mut report);
    }
    if all || what == "teardown" {
        teardown(&ctx, &mut report);
    }
    sweep();
    let name = if all && !quick {
        "summary.md".to_string()
    } else {
        format!("summary-{what}{}.md", if quick { "-quick" } else { "" })
    };
    std::fs::write(ctx.out.join(&name), &report).unwrap();
    println!("{report}");
    println!("(written to bench/results/{name})");
    if check && !failures.is_empty() {
        for f in &failures {
            eprintln!("pdeathsig-bench: check failed: {f}");
        }
        std::process::exit(1);
    }
}

/// Paths and settings shared by every benchmark.
struct Ctx {
    lib: PathBuf,
    shim: PathBuf,
    shim_nocheck: PathBuf,
    parent: PathBuf,
    ready: PathBuf,
    chain: PathBuf,
    out: PathBuf,
    /// Our environment less LD_PRELOAD and PDEATHSIG*, plus the tag.
    base_env: Vec<CString>,
    quick: bool,
    /// Does the library know `PDEATHSIG_MODE` (process mode)?
    process_mode: bool,
}

impl Ctx {
    fn new(quick: bool) -> Ctx {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        let lib = target.join("release/libpdeathsig.so");
        if !lib.exists() {
            eprintln!(
                "pdeathsig-bench: {} missing: run `cargo build --release -p pdeathsig-capi` \
                 (bench/run.sh does)",
                lib.display()
            );
            std::process::exit(1);
        }
        let bin = target.join("bench");
        std::fs::create_dir_all(&bin).unwrap();
        let out = root.join("bench/results");
        std::fs::create_dir_all(&out).unwrap();
        let shim_src = root.join("bench/c-shim/shim.c");
        let helpers = root.join("bench/helpers");
        let shim = gcc(&shim_src, &bin.join("shim.so"), &["-shared", "-fPIC"]);
        let shim_nocheck = gcc(
            &shim_src,
            &bin.join("shim-nocheck.so"),
            &["-shared", "-fPIC", "-DNO_CHECK"],
        );
        let parent = gcc(&helpers.join("parent.c"), &bin.join("parent"), &[]);
        let ready = gcc(&helpers.join("ready.c"), &bin.join("ready"), &[]);
        let chain = gcc(&helpers.join("chain.c"), &bin.join("chain"), &[]);
        let tag = format!("{TAG_VAR}={}", std::process::id());
        let mut base_env: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| {
                let k = k.as_bytes();
                k != b"LD_PRELOAD" && !k.starts_with(b"PDEATHSIG")
            })
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).unwrap()
            })
            .collect();
        base_env.push(CString::new(tag).unwrap());
        let process_mode = std::fs::read(&lib)
            .map(|bytes| bytes.windows(14).any(|w| w == b"PDEATHSIG_MODE"))
            .unwrap_or(false);
        Ctx {
            lib,
            shim,
            shim_nocheck,
            parent,
            ready,
            chain,
            out,
            base_env,
            quick,
            process_mode,
        }
    }

    fn n(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }

    fn env_with(&self, extra: &[String]) -> Vec<CString> {
        let mut env = self.base_env.clone();
        env.extend(extra.iter().map(|kv| CString::new(kv.as_str()).unwrap()));
        env
    }

    fn machine(&self) -> String {
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let kernel = run_text("uname", &["-r"]);
        let date = run_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split(' ').take(3).collect();
        format!(
            "Machine: {model}, {cores} cores, Linux {kernel}; run {date}; \
             load average at start {}{}.\n",
            load.join(" "),
            if self.quick {
                "; QUICK run (small samples)"
            } else {
                ""
            }
        )
    }
}

fn run_text(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Compiles a helper with gcc when the output is missing or older.
fn gcc(src: &Path, out: &Path, args: &[&str]) -> PathBuf {
    let fresh = match (std::fs::metadata(src), std::fs::metadata(out)) {
        (Ok(s), Ok(o)) => o.modified().unwrap() >= s.modified().unwrap(),
        _ => false,
    };
    if !fresh {
        let status = Command::new("gcc")
            .args(["-O2", "-Wall", "-Wextra", "-Werror"])
            .args(args)
            .arg("-o")
            .arg(out)
            .arg(src)
            .status()
            .expect("run gcc (apt-get install gcc)");
        assert!(status.success(), "gcc {} failed", src.display());
    }
    out.to_path_buf()
}

// ---------------------------------------------------------------------------
// Processes: posix_spawn, pidfds, bounded waits, reaping.

fn cstr(p: impl Into<OsString>) -> CString {
    CString::new(p.into().into_vec()).unwrap()
}

/// posix_spawn(3) of `argv` with `envp`; `stdout` (if any) becomes fd 1.
fn spawn(argv: &[CString], envp: &[CString], stdout: Option<RawFd>) -> Pid {
    let mut argv_p: Vec<*mut libc::c_char> = argv.iter().map(|s| s.as_ptr() as *mut _).collect();
    argv_p.push(std::ptr::null_mut());
    let mut envp_p: Vec<*mut libc::c_char> = envp.iter().map(|s| s.as_ptr() as *mut _).collect();
    envp_p.push(std::ptr::null_mut());
    let mut pid: Pid = 0;
    // SAFETY: the file actions object is initialised before use and destroyed
    // after; every pointer array is NULL-terminated and outlives the call.
    let rc = unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut fa);
        if let Some(fd) = stdout {
            libc::posix_spawn_file_actions_adddup2(&mut fa, fd, 1);
        }
        let rc = libc::posix_spawn(
            &mut pid,
            argv_p[0],
            &fa,
            std::ptr::null(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
        );
        libc::posix_spawn_file_actions_destroy(&mut fa);
        rc
    };
    assert_eq!(rc, 0, "posix_spawn {:?}: error {rc}", argv[0]);
    pid
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2");
    (fds[0], fds[1])
}

fn close(fd: RawFd) {
    // SAFETY: closing an fd we own.
    unsafe { libc::close(fd) };
}

/// pidfd_open(2); `None` if the process no longer exists.
fn pidfd(pid: Pid) -> Option<RawFd> {
    // SAFETY: pidfd_open takes a pid and flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then_some(fd as RawFd)
}

/// poll(2) on `fds` for input, at most `timeout`: the readable indices.
fn poll_in(fds: &[RawFd], timeout: Duration) -> Vec<usize> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // SAFETY: the pollfd array is valid for its length.
        let rc = unsafe {
            libc::poll(
                pfds.as_mut_ptr(),
                pfds.len() as libc::nfds_t,
                left.as_millis().min(60_000) as i32,
            )
        };
        if rc > 0 {
            return (0..pfds.len()).filter(|&i| pfds[i].revents != 0).collect();
        }
        if Instant::now() >= deadline {
            return Vec::new();
        }
    }
}

/// Reaps `pid` (our child or an orphan reparented to us) once it has exited,
/// waiting at most `BOUND`; the signal that killed it, or 0 for an exit.
fn reap(pid: Pid) -> Option<i32> {
    let deadline = Instant::now() + BOUND;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            return Some(if libc::WIFSIGNALED(status) {
                libc::WTERMSIG(status)
            } else {
                0
            });
        }
        if rc < 0 || Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn kill(pid: Pid, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) };
}

/// Kills and reaps `pid` (used on whatever a trial leaves alive).
fn kill_reap(pid: Pid) {
    kill(pid, libc::SIGKILL);
    reap(pid);
}

/// Reaps any exited child without waiting.
fn reap_any() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local.
        if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } <= 0 {
            return;
        }
    }
}

/// Kills everything that carries our tag, then reaps.
fn sweep() {
    let me = std::process::id() as Pid;
    let needle = format!("{TAG_VAR}={me}").into_bytes();
    for _ in 0..10 {
        let mut found = 0;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<Pid>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
                if env.split(|&b| b == 0).any(|kv| kv == needle.as_slice()) {
                    kill(pid, libc::SIGKILL);
                    found += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        reap_any();
        if found == 0 {
            return;
        }
    }
}

/// Lines from a child's stdout pipe, read with bounded waits.
struct Lines {
    fd: RawFd,
    buf: Vec<u8>,
    eof: bool,
}

impl Lines {
    fn new(fd: RawFd) -> Lines {
        Lines {
            fd,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Reads what is there now (call after poll said readable).
    fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        // SAFETY: reading into a local buffer of the given length.
        let n = unsafe { libc::read(self.fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n <= 0 {
            self.eof = true;
        } else {
            self.buf.extend_from_slice(&chunk[..n as usize]);
        }
    }

    /// Takes the first complete line starting with `prefix`; returns the rest.
    fn take(&mut self, prefix: &str) -> Option<String> {
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let line = &self.buf[start..start + nl];
            if let Some(rest) = line.strip_prefix(prefix.as_bytes()) {
                let rest = String::from_utf8_lossy(rest).into_owned();
                self.buf.drain(start..start + nl + 1);
                return Some(rest);
            }
            start += nl + 1;
        }
        None
    }

    /// Waits (at most `BOUND`) for a line starting with `prefix`.
    fn wait_for(&mut self, prefix: &str) -> Option<String> {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(rest) = self.take(prefix) {
                return Some(rest);
            }
            if self.eof {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || poll_in(&[self.fd], left).is_empty() {
                return None;
            }
            self.fill();
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        close(self.fd);
    }
}

// ---------------------------------------------------------------------------
// Statistics.

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// xorshift64: fixed seed, so every run draws the same delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

// ---------------------------------------------------------------------------
// The guards compared.

/// One way of guarding the child.
struct Mode {
    name: &'static str,
    /// Variables set in the child only (LD_PRELOAD, PDEATHSIG...).
    child_env: Vec<String>,
    handoff: bool,
}

fn modes(ctx: &Ctx, with_none: bool) -> Vec<Mode> {
    let lib = ctx.lib.display().to_string();
    let mut modes = Vec::new();
    if with_none {
        modes.push(Mode {
            name: "no guard",
            child_env: vec![],
            handoff: false,
        });
    }
    modes.push(Mode {
        name: "plain prctl at load (C shim -DNO_CHECK)",
        child_env: vec![
            format!("LD_PRELOAD={}", ctx.shim_nocheck.display()),
            "PDEATHSIG=TERM".into(),
        ],
        handoff: false,
    });
    modes.push(Mode {
        name: "libpdeathsig, prctl + handoff (default mode)",
        child_env: vec![format!("LD_PRELOAD={lib}"), "PDEATHSIG=TERM".into()],
        handoff: true,
    });
    if ctx.process_mode {
        modes.push(Mode {
            name: "libpdeathsig, PDEATHSIG_MODE=process",
            child_env: vec![
                format!("LD_PRELOAD={lib}"),
                "PDEATHSIG=TERM".into(),
                "PDEATHSIG_MODE=process".into(),
            ],
            handoff: true,
        });
    }
    modes
}

fn pending_note(ctx: &Ctx) -> &'static str {
    if ctx.process_mode {
        ""
    } else {
        "\nProcess mode (`PDEATHSIG_MODE=process`): pending, the library built here does not \
         have it yet.\n"
    }
}

/// Starts `parent` (which spawns `program`), returns (parent pid, its stdout).
fn start_parent(
    ctx: &Ctx,
    mode: &Mode,
    delay_us: Option<u64>,
    program: &[CString],
) -> (Pid, Lines) {
    let mut argv = vec![cstr(&ctx.parent)];
    if mode.handoff {
        argv.push(cstr("--handoff"));
    }
    match delay_us {
        Some(d) => {
            argv.push(cstr("--delay-us"));
            argv.push(cstr(d.to_string()));
        }
        None => argv.push(cstr("--pause")),
    }
    for kv in &mode.child_env {
        argv.push(cstr("--set"));
        argv.push(cstr(kv));
    }
    argv.push(cstr("--"));
    argv.extend(program.iter().cloned());
    let (r, w) = pipe();
    let pid = spawn(&argv, &ctx.base_env, Some(w));
    close(w);
    (pid, Lines::new(r))
}

// ---------------------------------------------------------------------------
// 1. Orphan rate.

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    /// Died before reaching main (the guard's own kill) or after.
    Died,
    /// Reached main, parent dead, still alive after the grace period.
    Orphan,
    /// Something did not happen within the bounds.
    Stuck,
}

fn orphan_trial(ctx: &Ctx, mode: &Mode, delay_us: u64) -> Outcome {
    let (ppid, mut lines) = start_parent(ctx, mode, Some(delay_us), &[cstr(&ctx.ready)]);
    let child: Option<Pid> = lines.wait_for("pid ").and_then(|s| s.trim().parse().ok());
    if reap(ppid).is_none() {
        kill_reap(ppid);
    }
    let Some(child) = child else {
        return Outcome::Stuck;
    };
    // Not yet reaped by anyone, so the pid is still this child's.
    let Some(cfd) = pidfd(child) else {
        return Outcome::Stuck;
    };
    let deadline = Instant::now() + BOUND;
    let mut ready = false;
    let outcome = loop {
        if !ready && lines.take("ready").is_some() {
            ready = true;
        }
        if ready {
            break if poll_in(&[cfd], GRACE).is_empty() {
                Outcome::Orphan
            } else {
                Outcome::Died
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let fds: Vec<RawFd> = if lines.eof {
            vec![cfd]
        } else {
            vec![cfd, lines.fd]
        };
        let got = poll_in(&fds, left);
        if got.is_empty() {
            break Outcome::Stuck;
        }
        if got.contains(&0) {
            break Outcome::Died;
        }
        lines.fill();
    };
    close(cfd);
    kill_reap(child);
    outcome
}

fn orphans(ctx: &Ctx, report: &mut String) -> usize {
    let trials = ctx.n(2000, 200);
    let modes = modes(ctx, true);
    let mut counts = vec![(0usize, 0usize, 0usize); modes.len()];
    let mut rng = Rng(0x5eed_0f0a_f4a5);
    eprintln!("orphans: {trials} trials x {} modes", modes.len());
    for t in 0..trials {
        let delay = rng.below(MAX_DELAY_US + 1);
        for k in 0..modes.len() {
            let m = (t + k) % modes.len();
            match orphan_trial(ctx, &modes[m], delay) {
                Outcome::Died => counts[m].0 += 1,
                Outcome::Orphan => counts[m].1 += 1,
                Outcome::Stuck => counts[m].2 += 1,
            }
        }
        reap_any();
        if (t + 1) % 250 == 0 {
            eprintln!("  {} / {trials}", t + 1);
        }
    }
    let mut csv = String::from("mode,trials,died,orphans,stuck\n");
    writeln!(
        report,
        "\n## Orphan rate: parent SIGKILLed 0-{} ms after spawning the child\n\n\
         {trials} trials per mode; each trial draws one delay (uniform, fixed seed) used for \
         every mode, modes interleaved. Orphan: the child reached `main` with its parent \
         dead and was still alive {} ms later.\n\n\
         | guard | trials | orphans | orphan rate | stuck |\n|---|---:|---:|---:|---:|",
        MAX_DELAY_US / 1000,
        GRACE.as_millis()
    )
    .unwrap();
    let mut leaked_with_handoff = 0;
    for (m, &(died, orphans, stuck)) in modes.iter().zip(&counts) {
        let n = died + orphans + stuck;
        writeln!(
            report,
            "| {} | {n} | {orphans} | {:.1}% | {stuck} |",
            m.name,
            100.0 * orphans as f64 / n as f64
        )
        .unwrap();
        writeln!(csv, "\"{}\",{n},{died},{orphans},{stuck}", m.name).unwrap();
        if m.handoff {
            leaked_with_handoff += orphans + stuck;
        }
    }
    report.push_str(pending_note(ctx));
    std::fs::write(ctx.out.join(csv_name(ctx, "orphans")), csv).unwrap();
    leaked_with_handoff
}

fn csv_name(ctx: &Ctx, what: &str) -> String {
    if ctx.quick {
        format!("{what}-quick.csv")
    } else {
        format!("{what}.csv")
    }
}

// ---------------------------------------------------------------------------
// 2. Latency: SIGKILL of the parent to the child gone.

fn latency_trial(ctx: &Ctx, mode: &Mode) -> Option<f64> {
    let (ppid, mut lines) = start_parent(ctx, mode, None, &[cstr(&ctx.ready)]);
    let child: Option<Pid> = lines.wait_for("pid ").and_then(|s| s.trim().parse().ok());
    let ready = lines.wait_for("ready").is_some();
    let mut sample = None;
    if let (Some(child), true) = (child, ready) {
        if let Some(cfd) = pidfd(child) {
            let t0 = Instant::now();
            kill(ppid, libc::SIGKILL);
            if !poll_in(&[cfd], Duration::from_secs(5)).is_empty() {
                sample = Some(t0.elapsed().as_secs_f64() * 1e6);
            }
            close(cfd);
        }
    }
    kill_reap(ppid);
    if let Some(child) = child {
        kill_reap(child);
    }
    sample
}

fn latency(ctx: &Ctx, report: &mut String) {
    let trials = ctx.n(1000, 100);
    let modes = modes(ctx, false);
    let mut samples = vec![Vec::new(); modes.len()];
    let mut failed = vec![0usize; modes.len()];
    eprintln!("latency: {trials} trials x {} modes", modes.len());
    for t in 0..trials {
        for k in 0..modes.len() {
            let m = (t + k) % modes.len();
            match latency_trial(ctx, &modes[m]) {
                Some(us) => samples[m].push(us),
                None => failed[m] += 1,
            }
        }
        reap_any();
    }
    let mut csv = String::from("mode,microseconds\n");
    writeln!(
        report,
        "\n## Latency: SIGKILL of the parent to the child gone (pidfd readable)\n\n\
         {trials} trials per mode, interleaved; the child is idle in `main` when its \
         parent is killed. Includes the parent's own exit.\n\n\
         | guard | n | p50 | p99 | max | no death in 5 s |\n|---|---:|---:|---:|---:|---:|"
    )
    .unwrap();
    for (m, (s, f)) in modes.iter().zip(samples.into_iter().zip(failed)) {
        for v in &s {
            writeln!(csv, "\"{}\",{v:.1}", m.name).unwrap();
        }
        let s = sorted(s);
        writeln!(
            report,
            "| {} | {} | {:.0} us | {:.0} us | {:.0} us | {f} |",
            m.name,
            s.len(),
            percentile(&s, 50.0),
            percentile(&s, 99.0),
            s.last().copied().unwrap_or(f64::NAN)
        )
        .unwrap();
    }
    report.push_str(pending_note(ctx));
    std::fs::write(ctx.out.join(csv_name(ctx, "latency")), csv).unwrap();
}

// ---------------------------------------------------------------------------
// 3. Teardown of a tree started under LD_PRELOAD.

fn teardown_trial(ctx: &Ctx, mode: &Mode, depth: usize) -> Option<f64> {
    let program = [cstr(&ctx.chain), cstr(&ctx.chain), cstr(depth.to_string())];
    let (ppid, mut lines) = start_parent(ctx, mode, None, &program);
    let mut pids: Vec<Pid> = Vec::new();
    if let Some(p) = lines.wait_for("pid ").and_then(|s| s.trim().parse().ok()) {
        pids.push(p);
    }
    for _ in 0..depth {
        match lines.wait_for("ready ").and_then(|s| s.trim().parse().ok()) {
            Some(p) => pids.push(p),
            None => break,
        }
    }
    let mut sample = None;
    if pids.len() == depth + 1 {
        let fds: Vec<RawFd> = pids[1..].iter().filter_map(|&p| pidfd(p)).collect();
        if fds.len() == depth {
            let t0 = Instant::now();
            kill(ppid, libc::SIGKILL);
            let mut left: Vec<RawFd> = fds.clone();
            let deadline = t0 + BOUND;
            while !left.is_empty() {
                let wait = deadline.saturating_duration_since(Instant::now());
                let got = poll_in(&left, wait);
                if got.is_empty() {
                    break;
                }
                left = left
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !got.contains(i))
                    .map(|(_, &fd)| fd)
                    .collect();
            }
            if left.is_empty() {
                sample = Some(t0.elapsed().as_secs_f64() * 1e6);
            }
        }
        for fd in fds {
            close(fd);
        }
    }
    kill_reap(ppid);
    for &p in pids.iter().skip(1) {
        kill_reap(p);
    }
    sample
}

fn teardown(ctx: &Ctx, report: &mut String) {
    let reps = ctx.n(50, 5);
    let depths = [1usize, 4, 16, 64];
    let modes = modes(ctx, false);
    // The tree needs the handoff stamps: only the library modes apply.
    let modes: Vec<&Mode> = modes.iter().filter(|m| m.handoff).collect();
    let mut samples = vec![vec![Vec::new(); depths.len()]; modes.len()];
    let mut failed = vec![vec![0usize; depths.len()]; modes.len()];
    eprintln!(
        "teardown: {reps} reps x depths {depths:?} x {} modes",
        modes.len()
    );
    for r in 0..reps {
        for (mi, m) in modes.iter().enumerate() {
            for k in 0..depths.len() {
                let di = (r + k) % depths.len();
                match teardown_trial(ctx, m, depths[di]) {
                    Some(us) => samples[mi][di].push(us),
                    None => failed[mi][di] += 1,
                }
            }
        }
        reap_any();
    }
    let mut csv = String::from("mode,depth,microseconds\n");
    writeln!(
        report,
        "\n## Teardown: tree of depth d under LD_PRELOAD, SIGKILL of the root's parent to \
         the last process gone\n\n\
         {reps} repetitions per depth, depths interleaved; each process of the chain is \
         started by fork + exec and arms itself at load time (`PDEATHSIG=TERM`).\n\n\
         | guard | depth | n | p50 | p99 | max | per level (p50) | incomplete |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    )
    .unwrap();
    for (mi, m) in modes.iter().enumerate() {
        for (di, &d) in depths.iter().enumerate() {
            let s = sorted(samples[mi][di].clone());
            for v in &s {
                writeln!(csv, "\"{}\",{d},{v:.1}", m.name).unwrap();
            }
            let p50 = percentile(&s, 50.0);
            writeln!(
                report,
                "| {} | {d} | {} | {:.0} us | {:.0} us | {:.0} us | {:.0} us | {} |",
                m.name,
                s.len(),
                p50,
                percentile(&s, 99.0),
                s.last().copied().unwrap_or(f64::NAN),
                p50 / d as f64,
                failed[mi][di]
            )
            .unwrap();
        }
    }
    report.push_str(pending_note(ctx));
    std::fs::write(ctx.out.join(csv_name(ctx, "teardown")), csv).unwrap();
}

// ---------------------------------------------------------------------------
// 4. Cost of arming, in process.

fn arm_cost(ctx: &Ctx, report: &mut String) {
    let iters = ctx.n(200_000, 20_000) as u32;
    let repeats = 7;
    let parent = std::os::unix::process::parent_id() as Pid;
    // The handoff, as a spawner would have set it.
    std::env::set_var("PDEATHSIG_PPID", parent.to_string());
    type Case = (&'static str, Box<dyn Fn()>);
    let cases: Vec<Case> = vec![
        (
            "bare prctl(PR_SET_PDEATHSIG) syscall",
            Box::new(|| {
                // SAFETY: PR_SET_PDEATHSIG takes an integer argument.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) };
            }),
        ),
        (
            "prctl + getppid (the minimal re-check)",
            Box::new(|| {
                // SAFETY: as above; getppid has no preconditions.
                unsafe {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
                    std::hint::black_box(libc::getppid());
                }
            }),
        ),
        (
            "arm_parent_death_signal_expecting(TERM, ppid)",
            Box::new(move || {
                let r =
                    pdeathsig::arm_parent_death_signal_expecting(pdeathsig::Signal::TERM, parent);
                std::hint::black_box(r.is_ok());
            }),
        ),
        (
            "arm_parent_death_signal(TERM) (reads PDEATHSIG_PPID)",
            Box::new(|| {
                let r = pdeathsig::arm_parent_death_signal(pdeathsig::Signal::TERM);
                std::hint::black_box(r.is_ok());
            }),
        ),
    ];
    assert!(
        pdeathsig::arm_parent_death_signal(pdeathsig::Signal::TERM).is_ok(),
        "arming in the benchmark process failed"
    );
    let mut best = vec![f64::INFINITY; cases.len()];
    let mut all = vec![Vec::new(); cases.len()];
    for r in 0..repeats {
        for k in 0..cases.len() {
            let c = (r + k) % cases.len();
            let f = &cases[c].1;
            let t0 = Instant::now();
            for _ in 0..iters {
                f();
            }
            let ns = t0.elapsed().as_nanos() as f64 / f64::from(iters);
            best[c] = best[c].min(ns);
            all[c].push(ns);
        }
    }
    pdeathsig::disarm_parent_death_signal().unwrap();
    std::env::remove_var("PDEATHSIG_PPID");
    writeln!(
        report,
        "\n## Cost of arming, in process\n\n\
         {repeats} repeats of {iters} calls each, cases interleaved; the per-call time of \
         the best and the median repeat.\n\n\
         | call | best | median | vs bare prctl (best) |\n|---|---:|---:|---:|"
    )
    .unwrap();
    let mut csv = String::from("call,best_ns,median_ns\n");
    for (c, (name, _)) in cases.iter().enumerate() {
        let s = sorted(all[c].clone());
        let med = percentile(&s, 50.0);
        writeln!(
            report,
            "| {name} | {:.0} ns | {med:.0} ns | {:.2}x |",
            best[c],
            best[c] / best[0]
        )
        .unwrap();
        writeln!(csv, "\"{name}\",{:.1},{med:.1}", best[c]).unwrap();
    }
    std::fs::write(ctx.out.join(csv_name(ctx, "arm")), csv).unwrap();
}

// ---------------------------------------------------------------------------
// 5. Start-up cost: sequential fork+exec of /bin/true.

/// Returns the ratio of totals library / C shim.
fn startup(ctx: &Ctx, report: &mut String) -> f64 {
    let n = ctx.n(2000, 300);
    let me = std::process::id();
    let armed = |preload: Option<&Path>| {
        let mut extra = vec!["PDEATHSIG=TERM".to_string(), format!("PDEATHSIG_PPID={me}")];
        if let Some(p) = preload {
            extra.push(format!("LD_PRELOAD={}", p.display()));
        }
        ctx.env_with(&extra)
    };
    let variants: Vec<(&str, Vec<CString>)> = vec![
        ("(a) libpdeathsig.so", armed(Some(&ctx.lib))),
        ("(b) C shim (bench/c-shim/shim.c)", armed(Some(&ctx.shim))),
        ("(c) no preload", armed(None)),
    ];
    let argv = [cstr("/bin/true")];
    let run = |env: &[CString]| -> f64 {
        let t0 = Instant::now();
        let pid = spawn(&argv, env, None);
        let status = reap(pid);
        assert_eq!(status, Some(0), "/bin/true failed under {env:?}");
        t0.elapsed().as_secs_f64() * 1e6
    };
    // Warm up (page cache, dynamic loader caches).
    for (_, env) in &variants {
        for _ in 0..50 {
            run(env);
        }
    }
    eprintln!(
        "startup: {n} execs x {} variants, interleaved",
        variants.len()
    );
    let mut samples = vec![Vec::with_capacity(n); variants.len()];
    // Every permutation of the three in turn, one exec each: drift hits all.
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [1, 2, 0],
        [2, 0, 1],
        [0, 2, 1],
        [2, 1, 0],
        [1, 0, 2],
    ];
    for i in 0..n {
        for &v in &ORDERS[i % ORDERS.len()] {
            samples[v].push(run(&variants[v].1));
        }
    }
    let totals: Vec<f64> = samples.iter().map(|s| s.iter().sum::<f64>()).collect();
    let medians: Vec<f64> = samples
        .iter()
        .map(|s| percentile(&sorted(s.clone()), 50.0))
        .collect();
    let ratio_b = totals[0] / totals[1];
    let ratio_c = totals[0] / totals[2];
    writeln!(
        report,
        "\n## Start-up cost: {n} sequential posix_spawn + wait of /bin/true per variant\n\n\
         Variants interleaved exec by exec (rotating order), same run. Environment of \
         each: `PDEATHSIG=TERM PDEATHSIG_PPID=<the benchmark's pid>` (so both libraries \
         arm, pass the check and stamp).\n\n\
         | preload | total | mean per exec | median per exec |\n|---|---:|---:|---:|"
    )
    .unwrap();
    let mut csv = String::from("variant,execs,total_us,median_us\n");
    for (v, (name, _)) in variants.iter().enumerate() {
        writeln!(
            report,
            "| {name} | {:.0} ms | {:.0} us | {:.0} us |",
            totals[v] / 1000.0,
            totals[v] / n as f64,
            medians[v]
        )
        .unwrap();
        writeln!(csv, "\"{name}\",{n},{:.0},{:.1}", totals[v], medians[v]).unwrap();
    }
    writeln!(
        report,
        "\nRatio of totals (a)/(b), library to C shim: **{ratio_b:.3}** (must be <= 1.05); \
         (a)/(c), library to no preload: {ratio_c:.3}. Medians: (a)/(b) {:.3}, (a)/(c) {:.3}.\n",
        medians[0] / medians[1],
        medians[0] / medians[2]
    )
    .unwrap();
    writeln!(
        report,
        "| file | size | relocations (readelf -r) | libgcc_s in ldd |\n|---|---:|---:|---|"
    )
    .unwrap();
    for path in [&ctx.lib, &ctx.shim] {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let relocs = run_text("readelf", &["-rW", &path.display().to_string()])
            .lines()
            .filter(|l| l.contains("R_X86_64") || l.contains("R_AARCH64"))
            .count();
        let ldd = run_text("ldd", &[&path.display().to_string()]);
        writeln!(
            report,
            "| {} | {size} B | {relocs} | {} |",
            path.file_name().unwrap().to_string_lossy(),
            if ldd.contains("libgcc_s") {
                "YES"
            } else {
                "no"
            }
        )
        .unwrap();
    }
    let ldd = run_text("ldd", &[&ctx.lib.display().to_string()]);
    let ldd: Vec<&str> = ldd.lines().map(str::trim).collect();
    let ldd = ldd.join("\n");
    writeln!(report, "\n`ldd libpdeathsig.so`:\n\n```\n{ldd}\n```").unwrap();
    std::fs::write(ctx.out.join(csv_name(ctx, "startup")), csv).unwrap();
    ratio_b
}
