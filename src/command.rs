//! Arming children from the spawner's side: an extension of
//! [`std::process::Command`].

use std::ffi::{OsStr, OsString};
use std::format;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::string::ToString;

use libc::{c_int, pid_t};

use crate::environ::{Stamp, PDEATHSIG, PDEATHSIG_PPID};
use crate::signal::Signal;
use crate::sys;

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::process::Command {}
}

/// Makes a child started by [`std::process::Command`] die when this process
/// dies, with the start-up race closed by this process's pid.
///
/// Two ways, with a trade-off:
///
/// | | [`parent_death_signal`] (pre-exec) | [`parent_death_signal_env`] / [`parent_death_signal_preload`] |
/// |---|---|---|
/// | who arms | this crate, in the fork child before `execve` | the child itself, reading `PDEATHSIG` |
/// | children it works for | any: static binaries, scripts, programs nobody can change | children that call the library, or dynamically linked ones with `LD_PRELOAD` |
/// | how std spawns | `fork` + `exec` (a `pre_exec` hook disables std's `posix_spawn` fast path) | `posix_spawn` (`vfork`-like), kept |
/// | race closed by | the pid captured here, before the fork | `PDEATHSIG_PPID`, exported here |
///
/// Both arm the same kernel setting, `PR_SET_PDEATHSIG`, so both share its
/// caveats (see PR_SET_PDEATHSIG(2const)):
///
/// - **Thread exit.** The kernel's "parent" is the *thread* that spawned
///   the child: when that thread exits, the child gets the signal even though
///   this process lives on. Spawn from a thread that lives as long as the
///   child should (the main thread, or a dedicated spawner thread), not from
///   a pool that retires idle threads (`tokio::task::spawn_blocking` does so
///   after 10 s).
/// - **Credentials.** The setting is cleared when the child execs a
///   set-user-ID, set-group-ID or file-capability program, or changes its
///   UID/GID.
/// - **One generation.** The setting is cleared in the child's own children
///   (fork(2)); they are covered only if they arm themselves (the library,
///   `LD_PRELOAD` with `PDEATHSIG`, or the `pdeathsig` exec wrapper).
///
/// The pid exported or captured is this process's pid when the method is
/// called: configure and spawn the command from the same process.
///
/// This trait is sealed: it is implemented for [`Command`] only.
///
/// [`parent_death_signal`]: ParentDeathSignalExt::parent_death_signal
/// [`parent_death_signal_env`]: ParentDeathSignalExt::parent_death_signal_env
/// [`parent_death_signal_preload`]: ParentDeathSignalExt::parent_death_signal_preload
#[doc(alias = "PR_SET_PDEATHSIG")]
#[doc(alias = "pdeathsig")]
#[doc(alias = "Pdeathsig")]
pub trait ParentDeathSignalExt: sealed::Sealed {
    /// Arms `sig` in the child, between fork and exec, so that the child
    /// gets `sig` when the spawning thread of this process dies. Works for
    /// any program, which needs to do nothing.
    ///
    /// Registers a [`pre_exec`](std::os::unix::process::CommandExt::pre_exec)
    /// hook that runs only async-signal-safe system calls (signal-safety(7)):
    /// `prctl(PR_SET_PDEATHSIG, sig)`, then `getppid()`. The fork child's
    /// parent is this process, whose pid is captured now, before any fork;
    /// if `getppid()` differs (and is not 0, a PID namespace boundary), this
    /// process died before the `prctl` took effect: the child resets `sig`
    /// to its default action if this process had a handler for it (as exec
    /// would) and sends it to itself, as the kernel would have. A child that
    /// survives it (an ignored signal, or one whose default action is not to
    /// terminate) does not exec, and the spawn fails with `ESRCH`.
    ///
    /// Also exports `PDEATHSIG_PPID=<this pid>`, so that a child that arms
    /// itself again compares against the right parent.
    ///
    /// Costs std's `posix_spawn` fast path: a `pre_exec` hook makes std
    /// `fork` (copying page tables) instead. See the trait documentation for
    /// the thread caveat. Wraps `prctl(PR_SET_PDEATHSIG)`: see
    /// PR_SET_PDEATHSIG(2const), prctl(2), fork(2), getppid(2).
    ///
    /// # Example
    ///
    /// ```
    /// use pdeathsig::{ParentDeathSignalExt, Signal};
    /// use std::process::Command;
    ///
    /// let mut child = Command::new("true")
    ///     .parent_death_signal(Signal::TERM)
    ///     .spawn()?;
    /// child.wait()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "PR_SET_PDEATHSIG")]
    #[doc(alias = "pre_exec")]
    fn parent_death_signal(&mut self, sig: Signal) -> &mut Self;

