//! `pdeathsig`: run a program that dies when the caller of `pdeathsig` dies.
//!
//! ```text
//! pdeathsig [--signal SIG] [--ppid PID] [--mode MODE] [--grace GRACE] [--] PROGRAM [ARGS...]
//! ```
//!
//! The mode is `--mode`, else `PDEATHSIG_MODE`, else `prctl`; the grace
//! period `--grace`, else `PDEATHSIG_GRACE` (process and tree mode only).
//! An option replaces its variable, which is then not read.
//!
//! **prctl mode** (the default): the wrapper arms `prctl(PR_SET_PDEATHSIG)`
//! on itself, checks that its parent is still the one it should have
//! (closing the start-up race), writes `PDEATHSIG_PPID=<own pid>` into the
//! environment and then execs PROGRAM. The setting survives execve(2) and
//! the pid stays the same, so PROGRAM is armed without knowing it: static
//! binaries, programs nobody can change.
//!
//! **process and tree mode**: the library's watcher thread does not survive
//! an exec, and a static PROGRAM cannot load the library, so the wrapper
//! stays as a small supervisor. It arms itself in that mode (watching its
//! parent process, or the tree's anchor: `--ppid`, else `PDEATHSIG_PPID`,
//! else its parent), then runs PROGRAM as its child with `PDEATHSIG_PPID`
//! set to its own pid (process mode) or to the anchor's stamp, unchanged
//! (tree mode). PROGRAM is armed with `PR_SET_PDEATHSIG(SIGKILL)` against
//! the wrapper between fork and exec, so it never outlives it. The wrapper
//! forwards the signals it receives (HUP, INT, QUIT, USR1, USR2, ALRM,
//! TERM, WINCH, CONT and the chosen signal) to PROGRAM, except ones PROGRAM
//! has surely had already: the ones the kernel sent to the whole process
//! group (a terminal's ^C, ^\, hang-up, resize, job control's CONT), and
//! the ones PROGRAM sent itself. PROGRAM runs in the caller's process
//! group, and the wrapper steps out of it, so that a signal sent to the
//! whole group reaches PROGRAM once; it stops with PROGRAM, for job
//! control (see `group`). When the parent (anchor) dies, the
//! wrapper's watcher signals the wrapper, which passes the signal on and,
//! with a grace period, SIGKILLs PROGRAM if it still lives when the grace
//! is over (the watcher SIGKILLs the wrapper then too, and PROGRAM dies with
//! it). The wrapper exits with PROGRAM's status: its exit code, or, when
//! PROGRAM was killed by a signal, the wrapper kills itself with the same
//! signal (default action, no core file of its own), so its caller sees
//! what it would have seen without the wrapper; exit 128 + the signal
//! number only if that fails, which it should never do.
//!
//! In every mode PROGRAM starts with SIGPIPE as the caller left it: Rust's
//! runtime ignores SIGPIPE before `main`, and std resets it to the default
//! for the programs it starts; a constructor records the caller's choice
//! before either happens, and it is put back just before the exec.
//!
//! Exit codes follow env(1): 125 when the wrapper itself fails (usage error,
//! a bad variable, arming refused), 126 when PROGRAM was found but could not
//! be executed, 127 when it was not found. Otherwise the exit status is
//! PROGRAM's own. When the parent is already gone, the wrapper sends itself
//! the signal and dies of it, as PROGRAM would have (a shell shows 128 +
//! the signal number); only if it survives the signal (ignored, blocked, or
//! one that does not terminate, such as SIGWINCH) does it exit with 125.
//! PROGRAM is not run in either case.
//!
//! Man pages: PR_SET_PDEATHSIG(2const), prctl(2), execve(2), execvp(3),
//! env(1), sigtimedwait(2), signal(7), setpgid(2).

mod group;
mod supervise;

