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

use core::ffi::CStr;
use core::sync::atomic::{AtomicUsize, Ordering};
use libc::{c_int, gid_t, size_t, uid_t};

use crate::watch;

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

/// glibc's setresuid(2).
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
/// function of that name (see the module's documentation).
macro_rules! wrap {
    ($(#[$doc:meta])* $name:ident, $cache:ident, ($($arg:ident: $ty:ty),*)) => {
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
                    return missing();
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
    setuid, SETUID, (uid: uid_t)
);
wrap!(
    /// setgid(2), with the watcher stopped around it.
    setgid, SETGID, (gid: gid_t)
);
wrap!(
    /// seteuid(2), with the watcher stopped around it.
    seteuid, SETEUID, (euid: uid_t)
);
wrap!(
    /// setegid(2), with the watcher stopped around it.
    setegid, SETEGID, (egid: gid_t)
);
wrap!(
    /// setreuid(2), with the watcher stopped around it.
    setreuid, SETREUID, (ruid: uid_t, euid: uid_t)
);
wrap!(
    /// setregid(2), with the watcher stopped around it.
    setregid, SETREGID, (rgid: gid_t, egid: gid_t)
);
wrap!(
    /// setresgid(2), with the watcher stopped around it.
    setresgid, SETRESGID, (rgid: gid_t, egid: gid_t, sgid: gid_t)
);
wrap!(
    /// setgroups(2), with the watcher stopped around it.
    setgroups, SETGROUPS, (size: size_t, list: *const gid_t)
);

/// setresuid(2), with the watcher stopped around it.
///
/// # Safety
/// As glibc's function.
#[no_mangle]
pub unsafe extern "C" fn setresuid(ruid: uid_t, euid: uid_t, suid: uid_t) -> c_int {
    // SAFETY: the caller's arguments, passed on to glibc's function.
    with_watcher_stopped(|| unsafe { call_setresuid(ruid, euid, suid) })
}