    /// Asks the child to arm itself, by environment: sets
    /// `PDEATHSIG=<signal number>` and `PDEATHSIG_PPID=<this pid>`.
    ///
    /// Keeps std's `posix_spawn` fast path, but needs a child that
    /// cooperates: one that calls `arm_parent_death_signal_from_env()` (or
    /// `arm_parent_death_signal`) from this crate or its C library, or one
    /// started with `libpdeathsig.so` in `LD_PRELOAD` (see
    /// [`parent_death_signal_preload`](Self::parent_death_signal_preload)).
    /// A child that does neither is not armed. The protocol, and how
    /// `PDEATHSIG_PPID` closes the start-up race, are in the crate's README.
    /// See PR_SET_PDEATHSIG(2const), environ(7).
    ///
    /// # Example
    ///
    /// ```
    /// use pdeathsig::{ParentDeathSignalExt, Signal};
    /// use std::process::Command;
    ///
    /// let out = Command::new("sh")
    ///     .args(["-c", "echo $PDEATHSIG"])
    ///     .parent_death_signal_env(Signal::KILL)
    ///     .output()?;
    /// assert_eq!(out.stdout, b"9\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "PR_SET_PDEATHSIG")]
    #[doc(alias = "PDEATHSIG")]
    #[doc(alias = "PDEATHSIG_PPID")]
    fn parent_death_signal_env(&mut self, sig: Signal) -> &mut Self;

    /// Like [`parent_death_signal_env`](Self::parent_death_signal_env), and
    /// adds `library` (the path of `libpdeathsig.so`) to the child's
    /// `LD_PRELOAD`, so that any dynamically linked child arms itself before
    /// its `main`, and stamps `PDEATHSIG_PPID` for its own children: the
    /// whole tree below it is covered. Static binaries ignore `LD_PRELOAD`
    /// (use [`parent_death_signal`](Self::parent_death_signal) or the
    /// `pdeathsig` exec wrapper for them).
    ///
    /// The library is appended to the `LD_PRELOAD` the child would get: the
    /// value set on this command, else this process's own (call
    /// [`Command::env_clear`] first if the child should not inherit it). It
    /// is not added twice. See ld.so(8) on `LD_PRELOAD`.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] when `library` is empty or contains a
    /// space, tab or `:` (ld.so(8) splits `LD_PRELOAD` on them);
    /// [`io::ErrorKind::NotFound`] when it is not an existing file. The
    /// message names the path. Nothing is changed on error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use pdeathsig::{ParentDeathSignalExt, Signal};
    /// use std::process::Command;
    ///
    /// let child = Command::new("python3")
    ///     .arg("server.py")
    ///     .parent_death_signal_preload(Signal::TERM, "/usr/local/lib/libpdeathsig.so")?
    ///     .spawn()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "LD_PRELOAD")]
    #[doc(alias = "PR_SET_PDEATHSIG")]
    fn parent_death_signal_preload(
        &mut self,
        sig: Signal,
        library: impl AsRef<Path>,
    ) -> io::Result<&mut Self>;
}

impl ParentDeathSignalExt for Command {
    fn parent_death_signal(&mut self, sig: Signal) -> &mut Self {
        // Captured here, in the parent, before the fork: the only value the
        // child can trust (its own getppid() may already be a reaper's).
        let parent = std::process::id() as pid_t;
        self.env(PDEATHSIG_PPID, Stamp::now(parent).to_string());
        let raw = sig.as_raw();
        let hook = move || match arm_in_fork_child(raw, parent) {
            Ok(()) => Ok(()),
            Err(errno) => Err(io::Error::from_raw_os_error(errno)),
        };
        // SAFETY: the hook runs in the fork child, where only
        // async-signal-safe functions may be called. It calls prctl,
        // getppid, sigaction, getpid and kill (all async-signal-safe,
        // signal-safety(7)), allocates nothing (the io::Error above holds
        // only an errno), takes no locks and does not panic.
        unsafe { self.pre_exec(hook) }
    }

    fn parent_death_signal_env(&mut self, sig: Signal) -> &mut Self {
        let parent = std::process::id() as pid_t;
        self.env(PDEATHSIG, sig.as_raw().to_string())
            .env(PDEATHSIG_PPID, Stamp::now(parent).to_string())
    }

