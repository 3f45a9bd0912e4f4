//! Writing the stamp: a process armed at load time puts `PDEATHSIG_PPID=
//! <its pid>:<now>[:<watched>]` into its own environment, so that the
//! children it spawns compare against it (see `verdict.rs` for how they
//! read it). This is the one place that writes the environment, and the
//! riskiest: it is `unsafe`, and kept apart from the pure parser.

use core::ffi::CStr;
use libc::pid_t;

use crate::environ::{Stamp, PDEATHSIG_PPID, PDEATHSIG_PPID_C};
use crate::text::{Buf, Sink};
use crate::{rawenv, sys};

/// Writes this process's stamp into `PDEATHSIG_PPID`: its pid, the time
/// now, and in process mode the pid its watcher watches.
///
/// When the spawner already set `PDEATHSIG_PPID` and the value lies in the
/// environment block the kernel wrote on the main thread's stack at exec
/// and is long enough, the bytes are overwritten in place (the pid padded
/// with leading zeros, which the parser accepts). Otherwise (unset, too
/// short, or a string put elsewhere) the variable's slot of `environ` is
/// pointed at a string of this library's, or a new array is mapped for it
/// when the variable is unset. Nothing goes through setenv(3), which a
/// program may replace (bash does). In-place stamping also changes the
/// value that a Go program (cgo) reads from the initial stack for its own
/// `os.Environ`; the other two ways do not reach Go's copy.
///
/// # Safety
///
/// No other thread may read or write the environment meanwhile (the rule
/// of setenv(3) too). The load-time constructor calls this before
/// `main` (see `load.rs` on dlopen(3)).
pub(crate) unsafe fn stamp_own_pid(watched: Option<pid_t>) {
    // With our identity by creation order (pidfs), for our children.
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
    let current = unsafe { rawenv::get(PDEATHSIG_PPID_C) }.and_then(Stamp::parse);
    if matches!(current, Some(s) if s.pid == anchor && s.ticks.is_some()) {
        return;
    }
    // SAFETY: the caller's guarantee.
    unsafe { write(&Stamp::now(anchor)) }
}

/// Room for `PDEATHSIG_PPID=PID:TICKS:WATCHED:INO` and its NUL (at most 15
/// + 10 + 1 + 20 + 1 + 10 + 1 + 20 + 1 bytes).
const ENTRY_SIZE: usize = 96;

/// The environment string this process's stamp lives in when it cannot be
/// written in place: an environment slot points here for the life of the
/// process. Written only by [`write`], under its caller's guarantee that
/// nothing else touches the environment meanwhile.
static mut ENTRY: [u8; ENTRY_SIZE] = [0; ENTRY_SIZE];

/// Writes `stamp` into `PDEATHSIG_PPID`, in the `environ` array itself (see
/// `rawenv.rs` for why not setenv(3)): in place when it fits the inherited
/// value's bytes in the initial block, else as a new string (this
/// library's [`ENTRY`]) in the variable's slot, or in a new array when the
/// variable is unset.
///
/// # Safety
///
/// As [`stamp_own_pid`].
unsafe fn write(stamp: &Stamp) {
    // SAFETY: the caller's guarantee (no concurrent change).
    let current = unsafe { rawenv::find(PDEATHSIG_PPID_C) };
    if let Some(entry) = current {
        let mut storage = [0u8; 64];
        let mut value = Buf::new(&mut storage);
        stamp.write(&mut value, entry.len);
        let fits = !value.overflowed() && value.as_bytes().len() == entry.len;
        if fits && in_initial_block(entry.value as usize, entry.len) {
            let bytes = value.as_bytes();
            // SAFETY: `[value, value + len)` holds the value's bytes, on the
            // main thread's stack (checked by in_initial_block), so it is
            // mapped and writable, and the environment owns it (the kernel
            // wrote it there). Exactly the existing bytes are replaced: the
            // length and the NUL stay, so no reader can run past the end.
            // No other thread reads it (the caller's guarantee).
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), entry.value, bytes.len()) };
            return;
        }
    }
    // SAFETY: only this function touches ENTRY, under the caller's
    // guarantee that nothing else runs meanwhile; the environment's reader
    // of the old string (our own `current`) is done with it.
    let entry_bytes: &'static mut [u8; ENTRY_SIZE] =
        unsafe { &mut *core::ptr::addr_of_mut!(ENTRY) };
    let mut line = Buf::new(&mut entry_bytes[..]);
    line.put(PDEATHSIG_PPID.as_bytes());
    line.put(b"=");
    stamp.write(&mut line, padded_len(stamp));
    line.put(b"\0");
    let (len, overflowed) = (line.as_bytes().len(), line.overflowed());
    if overflowed {
        return;
    }
    let Some(Ok(string)) = entry_bytes.get(..len).map(CStr::from_bytes_with_nul) else {
        return;
    };
    // SAFETY: the string is in a static that lives as long as the process
    // (the library is never unloaded: -z nodelete) and is rewritten only by
    // a later stamp of this process; `current` was found just above with no
    // change since; the caller's guarantee covers the rest. A failure
    // (ENOMEM) leaves the old value, which the verdict's rules tolerate (an
    // ancestor's stamp).
    let _ = unsafe { rawenv::put(string, current) };
}

/// The length of `stamp` with its pid padded to 10 digits (room for any
/// pid): the children, which inherit this string in their initial block,
/// then find room to write their own stamp in place.
fn padded_len(stamp: &Stamp) -> usize {
    let mut storage = [0u8; 64];
    let mut plain = Buf::new(&mut storage);
    stamp.write(&mut plain, 0);
    let pid_digits = crate::text::decimal_len(u64::try_from(stamp.pid).unwrap_or(0));
    plain.as_bytes().len() + 10usize.saturating_sub(pid_digits)
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
