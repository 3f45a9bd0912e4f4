//! Fuzzes the environment parser: the input is split at NUL bytes (which no
//! environment value can hold) into the values of PDEATHSIG,
//! PDEATHSIG_PPID, PDEATHSIG_MODE and PDEATHSIG_GRACE (an absent part is an
//! unset variable). Nothing may panic, and every error renders as one line
//! of printable ASCII naming the bad variable.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run env_parser` (in fuzz/).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pdeathsig::{parse_grace, EnvConfig, Error, Mode, Signal};

const VARS: [&str; 4] = [
    "PDEATHSIG",
    "PDEATHSIG_PPID",
    "PDEATHSIG_MODE",
    "PDEATHSIG_GRACE",
];

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let value = |name: &str| {
        let k = VARS.iter().position(|v| *v == name)?;
        parts.get(k).copied()
    };
    match EnvConfig::from_lookup(value) {
        Ok(config) => {
            if config.grace.is_some() {
                assert_eq!(config.mode, Mode::Process);
            }
        }
        Err(err) => {
            let msg = err.to_string();
            assert!(
                !msg.is_empty() && msg.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "not one printable line: {msg:?}"
            );
            match err {
                Error::InvalidEnv(bad) => {
                    let k = VARS
                        .iter()
                        .position(|v| *v == bad.var())
                        .expect("known variable");
                    let given = parts[k];
                    assert_eq!(bad.value(), &given[..given.len().min(40)]);
                    assert!(msg.starts_with(&format!("invalid {}=\"", VARS[k])), "{msg}");
                    assert!(msg.contains("accepted: "), "{msg}");
                }
                Error::GraceNeedsProcessMode => {}
                other => panic!("unexpected error {other:?}"),
            }
        }
    }
    // The single-value parsers on the whole input.
    if let Some(sig) = Signal::parse(data) {
        assert!(sig.as_raw() >= 1 && sig.as_raw() <= libc_sigrtmax());
    }
    let _ = Mode::parse(data);
    if let Some(grace) = parse_grace(data) {
        assert!(grace.as_millis() >= 1 && grace.as_secs() <= 3600);
    }
});

fn libc_sigrtmax() -> i32 {
    // SIGRTMAX is at most 64 on Linux.
    64
}
