//! With the `header` feature (enabled by capi/): generate the C header from
//! src/capi.rs with the pinned cbindgen. The generated text goes to OUT_DIR;
//! include/pdeathsig.h is rewritten only when `PDEATHSIG_UPDATE_HEADER=1`
//! and the content changed. tests/header.rs fails when it is stale.

#[cfg(feature = "header")]
#[path = "build/header.rs"]
mod header;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "header")]
    generate_header();
}

#[cfg(feature = "header")]
fn generate_header() {
    use std::path::PathBuf;
    for input in header::INPUTS {
        println!("cargo:rerun-if-changed={input}");
    }
    println!("cargo:rerun-if-env-changed=PDEATHSIG_UPDATE_HEADER");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let text = match header::generate(&root) {
        Ok(text) => text,
        Err(err) => panic!("cbindgen failed on src/capi.rs: {err}"),
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("pdeathsig.h");
    std::fs::write(&out, &text).expect("write OUT_DIR/pdeathsig.h");
    let committed = root.join(header::COMMITTED);
    let current = std::fs::read_to_string(&committed).unwrap_or_default();
    if current == text {
        return;
    }
    if std::env::var_os("PDEATHSIG_UPDATE_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&committed, &text).expect("write include/pdeathsig.h");
    } else {
        println!(
            "cargo:warning=include/pdeathsig.h is stale; regenerate it with \
             PDEATHSIG_UPDATE_HEADER=1 cargo build -p pdeathsig-capi"
        );
    }
}
