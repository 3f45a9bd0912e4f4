//! `pdeathsig`: run a program that dies when the caller of `pdeathsig` dies.
//!
//! ```text
//! pdeathsig [--signal SIG] [--ppid PID] [--] PROGRAM [ARGS...]
//! ```
//!
//! The wrapper arms `prctl(PR_SET_PDEATHSIG)` on itself, checks that its
//! parent is still the one it should have (closing the start-up race), writes
//! `PDEATHSIG_PPID=<own pid>` into the environment and then execs PROGRAM.
//! The setting survives execve(2) and the pid stays the same, so PROGRAM is
//! armed without knowing it: static binaries, programs nobody can change.
//!
//! Exit codes follow env(1): 125 when the wrapper itself fails (usage error,
//! arming refused), 126 when PROGRAM was found but could not be executed, 127
//! when it was not found. Otherwise the exit status is PROGRAM's own, since
//! PROGRAM replaces the wrapper. When the parent is already gone, the wrapper
//! sends itself the signal and dies of it, as PROGRAM would have (a shell
//! shows 128 + the signal number); only if it survives the signal (ignored,
//! blocked, or one that does not terminate, such as SIGWINCH) does it exit
//! with 125. PROGRAM is not run in either case.
//!
//! Man pages: PR_SET_PDEATHSIG(2const), prctl(2), execve(2), execvp(3), env(1).

use std::ffi::{OsStr, OsString};
use std::io::{ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use pdeathsig::{
    parse_pid, Error, ParseSignalError, Signal, PDEATHSIG_PPID, PID_ACCEPTED, SIGNAL_ACCEPTED,
};

/// env(1): the wrapper itself failed.
const EXIT_FAILURE: u8 = 125;
/// env(1): PROGRAM found but not executable (or exec failed otherwise).
const EXIT_CANNOT_EXEC: u8 = 126;
/// env(1): PROGRAM not found.
const EXIT_NOT_FOUND: u8 = 127;

const USAGE: &str = "\
Usage: pdeathsig [--signal SIG] [--ppid PID] [--] PROGRAM [ARGS...]

Run PROGRAM so that it receives SIG when the process that started
pdeathsig dies (Linux prctl PR_SET_PDEATHSIG). The setting is armed,
checked against the real parent, and survives the exec of PROGRAM, so
PROGRAM needs no changes: static binaries and scripts work too.

Options:
  -s, --signal SIG  signal to deliver: TERM, SIGKILL, term, 9, RTMIN+2 ...
                    (default: $PDEATHSIG if set, else TERM)
  -p, --ppid PID    pid the parent must have (default: $PDEATHSIG_PPID if
                    set, else the parent pdeathsig saw when it started);
                    if that process is already gone, SIG is delivered at once
                    and PROGRAM is not run
  -h, --help        print this help and exit
  -V, --version     print the version and exit

PROGRAM runs with PDEATHSIG_PPID=<its own pid> in its environment, so its
own children can arm against it. The setting is cleared if PROGRAM is
set-user-ID, set-group-ID or has file capabilities.

Exit status: 125 if pdeathsig itself fails (bad usage, arming refused),
126 if PROGRAM cannot be executed, 127 if PROGRAM is not found, otherwise
the exit status of PROGRAM. If the parent is already gone, pdeathsig sends
itself SIG and dies of it, as PROGRAM would have (a shell shows 128+SIG:
143 for TERM, 137 for KILL); if SIG does not end it (ignored, blocked, or
a signal such as WINCH whose default is not to terminate), it exits 125.
Either way PROGRAM is not run.
";

/// What the command line asks for.
struct Invocation {
    signal: Option<Signal>,
    ppid: Option<libc::pid_t>,
    program: OsString,
    args: Vec<OsString>,
}

enum Parsed {
    Run(Invocation),
    Help,
    Version,
}

/// A usage error: the one-line message after `pdeathsig: `.
struct Usage(String);

/// `"value"` with non-printable bytes escaped, so any argument reads on one line.
fn quoted(value: &OsStr) -> String {
    format!("\"{}\"", value.as_bytes().escape_ascii())
}

fn parse_signal(option: &str, value: &OsStr) -> Result<Signal, Usage> {
    Signal::parse(value.as_bytes())
        .ok_or_else(|| Usage(format!("{option} {}: {}", quoted(value), ParseSignalError)))
}

fn parse_ppid(option: &str, value: &OsStr) -> Result<libc::pid_t, Usage> {
    parse_pid(value.as_bytes()).ok_or_else(|| {
        Usage(format!(
            "{option} {}: invalid parent pid; {PID_ACCEPTED}",
            quoted(value)
        ))
    })
}

/// Parses the arguments after argv[0]. Options stop at `--` or at the first
/// argument that does not start with `-` (PROGRAM), as in env(1).
fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Parsed, Usage> {
    let mut signal = None;
    let mut ppid = None;
    let program = loop {
        let Some(arg) = args.next() else {
            return Err(Usage(
                "missing PROGRAM; usage: pdeathsig [--signal SIG] [--ppid PID] [--] PROGRAM [ARGS...]"
                    .into(),
            ));
        };
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            match args.next() {
                Some(program) => break program,
                None => {
                    return Err(Usage(
                        "missing PROGRAM after --; usage: pdeathsig [--signal SIG] [--ppid PID] [--] PROGRAM [ARGS...]"
                            .into(),
                    ))
                }
            }
        }
        if !bytes.starts_with(b"-") {
            break arg;
        }
        // Split `--name=value`, `-sVALUE`; otherwise the value is the next argument.
        let (name, inline): (&[u8], Option<&[u8]>) = if bytes.starts_with(b"--") {
            match bytes.iter().position(|&b| b == b'=') {
                Some(eq) => (&bytes[..eq], Some(&bytes[eq + 1..])),
                None => (bytes, None),
            }
        } else if bytes.len() > 2 {
            (&bytes[..2], Some(&bytes[2..]))
        } else {
            (bytes, None)
        };
        let option = String::from_utf8_lossy(name).into_owned();
        match name {
            b"-h" | b"--help" if inline.is_none() => return Ok(Parsed::Help),
            b"-V" | b"--version" if inline.is_none() => return Ok(Parsed::Version),
            b"-s" | b"--signal" | b"-p" | b"--ppid" => {
                let value = match inline {
                    Some(v) => OsStr::from_bytes(v).to_os_string(),
                    None => args.next().ok_or_else(|| {
                        Usage(if name == b"-s" || name == b"--signal" {
                            format!("option {option} needs a signal; {SIGNAL_ACCEPTED}")
                        } else {
                            format!("option {option} needs a parent pid; {PID_ACCEPTED}")
                        })
                    })?,
                };
                if name == b"-s" || name == b"--signal" {
                    signal = Some(parse_signal(&option, &value)?);
                } else {
                    ppid = Some(parse_ppid(&option, &value)?);
                }
            }
            _ => {
                return Err(Usage(format!(
                    "unknown option {}; accepted: --signal SIG, -s SIG, --ppid PID, -p PID, \
                     --help, --version, and -- before a PROGRAM that starts with -",
                    quoted(&arg)
                )))
            }
        }
    };
    Ok(Parsed::Run(Invocation {
        signal,
        ppid,
        program,
        args: args.collect(),
    }))
}

