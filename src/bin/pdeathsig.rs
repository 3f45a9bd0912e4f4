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
//! the ones PROGRAM sent itself. When the parent (anchor) dies, the
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
//! env(1), sigtimedwait(2), signal(7).

use std::ffi::{OsStr, OsString};
use std::io::{ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
        supervise(&invocation, &settings)
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

/// The signals the supervisor passes on to PROGRAM, besides the chosen one.
const FORWARDED: [c_int; 9] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGTERM,
    libc::SIGWINCH,
    libc::SIGCONT,
];

/// The signals a terminal or job control sends to a whole process group
/// (^C, ^\, hang-up, resize, the CONT of an orphaned stopped group): sent
/// by the kernel (`SI_KERNEL`), PROGRAM, in our group, got them too.
const GROUP_SIGNALS: [c_int; 5] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGWINCH,
    libc::SIGCONT,
];

/// What the supervisor does with a signal it received.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    /// Our own watcher's signal: the parent (anchor) died. Pass it on and
    /// start the grace period.
    ParentDied,
    /// Pass it on to PROGRAM.
    Forward,
    /// PROGRAM already has it: it sent it, or the kernel sent it to the
    /// whole process group.
    Drop,
}

/// Decides from the signal's number, `si_code` and sender.
fn classify(
    signo: c_int,
    code: c_int,
    sender: pid_t,
    me: pid_t,
    child: pid_t,
    armed: c_int,
) -> Action {
    let sent_by_process = matches!(code, libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL);
    let from_program = sent_by_process && sender == child;
    let to_the_group = code == libc::SI_KERNEL && GROUP_SIGNALS.contains(&signo);
    if signo == armed && code == libc::SI_USER && sender == me {
        Action::ParentDied
    } else if from_program || to_the_group {
        Action::Drop
    } else {
        Action::Forward
    }
}

