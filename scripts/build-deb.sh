#!/bin/sh
# Builds the Debian package of pdeathsig with Debian's own tools (dpkg-deb):
#
#   OUTDIR/pdeathsig_VERSION_ARCH.deb
#     /usr/bin/pdeathsig                            the exec wrapper
#     /usr/lib/MULTIARCH/libpdeathsig.so            the C library, shared
#     /usr/lib/MULTIARCH/libpdeathsig.a             ... and static
#     /usr/lib/MULTIARCH/pkgconfig/pdeathsig.pc
#     /usr/include/pdeathsig.h
#     /usr/share/man/man1/pdeathsig.1.gz            from man/pdeathsig.1
#     /usr/share/doc/pdeathsig/copyright            from packaging/copyright
#     /usr/share/doc/pdeathsig/changelog.gz
#   DEBIAN/control, md5sums, triggers (activate-noawait ldconfig: dpkg runs
#   ldconfig once after installing or removing, as for any library package)
#
# Usage: scripts/build-deb.sh [OUTDIR]
#   OUTDIR defaults to CARGO_TARGET_DIR/debian (target/debian). The path of
#   the .deb is the only line printed on standard output; progress goes to
#   standard error, so `deb=$(scripts/build-deb.sh)` works.
#
# Environment:
#   PDEATHSIG_NO_BUILD=1  use the release build already in CARGO_TARGET_DIR
#                         instead of running `cargo build --release -p
#                         pdeathsig-capi` and `cargo build --release --bin
#                         pdeathsig`
#   CARGO_TARGET_DIR      where cargo builds (default: target)
#   DEB_MAINTAINER        the Maintainer field, "Name <email>" (default:
#                         DEBFULLNAME <DEBEMAIL> if both are set, else "The
#                         pdeathsig developers <git user.email or user@host>")
#   SOURCE_DATE_EPOCH     timestamp of the changelog entry and upper bound of
#                         every file time in the package (default: the time
#                         of the last git commit): two builds of the same
#                         binaries give the same .deb
#
# Package name: "pdeathsig", one package. Debian names library packages
# after the SONAME (libfoo1 with libfoo.so.1, libfoo-dev with the .so link,
# .a and headers); libpdeathsig.so has no SONAME, so programs record
# "libpdeathsig.so" itself and there is no runtime/development split to
# make. The package also ships the pdeathsig command, which is what users
# look for: `apt install ./pdeathsig_*.deb` gives the command and the C
# library together.
#
# Needs: dpkg-deb and dpkg (base system), gzip, md5sum, and binutils (strip,
# objdump). dpkg-dev is used when present (dpkg-architecture for the
# multiarch directory, dpkg-shlibdeps for Depends); without it, gcc
# -print-multiarch and objdump give the same answers for libc6/libgcc-s1.
set -eu
umask 022

me=build-deb.sh
die() {
    echo "$me: $*" >&2
    exit 1
}
usage() {
    echo "usage: $0 [OUTDIR]" >&2
    exit 2
}
[ $# -le 1 ] || usage
case ${1:-} in -*) usage ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
outdir=${1:-$target/debian}

for tool in dpkg dpkg-deb gzip md5sum; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (it comes with Debian's base system)"
done

# --- build ---------------------------------------------------------------
if [ "${PDEATHSIG_NO_BUILD:-0}" != 1 ]; then
    echo "+ cargo build --release -p pdeathsig-capi" >&2
    (cd "$root" && cargo build --release -p pdeathsig-capi) >&2
    echo "+ cargo build --release --bin pdeathsig" >&2
    (cd "$root" && cargo build --release --bin pdeathsig) >&2
fi
for f in libpdeathsig.so libpdeathsig.a pdeathsig; do
    [ -f "$target/release/$f" ] || die "$target/release/$f not found: build it (cargo build --release -p pdeathsig-capi; cargo build --release --bin pdeathsig) or unset PDEATHSIG_NO_BUILD"
done

# --- what to build it for ------------------------------------------------
arch=$(dpkg --print-architecture)
[ -n "$arch" ] || die "dpkg --print-architecture printed nothing"
multiarch=
if command -v dpkg-architecture >/dev/null 2>&1; then
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
fi
for cc in gcc cc; do
    [ -z "$multiarch" ] || break
    command -v "$cc" >/dev/null 2>&1 || continue
    multiarch=$("$cc" -print-multiarch 2>/dev/null || true)
done
case $multiarch in
*-*-*) ;;
*) die "no multiarch directory (got '$multiarch'): install dpkg-dev (dpkg-architecture) or gcc" ;;
esac

