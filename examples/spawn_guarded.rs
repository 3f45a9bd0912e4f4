//! A parent that starts one child with the `std::process::Command`
//! extension, prints the child's pid, and waits (or dies).
//!
//! ```text
//! cargo run --example spawn_guarded -- [--mode MODE] [--signal SIG]
//!     [--from-thread] [--die-after-us N] -- PROGRAM [ARGS...]
//! ```
//!
//! MODE: `pre-exec` (default: arm in the fork child, works for any program),
//! `env` (export PDEATHSIG and PDEATHSIG_PPID only), `preload=LIB` (env plus
//! LD_PRELOAD=LIB, the path of libpdeathsig.so), `none` (unguarded), or
//! `pre-exec-unchecked` (for comparison: a bare prctl in `pre_exec`, what the
//! thin prctl wrappers and Python `preexec_fn` recipes do, without the check
//! that closes the race).
//!
//! `--from-thread` spawns from a thread that exits right after: the child
//! then gets the signal although this process lives on (the thread caveat of
//! PR_SET_PDEATHSIG). `--die-after-us N` SIGKILLs this process a random 0..N
//! microseconds after the spawn returned; `--kill-self-within-us N` does so
//! from another thread 0..N microseconds after start, possibly while the
//! child is between fork and exec (the start-up race); `--child-delay-us N`
//! makes the fork child sleep N microseconds before it arms, as a child
//! descheduled at that point would, which widens the race window for tests.
//! Otherwise it sleeps
//! until killed: try `kill -9 <parent>` and watch the child go.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use pdeathsig::{ParentDeathSignalExt, Signal};

enum Mode {
    PreExec,
    PreExecUnchecked,
    Env,
    Preload(String),
    None,
}

fn usage(message: &str) -> ! {
    eprintln!("spawn_guarded: {message}");
    eprintln!(
        "usage: spawn_guarded [--mode pre-exec|env|preload=LIB|none] [--signal SIG] \
         [--from-thread] [--die-after-us N] [--kill-self-within-us N] [--child-delay-us N] \
         -- PROGRAM [ARGS...]"
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut mode = Mode::PreExec;
    let mut signal = Signal::TERM;
    let mut from_thread = false;
    let mut die_after_us: Option<u64> = None;
    let mut kill_within_us: Option<u64> = None;
    let mut child_delay_us: u64 = 0;
    loop {
        let Some(arg) = args.next() else {
            usage("missing -- PROGRAM");
        };
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--mode" => {
                mode = match value("--mode").as_str() {
                    "pre-exec" => Mode::PreExec,
                    "pre-exec-unchecked" => Mode::PreExecUnchecked,
                    "env" => Mode::Env,
                    "none" => Mode::None,
                    other => match other.strip_prefix("preload=") {
                        Some(lib) => Mode::Preload(lib.to_string()),
                        None => usage(&format!("unknown mode {other:?}")),
                    },
                }
            }
            "--signal" => {
                let text = value("--signal");
                signal = text
                    .parse()
                    .unwrap_or_else(|err| usage(&format!("--signal {text:?}: {err}")));
            }
            "--from-thread" => from_thread = true,
            "--die-after-us" => {
                let text = value("--die-after-us");
                die_after_us =
                    Some(text.parse().unwrap_or_else(|_| {
                        usage(&format!("--die-after-us {text:?}: not a number"))
                    }));
            }
            "--kill-self-within-us" => {
                let text = value("--kill-self-within-us");
                kill_within_us = Some(text.parse().unwrap_or_else(|_| {
                    usage(&format!("--kill-self-within-us {text:?}: not a number"))
                }));
            }
            "--child-delay-us" => {
                let text = value("--child-delay-us");
                child_delay_us = text
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("--child-delay-us {text:?}: not a number")));
            }
            "--" => break,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let command: Vec<String> = args.collect();
    if command.is_empty() {
        usage("missing PROGRAM");
    }

    let spawn = move || -> std::io::Result<Child> {
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..]);
        if child_delay_us > 0 {
            let pause = libc::timespec {
                tv_sec: (child_delay_us / 1_000_000) as libc::time_t,
                tv_nsec: (child_delay_us % 1_000_000 * 1000) as libc::c_long,
            };
            // SAFETY: nanosleep is async-signal-safe and reads a local copy.
            // Registered first, so it runs before the arming hook.
            unsafe {
                cmd.pre_exec(move || {
                    libc::nanosleep(&pause, std::ptr::null_mut());
                    Ok(())
                })
            };
        }
        match &mode {
            Mode::PreExec => cmd.parent_death_signal(signal),
            Mode::PreExecUnchecked => {
                let raw = signal.as_raw();
                // SAFETY: prctl is async-signal-safe; nothing is allocated.
                unsafe {
                    cmd.pre_exec(move || {
                        libc::prctl(libc::PR_SET_PDEATHSIG, raw as libc::c_ulong, 0, 0, 0);
                        Ok(())
                    })
                }
            }
            Mode::Env => cmd.parent_death_signal_env(signal),
            Mode::Preload(lib) => cmd.parent_death_signal_preload(signal, lib)?,
            Mode::None => &mut cmd,
        };
        cmd.spawn()
    };
    if let Some(max) = kill_within_us {
        let delay = random_below(max + 1);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_micros(delay));
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        });
    }
    let result = if from_thread {
        // The thread that spawned the child exits here: for the kernel, the
        // child's parent is gone.
        std::thread::spawn(spawn).join().expect("spawner thread")
    } else {
        spawn()
    };
    let mut child = result.unwrap_or_else(|err| {
        eprintln!("spawn_guarded: cannot start the child: {err}");
        std::process::exit(1);
    });

    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", child.id());
    let _ = out.flush();
    if let Some(max) = die_after_us {
        let delay = random_below(max + 1);
        std::thread::sleep(Duration::from_micros(delay));
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    // Reap the child if it ends first, then stay alive until killed.
    let _ = child.wait();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// A random number below `n` (xorshift seeded by the clock and the pid).
fn random_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let mut x = (nanos ^ ((std::process::id() as u64) << 32)) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x % n
}
