//! The process environment, read and edited in libc's `environ` array
//! itself, never through getenv(3), setenv(3) or putenv(3).
//!
//! Why: a dynamically linked program may define those functions for itself,
//! and its definitions then win over libc's for every caller, this library
//! included (ELF symbol interposition). bash does: its setenv(3) binds a
//! shell variable, which bash's `main` then overwrites when it imports the
//! environment, so a stamp written through it never reached bash's
//! children. What every program imports at `main` (glibc passes `environ`
//! as main's third argument, read after the constructors ran) and what
//! execve(2) hands a child is the `environ` array: that is what is read and
//! written here.
//!
//! Writing: a string of the array is replaced by pointing its slot at a
//! string the caller owns for the life of the process; a missing variable
//! gets a new array (mmap(2), never freed: glibc's setenv(3) later copies
//! an array it did not allocate instead of freeing it). No allocation
//! through libc, no lock: the same rule as setenv(3), no other thread may
//! touch the environment meanwhile.

use core::ffi::CStr;
use core::ptr;
use libc::c_char;

/// One `NAME=value` string of the environment.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    /// Its slot in the `environ` array (for [`put`]).
    #[cfg_attr(not(feature = "auto-arm"), allow(dead_code))]
    pub(crate) index: usize,
    /// The value's first byte (after `=`); `len` bytes and a NUL follow.
    pub(crate) value: *mut u8,
    pub(crate) len: usize,
}

/// The `environ` array (NULL when a program cleared it).
///
/// # Safety
///
/// No other thread may change the environment meanwhile.
unsafe fn array() -> *mut *mut c_char {
    // SAFETY: `environ` is libc's variable (a copy relocation makes it the
    // program's, one object for every library); reading the pointer is a
    // plain load, and the caller guarantees no concurrent writer.
    unsafe { ptr::addr_of!(libc::environ).read() }
}

/// The first entry for `name` (given without `=`), as getenv(3) finds it.
///
/// # Safety
///
/// No other thread may change the environment while the entry is used.
pub(crate) unsafe fn find(name: &CStr) -> Option<Entry> {
    let name = name.to_bytes();
    // SAFETY: the caller's guarantee.
    let array = unsafe { array() };
    if array.is_null() {
        return None;
    }
    let mut index = 0;
    loop {
        // SAFETY: the array is NULL-terminated (execve(2) and every libc
        // function that builds it make it so); `index` has not passed the
        // NULL yet.
        let string = unsafe { *array.add(index) };
        if string.is_null() {
            return None;
        }
        // SAFETY: every non-NULL slot is a NUL-terminated string.
        let bytes = unsafe { CStr::from_ptr(string) }.to_bytes();
        if let Some(value) = bytes.strip_prefix(name).and_then(|v| v.strip_prefix(b"=")) {
            return Some(Entry {
                index,
                value: value.as_ptr() as *mut u8,
                len: value.len(),
            });
        }
        index += 1;
    }
}

/// The value of `name`, `None` when unset or empty.
///
/// # Safety
///
/// As [`find`]; the bytes are valid until the variable changes.
pub(crate) unsafe fn get(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: the caller's guarantee.
    let entry = unsafe { find(name) }?;
    // SAFETY: `value` points to `len` bytes of a NUL-terminated string of
    // the environment, which live until the variable changes (the caller's
    // guarantee covers the time the bytes are used).
    let bytes = unsafe { core::slice::from_raw_parts(entry.value, entry.len) };
    (!bytes.is_empty()).then_some(bytes)
}

#[cfg(feature = "auto-arm")]
/// Makes `string` (`NAME=value`) the environment's entry for its name: in
/// the slot of `existing` (an entry [`find`] returned, for that name), else
/// appended in a new array. `Err(errno)` when no memory could be mapped;
/// the environment is then unchanged.
///
/// # Safety
///
/// `string` must stay valid and unchanged for the life of the process (or
/// until the variable is set again); no other thread may touch the
/// environment meanwhile; `existing` must come from [`find`] with no change
/// of the environment since.
pub(crate) unsafe fn put(
    string: &'static CStr,
    existing: Option<Entry>,
) -> Result<(), libc::c_int> {
    let string = string.as_ptr() as *mut c_char;
    // SAFETY: the caller's guarantee.
    let old = unsafe { array() };
    if let Some(entry) = existing {
        // SAFETY: `entry.index` is a slot of the current array (the
        // caller's guarantee), which is writable memory: the kernel's
        // block on the stack, or an array a libc function allocated.
        unsafe { *old.add(entry.index) = string };
        return Ok(());
    }
    let mut count = 0;
    if !old.is_null() {
        // SAFETY: the array is NULL-terminated (see `find`).
        while !unsafe { *old.add(count) }.is_null() {
            count += 1;
        }
    }
    let slots = count + 2;
    let new = crate::sys::map_anonymous(slots * core::mem::size_of::<*mut c_char>())?
        .cast::<*mut c_char>();
    // SAFETY: `new` has room for `slots` pointers (fresh, zeroed, writable
    // pages); `old` holds `count` readable pointers; the regions are apart.
    unsafe {
        if count > 0 {
            ptr::copy_nonoverlapping(old, new, count);
        }
        *new.add(count) = string;
        *new.add(count + 1) = ptr::null_mut();
        ptr::addr_of_mut!(libc::environ).write(new);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_std_sees() {
        // SAFETY: test threads may run, but none changes the environment
        // while this one reads (the test harness sets nothing).
        let path = unsafe { get(c"PATH") };
        let std_path = std::env::var_os("PATH");
        assert_eq!(
            path,
            std_path
                .as_deref()
                .map(std::os::unix::ffi::OsStrExt::as_bytes)
        );
        // SAFETY: as above.
        assert!(unsafe { get(c"PDEATHSIG_NO_SUCH_VARIABLE_SET") }.is_none());
    }
}
