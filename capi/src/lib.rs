//! libpdeathsig.so and libpdeathsig.a: the pdeathsig crate's C ABI plus the
//! load-time auto-arm, `no_std` so that the library depends on libc alone
//! (see the README's design section for why this is its own package).
//!
//! The panic handler comes with the crate's `capi` feature when `std` is
//! off (src/panic_handler.rs): built on its own (`-p pdeathsig-capi`) this
//! library has that handler and no std; in a `--workspace` build features
//! unify, std comes in and its handler is used instead.
#![no_std]

pub use guard::capi::*;

/// Keeps the constructor's object (and its `.init_array` entry) in the
/// library: the linker drops unreferenced objects of an rlib.
#[used]
static KEEP_CONSTRUCTOR: fn() = guard::__constructor;
