//! The C library's set*id(3) functions, wrapped so that a credential
//! change never aborts the program because of the watcher thread.
//!
//! glibc makes a credential change process-wide by running the set*id(2)
//! system call in every thread (a signal to each, see nptl(7)), and aborts
//! the program when a thread's result differs from the caller's. The
//! watcher thread of process and tree mode has the credentials it started
//! with; a program that gives itself a privilege in its own thread only
//! (capabilities kept across a uid change with PR_SET_KEEPCAPS, which is
//! per thread: `setpriv --reuid U --regid G --clear-groups`) then has its
//! next set*id call fail in the watcher, and glibc aborts it. So each
//! function here stops the watcher, calls glibc's own function (found with
//! dlsym(3) `RTLD_NEXT`), and starts the watcher again, which judges anew
//! what it watched. Without a running watcher (prctl mode, a vfork child)
//! it only calls glibc's function.
//!
//! Only in the C library (feature `capi`): loaded with `LD_PRELOAD` these
//! definitions come before glibc's for the whole program. A Rust program
//! that links the crate keeps glibc's own.
//!
//! A fully static program that links `libpdeathsig.a` (`gcc -static`) gets
//! these definitions instead of glibc's, and dlsym finds no glibc function
//! behind them. There the system call is made directly, which changes the
//! calling thread only: it is made when that thread is the whole process
//! (the watcher stopped first; it looks every 100 ms whether to stop, as
//! no glibc call can wake it), and refused with ENOTSUP and one stderr line
//! when the program runs other threads, never leaving the process with
//! credentials changed in part of it.

use core::ffi::CStr;
use core::sync::atomic::{AtomicUsize, Ordering};
use libc::{c_int, c_long, gid_t, size_t, uid_t};

use crate::{sys, watch};

/// The next definition of `name` after this library's (glibc's), looked up
/// once; 0 if there is none.
fn next(cache: &AtomicUsize, name: &CStr) -> usize {
    let known = cache.load(Ordering::Acquire);
    if known != 0 {
        return known;
    }
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name only looks a
    // symbol up; it returns NULL when there is none.
    let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
    cache.store(found, Ordering::Release);
    found
}

/// Can glibc's own set*id functions be reached? Not in a fully static
/// program (see the module's documentation).
fn glibc_reachable() -> bool {
    next(&SETRESUID, c"setresuid") != 0
}

/// A fully static program: makes the system call `call` in this thread
/// when it is the process's only thread; otherwise refuses (ENOTSUP).
fn direct_when_alone(name: &str, call: impl FnOnce() -> c_long) -> c_int {
    if matches!(sys::proc_stat(None), Ok(stat) if stat.threads == 1) {
        // syscall(2) returns -1 with errno set, as glibc's function would.
        return if call() < 0 { -1 } else { 0 };
    }
    use crate::text::Sink;
    let mut storage = [0u8; 240];
    let mut line = crate::text::Buf::new(&mut storage);
    line.put(b"pdeathsig: ");
    line.put(name.as_bytes());
    line.put(
        b" refused: a statically linked program with several threads, where the C \
          library's function cannot be reached to change every thread (link \
          libpdeathsig.so instead)\n",
    );
    sys::write_stderr(line.as_bytes());
    // SAFETY: errno is this thread's.
    unsafe { *libc::__errno_location() = libc::ENOTSUP };
    -1
}

/// Runs `call` (glibc's function) with the watcher stopped around it.
fn with_watcher_stopped(call: impl FnOnce() -> c_int) -> c_int {
    let stopped = watch::pause_for_credentials(|| {
        // A no-op credential change through glibc: every thread runs it,
        // and the watcher's poll(2) returns EINTR.
        // SAFETY: glibc's setresuid, with "no change" for each id.
        unsafe { call_setresuid(uid_t::MAX, uid_t::MAX, uid_t::MAX) };
    });
    let rc = call();
    if stopped {
        // SAFETY: errno is this thread's; the restart may change it.
        let errno = unsafe { *libc::__errno_location() };
        watch::resume_after_credentials();
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
    }
    rc
}

/// -1 with ENOSYS: glibc's function could not be found (never expected).
fn missing() -> c_int {
    // SAFETY: errno is this thread's.
    unsafe { *libc::__errno_location() = libc::ENOSYS };
    -1
}

static SETRESUID: AtomicUsize = AtomicUsize::new(0);

