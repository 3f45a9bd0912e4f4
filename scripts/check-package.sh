#!/usr/bin/env bash
# Ready for crates.io: what `cargo publish` would upload, checked without
# uploading anything.
#
#   scripts/check-package.sh [--allow-dirty]
#
# - the package holds the crate (src/, the Rust examples, README, CHANGELOG,
#   licences, Cargo.lock for the wrapper) and none of the repository's other
#   parts (C library, header, bindings, tests, benchmarks, scripts, CI);
# - `cargo publish --dry-run -p pdeathsig` packages it, builds it from the
#   packaged files alone and warns about nothing but the test targets the
#   package leaves out on purpose;
# - the exec wrapper installs from the packaged files with
#   `cargo install --locked`, which is what `cargo install pdeathsig --locked`
#   does, and runs;
# - on a non-Linux target the crate fails with its one Linux-only message
#   (skipped when rustup cannot add the FreeBSD target).
#
# --allow-dirty: for a working tree with uncommitted changes (CI's clone is
# clean and does not pass it).
set -euo pipefail
cd "$(dirname "$0")/.."

dirty=()
case "${1:-}" in
    "") ;;
    --allow-dirty) dirty=(--allow-dirty) ;;
    *)
        echo "usage: $0 [--allow-dirty]" >&2
        exit 2
        ;;
esac

fail() {
    echo "check-package: FAIL: $*" >&2
    exit 1
}

meta=$(cargo metadata --format-version 1 --no-deps)
field() { python3 -c "import json,sys; m=json.load(sys.stdin); print($1)" <<<"$meta"; }
target_dir=$(field 'm["target_directory"]')
version=$(field '[p for p in m["packages"] if p["name"] == "pdeathsig"][0]["version"]')

echo "--- cargo package --list -p pdeathsig"
list=$(cargo package --list -p pdeathsig "${dirty[@]}")
echo "$list"
for need in Cargo.toml Cargo.lock README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE \
    src/lib.rs src/bin/pdeathsig/main.rs src/bin/pdeathsig/supervise.rs src/bin/pdeathsig/group.rs src/panic_handler.rs; do
    grep -qxF "$need" <<<"$list" || fail "$need is not in the package"
done
if stray=$(grep -E '^(capi|include|go|python|tests|bench|fuzz|scripts|packaging|build|\.ci)/' <<<"$list"); then
    fail "the package holds repository-only files:
$stray"
fi

echo "--- cargo publish --dry-run -p pdeathsig"
if ! out=$(cargo publish --dry-run -p pdeathsig "${dirty[@]}" 2>&1); then
    echo "$out" >&2
    fail "cargo publish --dry-run failed"
fi
echo "$out"
# Expected: one line per test target left out of the package, and the
# dry run's own notice. Anything else is a warning to fix.
expected='^warning: (ignoring test `[A-Za-z0-9_-]+` as `tests/[A-Za-z0-9_-]+\.rs` is not included in the published package|aborting upload due to dry run)$'
if unexpected=$(grep -E '^(warning|error)' <<<"$out" | grep -Ev "$expected"); then
    fail "unexpected warnings from cargo publish --dry-run:
$unexpected"
fi
echo "check-package: publish dry run clean (only the intended 'ignoring test' notices)"

echo "--- cargo install --locked from the packaged files"
packaged="$target_dir/package/pdeathsig-$version"
[ -f "$packaged/Cargo.lock" ] || fail "$packaged/Cargo.lock missing: cargo install --locked would resolve afresh"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# Its own target directory, as for a user: nothing reused from the workspace.
CARGO_TARGET_DIR="$root/target" cargo install --quiet --locked --path "$packaged" --root "$root"
shown=$("$root/bin/pdeathsig" --version)
[ "$shown" = "pdeathsig $version" ] || fail "installed wrapper says '$shown', expected 'pdeathsig $version'"
"$root/bin/pdeathsig" -- true || fail "installed wrapper cannot run true"
echo "check-package: cargo install --locked installs bin/pdeathsig ($shown)"

echo "--- non-Linux target: the one Linux-only message"
if rustup target add x86_64-unknown-freebsd >/dev/null 2>&1; then
    set +e
    out=$(cargo check --quiet -p pdeathsig --target x86_64-unknown-freebsd --target-dir "$root/freebsd" 2>&1)
    status=$?
    set -e
    [ "$status" -ne 0 ] || fail "cargo check for FreeBSD succeeded"
    errors=$(grep -c '^error' <<<"$out" || true)
    # The message, then cargo's "could not compile".
    if [ "$errors" -ne 2 ] || ! grep -q '^error: pdeathsig supports Linux only' <<<"$out"; then
        echo "$out" >&2
        fail "expected exactly the Linux-only compile_error on FreeBSD"
    fi
    echo "check-package: FreeBSD gets the one message: $(grep '^error: pdeathsig' <<<"$out")"
else
    echo "check-package: SKIP non-Linux check: rustup cannot add x86_64-unknown-freebsd here"
fi

echo "check-package: OK"
