//! The Rust API in real child processes: examples/rust_child (the
//! copy-paste example) and this test binary re-executed as a child
//! (`child_process_entry`, selected by PDEATHSIG_TEST_CHILD) for the other
//! calls: the explicit-pid variant, query and disarm, and a child that
//! survives the signal (caught or ignored) and gets `Error::ParentDied`.
// Children are reaped by pid (waitid in support::wait_status, or the Tree's
// cleanup on drop), which this lint cannot see.
#![allow(clippy::zombie_processes)]
mod support;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::*;

use pdeathsig::{
    arm_parent_death_signal, arm_parent_death_signal_expecting, disarm_parent_death_signal,
    get_parent_death_signal, rearm_parent_death_signal, Armed, Error, Mode, Options, Signal,
};

/// Selects what the re-executed test binary does as a child.
const CHILD_MODE: &str = "PDEATHSIG_TEST_CHILD";
/// The expected parent pid the child is given explicitly.
const EXPECT_VAR: &str = "MY_PARENT";
/// How long a control child is watched after its parent died.
const CONTROL_WATCH: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------- the child

/// The child side. A no-op in a normal test run; with PDEATHSIG_TEST_CHILD
/// set (by `child_command`) it runs one child mode and never returns.
/// Reports are stdout lines starting with '@' (libtest prints its own lines).
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let code = run_child(&mode);
    std::process::exit(code);
}

fn report(line: String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "@{line}");
    let _ = out.flush();
}

fn raw(sig: Result<Option<Signal>, Error>) -> String {
    match sig {
        Ok(Some(sig)) => sig.as_raw().to_string(),
        Ok(None) => "none".to_string(),
        Err(err) => format!("error {err}"),
    }
}

fn expected_parent() -> libc::pid_t {
    std::env::var(EXPECT_VAR)
        .expect("MY_PARENT")
        .parse()
        .expect("MY_PARENT is a pid")
}

static CAUGHT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    CAUGHT.store(true, Ordering::SeqCst);
}

fn run_child(mode: &str) -> i32 {
    match mode {
        "none" => {
            report("unarmed".into());
            std::thread::sleep(Duration::from_secs(60));
            0
        }
        // Armed against an explicitly given parent pid.
        "expect" => {
            match arm_parent_death_signal_expecting(Signal::TERM, expected_parent()) {
                Ok(armed) => report(format!(
                    "armed {armed:?} get {}",
                    raw(get_parent_death_signal())
                )),
                Err(err) => {
                    report(format!("error {err}"));
                    return 1;
                }
            }
            std::thread::sleep(Duration::from_secs(60));
            0
        }
        // Query, disarm, query: then wait for the parent to die.
        "query-disarm" => {
            let armed = arm_parent_death_signal(libc::SIGUSR2);
            report(format!(
                "armed {:?} get {}",
                armed.map(|_| ()),
                raw(get_parent_death_signal())
            ));
            let disarmed = disarm_parent_death_signal();
            report(format!(
                "disarmed {disarmed:?} get {}",
                raw(get_parent_death_signal())
            ));
            std::thread::sleep(Duration::from_secs(60));
            0
        }
        // The expected parent is dead and SIGTERM is ignored: the child
        // survives the signal the guard sends and gets ParentDied.
        "ignore" => {
            // SAFETY: SIG_IGN is a valid disposition for SIGTERM.
            unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
            let result = arm_parent_death_signal_expecting(Signal::TERM, expected_parent());
            report_parent_died(result);
            0
        }
        // The same through PDEATHSIG_PPID, with SIGUSR1 caught by a handler.
        "catch" => {
            // SAFETY: the handler only stores to an atomic
            // (async-signal-safe); the cast is how signal(2) takes it.
            unsafe {
                libc::signal(
                    libc::SIGUSR1,
                    on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
                )
            };
            let result = arm_parent_death_signal(libc::SIGUSR1);
            let deadline = Instant::now() + DEATH_TIMEOUT;
            while !CAUGHT.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            report(format!("caught {}", CAUGHT.load(Ordering::SeqCst)));
            report_parent_died(result);
            0
        }
        // Process mode with a grace under a millisecond, SIGTERM ignored
        // after arming, then rearm: the grace must survive the rearm (it
        // was once rounded down to none), so SIGKILL follows the TERM.
        "rearm-grace" | "rearm-nograce" => {
            let mut options = Options::new(Signal::TERM).mode(Mode::Process);
            if mode == "rearm-grace" {
                options = options.grace(Duration::from_micros(500));
            }
            let armed = options.arm();
            // SAFETY: SIG_IGN is a valid disposition for SIGTERM.
            unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
            let rearmed = rearm_parent_death_signal();
            report(format!(
                "armed {:?} rearmed {:?}",
                armed.map(|_| ()),
                rearmed.map(|_| ())
            ));
            std::thread::sleep(Duration::from_secs(60));
            0
        }
        // Reading the protocol's variables while another thread sets them:
        // the safe functions go through std::env, whose lock orders them
        // with set_var (a raw getenv(3) here could read freed memory).
        "env-race" => {
            let stop = std::sync::Arc::new(AtomicBool::new(false));
            let writer = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut n: u64 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        // Values of changing length: setenv reallocates.
                        let value = format!("{}:{}", 1 + n % 100_000, n);
                        std::env::set_var("PDEATHSIG_PPID", value);
                        std::env::set_var("PDEATHSIG", if n % 2 == 0 { "TERM" } else { "SIGKILL" });
                    }
                })
            };
            let deadline = Instant::now() + Duration::from_millis(500);
            let mut reads = 0u64;
            let mut bad = 0u64;
            while Instant::now() < deadline {
                match (
                    pdeathsig::EnvConfig::from_env(),
                    pdeathsig::exported_parent(),
                ) {
                    (Ok(config), Ok(Some(pid))) if config.parent.is_some() && pid > 0 => {}
                    (Ok(_), Ok(None)) if reads == 0 => {}
                    other => {
                        bad += 1;
                        report(format!("bad read {other:?}"));
                    }
                }
                reads += 1;
            }
            stop.store(true, Ordering::Relaxed);
            writer.join().unwrap();
            report(format!("reads ok {}", bad == 0 && reads > 100));
            0
        }
        _ => {
            report(format!("bad mode {mode}"));
            2
        }
    }
}

