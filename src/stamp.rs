//! Writing the stamp: a process armed at load time puts `PDEATHSIG_PPID=
//! <its pid>:<now>[:<watched>]` into its own environment, so that the
//! children it spawns compare against it (see `verdict.rs` for how they
//! read it). This is the one place that writes the environment, and the
//! riskiest: it is `unsafe`, and kept apart from the pure parser.

use core::ffi::CStr;
use libc::pid_t;

use crate::environ::{Stamp, PDEATHSIG_PPID_C};
use crate::sys;
use crate::text::{Buf, Sink};

/// Writes this process's stamp into `PDEATHSIG_PPID`: its pid, the time
/// now, and in process mode the pid its watcher watches.
///
/// When the spawner already set `PDEATHSIG_PPID` and the value lies in the
/// environment block the kernel wrote on the main thread's stack at exec
/// and is long enough, the bytes are overwritten in place (the pid padded
/// with leading zeros, which the parser accepts): no allocation. Otherwise
/// (unset, too short, or a string that setenv(3)/putenv(3) put elsewhere)
/// it falls back to setenv(3), which allocates. In-place stamping also
/// changes the value that a Go program (cgo) reads from the initial stack
/// for its own `os.Environ`.
///
/// # Safety
///
/// No other thread may read or write the environment meanwhile (setenv(3)
/// is not thread-safe either). The load-time constructor calls this before
/// `main` (see `load.rs` on dlopen(3)).
pub(crate) unsafe fn stamp_own_pid(watched: Option<pid_t>) {
    let mut stamp = Stamp::now(sys::getpid());
    stamp.watched = watched.filter(|_| stamp.ticks.is_some());
    // SAFETY: the caller's guarantee.
    unsafe { write(&stamp) }
}

/// Tree mode: the stamp names the tree's anchor and is not rewritten from
/// process to process. A stamp that already names `anchor` with a time is
/// kept; a plain pid (or none: the anchor is the parent seen at load time)
/// becomes `anchor:now`, so that the anchor's identity (it started by then)
/// can be checked against pid reuse all the way down the tree.
///
/// # Safety
///
/// As [`stamp_own_pid`].
pub(crate) unsafe fn stamp_anchor(anchor: pid_t) {
    // SAFETY: the caller's guarantee (no concurrent change).
    let current = unsafe { sys::getenv(PDEATHSIG_PPID_C) }.and_then(Stamp::parse);
    if matches!(current, Some(s) if s.pid == anchor && s.ticks.is_some()) {
        return;
    }
    // SAFETY: the caller's guarantee.
    unsafe { write(&Stamp::now(anchor)) }
}

/// Writes `stamp` into `PDEATHSIG_PPID`: in place when it fits, else with
/// setenv(3).
///
/// # Safety
///
/// As [`stamp_own_pid`].
unsafe fn write(stamp: &Stamp) {
    // SAFETY: the caller's guarantee (no concurrent change).
    let current = unsafe { sys::getenv_ptr(PDEATHSIG_PPID_C) };
    if !current.is_null() {
        // SAFETY: a non-NULL getenv result is a NUL-terminated string.
        let old_len = unsafe { CStr::from_ptr(current) }.to_bytes().len();
        let mut storage = [0u8; 64];
        let mut value = Buf::new(&mut storage);
        stamp.write(&mut value, old_len);
        let fits = !value.overflowed() && value.as_bytes().len() == old_len;
        if fits && in_initial_block(current as usize, old_len) {
            let bytes = value.as_bytes();
            // SAFETY: `[current, current + old_len)` holds the value's bytes,
            // on the main thread's stack (checked by in_initial_block), so it
            // is mapped and writable. The environment owns it (the kernel
            // wrote it there, or a putenv(3) made it part of the environment,
            // which POSIX says changes when the string does). Exactly the
            // existing bytes are replaced: the length and the NUL stay, so no
            // reader can run past the end. No other thread reads it (the
            // caller's guarantee).
            unsafe {
                core::ptr::copy_nonoverlapping(bytes.as_ptr(), current.cast::<u8>(), bytes.len());
            }
            return;
        }
    }

    let mut storage = [0u8; 64];
    let mut value = Buf::new(&mut storage);
    stamp.write(&mut value, 0);
    value.put(b"\0");
    if value.overflowed() {
        return;
    }
    let Ok(value) = CStr::from_bytes_with_nul(value.as_bytes()) else {
        return;
    };
    // SAFETY: the caller's guarantee. A failure (ENOMEM) leaves the old
    // value, which the verdict's rules tolerate (an ancestor's stamp).
    let _ = unsafe { sys::setenv(PDEATHSIG_PPID_C, value) };
}

/// Does the string at `start` (`len` bytes and a NUL) lie in the initial
/// environment block, on the main thread's stack?
///
/// The kernel puts the environment strings between the `environ` array
/// (argc, argv[], envp[] and the auxiliary vector come first, at the initial
/// stack pointer) and the executable name of AT_EXECFN, which execve(2)
/// copies to the very top of the new stack, above the environment strings.
/// Both bounds and the string are then on the main thread's stack, above our
/// own frame: one writable mapping. The thread check matters only under
/// dlopen(3) from another thread, whose stack is elsewhere.
fn in_initial_block(start: usize, len: usize) -> bool {
    let marker = 0u8;
    let frame = core::ptr::addr_of!(marker) as usize;
    // SAFETY: the caller of stamp_own_pid guarantees no concurrent writer.
    let (array, top) = unsafe { sys::initial_environment_bounds() };
    let main_thread = sys::gettid() == sys::getpid();
    main_thread
        && top != 0
        && frame < array
        && array < start
        && start.checked_add(len + 1).is_some_and(|end| end <= top)
}
