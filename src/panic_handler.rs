//! The panic handler of the C library: the crate built with `capi` and
//! without `std` (what capi/ builds into libpdeathsig.so and .a) is the
//! program's only Rust, so something has to provide `#[panic_handler]`.
//!
//! It lives here rather than in capi/ so that it follows the features: when
//! a build unifies `capi` with `std` (`cargo build --workspace`, clippy on
//! every target), std's handler is used and this module is compiled out,
//! instead of two handlers colliding (E0152). The `capi` feature without
//! `std` is for the C library alone: a Rust program that links std cannot
//! link this crate built that way.
//!
//! Unreachable in practice: the code is written not to panic (no indexing,
//! no unwrap, checked arithmetic). Should it ever happen, abort as a
//! panic=abort program would; unwinding into C is not an option.

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort(3) has no preconditions and does not return.
    unsafe { libc::abort() }
}

/// Referenced by the precompiled `core` in unoptimised builds even though
/// nothing unwinds (panic = "abort"); never called. Release builds (LTO)
/// drop the reference, so they do not export it.
#[cfg(debug_assertions)]
#[no_mangle]
extern "C" fn rust_eh_personality() {}
