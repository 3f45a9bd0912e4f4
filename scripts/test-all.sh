#!/usr/bin/env bash
# The whole test suite: the Rust crate (unit, integration with real
# processes, C header compile checks, doc tests), then every language
# binding (C examples, pkg-config, Go, Python).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test
scripts/test-languages.sh