/// A set of signals (sigsetops(3)).
fn sigset(signals: &[c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set (an all-zero sigset_t is a
    // valid starting value too); sigaddset only writes into it and fails
    // harmlessly for an invalid number.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in signals {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// `pthread_sigmask(how, signals)` for the calling thread; returns the
/// mask it had before.
fn mask(how: c_int, signals: &[c_int]) -> libc::sigset_t {
    let set = sigset(signals);
    let mut old = sigset(&[]);
    // SAFETY: `set` and `old` are initialised sigset_t locals that live for
    // the call; pthread_sigmask reads the first and writes the second.
    unsafe { libc::pthread_sigmask(how, &set, &mut old) };
    old
}

/// A received signal: number, `si_code`, sender pid (0 if none).
struct Received {
    signo: c_int,
    code: c_int,
    sender: pid_t,
}

/// Waits for one of the (blocked) signals of `set`, at most `timeout`
/// (`None`: no limit). `None` on timeout or interruption.
fn wait_signal(set: &libc::sigset_t, timeout: Option<Duration>) -> Option<Received> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos()),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: an all-zero siginfo_t is a valid output buffer;
    // sigtimedwait(2) reads the live `set` and `ts` (or NULL: no limit) and
    // writes `info`.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let signo = unsafe { libc::sigtimedwait(set, &mut info, ts_ptr) };
    if signo <= 0 {
        return None;
    }
    // SAFETY: `info` was filled in by the kernel, which writes the whole
    // structure: si_pid reads initialised bytes (meaningful for the codes
    // of a sending process; 0 or unrelated otherwise, and only compared).
    let sender = unsafe { info.si_pid() };
    Some(Received {
        signo,
        code: info.si_code,
        sender,
    })
}

/// `kill(pid, sig)`; errors (PROGRAM already a zombie) do not matter.
fn send(pid: pid_t, sig: c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions. `pid` is our
    // unreaped child, so the number cannot have been reused.
    unsafe { libc::kill(pid, sig) };
}

/// `PDEATHSIG_PPID` for PROGRAM: our own pid, stamped now (PROGRAM is our
/// child).
fn child_stamp() -> String {
    Stamp::now(std::process::id() as pid_t).to_string()
}

/// The pre-exec step of PROGRAM under the supervisor: only
/// async-signal-safe calls (signal-safety(7)), no allocation.
fn arm_against_supervisor(
    supervisor: pid_t,
    caller_mask: &libc::sigset_t,
    sigpipe_ignored: bool,
    sigchld_ignored: bool,
) {
    // The caller's signal mask (std keeps ours, which blocks the forwarded
    // signals), as exec would have kept it.
    // SAFETY: sigprocmask(2) reads the live `caller_mask`; no old mask is
    // asked for. After fork this process has one thread.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, caller_mask, std::ptr::null_mut()) };
    restore_caller_sigpipe(sigpipe_ignored);
    if sigchld_ignored {
        set_disposition(libc::SIGCHLD, libc::SIG_IGN);
    }
    // SAFETY: PR_SET_PDEATHSIG reads only its integer argument; the unused
    // trailing arguments are zero, as prctl(2) asks.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // SAFETY: getppid(2) has no preconditions.
    if unsafe { libc::getppid() } != supervisor {
        // The supervisor died before the prctl took effect: die as the
        // kernel would have made us.
        // SAFETY: kill(2) and getpid(2) have no memory preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// Points stdin and stdout at /dev/null, so that a pipe PROGRAM closes is
/// closed (its writer gets SIGPIPE, its reader EOF) as without the
/// wrapper. stderr stays for the wrapper's own messages.
fn let_go_of_stdio() {
    // SAFETY: open(2) of a constant NUL-terminated path; dup2(2) and
    // close(2) on descriptors we own (the one just opened, and 0 and 1,
    // which nothing of ours reads or writes from now on).
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null < 0 {
            return;
        }
        libc::dup2(null, 0);
        libc::dup2(null, 1);
        if null > 1 {
            libc::close(null);
        }
    }
}

/// process and tree mode: run PROGRAM as a child, forward signals, pass the
/// parent's death on (with the grace period), end as PROGRAM ends.
fn supervise(invocation: &Invocation, settings: &Settings) -> ExitCode {
    let me = std::process::id() as pid_t;
    let armed_signal = settings.signal.as_raw();
    // Forwarded: the usual ones, also those the caller ignores (PROGRAM
    // starts with them ignored, as without the wrapper, but may install a
    // handler, which a signal sent to the wrapper must then reach: blocked
    // here, an ignored signal is queued for sigtimedwait, not dropped), and
    // the chosen signal always (the parent's death comes as that signal).
    let mut handled: Vec<c_int> = FORWARDED.to_vec();
    if ![libc::SIGKILL, libc::SIGSTOP].contains(&armed_signal) && !handled.contains(&armed_signal) {
        handled.push(armed_signal);
    }
    // A caller that ignores SIGCHLD makes children reap themselves: waitpid
    // would lose PROGRAM's status. Default here, ignored again in PROGRAM.
    let sigchld_ignored = signal_ignored(libc::SIGCHLD);
    if sigchld_ignored {
        set_disposition(libc::SIGCHLD, libc::SIG_DFL);
    }
    handled.push(libc::SIGCHLD);
    // Blocked from now on, taken with sigtimedwait: a signal that comes
    // before PROGRAM starts waits for it. (The watcher thread blocks all.)
    let caller_mask = mask(libc::SIG_BLOCK, &handled);
    let wait_set = sigset(&handled);

    let mut command = Command::new(&invocation.program);
    command
        .args(&invocation.args)
        .env(PDEATHSIG_PPID, child_stamp());
    // Tree mode: the anchor, and our session and detach flags, for PROGRAM.
    if let Some(anchor) = pdeathsig::anchor_env_for_children() {
        command.env(pdeathsig::PDEATHSIG_ANCHOR, anchor);
    }
    let sigpipe_ignored = CALLER_IGNORES_SIGPIPE.load(Ordering::Relaxed);
    let hook = move || {
        arm_against_supervisor(me, &caller_mask, sigpipe_ignored, sigchld_ignored);
        Ok(())
    };
    // SAFETY: the hook runs in the fork child (after std has set SIGPIPE to
    // SIG_DFL), where only async-signal-safe functions may be called: it
    // calls sigprocmask, sigaction, prctl, getppid, getpid and kill
    // (signal-safety(7)), allocates nothing, takes no lock and cannot
    // panic. The fork is made by this thread, the main one, which lives
    // until the wrapper exits: PR_SET_PDEATHSIG follows the forking thread.
    unsafe { command.pre_exec(hook) };
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => return cannot_run(&invocation.program, &err),
    };
    let_go_of_stdio();
    let child_pid = child.id() as pid_t;
    let mut deadline: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(err) => match child.wait() {
                Ok(status) => break status,
                Err(_) => {
                    // Cannot learn how PROGRAM ends (not even whether its
                    // pid is still its own, so no kill here): PROGRAM gets
                    // SIGKILL as the wrapper exits, armed before its exec.
                    return fail(
                        EXIT_FAILURE,
                        &format!("cannot wait for {}: {err}", quoted(&invocation.program)),
                    );
                }
            },
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let Some(got) = wait_signal(&wait_set, timeout) else {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // The grace period is over and PROGRAM still lives.
                send(child_pid, libc::SIGKILL);
                deadline = None;
            }
            continue;
        };
        if got.signo == libc::SIGCHLD && got.sender != me {
            continue;
        }
        match classify(got.signo, got.code, got.sender, me, child_pid, armed_signal) {
            Action::ParentDied => {
                send(child_pid, got.signo);
                if let (Some(grace), None) = (settings.grace, deadline) {
                    deadline = Some(Instant::now() + grace);
                }
            }
            Action::Forward => send(child_pid, got.signo),
            Action::Drop => {}
        }
    };
    exit_as(status)
}

