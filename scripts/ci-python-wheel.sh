#!/usr/bin/env bash
# CI for the Python package as users get it: builds the wheel from python/
# (pip wheel, which runs cargo build --release -p pdeathsig-capi and bundles
# libpdeathsig.so), installs it into a fresh venv, and runs
# python/test_pdeathsig.py against the INSTALLED package from a directory
# outside the repository, with no PDEATHSIG_LIBRARY: the package must find
# its bundled library. Fails if the tests import anything but the venv's
# package. Prints unittest's output and a closing "N passed, N failed" line.
#
# Needs: cargo, python3 (>= 3.9) with venv and ensurepip (Debian:
# apt-get install -y python3-venv); PyPI reachable for setuptools (the
# wheel's isolated build environment). Bounded: 15 min for the wheel build,
# 5 min for the tests.
#
# PYTHON=/path/to/python3.X picks another interpreter (default: python3).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
started=$(date +%s)

run() {
    echo "+ $*" >&2
    "$@"
}
die() {
    echo "ci-python-wheel.sh: $*" >&2
    exit 1
}

python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || die "$python not found (Debian: apt-get install -y python3 python3-venv)"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup)"
"$python" -c 'import ensurepip, venv' 2>/dev/null ||
    die "$python cannot create a venv with pip (Debian: apt-get install -y python3-venv)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pdeathsig-wheel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
tmp=$(cd "$tmp" && pwd -P)
case $tmp/ in "$(cd "$root" && pwd -P)"/*) die "temporary directory $tmp is inside the repository: set TMPDIR elsewhere" ;; esac

echo "== fresh venv in $tmp/venv" >&2
run "$python" -m venv "$tmp/venv"
py=$tmp/venv/bin/python

echo "== build the wheel (cargo builds libpdeathsig.so)" >&2
# The venv's pip: the system python3 may have none. --no-deps: the package
# has no dependencies; the build's own (setuptools) come from PyPI into an
# isolated environment.
PIP_DISABLE_PIP_VERSION_CHECK=1 run timeout 900 "$py" -m pip wheel --no-deps \
    --wheel-dir "$tmp/wheel" "$root/python"
wheels=("$tmp"/wheel/pdeathsig-*.whl)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || die "expected one pdeathsig wheel in $tmp/wheel"
wheel=${wheels[0]}
case ${wheel##*/} in
    *-py3-none-linux_*.whl) ;;
    *) die "${wheel##*/}: want a py3-none-linux_<arch> wheel (it holds a native library)" ;;
esac
"$py" - "$wheel" <<'EOF' || die "the wheel does not hold pdeathsig/libpdeathsig.so and py.typed"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
sys.exit(0 if {"pdeathsig/libpdeathsig.so", "pdeathsig/py.typed", "pdeathsig/__init__.py"} <= names else 1)
EOF
echo "wheel: ${wheel##*/}, $(stat -c %s "$wheel") bytes" >&2

echo "== install it into the venv" >&2
PIP_DISABLE_PIP_VERSION_CHECK=1 run "$py" -m pip install --no-deps --no-index "$wheel"

echo "== run the tests against the installed package, from $tmp/run" >&2
mkdir "$tmp/run"
cp "$root/python/test_pdeathsig.py" "$tmp/run/"
cd "$tmp/run"
# Nothing that would point at the repository's sources or library.
unset PDEATHSIG_LIBRARY PYTHONPATH PYTHONHOME CARGO_TARGET_DIR LD_LIBRARY_PATH \
    PDEATHSIG PDEATHSIG_PPID PDEATHSIG_MODE PDEATHSIG_GRACE
where=$("$py" -c 'import pdeathsig; print(pdeathsig.__file__); print(pdeathsig.library_path)')
module=$(sed -n 1p <<<"$where")
library=$(sed -n 2p <<<"$where")
case $module in
    "$tmp/venv/"*) ;;
    *) die "pdeathsig imported from $module, not from the venv $tmp/venv" ;;
esac
[ "$library" = "$(dirname "$module")/libpdeathsig.so" ] ||
    die "the installed package loaded $library, not its bundled library"
echo "imported: $module" >&2
echo "library:  $library" >&2

cat >"$tmp/run/run_tests.py" <<'EOF'
"""Runs test_pdeathsig verbosely; prints "N passed, N failed, N skipped"."""
import sys
import unittest

suite = unittest.defaultTestLoader.loadTestsFromName("test_pdeathsig")
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)


def test_id(test):
    # A failing subtest counts once, as its test.
    return getattr(test, "test_case", test).id()


failed = {test_id(t) for t, _ in result.failures + result.errors}
failed |= {test_id(t) for t in result.unexpectedSuccesses}
skipped = {test_id(t) for t, _ in result.skipped} - failed
passed = result.testsRun - len(failed) - len(skipped)
print("%d passed, %d failed, %d skipped" % (passed, len(failed), len(skipped)), flush=True)
sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
EOF
status=0
PDEATHSIG_TEST_INSTALLED=1 timeout 300 "$py" run_tests.py || status=$?
cd /
echo "ci-python-wheel.sh: $(($(date +%s) - started)) s" >&2
[ "$status" -eq 0 ] || die "the tests of the installed package failed (status $status)"
echo "== the installed wheel passed" >&2