fn fail(code: u8, message: &str) -> ExitCode {
    let line = format!("pdeathsig: {message}\n");
    // Nothing sensible to do if stderr is gone.
    let _ = std::io::stderr().write_all(line.as_bytes());
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let invocation = match parse_args(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(invocation)) => invocation,
        Ok(Parsed::Help) => {
            let _ = std::io::stdout().write_all(USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            let _ = std::io::stdout()
                .write_all(concat!("pdeathsig ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(Usage(message)) => return fail(EXIT_FAILURE, &message),
    };
    run(invocation)
}

fn run(invocation: Invocation) -> ExitCode {
    // The signal: --signal, else $PDEATHSIG (the tree's choice), else TERM.
    let signal = match invocation.signal {
        Some(sig) => sig,
        None => match pdeathsig::requested_signal() {
            Ok(Some(sig)) => sig,
            Ok(None) => Signal::TERM,
            Err(err) => return fail(EXIT_FAILURE, &err.to_string()),
        },
    };
    // The expected parent: --ppid, else $PDEATHSIG_PPID, else the parent seen
    // when this binary was loaded (the library's load-time constructor).
    let armed = match invocation.ppid {
        Some(ppid) => pdeathsig::arm_parent_death_signal_expecting(signal, ppid),
        None => pdeathsig::arm_parent_death_signal(signal),
    };
    match armed {
        Ok(_) => {}
        // The signal was sent to us and we survived it (ignored, blocked, or
        // a signal whose default action is not to terminate). The parent is
        // gone: PROGRAM must not run.
        Err(err @ Error::ParentDied { .. }) => {
            return fail(
                EXIT_FAILURE,
                &format!("{err}; not running {}", quoted(&invocation.program)),
            )
        }
        Err(err) => return fail(EXIT_FAILURE, &format!("{err}; not running PROGRAM")),
    }
    let mut command = Command::new(&invocation.program);
    command
        .args(&invocation.args)
        .env(PDEATHSIG_PPID, std::process::id().to_string());
    // exec only returns on failure. Note: std resets the signal mask and
    // SIGPIPE's disposition for the new program, as for every child it starts.
    let err = command.exec();
    let code = match err.kind() {
        ErrorKind::NotFound => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXEC,
    };
    fail(
        code,
        &format!("cannot run {}: {err}", quoted(&invocation.program)),
    )
}
