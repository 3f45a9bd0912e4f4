//! libpdeathsig.so and libpdeathsig.a: the pdeathsig crate's C ABI plus the
//! load-time auto-arm, `no_std` so that the library depends on libc alone
//! (see the README's design section for why this is its own package).
#![no_std]

pub use guard::capi::*;

/// Keeps the constructor's object (and its `.init_array` entry) in the
/// library: the linker drops unreferenced objects of an rlib.
#[used]
static KEEP_CONSTRUCTOR: fn() = guard::__constructor;

/// Unreachable: the code is written not to panic (no indexing, no
/// unwrap, checked arithmetic). Should it ever happen, abort as a
/// panic=abort program would; unwinding into C is not an option.
// Not under `cargo test`/`clippy --all-targets`: the harness brings std's.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort(3) has no preconditions.
    unsafe { libc_abort() }
}

#[cfg(not(test))]
extern "C" {
    #[link_name = "abort"]
    fn libc_abort() -> !;
}

/// Referenced by the precompiled `core` in unoptimised builds even though
/// nothing unwinds (panic = "abort"); never called. Release builds (LTO)
/// drop the reference, so they do not export it.
#[cfg(all(debug_assertions, not(test)))]
#[no_mangle]
extern "C" fn rust_eh_personality() {}
