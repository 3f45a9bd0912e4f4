//! The supervisor's process group.
//!
//! PROGRAM runs in the caller's process group, the job, and the wrapper
//! steps out of it into a group of its own before PROGRAM starts (PROGRAM
//! joins the job's group between fork and exec), so that a signal sent to
//! the job's group (`kill -TERM -PGID`, a tool's killpg(3), a terminal's ^C)
//! reaches PROGRAM once, directly, and not a second time through the
//! wrapper, while the group still reaches PROGRAM's own children as it
//! would without the wrapper. A signal sent to the wrapper's pid is
//! forwarded, as before.
//!
//! Job control then needs one more step: when PROGRAM stops (^Z, a
//! background read, SIGSTOP), the wrapper steps back into the job's group
//! and stops with the same signal, so that its caller (a job-control shell,
//! which waits for the wrapper, not PROGRAM) sees the job stopped, and the
//! SIGCONT it sends to the group (`fg`, `bg`) resumes both. The wrapper
//! then steps out again.
//!
//! The wrapper stays in the job's group, and passes on only what the kernel
//! did not send to the whole group (see `classify`), where it cannot step
//! out: as a session leader (`setsid`, Python's `start_new_session=True`),
//! which cannot change its group, and where the group's leader is outside
//! the wrapper's PID namespace (getpgrp(2) answers 0), so that the group
//! could not be named to step back in.
//!
//! Man pages: setpgid(2), getpgrp(2), getsid(2), clone(2), waitid(2),
//! credentials(7) (process groups and sessions).

use libc::{c_int, c_void, pid_t};

/// Where the wrapper is: in the job's group, or out of it.
pub(crate) struct Group {
    /// The caller's group, which PROGRAM starts in.
    job: pid_t,
    /// Is the wrapper in a group of its own?
    out: bool,
    /// An exited helper, not reaped yet, in the job's group: it keeps the
    /// group alive while neither the wrapper nor PROGRAM is in it.
    keeper: Option<pid_t>,
}

impl Group {
    /// The group the wrapper is in now: call it before PROGRAM starts.
    pub(crate) fn current() -> Group {
        // SAFETY: getpgrp(2) has no preconditions and cannot fail.
        let job = unsafe { libc::getpgrp() };
        Group {
            job,
            out: false,
            keeper: None,
        }
    }

    /// Is the wrapper out of the job's group?
    pub(crate) fn is_out(&self) -> bool {
        self.out
    }

    /// Before PROGRAM starts: steps out of the job's group, leaving behind
    /// a helper that keeps the group alive (the wrapper may have been its
    /// only member) until [`Group::release`]. Returns the group PROGRAM is
    /// to join, where the wrapper has stepped out.
    pub(crate) fn step_out_before_start(&mut self) -> Option<pid_t> {
        if !self.can_step_out() {
            return None;
        }
        // An exited, unreaped child stays a member of its group.
        self.keeper = spawn_helper(exit_at_once);
        if self.keeper.is_none() || !self.step_out() {
            self.release();
            return None;
        }
        Some(self.job)
    }

    /// Once PROGRAM has started in the job's group (or failed to start):
    /// reaps the helper that kept the group alive.
    pub(crate) fn release(&mut self) {
        if let Some(pid) = self.keeper.take() {
            reap(pid);
        }
    }

    fn can_step_out(&self) -> bool {
        // SAFETY: getpid(2) and getsid(2) of the caller cannot fail.
        let (me, session) = unsafe { (libc::getpid(), libc::getsid(0)) };
        self.job > 0 && session != me
    }

    /// Steps out of the job's group into one of its own (again, after a
    /// stop); false where it cannot (see the module's documentation).
    pub(crate) fn step_out(&mut self) -> bool {
        if self.out {
            return true;
        }
        if !self.can_step_out() {
            return false;
        }
        // setpgid(0, 0) makes a group named after us: a new one, unless we
        // lead the job's group, which is then named after us already.
        // SAFETY: getpid(2) cannot fail.
        let helper = if self.job == unsafe { libc::getpid() } {
            match spawn_helper(lead_new_group) {
                Some(pid) => pid,
                None => return false,
            }
        } else {
            0
        };
        // SAFETY: setpgid(2) takes two integers. `helper` is our child,
        // exited and not yet reaped: the group it made still exists.
        self.out = unsafe { libc::setpgid(0, helper) } == 0;
        if helper > 0 {
            reap(helper);
        }
        self.out
    }

    /// Steps back into the job's group, to stop with PROGRAM; false where
    /// the group is gone (PROGRAM left it, and the wrapper does not lead
    /// it: then the stop is PROGRAM's own affair).
    pub(crate) fn step_back_in(&mut self) -> bool {
        if !self.out {
            return false;
        }
        // SAFETY: setpgid(2) takes two integers.
        if unsafe { libc::setpgid(0, self.job) } == 0 {
            self.out = false;
        }
        !self.out
    }
}