/// glibc's setresuid(2); -1 with ENOSYS where it cannot be reached.
///
/// # Safety
/// As setresuid(2): none beyond glibc's own.
unsafe fn call_setresuid(r: uid_t, e: uid_t, s: uid_t) -> c_int {
    let f = next(&SETRESUID, c"setresuid");
    if f == 0 {
        return missing();
    }
    type Real = unsafe extern "C" fn(uid_t, uid_t, uid_t) -> c_int;
    // SAFETY: the address is glibc's setresuid, whose type is Real.
    let f = unsafe { core::mem::transmute::<usize, Real>(f) };
    // SAFETY: the caller's arguments, passed on.
    unsafe { f(r, e, s) }
}

/// Defines an exported wrapper `$name($($arg: $ty),*)` around glibc's
/// function of that name, `$direct` the system call that stands in for it
/// in a fully static program (see the module's documentation).
macro_rules! wrap {
    ($(#[$doc:meta])* $name:ident, $cache:ident, ($($arg:ident: $ty:ty),*), $direct:expr) => {
        static $cache: AtomicUsize = AtomicUsize::new(0);

        $(#[$doc])*
        ///
        /// # Safety
        /// As glibc's function: pointers must be valid for what it reads.
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            // The literal ends with its NUL.
            let name = concat!(stringify!($name), "\0").as_bytes();
            let Ok(name) = CStr::from_bytes_with_nul(name) else {
                return missing();
            };
            with_watcher_stopped(|| {
                let f = next(&$cache, name);
                if f == 0 {
                    return direct_when_alone(stringify!($name), || {
                        // SAFETY: the caller's arguments, passed on to the
                        // system call glibc's function would make.
                        unsafe { $direct }
                    });
                }
                type Real = unsafe extern "C" fn($($ty),*) -> c_int;
                // SAFETY: the address is glibc's function of this name, whose type is Real.
                let f = unsafe { core::mem::transmute::<usize, Real>(f) };
                // SAFETY: the caller's arguments, passed on.
                unsafe { f($($arg),*) }
            })
        }
    };
}

wrap!(
    /// setuid(2), with the watcher stopped around it.
    setuid, SETUID, (uid: uid_t),
    libc::syscall(libc::SYS_setuid, uid)
);
wrap!(
    /// setgid(2), with the watcher stopped around it.
    setgid, SETGID, (gid: gid_t),
    libc::syscall(libc::SYS_setgid, gid)
);
wrap!(
    /// seteuid(2), with the watcher stopped around it.
    seteuid, SETEUID, (euid: uid_t),
    libc::syscall(libc::SYS_setresuid, uid_t::MAX, euid, uid_t::MAX)
);
wrap!(
    /// setegid(2), with the watcher stopped around it.
    setegid, SETEGID, (egid: gid_t),
    libc::syscall(libc::SYS_setresgid, gid_t::MAX, egid, gid_t::MAX)
);
wrap!(
    /// setreuid(2), with the watcher stopped around it.
    setreuid, SETREUID, (ruid: uid_t, euid: uid_t),
    libc::syscall(libc::SYS_setreuid, ruid, euid)
);
wrap!(
    /// setregid(2), with the watcher stopped around it.
    setregid, SETREGID, (rgid: gid_t, egid: gid_t),
    libc::syscall(libc::SYS_setregid, rgid, egid)
);
wrap!(
    /// setresgid(2), with the watcher stopped around it.
    setresgid, SETRESGID, (rgid: gid_t, egid: gid_t, sgid: gid_t),
    libc::syscall(libc::SYS_setresgid, rgid, egid, sgid)
);
wrap!(
    /// setgroups(2), with the watcher stopped around it.
    setgroups, SETGROUPS, (size: size_t, list: *const gid_t),
    libc::syscall(libc::SYS_setgroups, size, list)
);

/// setresuid(2), with the watcher stopped around it.
///
/// # Safety
/// As glibc's function.
#[no_mangle]
pub unsafe extern "C" fn setresuid(ruid: uid_t, euid: uid_t, suid: uid_t) -> c_int {
    with_watcher_stopped(|| {
        if !glibc_reachable() {
            return direct_when_alone("setresuid", || {
                // SAFETY: the caller's arguments, passed on to the system
                // call glibc's function would make.
                unsafe { libc::syscall(libc::SYS_setresuid, ruid, euid, suid) }
            });
        }
        // SAFETY: the caller's arguments, passed on to glibc's function.
        unsafe { call_setresuid(ruid, euid, suid) }
    })
}
