#!/bin/sh
# Builds the C library and runs the language bindings' tests: the C example
# (shared and static), the pkg-config install, Go (cgo) and Python (ctypes).
# Stops at the first failure. Prints each command before it runs.
#
# Needs: cargo, cc (gcc), make, pkg-config, go (>= 1.19), python3 (>= 3.9).
# On Debian/Ubuntu: apt-get install -y gcc make pkg-config golang-go python3
# Works offline: the Go module has no external dependencies.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

run() {
    echo "+ $*" >&2
    "$@"
}

missing=
for tool in cargo cc make pkg-config go python3; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "test-languages.sh: missing:$missing (Debian: apt-get install -y gcc make pkg-config golang-go python3)" >&2
    exit 1
fi

target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
lib=$target/release

echo "== C library" >&2
run cargo build --release -p pdeathsig-capi

echo "== C example: shared and static" >&2
run make -C examples/c test

echo "== pkg-config: install into a temporary prefix, build with pkg-config" >&2
prefix=$(mktemp -d "${TMPDIR:-/tmp}/pdeathsig-prefix.XXXXXX")
trap 'rm -rf "$prefix"' EXIT INT TERM
PDEATHSIG_NO_BUILD=1 run scripts/install-c-lib.sh "$prefix"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
run pkg-config --modversion pdeathsig
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
run cc -Wall -Wextra -Werror -o "$prefix/child-pc" examples/c/child.c \
    $(pkg-config --cflags --libs pdeathsig)
# shellcheck disable=SC2046
run cc -Wall -Wextra -Werror -o "$prefix/child-pc-static" examples/c/child.c \
    $(pkg-config --cflags pdeathsig) "$(pkg-config --variable=libdir pdeathsig)/libpdeathsig.a"
if ldd "$prefix/child-pc-static" | grep -q libpdeathsig; then
    echo "child-pc-static links libpdeathsig.so" >&2
    exit 1
fi
LD_LIBRARY_PATH="$prefix/lib" run examples/c/check "$prefix/child-pc" "$prefix/child-pc-static"

echo "== Go (cgo)" >&2
# The package finds the C library with `#cgo pkg-config: pdeathsig`, as in
# another module: here the library installed into $prefix by the pkg-config
# step above (PKG_CONFIG_PATH is exported there). At run time the binaries
# find libpdeathsig.so through LD_LIBRARY_PATH, not an rpath: they are then
# linked exactly as a user's are (no temporary path baked into them or the
# Go build cache), and the test binary, the examples it builds and the
# processes it starts all inherit it. PDEATHSIG_LIBRARY is the .so the
# LD_PRELOAD test loads: the installed one. A build cache of its own, in
# $prefix (removed at exit): Go's cache key leaves out pkg-config's output
# (golang/go#24544), so a shared cache would link with the -L of an earlier
# run's deleted prefix. Scoped to this section.
(
    export GOCACHE="$prefix/go-build-cache"
    export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PDEATHSIG_LIBRARY="$prefix/lib/libpdeathsig.so"
    cd go
    run go vet ./...
    run go test -count=1 ./...
)

echo "== Python (ctypes)" >&2
(cd python && run python3 -m unittest -v)

echo "== all language tests passed" >&2
