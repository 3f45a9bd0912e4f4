//! The committed C header is what cbindgen generates from src/capi.rs now.
//! Uses the same generator as build.rs (build/header.rs), so this checks
//! exactly what the build would write.
#[path = "../build/header.rs"]
mod header;

#[test]
fn committed_header_is_fresh() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let generated = header::generate(&root).unwrap_or_else(|e| panic!("cbindgen failed: {e}"));
    let committed = std::fs::read_to_string(root.join(header::COMMITTED))
        .unwrap_or_else(|e| panic!("read {}: {e}", header::COMMITTED));
    if generated != committed {
        let first_diff = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()));
        panic!(
            "{} is stale (first difference at line {}): it no longer matches what \
             cbindgen generates from {:?}.\nRegenerate it with:\n    \
             PDEATHSIG_UPDATE_HEADER=1 cargo build -p pdeathsig-capi\nand commit it.",
            header::COMMITTED,
            first_diff + 1,
            header::INPUTS,
        );
    }
}