# The version: the [package] version of the root Cargo.toml. A SemVer
# pre-release (0.2.0-rc.1) sorts before its release in Debian only as
# 0.2.0~rc.1.
version=$(awk '
    /^\[/ { in_package = ($0 == "[package]") }
    in_package && /^version *=/ { gsub(/.*= *"|".*/, ""); print; exit }
' "$root/Cargo.toml")
[ -n "$version" ] || die "no [package] version in $root/Cargo.toml"
homepage=$(awk '
    /^\[/ { in_package = ($0 == "[package]") }
    in_package && /^homepage *=/ { gsub(/.*= *"|".*/, ""); print; exit }
' "$root/Cargo.toml")
debversion=$(printf '%s\n' "$version" | sed 's/-/~/')
dpkg --validate-version "$debversion" >/dev/null 2>&1 ||
    die "Cargo.toml version '$version' gives '$debversion', not a valid Debian version"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)
fi
case $SOURCE_DATE_EPOCH in
'' | *[!0-9]*) die "SOURCE_DATE_EPOCH must be a number of seconds, got '$SOURCE_DATE_EPOCH'" ;;
esac
export SOURCE_DATE_EPOCH

if [ -n "${DEB_MAINTAINER:-}" ]; then
    maintainer=$DEB_MAINTAINER
elif [ -n "${DEBFULLNAME:-}" ] && [ -n "${DEBEMAIL:-}" ]; then
    maintainer="$DEBFULLNAME <$DEBEMAIL>"
else
    email=$(git -C "$root" config user.email 2>/dev/null || true)
    [ -n "$email" ] || email="$(id -un)@$(hostname 2>/dev/null || echo localhost)"
    maintainer="The pdeathsig developers <$email>"
fi
case $maintainer in
*?' <'?*@?*'>') ;;
*) die "DEB_MAINTAINER must read 'Name <email>', got '$maintainer'" ;;
esac

# --- stage the files -----------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/pdeathsig-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# debian/pdeathsig is the package's tree; debian/control exists only
# because dpkg-shlibdeps reads it.
pkg=$work/debian/pdeathsig
mkdir -p "$pkg"
libdir=usr/lib/$multiarch
doc=usr/share/doc/pdeathsig

# The C library, header and pkg-config file: the same script users run.
DESTDIR=$pkg LIBDIR=lib/$multiarch PDEATHSIG_NO_BUILD=1 CARGO_TARGET_DIR=$target \
    sh "$root/scripts/install-c-lib.sh" /usr >&2
[ -f "$pkg/$libdir/pkgconfig/pdeathsig.pc" ] || die "install-c-lib.sh did not install $libdir/pkgconfig/pdeathsig.pc"
# Debian: shared libraries are not executable; static archives carry no
# debugging information (as dh_strip does).
chmod 0644 "$pkg/$libdir/libpdeathsig.so"
if command -v strip >/dev/null 2>&1; then
    strip --strip-debug --enable-deterministic-archives "$pkg/$libdir/libpdeathsig.a"
else
    echo "$me: strip not found (binutils): libpdeathsig.a keeps its debugging sections" >&2
fi

install -D -m 0755 "$target/release/pdeathsig" "$pkg/usr/bin/pdeathsig"

# The man page, with the package version in its footer.
mkdir -p "$pkg/usr/share/man/man1"
sed "s|^\\(\\.TH PDEATHSIG 1 [^ ]*\\) \"pdeathsig [^\"]*\"|\\1 \"pdeathsig $version\"|" \
    "$root/man/pdeathsig.1" >"$work/pdeathsig.1"
grep -q "^\\.TH PDEATHSIG 1 .*\"pdeathsig $version\"" "$work/pdeathsig.1" ||
    die "man/pdeathsig.1: no '.TH PDEATHSIG 1 DATE \"pdeathsig VERSION\" ...' line to put the version in"
gzip -9n <"$work/pdeathsig.1" >"$pkg/usr/share/man/man1/pdeathsig.1.gz"

