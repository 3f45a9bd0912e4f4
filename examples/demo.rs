//! Demo: a parent starts a guarded and an unguarded child and is SIGKILLed.
//! The guarded child dies with it; the unguarded one is left as an orphan,
//! which the demo then cleans up.
//!
//!     cargo run --example demo
//!
//! One binary plays every role (argv[1]): the demo itself (no argument),
//! `parent`, `guarded` and `unguarded`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pdeathsig::{arm_parent_death_signal, Signal, PDEATHSIG_PPID};

fn main() {
    match std::env::args().nth(1).as_deref() {
        None => demo(),
        Some("parent") => parent(),
        Some("guarded") => child(true),
        Some("unguarded") => child(false),
        Some(other) => {
            eprintln!("demo: unknown role {other:?}; run it without arguments");
            std::process::exit(2);
        }
    }
}

/// A child: the guarded one arms first thing in main, then both just wait.
fn child(guarded: bool) {
    if guarded {
        if let Err(err) = arm_parent_death_signal(Signal::TERM) {
            eprintln!("demo: guarded child could not arm: {err}");
            std::process::exit(1);
        }
    }
    std::thread::sleep(Duration::from_secs(120));
}

/// The parent: starts both children, exporting its pid (the handoff that
/// closes the start-up race), reports their pids, then waits to be killed.
// The parent never waits for its children: it is SIGKILLed, and the demo
// (their subreaper) reaps them.
#[allow(clippy::zombie_processes)]
fn parent() {
    let me = std::env::current_exe().expect("current_exe");
    let mut pids = Vec::new();
    for role in ["guarded", "unguarded"] {
        let child = Command::new(&me)
            .arg(role)
            .env(PDEATHSIG_PPID, std::process::id().to_string())
            .spawn()
            .expect("spawn child");
        pids.push(child.id().to_string());
    }
    println!("{}", pids.join(" "));
    std::thread::sleep(Duration::from_secs(120));
}

fn demo() {
    // Become a subreaper: the orphans come back to us, so we can clean up.
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };

    let me = std::env::current_exe().expect("current_exe");
    let mut parent = Command::new(&me)
        .arg("parent")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn parent");
    let mut line = String::new();
    BufReader::new(parent.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("read child pids");
    let pids: Vec<i32> = line
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let [guarded, unguarded] = pids[..] else {
        eprintln!("demo: the parent did not report two children");
        let _ = parent.kill();
        let _ = parent.wait();
        std::process::exit(1);
    };
    println!(
        "demo: parent {} started a guarded child {guarded} and an unguarded child {unguarded}",
        parent.id()
    );
    std::thread::sleep(Duration::from_millis(300));

    println!("demo: SIGKILL the parent {}", parent.id());
    parent.kill().expect("kill parent");
    parent.wait().expect("reap parent");

    let deadline = Instant::now() + Duration::from_secs(3);
    let mut guarded_status = None;
    while guarded_status.is_none() && Instant::now() < deadline {
        guarded_status = reap(guarded);
        std::thread::sleep(Duration::from_millis(10));
    }
    match &guarded_status {
        Some(how) => println!("demo: guarded child {guarded}: gone ({how})"),
        None => println!("demo: guarded child {guarded}: STILL RUNNING (unexpected)"),
    }
    let survived = reap(unguarded).is_none();
    if survived {
        println!(
            "demo: unguarded child {unguarded}: still running, an orphan now owned by pid {}",
            std::process::id()
        );
    } else {
        println!("demo: unguarded child {unguarded}: gone (unexpected)");
    }

    // Clean up whatever survived, and reap it.
    for pid in [guarded, unguarded] {
        // SAFETY: both pids are our (adopted) children, not yet reaped, so
        // they cannot have been reused.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let mut status = 0;
        // SAFETY: waitpid writes the status into a live local.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
    if survived {
        println!("demo: cleaned up: killed the orphan {unguarded}");
    }
    let ok = guarded_status.is_some() && survived;
    std::process::exit(if ok { 0 } else { 1 });
}

/// Reaps `pid` if it has exited; describes how.
fn reap(pid: i32) -> Option<String> {
    let mut status = 0;
    // SAFETY: waitpid writes the status into a live local.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if rc != pid {
        return None;
    }
    Some(if libc::WIFSIGNALED(status) {
        let sig = Signal::from_raw(libc::WTERMSIG(status))
            .map(|s| s.to_string())
            .unwrap_or_default();
        format!("killed by {sig}")
    } else {
        format!("exited with {}", libc::WEXITSTATUS(status))
    })
}
