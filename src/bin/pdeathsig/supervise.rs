//! process and tree mode: the wrapper as a small supervisor of PROGRAM,
//! its child. It forwards the signals it receives, passes the parent's (or
//! anchor's) death on with the grace period, stops and continues with
//! PROGRAM (see `group`), and ends as PROGRAM ends.
//!
//! Man pages: sigtimedwait(2), pthread_sigmask(3), kill(2), waitid(2),
//! PR_SET_PDEATHSIG(2const), signal(7).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode, ExitStatus};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use libc::{c_int, pid_t};
use pdeathsig::{Stamp, PDEATHSIG_PPID};

use crate::group::{self, Group, Waker};
use crate::{
    cannot_run, fail, quoted, restore_caller_sigpipe, set_disposition, signal_ignored, Invocation,
    Settings, CALLER_IGNORES_SIGPIPE, EXIT_FAILURE,
};

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
pub(crate) fn sigset(signals: &[c_int]) -> libc::sigset_t {
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

/// pidfd_open(2) on our child: `None` where the kernel has none (before
/// Linux 5.3).
fn pidfd_open(pid: pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = c_int::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the descriptor was just returned to us and is owned by no one
    // else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
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
pub(crate) fn supervise(invocation: &Invocation, settings: &Settings) -> ExitCode {
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
    let wait_set = sigset(&handled);
    // Also blocked, never waited for: the wrapper, once out of the job's
    // group (see `group`), is a background process of its terminal; its
    // own lines on stderr must not stop it (SIGTTOU under `stty tostop`).
    let mut blocked = handled.clone();
    blocked.extend([libc::SIGTTIN, libc::SIGTTOU]);
    let caller_mask = mask(libc::SIG_BLOCK, &blocked);

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
    // Out of the job's process group before PROGRAM starts in it.
    let mut group = Group::current();
    if let Some(job) = group.step_out_before_start() {
        command.process_group(job);
    }
    let spawned = command.spawn();
    if spawned.is_err() {
        group.step_back_in();
    }
    group.release();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => return cannot_run(&invocation.program, &err),
    };
    let_go_of_stdio();
    let child_pid = child.id() as pid_t;
    // For the waker of a stopped wrapper (see group::Waker).
    let program_fd = group.is_out().then(|| pidfd_open(child_pid)).flatten();
    let mut deadline: Option<Instant> = None;
    // The last waker's pid (0: none yet): its SIGCONTs are not forwarded.
    let mut last_waker: pid_t = 0;
    let status = loop {
        if group.is_out() {
            if let Some(sig) = group::stopped(child_pid) {
                // PROGRAM stopped: so does the wrapper, in the job's group,
                // where the caller sees it and its SIGCONT reaches both;
                // the waker wakes it if PROGRAM goes on alone or ends.
                let waker = program_fd
                    .as_ref()
                    .and_then(|fd| Waker::start(fd.as_raw_fd(), child_pid));
                if group.step_back_in() {
                    group::stop_with(sig);
                    group.step_out();
                }
                if let Some(waker) = waker {
                    last_waker = waker.pid();
                }
            }
        }
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
        if got.signo == libc::SIGCONT && last_waker != 0 && got.sender == last_waker {
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
}