mkdir -p "$pkg/$doc"
install -m 0644 "$root/packaging/copyright" "$pkg/$doc/copyright"
# A native package (the packaging lives upstream, the version has no
# Debian revision): its changelog is changelog.gz.
commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || true)
{
    printf 'pdeathsig (%s) unstable; urgency=medium\n\n' "$debversion"
    if [ -n "$commit" ]; then
        printf '  * Built by scripts/build-deb.sh from the pdeathsig repository,\n'
        printf '    commit %s.\n' "$commit"
    else
        printf '  * Built by scripts/build-deb.sh from the pdeathsig sources.\n'
    fi
    printf '    Changes: see the project history.\n\n'
    printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$pkg/$doc/changelog.gz"
chmod 0644 "$pkg/$doc/changelog.gz" "$pkg/usr/share/man/man1/pdeathsig.1.gz"

# --- control files -------------------------------------------------------
# (DEBIAN/ first: dpkg-shlibdeps finds the package's root by it.)
mkdir -p "$pkg/DEBIAN"
# Depends: the shared libraries the wrapper and libpdeathsig.so need, with
# the lowest versions their symbols allow.
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
    printf 'Source: pdeathsig\n\nPackage: pdeathsig\nArchitecture: any\n' >"$work/debian/control"
    depends=$(cd "$work" && dpkg-shlibdeps -O "debian/pdeathsig/usr/bin/pdeathsig" \
        "debian/pdeathsig/$libdir/libpdeathsig.so") || die "dpkg-shlibdeps failed"
    depends=${depends#shlibs:Depends=}
else
    command -v objdump >/dev/null 2>&1 || die "neither dpkg-shlibdeps (dpkg-dev) nor objdump (binutils) found: cannot compute Depends"
    glibc=$(objdump -T "$pkg/usr/bin/pdeathsig" "$pkg/$libdir/libpdeathsig.so" |
        grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
    [ -n "$glibc" ] || die "objdump -T found no GLIBC_ symbol version"
    depends="libc6 (>= $glibc)"
    for needed in $(objdump -p "$pkg/usr/bin/pdeathsig" "$pkg/$libdir/libpdeathsig.so" |
        awk '$1 == "NEEDED" { print $2 }' | sort -u); do
        case $needed in
        libc.so.6 | ld-linux*) ;;
        libgcc_s.so.1) depends="$depends, libgcc-s1" ;;
        *) die "needs $needed, which only dpkg-shlibdeps (dpkg-dev) can map to a package" ;;
        esac
    done
fi
case $depends in libc6*) ;; *) die "unexpected Depends '$depends'" ;; esac

# Installed-Size as dpkg-gencontrol counts it: each file rounded up to
# KiB, 1 KiB per directory or symbolic link.
installed_kib=$(cd "$pkg" && find usr \( -type f -printf 'f %s\n' \) -o -printf 'd 0\n' |
    awk '{ kib += ($1 == "f") ? int(($2 + 1023) / 1024) : 1 } END { print kib }')
cat >"$pkg/DEBIAN/control" <<EOF
Package: pdeathsig
Version: $debversion
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kib
Depends: $depends
Section: utils
Priority: optional
${homepage:+Homepage: $homepage
}Description: make a child process die when its parent dies (Linux)
 pdeathsig arms prctl(PR_SET_PDEATHSIG) so that a process receives a
 signal when its parent dies, and closes the start-up race (a parent that
 died before the child armed) with a parent-pid handoff through the
 PDEATHSIG_PPID environment variable.
 .
 This package contains:
  - pdeathsig, an exec wrapper that arms any program, static binaries
    included: pdeathsig --signal TERM -- PROGRAM [ARGS...];
  - libpdeathsig.so and libpdeathsig.a, the C library (pdeathsig.h,
    pkg-config name pdeathsig). The shared library also arms any
    dynamically linked program at load time through LD_PRELOAD and the
    PDEATHSIG environment variable.
EOF
# dpkg runs ldconfig once at the end of the run, after install and removal.
echo "activate-noawait ldconfig" >"$pkg/DEBIAN/triggers"
(cd "$pkg" && find usr -type f | LC_ALL=C sort | xargs md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/triggers" "$pkg/DEBIAN/md5sums"

# --- build the .deb ------------------------------------------------------
mkdir -p "$outdir" || die "cannot create OUTDIR '$outdir'"
outdir=$(cd "$outdir" && pwd)
deb=$outdir/pdeathsig_${debversion}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >&2
printf '%s\n' "$deb"
