//! A child process that dies when its parent dies: the one call a Rust
//! program needs, at the top of `main`.
//!
//! ```text
//! rust_child [SIGNAL]    SIGNAL as PDEATHSIG spells it: TERM (default),
//!                        SIGKILL, hup, 15, RTMIN+2
//! ```
//!
//! The spawner should export its own pid as `PDEATHSIG_PPID=<pid>` into the
//! child's environment: that closes the race with a parent that dies before
//! the child has armed (without it, the parent seen at start-up is used).
//! Try it: `cargo run --example rust_child -- TERM`, then kill the parent.
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::time::Duration;

use pdeathsig::{arm_parent_death_signal, Signal};

fn main() -> ExitCode {
    let signal = match std::env::args_os().nth(1) {
        None => Signal::TERM,
        Some(arg) => match Signal::parse(arg.as_bytes()) {
            Some(signal) => signal,
            None => {
                eprintln!("rust_child: bad signal {arg:?}: try TERM, KILL, 15 or RTMIN+2");
                return ExitCode::from(2);
            }
        },
    };

    // First thing in main: ask for `signal` when the parent dies. If the
    // parent is already gone, this sends `signal` to us right now (and we
    // die of it, unless we catch or ignore it: then it returns an error).
    if let Err(err) = arm_parent_death_signal(signal) {
        eprintln!("rust_child: {err}");
        return ExitCode::from(1);
    }

    // The child's real work goes here; this one just waits.
    std::thread::sleep(Duration::from_secs(60));
    ExitCode::SUCCESS
}