    fn parent_death_signal_preload(
        &mut self,
        sig: Signal,
        library: impl AsRef<Path>,
    ) -> io::Result<&mut Self> {
        let library = absolute_library(library.as_ref())?;
        let library = library.as_os_str();
        check_preload_path(library)?;
        let current = match self
            .get_envs()
            .find(|(k, _)| *k == OsStr::new("LD_PRELOAD"))
        {
            Some((_, value)) => value.map(OsStr::to_os_string),
            None if clears_environment(self) => None,
            None => std::env::var_os("LD_PRELOAD"),
        };
        let preload = append_preload(current.as_deref(), library);
        Ok(self.env("LD_PRELOAD", preload).parent_death_signal_env(sig))
    }
}

/// The pre-exec step: only async-signal-safe calls, no allocation, no /proc
/// (a fork child's parent is exactly `parent`, or `parent` is gone).
/// `Err(errno)` stops the exec.
fn arm_in_fork_child(sig: c_int, parent: pid_t) -> Result<(), c_int> {
    sys::set_pdeathsig(sig)?;
    let now = sys::getppid();
    if now == parent || now == 0 {
        return Ok(());
    }
    // The parent died before the prctl: do what the kernel would have done
    // to the exec'd program. Exec resets caught signals to their default
    // action, so do the same first (the handlers here are the parent's).
    sys::reset_caught_signal(sig);
    sys::kill_self(sig);
    Err(libc::ESRCH)
}

/// A relative library path made absolute against the current directory:
/// the child may run elsewhere (`current_dir`), and ld.so resolves a
/// relative `LD_PRELOAD` entry against the child's own directory.
fn absolute_library(library: &Path) -> io::Result<std::path::PathBuf> {
    if library.is_absolute() || library.as_os_str().is_empty() {
        return Ok(library.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(library))
}

/// Was [`Command::env_clear`] called? std has no stable getter yet
/// (`get_env_clear` is unstable), but the alternate `Debug` form of a
/// `Command` shows `clear: true`. Should that form change, the answer is
/// "no", and the parent's `LD_PRELOAD` is kept, as before.
fn clears_environment(cmd: &Command) -> bool {
    format!("{cmd:#?}").contains("clear: true")
}

fn check_preload_path(library: &OsStr) -> io::Result<()> {
    let bytes = library.as_bytes();
    if bytes.is_empty() || bytes.iter().any(|b| matches!(b, b' ' | b'\t' | b':')) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid LD_PRELOAD library path {library:?}; accepted: a path to \
                 libpdeathsig.so without spaces, tabs or ':' (ld.so splits LD_PRELOAD on them)"
            ),
        ));
    }
    if !Path::new(library).is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "LD_PRELOAD library {library:?} is not an existing file; accepted: the path \
                 of libpdeathsig.so (cargo build --release -p pdeathsig-capi)"
            ),
        ));
    }
    Ok(())
}

/// `current` with `library` appended (`:`-separated), unless already there.
fn append_preload(current: Option<&OsStr>, library: &OsStr) -> OsString {
    let current = current.map(OsStr::as_bytes).unwrap_or(b"");
    let present = current
        .split(|b| matches!(b, b' ' | b'\t' | b':'))
        .any(|entry| entry == library.as_bytes());
    if present {
        return OsStr::from_bytes(current).to_os_string();
    }
    let mut out = current.to_vec();
    if !out.is_empty() {
        out.push(b':');
    }
    out.extend_from_slice(library.as_bytes());
    OsStr::from_bytes(&out).to_os_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preload_is_appended_once() {
        let lib = OsStr::new("/l/libpdeathsig.so");
        assert_eq!(append_preload(None, lib), "/l/libpdeathsig.so");
        assert_eq!(
            append_preload(Some(OsStr::new("")), lib),
            "/l/libpdeathsig.so"
        );
        assert_eq!(
            append_preload(Some(OsStr::new("/a.so")), lib),
            "/a.so:/l/libpdeathsig.so"
        );
        assert_eq!(
            append_preload(Some(OsStr::new("/a.so /l/libpdeathsig.so")), lib),
            "/a.so /l/libpdeathsig.so"
        );
    }

    #[test]
    fn bad_preload_paths() {
        for bad in ["", "/a b.so", "/a:b.so", "/nonexistent/libpdeathsig.so"] {
            let err = check_preload_path(OsStr::new(bad)).unwrap_err();
            assert!(err.to_string().contains(&std::format!("{bad:?}")), "{err}");
        }
    }
}