fn report_parent_died(result: Result<Armed, Error>) {
    match result {
        Err(
            ref err @ Error::ParentDied {
                signal,
                expected,
                parent,
            },
        ) => report(format!(
            "parent-died signal {} expected {expected} parent {parent} errno {} get {} msg {err}",
            signal.as_raw(),
            err.errno(),
            raw(get_parent_death_signal()),
        )),
        other => report(format!("unexpected {other:?}")),
    }
}

// ---------------------------------------------------------- the test side

/// This test binary as a child in `mode`.
fn child_args(mode: &str) -> (std::path::PathBuf, Vec<String>, (String, String)) {
    let exe = std::env::current_exe().unwrap();
    let args = [
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]
    .map(String::from)
    .to_vec();
    (exe, args, (CHILD_MODE.to_string(), mode.to_string()))
}

/// This test binary as a child in `mode`, started directly by the test.
fn child_command(tree: &Tree, mode: &str) -> Command {
    let (exe, args, (k, v)) = child_args(mode);
    let mut cmd = tree.command(exe);
    cmd.args(args)
        .env(k, v)
        .env_remove("LD_PRELOAD")
        .env_remove("PDEATHSIG")
        .env_remove("PDEATHSIG_PPID");
    cmd
}

/// `spawn SPAWN_ARGS -- <this binary as a child in mode>`.
fn spawned_child_command(tree: &Tree, spawn_args: &[&str], mode: &str) -> Command {
    let (exe, args, (k, v)) = child_args(mode);
    let mut cmd = tree.command(c_helper("spawn.c", "spawn", &[]));
    cmd.args(spawn_args)
        .arg("--")
        .arg(exe)
        .args(args)
        .env(k, v)
        .env_remove("LD_PRELOAD")
        .env_remove("PDEATHSIG")
        .env_remove("PDEATHSIG_PPID");
    cmd
}

/// Reads stdout lines until `count` '@' reports (and, if `want_pid`, one
/// pid line from spawn) have come, bounded.
fn read_reports(
    child: &mut std::process::Child,
    count: usize,
    want_pid: bool,
) -> (Option<Pid>, Vec<String>) {
    let mut pid = None;
    let mut reports = Vec::new();
    let deadline = Instant::now() + DEATH_TIMEOUT;
    while reports.len() < count || (want_pid && pid.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = read_line(child, left.max(Duration::from_millis(1)));
        if let Some(report) = line.strip_prefix('@') {
            reports.push(report.to_string());
        } else if let (true, Ok(p)) = (want_pid && pid.is_none(), line.trim().parse()) {
            pid = Some(p);
        }
    }
    (pid, reports)
}