use std::ffi::{OsStr, OsString};
use std::io::{ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use libc::{c_int, pid_t};
use pdeathsig::{
    parse_grace, parse_pid, EnvConfig, Error, Mode, Options, ParseSignalError, Signal, Stamp,
    PDEATHSIG_GRACE, PDEATHSIG_MODE, PDEATHSIG_PPID, PID_ACCEPTED, SIGNAL_ACCEPTED,
};

/// env(1): the wrapper itself failed.
const EXIT_FAILURE: u8 = 125;
/// env(1): PROGRAM found but not executable (or exec failed otherwise).
const EXIT_CANNOT_EXEC: u8 = 126;
/// env(1): PROGRAM not found.
const EXIT_NOT_FOUND: u8 = 127;

const SYNOPSIS: &str =
    "pdeathsig [--signal SIG] [--ppid PID] [--mode MODE] [--grace GRACE] [--] PROGRAM [ARGS...]";

const USAGE: &str = "\
Usage: pdeathsig [--signal SIG] [--ppid PID] [--mode MODE] [--grace GRACE]
                 [--] PROGRAM [ARGS...]

Run PROGRAM so that it receives SIG when the process that started
pdeathsig dies. PROGRAM needs no changes: static binaries and scripts
work too.

Options:
  -s, --signal SIG   signal to deliver: TERM, SIGKILL, term, 9, RTMIN+2 ...
                     (default: $PDEATHSIG if set, else TERM)
  -p, --ppid PID     pid the parent (in tree mode: the anchor) must have
                     (default: $PDEATHSIG_PPID if set, else the parent
                     pdeathsig saw when it started); if that process is
                     already gone, SIG is delivered at once and PROGRAM is
                     not run
  -m, --mode MODE    prctl, process or tree (default: $PDEATHSIG_MODE if
                     set, else prctl)
  -g, --grace GRACE  after SIG, SIGKILL PROGRAM if it still lives after
                     GRACE: 500ms, 5s or 5 (seconds), 1ms to 1 hour; process
                     and tree mode only (default: $PDEATHSIG_GRACE)
  -h, --help         print this help and exit
  -V, --version      print the version and exit
An option replaces its variable, which is then not read.

Modes:
  prctl    arm PR_SET_PDEATHSIG, check the parent, exec PROGRAM, which
           keeps the setting and pdeathsig's pid. Zero cost, but the
           kernel fires when the parent's *thread* that started
           pdeathsig exits, even if the parent process lives on.
  process  pdeathsig watches its parent *process* (a pidfd) and stays as
           a small supervisor with PROGRAM as its child: signals it gets
           are forwarded to PROGRAM, PROGRAM gets SIGKILL if pdeathsig
           itself dies, and pdeathsig ends as PROGRAM ends.
  tree     as process, and the tree's anchor too: --ppid, else
           $PDEATHSIG_ANCHOR, else $PDEATHSIG_PPID, else pdeathsig itself;
           detached processes follow the anchor only.

PROGRAM runs with PDEATHSIG_PPID set to its parent's pid (its own in prctl
mode), and in tree mode PDEATHSIG_ANCHOR naming the anchor, so that its own
children can arm against it. It starts with SIGPIPE as the caller left it.
The kernel setting is cleared if PROGRAM is set-user-ID, set-group-ID or
has file capabilities.

Exit status: 125 if pdeathsig itself fails (bad usage or variable, arming
refused), 126 if PROGRAM cannot be executed, 127 if PROGRAM is not found,
otherwise the exit status of PROGRAM. In process and tree mode, when
PROGRAM is killed by a signal, pdeathsig kills itself with the same signal
(a shell shows 128+SIG). If the parent is already gone, pdeathsig sends
itself SIG and dies of it (143 for TERM, 137 for KILL in a shell); if SIG
does not end it (ignored, blocked, or a signal such as WINCH whose default
is not to terminate), it exits 125. Either way PROGRAM is not run.
";

/// Was SIGPIPE ignored when the caller exec'd us? Recorded before `main`,
/// before Rust's runtime sets SIGPIPE to `SIG_IGN` for itself.
static CALLER_IGNORES_SIGPIPE: AtomicBool = AtomicBool::new(false);

/// Runs from `.init_array`, before `main` and so before Rust's runtime
/// changes SIGPIPE's disposition: records the one the caller left.
#[ctor::ctor(unsafe)]
fn record_caller_sigpipe() {
    CALLER_IGNORES_SIGPIPE.store(signal_ignored(libc::SIGPIPE), Ordering::Relaxed);
}

