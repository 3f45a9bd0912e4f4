#!/bin/sh
# Installs the C library of pdeathsig under PREFIX:
#
#   PREFIX/lib/libpdeathsig.so
#   PREFIX/lib/libpdeathsig.a
#   PREFIX/include/pdeathsig.h
#   PREFIX/lib/pkgconfig/pdeathsig.pc
#
# Usage: scripts/install-c-lib.sh PREFIX
#
# Builds the library first (cargo build --release -p pdeathsig-capi) unless
# PDEATHSIG_NO_BUILD=1. Environment: LIBDIR (default lib, relative to PREFIX,
# e.g. lib/x86_64-linux-gnu), DESTDIR (staging root for packagers),
# CARGO_TARGET_DIR (where cargo put the build).
#
# The dynamic loader finds libpdeathsig.so through its cache
# (/etc/ld.so.cache), which only ldconfig(8) updates. Without DESTDIR, when
# the library directory is one the loader searches (/etc/ld.so.conf, e.g.
# /usr/local/lib, /usr/lib/x86_64-linux-gnu):
#   - as root, the script runs ldconfig, so programs linked with
#     -lpdeathsig run at once (without it: "libpdeathsig.so: cannot open
#     shared object file");
#   - as another user, it prints a one-line hint to run `sudo ldconfig`.
# For any other directory (a home or a temporary prefix) it prints a
# one-line hint about LD_LIBRARY_PATH / -Wl,-rpath instead. With DESTDIR
# (staging for a package) it does neither: the package runs ldconfig.
#
# Then: cc child.c $(pkg-config --cflags --libs pdeathsig)
# (with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a prefix pkg-config does not
# search, and LD_LIBRARY_PATH=PREFIX/lib or -Wl,-rpath,PREFIX/lib at run time
# for a prefix the dynamic loader does not search).
set -eu

usage() {
    echo "usage: $0 PREFIX   (an absolute directory, e.g. /usr/local)" >&2
    exit 2
}
[ $# -eq 1 ] || usage
prefix=$1
case $prefix in
/*) ;;
*) echo "$0: PREFIX must be an absolute path, got '$prefix'" >&2; usage ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
libsub=${LIBDIR:-lib}
libsub=${libsub#/}
libdir=$prefix/$libsub
includedir=$prefix/include
destdir=${DESTDIR:-}

if [ "${PDEATHSIG_NO_BUILD:-0}" != 1 ]; then
    echo "+ cargo build --release -p pdeathsig-capi" >&2
    (cd "$root" && cargo build --release -p pdeathsig-capi)
fi
for f in libpdeathsig.so libpdeathsig.a; do
    [ -f "$target/release/$f" ] || {
        echo "$0: $target/release/$f not found: run cargo build --release -p pdeathsig-capi" >&2
        exit 1
    }
done

# The version of the library (the [package] version of the root Cargo.toml).
version=$(awk '
    /^\[/ { in_package = ($0 == "[package]") }
    in_package && /^version *=/ { gsub(/.*= *"|".*/, ""); print; exit }
' "$root/Cargo.toml")
[ -n "$version" ] || { echo "$0: no version in $root/Cargo.toml" >&2; exit 1; }

install -d "$destdir$libdir/pkgconfig" "$destdir$includedir"
install -m 0755 "$target/release/libpdeathsig.so" "$destdir$libdir/libpdeathsig.so"
install -m 0644 "$target/release/libpdeathsig.a" "$destdir$libdir/libpdeathsig.a"
install -m 0644 "$root/include/pdeathsig.h" "$destdir$includedir/pdeathsig.h"
sed -e "s|@PREFIX@|$prefix|g" \
    -e "s|@LIBDIR@|$libsub|g" \
    -e "s|@VERSION@|$version|g" \
    "$root/capi/pdeathsig.pc.in" >"$destdir$libdir/pkgconfig/pdeathsig.pc"
chmod 0644 "$destdir$libdir/pkgconfig/pdeathsig.pc"

echo "installed pdeathsig $version:"
for f in "$libdir/libpdeathsig.so" "$libdir/libpdeathsig.a" \
    "$includedir/pdeathsig.h" "$libdir/pkgconfig/pdeathsig.pc"; do
    echo "  $destdir$f"
done

# Make the library visible to the dynamic loader (see the header comment).
[ -z "$destdir" ] || exit 0
ldconfig=$(command -v ldconfig 2>/dev/null || true)
for f in /sbin/ldconfig /usr/sbin/ldconfig; do
    [ -n "$ldconfig" ] || [ ! -x "$f" ] || ldconfig=$f
done
# True when directory $1 is one ldconfig scans ("DIR: (from ...)" lines of
# ldconfig -v; -N -X: read only, nothing rebuilt). Compared as physical
# paths: /lib and /usr/lib are one directory on merged-/usr systems.
in_loader_path() {
    want=$(cd "$1" && pwd -P) || return 1
    "$ldconfig" -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p' | {
        while IFS= read -r dir; do
            [ "$(cd "$dir" 2>/dev/null && pwd -P)" != "$want" ] || exit 0
        done
        exit 1
    }
}
searched=no
if [ -n "$ldconfig" ] && in_loader_path "$libdir"; then
    searched=yes
fi
if [ "$searched" = yes ] && [ "$(id -u)" = 0 ]; then
    echo "+ $ldconfig   ($libdir is in the dynamic loader's search path)" >&2
    "$ldconfig"
elif [ "$searched" = yes ]; then
    echo "note: run 'sudo ldconfig' so that programs find $libdir/libpdeathsig.so at run time" >&2
else
    echo "note: $libdir is not in the dynamic loader's search path: run programs with LD_LIBRARY_PATH=$libdir, link them with -Wl,-rpath,$libdir, or add it to /etc/ld.so.conf.d/ and run ldconfig" >&2
fi