/// Ends the wrapper as PROGRAM ended: its exit code, or its signal.
fn exit_as(status: ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILURE));
    }
    match status.signal() {
        Some(sig) => die_of(sig),
        None => ExitCode::from(EXIT_FAILURE),
    }
}

/// Kills the wrapper with `sig`, default action, so that the caller sees
/// the signal PROGRAM died of. No core file: PROGRAM's (if any) is the one
/// that counts. Returns 128 + `sig` only if the wrapper survives.
fn die_of(sig: c_int) -> ExitCode {
    // SAFETY: PR_SET_DUMPABLE takes an integer; 0 stops a core dump.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) };
    set_disposition(sig, libc::SIG_DFL);
    let _ = mask(libc::SIG_UNBLOCK, &[sig]);
    // SAFETY: raise(3) sends to the calling thread, which no longer blocks
    // `sig`: it is delivered before raise returns.
    unsafe { libc::raise(sig) };
    ExitCode::from(u8::try_from(128 + sig).unwrap_or(EXIT_FAILURE))
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
    fn signals_are_classified() {
        let (me, child, term) = (100, 200, libc::SIGTERM);
        let c = |signo, code, sender| classify(signo, code, sender, me, child, term);
        assert_eq!(c(term, libc::SI_USER, me), Action::ParentDied);
        // The same signal from anyone else, or from us for another signal.
        assert_eq!(c(term, libc::SI_USER, 300), Action::Forward);
        assert_eq!(c(libc::SIGUSR1, libc::SI_USER, me), Action::Forward);
        assert_eq!(c(term, libc::SI_QUEUE, me), Action::Forward);
        // PROGRAM signalling us is not bounced back.
        assert_eq!(c(libc::SIGUSR1, libc::SI_USER, child), Action::Drop);
        // The terminal's ^C reached the whole group, PROGRAM included...
        assert_eq!(c(libc::SIGINT, libc::SI_KERNEL, 0), Action::Drop);
        assert_eq!(c(libc::SIGWINCH, libc::SI_KERNEL, 0), Action::Drop);
        // ...but a kill(1) of the wrapper did not, nor an inherited alarm.
        assert_eq!(c(libc::SIGINT, libc::SI_USER, 300), Action::Forward);
        assert_eq!(c(libc::SIGALRM, libc::SI_KERNEL, 0), Action::Forward);
    }

    #[test]
    fn usage_fits_80_columns() {
        for line in USAGE.lines() {
            assert!(line.len() <= 80, "{line:?}");
        }
    }
}
