//! Writing the stamp: a process armed at load time puts `PDEATHSIG_PPID=
//! <its pid>:<now>:[<watched>]:<pidfs inode>` into its own environment (the
//! inode where pidfs gives one; see `environ.rs`), so that the
//! children it spawns compare against it (see `verdict.rs` for how they
//! read it). This is the one place that writes the environment, and the
//! riskiest: it is `unsafe`, and kept apart from the pure parser.

use core::ffi::CStr;
use libc::pid_t;

use crate::environ::{
    Anchor, Stamp, PDEATHSIG_ANCHOR, PDEATHSIG_ANCHOR_C, PDEATHSIG_PPID, PDEATHSIG_PPID_C,
};
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

/// Tree mode: writes `PDEATHSIG_ANCHOR` for the children this process
/// execs: the tree's anchor, with this process's session and detach flags
/// (see `environ::Anchor`).
///
/// # Safety
///
/// As [`stamp_own_pid`].
pub(crate) unsafe fn stamp_anchor(anchor: &Anchor) {
    // SAFETY: only this function touches ANCHOR_ENTRY, under the caller's
    // guarantee; the string it held (if any) is replaced as a whole.
    let entry = unsafe { &mut *core::ptr::addr_of_mut!(ANCHOR_ENTRY) };
    // SAFETY: the caller's guarantee.
    unsafe {
        write_var(
            PDEATHSIG_ANCHOR_C,
            PDEATHSIG_ANCHOR,
            entry,
            &mut |out, min| anchor.write(out, min),
        )
    }
}

/// Room for `PDEATHSIG_PPID=PID:TICKS:WATCHED:INO` and its NUL (at most 15
/// + 10 + 1 + 20 + 1 + 10 + 1 + 20 + 1 bytes).
const ENTRY_SIZE: usize = 96;

/// The environment string this process's stamp lives in when it cannot be
/// written in place: an environment slot points here for the life of the
/// process. Written only by [`write`], under its caller's guarantee that
/// nothing else touches the environment meanwhile.
static mut ENTRY: [u8; ENTRY_SIZE] = [0; ENTRY_SIZE];

/// The environment string of `PDEATHSIG_ANCHOR` when it cannot be written
/// in place (as [`ENTRY`]).
static mut ANCHOR_ENTRY: [u8; ENTRY_SIZE] = [0; ENTRY_SIZE];

/// Writes `stamp` into `PDEATHSIG_PPID` (see [`write_var`]).
///
/// # Safety
///
/// As [`stamp_own_pid`].
unsafe fn write(stamp: &Stamp) {
    let padded = padded_len(stamp);
    // SAFETY: only this function touches ENTRY, under the caller's
    // guarantee that nothing else runs meanwhile.
    let entry = unsafe { &mut *core::ptr::addr_of_mut!(ENTRY) };
    // SAFETY: the caller's guarantee.
    unsafe {
        write_var(PDEATHSIG_PPID_C, PDEATHSIG_PPID, entry, &mut |out, min| {
            stamp.write(out, if min == 0 { padded } else { min })
        })
    }
}

/// Writes a value into variable `name`, in the `environ` array itself (see
/// `rawenv.rs` for why not setenv(3)): in place when it fits the inherited
/// value's bytes in the initial block, else as a new string (`entry`, a
/// static of this library) in the variable's slot, or in a new array when
/// the variable is unset. `value(out, min_len)` writes the value padded to
/// at least `min_len` bytes (0 for the new string: its own padding).
///
/// # Safety
///
/// As [`stamp_own_pid`]; `entry` is a static used for `name` only.
unsafe fn write_var(
    name_c: &CStr,
    name: &str,
    entry: &'static mut [u8; ENTRY_SIZE],
    value: &mut dyn FnMut(&mut dyn Sink, usize),
) {
    // SAFETY: the caller's guarantee (no concurrent change).
    let current = unsafe { rawenv::find(name_c) };
    if let Some(found) = current {
        let mut storage = [0u8; 80];
        let mut padded = Buf::new(&mut storage);
        value(&mut padded, found.len);
        let fits = !padded.overflowed() && padded.as_bytes().len() == found.len;
        if fits && in_initial_block(found.value as usize, found.len) {
            let bytes = padded.as_bytes();
            // SAFETY: `[value, value + len)` holds the value's bytes, on the
            // main thread's stack (checked by in_initial_block), so it is
            // mapped and writable, and the environment owns it (the kernel
            // wrote it there). Exactly the existing bytes are replaced: the
            // length and the NUL stay, so no reader can run past the end.
            // No other thread reads it (the caller's guarantee).
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), found.value, bytes.len()) };
            return;
        }
    }
    let mut line = Buf::new(&mut entry[..]);
    line.put(name.as_bytes());
    line.put(b"=");
    value(&mut line, 0);
    line.put(b"\0");
    let (len, overflowed) = (line.as_bytes().len(), line.overflowed());
    if overflowed {
        return;
    }
    let Some(Ok(string)) = entry.get(..len).map(CStr::from_bytes_with_nul) else {
        return;
    };
    // SAFETY: the string is in a static that lives as long as the process
    // (the library is never unloaded: -z nodelete) and is rewritten only by
    // a later write of this variable in this process; `current` was found
    // just above with no change since; the caller's guarantee covers the
    // rest. A failure (ENOMEM) leaves the old value, which the verdict's
    // rules tolerate (an ancestor's stamp).
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