/// SIGKILLs `spawn` (a parent started by the test) and reaps it.
fn kill_parent(parent: &std::process::Child) {
    assert_eq!(
        kill_reap(parent.id() as Pid),
        Some(Status::Signaled(libc::SIGKILL))
    );
}

#[test]
fn rust_child_dies_with_parent_and_control_survives() {
    let mut tree = Tree::new();
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let rust_child = example("rust_child");
    for (arg, sig) in [
        (None, libc::SIGTERM),
        (Some("TERM"), libc::SIGTERM),
        (Some("sigkill"), libc::SIGKILL),
        (Some("10"), libc::SIGUSR1),
        (Some("RTMIN+2"), libc::SIGRTMIN() + 2),
    ] {
        let mut cmd = tree.command(&spawn);
        cmd.args(["--handoff", "--"])
            .arg(&rust_child)
            .args(arg)
            .env_remove("PDEATHSIG_PPID");
        let mut parent = tree.spawn(piped(&mut cmd));
        let child = read_pid(&mut parent, DEATH_TIMEOUT);
        tree.track(child);
        // No readiness report is needed: with the handoff, a child that
        // arms after its parent died sends itself the signal.
        std::thread::sleep(Duration::from_millis(50));
        kill_parent(&parent);
        assert_eq!(
            wait_status(child, DEATH_TIMEOUT),
            Some(Status::Signaled(sig)),
            "rust_child {arg:?}"
        );
    }

    // Control: a Rust child that does not arm outlives its parent.
    let mut cmd = spawned_child_command(&tree, &["--handoff"], "none");
    let mut parent = tree.spawn(piped(&mut cmd));
    let (child, reports) = read_reports(&mut parent, 1, true);
    let child = child.unwrap();
    tree.track(child);
    assert_eq!(reports, ["unarmed"]);
    kill_parent(&parent);
    assert_eq!(wait_status(child, CONTROL_WATCH), None);
    assert!(alive(child), "the unarmed control died");
    assert_eq!(kill_reap(child), Some(Status::Signaled(libc::SIGKILL)));
}

/// A grace under 1 ms survives `rearm_parent_death_signal` (it used to be
/// remembered rounded down to nothing): the TERM-ignoring child is
/// SIGKILLed. Control: without a grace the same child lives on.
#[test]
fn rearm_keeps_a_sub_millisecond_grace() {
    let mut tree = Tree::new();
    for (mode, rearmed, want) in [
        (
            "rearm-grace",
            "Ok(())",
            Some(Status::Signaled(libc::SIGKILL)),
        ),
        // Without a grace, the ignored TERM makes the guard a no-op: said.
        ("rearm-nograce", "Err(SignalIgnored", None),
    ] {
        let mut cmd = spawned_child_command(&tree, &["--handoff"], mode);
        let mut parent = tree.spawn(piped(&mut cmd));
        let (child, reports) = read_reports(&mut parent, 1, true);
        let child = child.unwrap();
        tree.track(child);
        assert!(
            reports.len() == 1
                && reports[0].starts_with(&format!("armed Ok(()) rearmed {rearmed}")),
            "{mode}: {reports:?}"
        );
        kill_parent(&parent);
        let wait = if want.is_some() {
            DEATH_TIMEOUT
        } else {
            CONTROL_WATCH
        };
        assert_eq!(wait_status(child, wait), want, "{mode}");
    }
}

/// The safe environment readers against `std::env::set_var` in another
/// thread: consistent values, no crash (through std's environment lock).
#[test]
fn environment_reads_are_ordered_with_set_var() {
    let mut tree = Tree::new();
    let mut cmd = child_command(&tree, "env-race");
    cmd.env("PDEATHSIG_PPID", "1");
    let mut child = tree.spawn(piped(&mut cmd));
    let (_, reports) = read_reports(&mut child, 1, false);
    assert_eq!(reports, ["reads ok true"]);
    assert_eq!(
        wait_status(child.id() as Pid, DEATH_TIMEOUT),
        Some(Status::Exited(0))
    );
}

