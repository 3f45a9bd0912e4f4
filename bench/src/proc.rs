//! Process plumbing: posix_spawn(3), pipes, pidfds, bounded waits, reaping,
//! killing, the final sweep of anything carrying the run's tag, and `Lines`,
//! the bounded line reader of a child's stdout.

use std::ffi::{CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, Instant};

pub type Pid = libc::pid_t;

pub const TAG_VAR: &str = "PDEATHSIG_BENCH_TAG";
/// Longest any single wait may take; beyond it the trial counts as stuck.
pub const BOUND: Duration = Duration::from_secs(10);

pub fn cstr(p: impl Into<OsString>) -> CString {
    CString::new(p.into().into_vec()).unwrap()
}

/// posix_spawn(3) of `argv` with `envp`; `stdout` (if any) becomes fd 1.
pub fn spawn(argv: &[CString], envp: &[CString], stdout: Option<RawFd>) -> Pid {
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
pub fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2");
    (fds[0], fds[1])
}

pub fn close(fd: RawFd) {
    // SAFETY: closing an fd we own.
    unsafe { libc::close(fd) };
}

/// pidfd_open(2); `None` if the process no longer exists.
pub fn pidfd(pid: Pid) -> Option<RawFd> {
    // SAFETY: pidfd_open takes a pid and flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then_some(fd as RawFd)
}

/// poll(2) on `fds` for input, at most `timeout`: the readable indices.
pub fn poll_in(fds: &[RawFd], timeout: Duration) -> Vec<usize> {
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
pub fn reap(pid: Pid) -> Option<i32> {
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

pub fn kill(pid: Pid, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) };
}

/// Kills and reaps `pid` (used on whatever a trial leaves alive).
pub fn kill_reap(pid: Pid) {
    kill(pid, libc::SIGKILL);
    reap(pid);
}

/// Reaps any exited child without waiting.
pub fn reap_any() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local.
        if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } <= 0 {
            return;
        }
    }
}

/// Kills everything that carries our tag, then reaps.
pub fn sweep() {
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
pub struct Lines {
    pub fd: RawFd,
    buf: Vec<u8>,
    pub eof: bool,
}

impl Lines {
    pub fn new(fd: RawFd) -> Lines {
        Lines {
            fd,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Reads what is there now (call after poll said readable).
    pub fn fill(&mut self) {
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
    pub fn take(&mut self, prefix: &str) -> Option<String> {
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
    pub fn wait_for(&mut self, prefix: &str) -> Option<String> {
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
