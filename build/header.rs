// Shared by build.rs and tests/header.rs: one definition of how the C
// header is generated, so the freshness test checks exactly what the build
// writes.

/// Files the header depends on (paths relative to the crate root).
pub const INPUTS: &[&str] = &["src/capi.rs", "cbindgen.toml", "build/header.rs"];

/// The committed header.
pub const COMMITTED: &str = "include/pdeathsig.h";

/// Runs cbindgen on src/capi.rs with cbindgen.toml and returns the header.
pub fn generate(root: &std::path::Path) -> Result<String, String> {
    let config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).map_err(|e| e.to_string())?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/capi.rs"))
        .generate()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).map_err(|e| e.to_string())
}
