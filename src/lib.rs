//! Make a child process die when its parent dies, on Linux, with the
//! start-up race closed.
//!
//! `prctl(PR_SET_PDEATHSIG)` asks the kernel for a signal when the parent
//! dies, but only from the moment it is called: a parent that dies before
//! that is never noticed, and the child lives on as an orphan. This crate
//! arms the signal and then checks the parent against the pid it *really*
//! had, which the spawner exports in `PDEATHSIG_PPID`; if that parent is
//! already gone, the child gets the signal at once, as the kernel would
//! have sent it.
//!
//! ```no_run
//! // At the top of the child's main:
//! pdeathsig::arm_parent_death_signal(pdeathsig::Signal::TERM)?;
//! # Ok::<(), pdeathsig::Error>(())
//! ```
//!
//! The same guard is a C library (`libpdeathsig.so`, `libpdeathsig.a`,
//! `include/pdeathsig.h`) and, with `LD_PRELOAD` and `PDEATHSIG=TERM`, arms
//! any dynamically linked program before its `main`. See the README.
//!
//! Features: `std` (default) adds `std::error::Error` and `io::Error`
//! conversions; `auto-arm` arms from `PDEATHSIG` at load time; `capi`
//! exports the C ABI; `header` regenerates the C header (build time).
//!
//! The crate always installs one load-time constructor, which records
//! `getppid()` (one system call, no environment access): the fallback
//! expected parent when `PDEATHSIG_PPID` is not set.
//!
//! Man pages: PR_SET_PDEATHSIG(2const), PR_GET_PDEATHSIG(2const), prctl(2),
//! getppid(2), signal(7), pid_namespaces(7).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

// Everything below is gated on Linux too, so that elsewhere this is the one
// error reported (not a cascade of missing libc items).
#[cfg(not(target_os = "linux"))]
compile_error!(
    "pdeathsig supports Linux only: it is built on prctl(PR_SET_PDEATHSIG), \
     which other systems do not have"
);

#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(target_os = "linux")]
mod arm;
#[cfg(all(target_os = "linux", feature = "capi"))]
pub mod capi;
#[cfg(all(target_os = "linux", feature = "std"))]
mod command;
#[cfg(target_os = "linux")]
mod environ;
#[cfg(target_os = "linux")]
mod error;
#[cfg(target_os = "linux")]
mod load;
#[cfg(all(feature = "capi", not(feature = "std"), not(test)))]
mod panic_handler;
#[cfg(target_os = "linux")]
mod signal;
#[cfg(all(target_os = "linux", feature = "auto-arm"))]
mod stamp;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
mod text;
#[cfg(target_os = "linux")]
mod verdict;
#[cfg(target_os = "linux")]
mod watch;

#[cfg(target_os = "linux")]
pub use arm::{
    arm_parent_death_signal, arm_parent_death_signal_expecting, arm_parent_death_signal_from_env,
    arm_parent_death_signal_with, disarm_parent_death_signal, get_parent_death_signal,
    rearm_parent_death_signal, Options,
};
#[cfg(all(target_os = "linux", feature = "std"))]
pub use command::ParentDeathSignalExt;
#[cfg(target_os = "linux")]
pub use environ::{
    exported_parent, parse_grace, parse_pid, requested_signal, EnvConfig, Mode, Stamp, MAX_GRACE,
    PDEATHSIG, PDEATHSIG_GRACE, PDEATHSIG_MODE, PDEATHSIG_PPID, PID_ACCEPTED,
};
#[cfg(target_os = "linux")]
pub use error::{Error, InvalidEnv};
#[cfg(target_os = "linux")]
pub use signal::{ParseSignalError, Signal, SIGNAL_ACCEPTED};
#[cfg(target_os = "linux")]
pub use verdict::{Armed, UnverifiedReason};

#[cfg(target_os = "linux")]
#[doc(hidden)]
pub use load::pdeathsig_at_load as __constructor;

/// The README's Rust examples, compiled as doc tests so that they keep
/// matching the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