#[test]
fn rust_child_reports_bad_signal_and_dead_parent() {
    let mut tree = Tree::new();
    let rust_child = example("rust_child");
    // A bad argument: a message and exit code 2, nothing armed.
    let mut cmd = tree.command(&rust_child);
    cmd.arg("SIGFOO").stderr(std::process::Stdio::piped());
    let out = tree.spawn(&mut cmd);
    let pid = out.id() as Pid;
    let status = wait_status(pid, DEATH_TIMEOUT);
    let mut err = String::new();
    use std::io::Read;
    out.stderr.unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status, Some(Status::Exited(2)), "{err}");
    assert!(err.contains("SIGFOO"), "{err}");

    // PDEATHSIG_PPID names a dead process: the child's parent (this test)
    // is alive, but not the one it was promised, so the child dies at once.
    let dead = dead_pid(&mut tree);
    let mut cmd = tree.command(&rust_child);
    cmd.arg("TERM").env("PDEATHSIG_PPID", dead.to_string());
    let child = tree.spawn(&mut cmd);
    assert_eq!(
        wait_status(child.id() as Pid, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );
}

#[test]
fn explicit_parent_pid() {
    let mut tree = Tree::new();
    // The right pid, given explicitly (not through PDEATHSIG_PPID).
    let mut cmd = spawned_child_command(&tree, &["--export-pid", EXPECT_VAR], "expect");
    let mut parent = tree.spawn(piped(&mut cmd));
    let (child, reports) = read_reports(&mut parent, 1, true);
    let child = child.unwrap();
    tree.track(child);
    assert_eq!(
        reports,
        [format!(
            "armed Parent({}) get {}",
            parent.id(),
            libc::SIGTERM
        )]
    );
    kill_parent(&parent);
    assert_eq!(
        wait_status(child, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );

    // A wrong (dead) pid: the signal comes at once, no report.
    let dead = dead_pid(&mut tree);
    let mut cmd = child_command(&tree, "expect");
    cmd.env(EXPECT_VAR, dead.to_string());
    let mut child = tree.spawn(piped(&mut cmd));
    assert_eq!(
        wait_status(child.id() as Pid, DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );
    let mut rest = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    assert!(!rest.contains("@armed"), "{rest}");
}

#[test]
fn query_and_disarm() {
    let mut tree = Tree::new();
    let mut cmd = spawned_child_command(&tree, &["--handoff"], "query-disarm");
    let mut parent = tree.spawn(piped(&mut cmd));
    let (child, reports) = read_reports(&mut parent, 2, true);
    let child = child.unwrap();
    tree.track(child);
    assert_eq!(
        reports,
        [
            format!("armed Ok(()) get {}", libc::SIGUSR2),
            "disarmed Ok(()) get none".to_string()
        ]
    );
    // Disarmed: it outlives its parent (the armed counterpart, rust_child
    // with any signal, dies: rust_child_dies_with_parent_and_control_survives).
    kill_parent(&parent);
    assert_eq!(wait_status(child, CONTROL_WATCH), None);
    assert!(alive(child), "the disarmed child died with its parent");
    assert_eq!(kill_reap(child), Some(Status::Signaled(libc::SIGKILL)));
}

#[test]
fn survivor_of_the_signal_gets_parent_died() {
    let mut tree = Tree::new();
    let me = std::process::id();
    let dead = dead_pid(&mut tree);

    // SIGTERM ignored, expected pid explicit.
    let mut cmd = child_command(&tree, "ignore");
    cmd.env(EXPECT_VAR, dead.to_string());
    let mut child = tree.spawn(piped(&mut cmd));
    let (_, reports) = read_reports(&mut child, 1, false);
    assert_eq!(
        wait_status(child.id() as Pid, DEATH_TIMEOUT),
        Some(Status::Exited(0))
    );
    let prefix = format!(
        "parent-died signal {} expected {dead} parent {me} errno {} get {} msg ",
        libc::SIGTERM,
        libc::ESRCH,
        libc::SIGTERM
    );
    assert!(reports[0].starts_with(&prefix), "{reports:?}");
    assert!(
        reports[0].contains(&format!("parent process {dead} had already exited")),
        "{reports:?}"
    );

    // SIGUSR1 caught, expected pid from PDEATHSIG_PPID: the handler ran.
    let mut cmd = child_command(&tree, "catch");
    cmd.env("PDEATHSIG_PPID", dead.to_string());
    let mut child = tree.spawn(piped(&mut cmd));
    let (_, reports) = read_reports(&mut child, 2, false);
    assert_eq!(
        wait_status(child.id() as Pid, DEATH_TIMEOUT),
        Some(Status::Exited(0))
    );
    assert_eq!(reports[0], "caught true");
    let prefix = format!(
        "parent-died signal {} expected {dead} parent {me} errno {} get {} msg ",
        libc::SIGUSR1,
        libc::ESRCH,
        libc::SIGUSR1
    );
    assert!(reports[1].starts_with(&prefix), "{reports:?}");
}