/// A helper's whole life: a process group of its own, then exit (the
/// return value is its exit status). Runs on its own stack in the
/// wrapper's memory while the wrapper's calling thread waits
/// (CLONE_VM | CLONE_VFORK): only a system call, no allocation, no lock.
extern "C" fn lead_new_group(_: *mut c_void) -> c_int {
    // SAFETY: setpgid(2) takes two integers.
    unsafe { libc::setpgid(0, 0) };
    0
}

/// A helper's whole life: exit at once, staying in the wrapper's group.
extern "C" fn exit_at_once(_: *mut c_void) -> c_int {
    0
}

/// Runs `life` in a short-lived helper process, which has exited when
/// this returns; unreaped, it stays a member of its process group and
/// keeps the group (and its number) alive. Returns the helper's pid (for
/// `lead_new_group`, the new group's name). It shares our memory and runs
/// while this thread waits (CLONE_VM | CLONE_VFORK): no copy is made.
fn spawn_helper(life: extern "C" fn(*mut c_void) -> c_int) -> Option<pid_t> {
    // SAFETY: `life` is one of the helpers above, which make one system
    // call at most; CLONE_VFORK is given.
    unsafe {
        clone_child(
            life,
            libc::CLONE_VM | libc::CLONE_VFORK,
            std::ptr::null_mut(),
        )
    }
}

/// Runs `life(arg)` in a new child process, made by clone(2) with `flags`
/// and SIGCHLD as its exit signal (an ordinary child, reaped with
/// waitpid(2)), on a stack of its own. clone(2), not fork(2): no
/// pthread_atfork handler runs (tree mode registers some).
///
/// # Safety
///
/// With CLONE_VM the child runs in our memory: `life` may make system
/// calls only, and CLONE_VFORK must be given, so that the stack outlives
/// the child. Without CLONE_VM the child has its own copy of our memory,
/// stack and `*arg` included, which must be valid for `life` when this is
/// called.
unsafe fn clone_child(
    life: extern "C" fn(*mut c_void) -> c_int,
    flags: c_int,
    arg: *mut c_void,
) -> Option<pid_t> {
    const STACK: usize = 64 * 1024;
    let mut stack = vec![0u8; STACK];
    // The stack grows down on the architectures this runs on (x86, Arm,
    // RISC-V, ...); aligned to 16 bytes as their ABIs want.
    let top = (stack.as_mut_ptr() as usize + STACK) & !15;
    // SAFETY: `top` is the aligned end of a live buffer, which the child
    // either shares while this thread waits (CLONE_VFORK) or has copied;
    // the rest is the caller's promise (see # Safety).
    let pid = unsafe { libc::clone(life, top as *mut c_void, flags | libc::SIGCHLD, arg) };
    drop(stack);
    (pid > 0).then_some(pid)
}

/// Reaps the helper (it has exited already).
fn reap(pid: pid_t) {
    let mut status = 0;
    // SAFETY: waitpid(2) writes the status into the live local.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
}

/// Has PROGRAM (our child) stopped since last asked? Its stop signal.
/// waitid(2) with WSTOPPED and without WEXITED reports each stop once and
/// never reaps.
pub(crate) fn stopped(child: pid_t) -> Option<c_int> {
    // SAFETY: an all-zero siginfo_t is a valid output buffer.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid(2) writes into the live `info`.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            child as libc::id_t,
            &mut info,
            libc::WSTOPPED | libc::WNOHANG,
        )
    };
    // SAFETY: filled in by the kernel for CLD_STOPPED (si_pid is 0 when
    // nothing was reported); si_status is the stop signal then.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    (rc == 0 && pid == child && info.si_code == libc::CLD_STOPPED).then_some(status)
}

