//! Link flags of libpdeathsig.so.
//!
//! `-z nodelete`: the library can never be unloaded. Process mode leaves a
//! watcher thread running the library's code; a program that dlopen(3)s
//! the library, arms, then dlclose(3)s it would otherwise crash (SIGSEGV)
//! in that thread when the parent dies. See ld(1) and dlclose(3).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