/// Is `sig` ignored (`SIG_IGN`) in this process? False when the
/// disposition cannot be read. See sigaction(2).
fn signal_ignored(sig: c_int) -> bool {
    // SAFETY: sigaction is a plain C struct for which all-zero is a valid
    // value; with a NULL new action, sigaction(2) only writes the current
    // one into `old`, a live local of the right type.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Sets `sig`'s disposition to `handler` (`SIG_DFL` or `SIG_IGN`), empty
/// mask, no flags. Async-signal-safe (sigaction(2)): usable between fork
/// and exec. Failure (SIGKILL, SIGSTOP) leaves it as it was.
fn set_disposition(sig: c_int, handler: libc::sighandler_t) {
    // SAFETY: an all-zero sigaction is valid (empty mask, no flags); only
    // its handler is set, to SIG_DFL or SIG_IGN, which need no function.
    // sigaction(2) reads this live local and writes nothing back.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler;
        libc::sigaction(sig, &act, std::ptr::null_mut());
    }
}

/// The caller's SIGPIPE disposition, put back in PROGRAM's process just
/// before the exec (std sets `SIG_DFL` there, whatever the caller had).
fn restore_caller_sigpipe(ignored: bool) {
    let handler = if ignored {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    set_disposition(libc::SIGPIPE, handler);
}

/// What the command line asks for.
struct Invocation {
    signal: Option<Signal>,
    ppid: Option<pid_t>,
    mode: Option<Mode>,
    grace: Option<Duration>,
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

/// What the library accepts for the variable `var` ("accepted: ..."), in
/// its own words: the tail of its message for a value no variable takes.
fn accepted(var: &'static str) -> String {
    match EnvConfig::from_lookup(|name| (name == var).then_some(&b"\xff"[..])) {
        Err(err) => {
            let message = err.to_string();
            match message.split_once("; ") {
                Some((_, tail)) => tail.to_string(),
                None => message,
            }
        }
        Ok(_) => format!("see {var} in pdeathsig --help"),
    }
}

/// The library's one-line error for `var=value`.
fn env_error(var: &'static str, value: &[u8]) -> String {
    match EnvConfig::from_lookup(|name| (name == var).then_some(value)) {
        Err(err) => err.to_string(),
        Ok(_) => format!(
            "invalid {var}={}; {}",
            quoted(OsStr::from_bytes(value)),
            accepted(var)
        ),
    }
}

fn parse_signal(option: &str, value: &OsStr) -> Result<Signal, Usage> {
    Signal::parse(value.as_bytes())
        .ok_or_else(|| Usage(format!("{option} {}: {}", quoted(value), ParseSignalError)))
}

fn parse_ppid(option: &str, value: &OsStr) -> Result<pid_t, Usage> {
    parse_pid(value.as_bytes()).ok_or_else(|| {
        Usage(format!(
            "{option} {}: invalid parent pid; {PID_ACCEPTED}",
            quoted(value)
        ))
    })
}

fn parse_mode(option: &str, value: &OsStr) -> Result<Mode, Usage> {
    Mode::parse(value.as_bytes()).ok_or_else(|| {
        Usage(format!(
            "{option} {}: invalid mode; {}",
            quoted(value),
            accepted(PDEATHSIG_MODE)
        ))
    })
}

fn parse_grace_option(option: &str, value: &OsStr) -> Result<Duration, Usage> {
    parse_grace(value.as_bytes()).ok_or_else(|| {
        Usage(format!(
            "{option} {}: invalid grace period; {}",
            quoted(value),
            accepted(PDEATHSIG_GRACE)
        ))
    })
}

/// The options that take a value: short and long name, what the value is.
const VALUED: [(&[u8], &[u8], &str); 4] = [
    (b"-s", b"--signal", "a signal"),
    (b"-p", b"--ppid", "a parent pid"),
    (b"-m", b"--mode", "a mode"),
    (b"-g", b"--grace", "a grace period"),
];

/// Parses the arguments after argv[0]. Options stop at `--` or at the first
/// argument that does not start with `-` (PROGRAM), as in env(1).
fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Parsed, Usage> {
    let mut signal = None;
    let mut ppid = None;
    let mut mode = None;
    let mut grace = None;
    let program = loop {
        let Some(arg) = args.next() else {
            return Err(Usage(format!("missing PROGRAM; usage: {SYNOPSIS}")));
        };
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            match args.next() {
                Some(program) => break program,
                None => {
                    return Err(Usage(format!(
                        "missing PROGRAM after --; usage: {SYNOPSIS}"
                    )))
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
            _ => {}
        }
        let Some(&(short, _, what)) = VALUED
            .iter()
            .find(|&&(short, long, _)| name == short || name == long)
        else {
            return Err(Usage(format!(
                "unknown option {}; accepted: --signal SIG, -s SIG, --ppid PID, -p PID, \
                 --mode MODE, -m MODE, --grace GRACE, -g GRACE, --help, --version, \
                 and -- before a PROGRAM that starts with -",
                quoted(&arg)
            )));
        };
        let value = match inline {
            Some(v) => OsStr::from_bytes(v).to_os_string(),
            None => args.next().ok_or_else(|| {
                let accepted = match short {
                    b"-s" => SIGNAL_ACCEPTED.to_string(),
                    b"-p" => PID_ACCEPTED.to_string(),
                    b"-m" => accepted(PDEATHSIG_MODE),
                    _ => accepted(PDEATHSIG_GRACE),
                };
                Usage(format!("option {option} needs {what}; {accepted}"))
            })?,
        };
        match short {
            b"-s" => signal = Some(parse_signal(&option, &value)?),
            b"-p" => ppid = Some(parse_ppid(&option, &value)?),
            b"-m" => mode = Some(parse_mode(&option, &value)?),
            _ => grace = Some(parse_grace_option(&option, &value)?),
        }
    };
    Ok(Parsed::Run(Invocation {
        signal,
        ppid,
        mode,
        grace,
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

/// A protocol variable's value, `None` when unset or empty (as the library
/// reads it).
fn variable(var: &str) -> Option<OsString> {
    std::env::var_os(var).filter(|value| !value.is_empty())
}

/// What to arm: the options, else the variables, else the defaults.
struct Settings {
    signal: Signal,
    mode: Mode,
    grace: Option<Duration>,
}

fn settings(invocation: &Invocation) -> Result<Settings, String> {
    // The signal: --signal, else $PDEATHSIG (the tree's choice), else TERM.
    let signal = match invocation.signal {
        Some(sig) => sig,
        None => match pdeathsig::requested_signal() {
            Ok(sig) => sig.unwrap_or(Signal::TERM),
            Err(err) => return Err(err.to_string()),
        },
    };
    let mode = match (invocation.mode, variable(PDEATHSIG_MODE)) {
        (Some(mode), _) => mode,
        (None, None) => Mode::Prctl,
        (None, Some(value)) => Mode::parse(value.as_bytes())
            .ok_or_else(|| env_error(PDEATHSIG_MODE, value.as_bytes()))?,
    };
    let grace = match (invocation.grace, variable(PDEATHSIG_GRACE)) {
        (Some(grace), _) => Some(grace),
        (None, None) => None,
        (None, Some(value)) => Some(
            parse_grace(value.as_bytes())
                .ok_or_else(|| env_error(PDEATHSIG_GRACE, value.as_bytes()))?,
        ),
    };
    if grace.is_some() && !mode.has_watcher() {
        let grace_from = if invocation.grace.is_some() {
            "--grace"
        } else {
            PDEATHSIG_GRACE
        };
        let mode_from = if invocation.mode.is_some() {
            "--mode"
        } else if variable(PDEATHSIG_MODE).is_some() {
            PDEATHSIG_MODE
        } else {
            "the default mode"
        };
        return Err(format!(
            "{grace_from} needs --mode (or {PDEATHSIG_MODE}) process or tree, and {mode_from} \
             is prctl: in prctl mode no watcher lives to send SIGKILL after the grace period"
        ));
    }
    Ok(Settings {
        signal,
        mode,
        grace,
    })
}

fn run(invocation: Invocation) -> ExitCode {
    let settings = match settings(&invocation) {
        Ok(settings) => settings,
        Err(message) => return fail(EXIT_FAILURE, &message),
    };
    // The expected parent (anchor): --ppid, else $PDEATHSIG_PPID, else the
    // parent seen when this binary was loaded (the library's constructor).
    let mut options = Options::new(settings.signal).mode(settings.mode);
    if let Some(ppid) = invocation.ppid {
        options = options.parent(ppid);
    }
    if let Some(grace) = settings.grace {
        options = options.grace(grace);
    }
    match options.arm() {
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
    };
    if settings.mode.has_watcher() {
        supervise::supervise(&invocation, &settings)
    } else {
        exec_program(&invocation)
    }
}

/// The error line and status for a PROGRAM that could not be started.
fn cannot_run(program: &OsStr, err: &std::io::Error) -> ExitCode {
    let code = match err.kind() {
        ErrorKind::NotFound => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXEC,
    };
    fail(code, &format!("cannot run {}: {err}", quoted(program)))
}

/// prctl mode: become PROGRAM (the setting and the pid survive the exec).
fn exec_program(invocation: &Invocation) -> ExitCode {
    let mut command = Command::new(&invocation.program);
    command.args(&invocation.args).env(
        PDEATHSIG_PPID,
        Stamp::now(std::process::id() as pid_t).to_string(),
    );
    let sigpipe_ignored = CALLER_IGNORES_SIGPIPE.load(Ordering::Relaxed);
    // std sets SIGPIPE to SIG_DFL for the new program (and keeps the signal
    // mask, the caller's), then runs this hook just before execvp: SIGPIPE
    // goes back to what the caller had.
    let hook = move || {
        restore_caller_sigpipe(sigpipe_ignored);
        Ok(())
    };
    // SAFETY: the hook runs in this process (prctl mode starts no thread)
    // between std's preparations and execvp(3); it only calls sigaction(2),
    // async-signal-safe, allocates nothing and cannot panic.
    unsafe { command.pre_exec(hook) };
    // exec only returns on failure.
    let err = command.exec();
    cannot_run(&invocation.program, &err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, Usage> {
        parse_args(args.iter().map(OsString::from))
    }

    fn invocation(args: &[&str]) -> Invocation {
        match parse(args) {
            Ok(Parsed::Run(invocation)) => invocation,
            Ok(_) => panic!("{args:?}: not a run"),
            Err(Usage(message)) => panic!("{args:?}: {message}"),
        }
    }

    fn usage(args: &[&str]) -> String {
        match parse(args) {
            Err(Usage(message)) => message,
            Ok(_) => panic!("{args:?} should be a usage error"),
        }
    }

    #[test]
    fn mode_and_grace_options() {
        let inv = invocation(&["--mode", "process", "--grace=500ms", "true"]);
        assert_eq!(inv.mode, Some(Mode::Process));
        assert_eq!(inv.grace, Some(Duration::from_millis(500)));
        assert_eq!(inv.program, "true");
        let inv = invocation(&["-mTREE", "-g", "2", "--", "-x", "a"]);
        assert_eq!(inv.mode, Some(Mode::Tree));
        assert_eq!(inv.grace, Some(Duration::from_secs(2)));
        assert_eq!(inv.program, "-x");
        assert_eq!(inv.args, ["a"]);
        // The last one counts.
        let inv = invocation(&["-m", "tree", "--mode=prctl", "true"]);
        assert_eq!(inv.mode, Some(Mode::Prctl));
    }

    #[test]
    fn bad_mode_and_grace_name_the_value_and_what_is_accepted() {
        let message = usage(&["--mode", "bogus", "true"]);
        assert!(message.starts_with("--mode \"bogus\": invalid mode; accepted: "));
        assert!(
            message.contains("prctl") && message.contains("process") && message.contains("tree")
        );
        let message = usage(&["-g", "1.5s", "true"]);
        assert!(message.starts_with("-g \"1.5s\": invalid grace period; accepted: "));
        assert!(message.contains("500ms"), "{message}");
        let message = usage(&["--grace"]);
        assert!(message.starts_with("option --grace needs a grace period; accepted: "));
        let message = usage(&["--mode"]);
        assert!(message.starts_with("option --mode needs a mode; accepted: "));
        assert!(!message.contains('\n'));
    }

    #[test]
    fn accepted_texts_come_from_the_library() {
        for var in [PDEATHSIG_MODE, PDEATHSIG_GRACE] {
            let text = accepted(var);
            assert!(text.starts_with("accepted: "), "{var}: {text}");
        }
        let message = env_error(PDEATHSIG_MODE, b"bogus");
        assert!(
            message.starts_with("invalid PDEATHSIG_MODE=\"bogus\"; accepted: "),
            "{message}"
        );
    }

    #[test]
    fn usage_fits_80_columns() {
        for line in USAGE.lines() {
            assert!(line.len() <= 80, "{line:?}");
        }
    }
}