/// Stops the wrapper with `sig` (PROGRAM's stop signal), as the kernel
/// stopped PROGRAM; returns once continued, or at once where the kernel
/// discards the stop (an orphaned process group).
pub(crate) fn stop_with(sig: c_int) {
    // A stop signal the caller had us ignore (and PROGRAM then caught or
    // reset) would not stop the wrapper: SIGSTOP does.
    let sig = if crate::signal_ignored(sig) {
        libc::SIGSTOP
    } else {
        sig
    };
    // The supervisor blocks SIGTTIN and SIGTTOU (see `supervise`):
    // unblocked for the moment in this thread, which the signal then hits.
    let set = crate::supervise::sigset(&[sig]);
    let mut old = crate::supervise::sigset(&[]);
    // SAFETY: pthread_sigmask(3) reads `set`, writes `old`, both live;
    // raise(3) signals the calling thread.
    unsafe {
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, &mut old);
        libc::raise(sig);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// While the wrapper is stopped with PROGRAM: a helper process that wakes
/// it (SIGCONT) when PROGRAM is no longer stopped. A stopped PROGRAM dies
/// of a fatal signal at once (bash's `kill %1` sends SIGTERM, and SIGCONT
/// only to a job it has seen stopped), and may be continued alone
/// (`kill -CONT PID`); the wrapper, which takes such signals with
/// sigtimedwait, would stay stopped. The helper looks every
/// [`WAKER_TICK_MS`] (at once when PROGRAM ends) until it is killed, when
/// the wrapper runs again. Its own SIGCONTs are not forwarded.
pub(crate) struct Waker {
    pid: pid_t,
}

/// How often the waker looks at PROGRAM's state, in milliseconds.
const WAKER_TICK_MS: c_int = 20;

/// What the waker needs, in its copy of the wrapper's memory: no
/// allocation after the clone.
struct WakeArgs {
    program_fd: c_int,
    wrapper: pid_t,
    /// `/proc/PID/stat` of PROGRAM and of the wrapper, NUL-terminated;
    /// empty where /proc is not this PID namespace's (its numbers would
    /// name other processes): PROGRAM's end is then all the waker sees.
    program_stat: [u8; 40],
    wrapper_stat: [u8; 40],
}

/// Is the process whose `/proc/PID/stat` path is `path` stopped (state T or
/// t)? `None` when unknown. System calls only, no allocation.
fn stopped_per_proc(path: &[u8; 40]) -> Option<bool> {
    if path[0] == 0 {
        return None;
    }
    let mut buf = [0u8; 160];
    // SAFETY: `path` is NUL-terminated (WakeArgs); read(2) writes at most
    // `buf.len()` bytes into the live buffer; the descriptor is ours.
    let n = unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    let text = &buf[..usize::try_from(n).ok()?];
    // "PID (COMM) STATE ...": COMM may hold anything, ")" included.
    let close = text.iter().rposition(|&b| b == b')')?;
    let state = *text.get(close + 2)?;
    Some(state == b'T' || state == b't')
}

/// The waker's whole life (see [`Waker`]): system calls only.
extern "C" fn wake_when_program_goes_on(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` points to the WakeArgs that Waker::start passed, in
    // this process's copy of the wrapper's memory (no CLONE_VM).
    let args = unsafe { &*(arg as *const WakeArgs) };
    // SAFETY: prctl(2) PR_SET_PDEATHSIG takes integers; getppid(2) has no
    // preconditions. The waker never outlives the wrapper.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != args.wrapper {
            return 0;
        }
    }
    loop {
        let mut pfd = libc::pollfd {
            fd: args.program_fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // A pidfd polls readable once its process has ended.
        // SAFETY: poll(2) reads and writes the one live pollfd.
        let ended = unsafe { libc::poll(&mut pfd, 1, WAKER_TICK_MS) } > 0;
        let resumed = stopped_per_proc(&args.program_stat) == Some(false)
            && stopped_per_proc(&args.wrapper_stat) == Some(true);
        if ended || resumed {
            // SAFETY: kill(2) takes integers.
            unsafe { libc::kill(args.wrapper, libc::SIGCONT) };
        }
    }
}

/// `/proc/PID/stat` as a NUL-terminated path in a fixed buffer.
fn stat_path(pid: pid_t) -> [u8; 40] {
    let mut path = [0u8; 40];
    let text = format!("/proc/{pid}/stat");
    path[..text.len()].copy_from_slice(text.as_bytes());
    path
}

/// Is /proc this PID namespace's? Its `self` then names this process.
fn proc_is_ours() -> bool {
    std::fs::read_to_string("/proc/self/stat")
        .is_ok_and(|stat| stat.split(' ').next() == Some(std::process::id().to_string().as_str()))
}

impl Waker {
    /// Starts the waker on `program_fd`, a pidfd on PROGRAM (`program`).
    /// `None` where it cannot start (the wrapper then stops without it).
    pub(crate) fn start(program_fd: c_int, program: pid_t) -> Option<Waker> {
        // SAFETY: getpid(2) cannot fail.
        let wrapper = unsafe { libc::getpid() };
        let ours = proc_is_ours();
        let mut args = WakeArgs {
            program_fd,
            wrapper,
            program_stat: if ours { stat_path(program) } else { [0; 40] },
            wrapper_stat: if ours { stat_path(wrapper) } else { [0; 40] },
        };
        // SAFETY: without CLONE_VM the waker runs in its own copy of our
        // memory, reading its copy of `args`, live when it was made. It
        // makes system calls only.
        let pid = unsafe {
            clone_child(
                wake_when_program_goes_on,
                0,
                (&mut args as *mut WakeArgs).cast(),
            )
        }?;
        Some(Waker { pid })
    }

    /// The waker's pid: signals it sent are not forwarded.
    pub(crate) fn pid(&self) -> pid_t {
        self.pid
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        // SAFETY: kill(2) takes integers; `pid` is our unreaped child, so
        // the number cannot name another process.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        reap(self.pid);
    }
}
