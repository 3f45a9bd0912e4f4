#!/bin/sh
# CI check of the Debian package, with real processes and a real dpkg:
#
#   1. scripts/build-deb.sh into a temporary directory (it builds with cargo
#      unless PDEATHSIG_NO_BUILD=1; CARGO_TARGET_DIR is honoured);
#   2. dpkg -i, after removing a pdeathsig package a previous run left;
#      dpkg --verify; ldconfig -p must list the package's libpdeathsig.so;
#   3. as a user of the package would, with no LD_LIBRARY_PATH, rpath or
#      PKG_CONFIG_PATH: compile examples/c/child.c with
#      `cc ... $(pkg-config --cflags --libs pdeathsig)` (and statically
#      against libpdeathsig.a), then examples/c/check.c kills the parent of
#      each armed child and each must die by SIGTERM: the C child (shared
#      and static), a program run by the installed /usr/bin/pdeathsig, and
#      a shell armed at load time by LD_PRELOAD=libpdeathsig.so (found by
#      name through the loader cache); an unarmed `sleep` must survive;
#   4. pdeathsig --help and --version from the package, man -w pdeathsig
#      (when man-db is installed);
#   5. dpkg -r: the package's files must be gone and ldconfig -p must no
#      longer list its library.
#
# Usage (as root, on Debian or Ubuntu): scripts/ci-deb.sh
#
# Whatever happens, the package is purged and the temporary directory
# removed on exit; examples/c/check reaps every process it started. Running
# it twice in a row is fine. Needs: dpkg, gcc (cc), pkg-config, binutils;
# man-db for the man page check (skipped without it).
set -eu

me=ci-deb.sh
die() {
    echo "$me: FAIL: $*" >&2
    exit 1
}
step() { printf '\n== %s\n' "$*"; }

[ $# -eq 0 ] || {
    echo "usage: $0   (no arguments; environment: PDEATHSIG_NO_BUILD=1, CARGO_TARGET_DIR)" >&2
    exit 2
}
[ "$(id -u)" = 0 ] || die "must run as root (it installs and removes a package with dpkg); got uid $(id -u)"
for tool in dpkg dpkg-query ldconfig cc pkg-config objdump; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found in PATH"
done

root=$(cd "$(dirname "$0")/.." && pwd)
started=$(date +%s)
# What the machine's defaults give, not what the caller's environment adds.
unset LD_LIBRARY_PATH LD_PRELOAD LIBRARY_PATH CPATH C_INCLUDE_PATH PKG_CONFIG_PATH \
    PDEATHSIG PDEATHSIG_PPID PDEATHSIG_MODE PDEATHSIG_GRACE

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pdeathsig-ci-deb.XXXXXX")
installed=no
cleanup() {
    status=$?
    trap - EXIT INT TERM HUP
    if [ "$installed" = yes ]; then
        echo "$me: cleanup: dpkg --purge pdeathsig" >&2
        dpkg_retry --purge pdeathsig >/dev/null ||
            echo "$me: cleanup failed: remove the package by hand (dpkg --purge pdeathsig)" >&2
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# dpkg, waiting (up to 2 minutes) while apt or another dpkg holds its lock.
dpkg_retry() {
    tries=0
    while :; do
        if dpkg "$@" 2>"$tmp/dpkg.err"; then
            cat "$tmp/dpkg.err" >&2
            return 0
        fi
        if grep -q 'lock' "$tmp/dpkg.err" && [ "$tries" -lt 60 ]; then
            tries=$((tries + 1))
            sleep 2
            continue
        fi
        cat "$tmp/dpkg.err" >&2
        return 1
    done
}
# The package's state in dpkg's database: installed, not-installed, ...
pkg_status() {
    dpkg-query -W -f='${db:Status-Status}' pdeathsig 2>/dev/null || echo not-installed
}
# Physical path of an existing file (resolves /lib -> /usr/lib).
physical() {
    (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd -P)" "$(basename "$1")")
}
# The libpdeathsig.so paths in the loader cache, one a line.
cached_libs() {
    ldconfig -p | awk '$1 ~ /^libpdeathsig\.so/ { print $NF }'
}

step "build the package"
deb=$("$root/scripts/build-deb.sh" "$tmp/deb") || die "scripts/build-deb.sh failed"
[ -f "$deb" ] || die "build-deb.sh did not print the path of a .deb (got '$deb')"
version=$(dpkg-deb -f "$deb" Version)
echo "$deb ($(wc -c <"$deb") bytes, version $version)"
dpkg-deb -c "$deb"

status=$(pkg_status)
if [ "$status" != not-installed ]; then
    step "remove the pdeathsig package a previous run left ($status)"
    installed=yes
    dpkg_retry --purge pdeathsig || die "cannot purge the installed pdeathsig package"
    installed=no
fi

step "install: dpkg -i"
installed=yes
dpkg_retry -i "$deb" || die "dpkg -i $deb failed"
[ "$(pkg_status)" = installed ] || die "dpkg says pdeathsig is '$(pkg_status)' after dpkg -i, not installed"
dpkg --verify pdeathsig || die "dpkg --verify pdeathsig: installed files differ from the package's md5sums"
files=$(dpkg -L pdeathsig | while IFS= read -r f; do [ ! -f "$f" ] || echo "$f"; done)
printf '%s\n' "$files"
libso=$(printf '%s\n' "$files" | grep '/libpdeathsig\.so$') || die "the package installed no libpdeathsig.so"
liba=$(printf '%s\n' "$files" | grep '/libpdeathsig\.a$') || die "the package installed no libpdeathsig.a"
wrapper=$(printf '%s\n' "$files" | grep '/bin/pdeathsig$') || die "the package installed no bin/pdeathsig"
libdir=$(dirname "$libso")

step "ldconfig -p lists $libso"
ldconfig -p | grep libpdeathsig || die "ldconfig -p does not list libpdeathsig after dpkg -i (the ldconfig trigger did not run?)"
want=$(physical "$libso")
found=no
for p in $(cached_libs); do
    [ ! -e "$p" ] || [ "$(physical "$p")" != "$want" ] || found=yes
done
[ "$found" = yes ] || die "ldconfig -p lists libpdeathsig, but not the package's $libso"

step "compile examples/c/child.c with pkg-config, no LD_LIBRARY_PATH, no rpath"
pc_libdir=$(pkg-config --variable=libdir pdeathsig) || die "pkg-config does not find pdeathsig after dpkg -i"
[ "$pc_libdir" = "$libdir" ] ||
    die "pkg-config finds pdeathsig.pc with libdir $pc_libdir, not the package's $libdir (another install, e.g. in /usr/local, comes first)"
[ "$(pkg-config --modversion pdeathsig)" = "$(echo "$version" | sed 's/~/-/')" ] ||
    die "pkg-config --modversion pdeathsig is $(pkg-config --modversion pdeathsig), the package is $version"
flags="$(pkg-config --cflags --libs pdeathsig)"
echo "pkg-config --cflags --libs pdeathsig: $flags"
set -x
# shellcheck disable=SC2086 # word splitting of pkg-config output is intended
cc -O2 -Wall -Wextra -Werror -o "$tmp/child-shared" "$root/examples/c/child.c" $flags
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -Werror -o "$tmp/child-static" "$root/examples/c/child.c" \
    $(pkg-config --cflags pdeathsig) "$liba"
cc -O2 -Wall -Wextra -Werror -o "$tmp/check" "$root/examples/c/check.c"
set +x
! objdump -p "$tmp/child-shared" | grep -E 'RPATH|RUNPATH' || die "child-shared has an rpath"
resolved=$(ldd "$tmp/child-shared" | awk '$1 ~ /^libpdeathsig\.so/ { print $3 }')
if [ -z "$resolved" ] || [ ! -e "$resolved" ]; then
    die "the loader does not find libpdeathsig.so for child-shared: $(ldd "$tmp/child-shared" | grep libpdeathsig)"
fi
[ "$(physical "$resolved")" = "$want" ] || die "child-shared loads $resolved, not the package's $libso"
echo "child-shared loads $resolved"
! ldd "$tmp/child-static" | grep libpdeathsig || die "child-static needs libpdeathsig.so: it should hold the library"

# Two more armed children for check (it runs each as `CHILD TERM` from a
# parent that exports PDEATHSIG_PPID, then SIGKILLs that parent; a child
# reports "armed ..." once it is armed):
# the installed exec wrapper, arming a shell that then becomes sleep;
cat >"$tmp/via-wrapper" <<EOF
#!/bin/sh
exec $wrapper --signal "\$1" -- sh -c 'echo "armed by $wrapper, PDEATHSIG_PPID=\$PDEATHSIG_PPID"; exec sleep 60'
EOF
# and a shell armed before main by the library's constructor, loaded by
# LD_PRELOAD with a bare name: found through the loader cache.
cat >"$tmp/via-preload" <<'EOF'
#!/bin/sh
PDEATHSIG=$1 LD_PRELOAD=libpdeathsig.so exec sh -c 'echo "armed at load time by LD_PRELOAD=libpdeathsig.so, PDEATHSIG_PPID=$PDEATHSIG_PPID"; exec sleep 60'
EOF
chmod 0755 "$tmp/via-wrapper" "$tmp/via-preload"

step "kill the parents: every armed child must die by SIGTERM, the unarmed control must live"
# check is a child subreaper: it kills and reaps whatever it started, pass or fail.
(cd "$tmp" && timeout 120 ./check ./child-shared ./child-static ./via-wrapper ./via-preload) ||
    die "examples/c/check failed with the installed package"

step "the installed wrapper: --help, --version, man page"
"$wrapper" --help >"$tmp/help" || die "$wrapper --help exited with status $?"
grep -q '^Usage: pdeathsig ' "$tmp/help" || die "$wrapper --help printed no 'Usage: pdeathsig' line"
head -n 1 "$tmp/help"
[ "$("$wrapper" --version)" = "pdeathsig $(echo "$version" | sed 's/~/-/')" ] ||
    die "$wrapper --version prints '$("$wrapper" --version)', the package is $version"
"$wrapper" --version
[ "$(command -v pdeathsig)" = "$wrapper" ] ||
    echo "note: pdeathsig in PATH is $(command -v pdeathsig || echo nothing), not $wrapper (PATH order)"
manpage=$(printf '%s\n' "$files" | grep '/man1/pdeathsig\.1\.gz$' || true)
if [ -z "$manpage" ] && grep -qs '^path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
    echo "skip: man pages are excluded by dpkg (path-exclude in /etc/dpkg/dpkg.cfg.d)"
elif [ -z "$manpage" ]; then
    die "the package installed no man1/pdeathsig.1.gz"
elif command -v man >/dev/null 2>&1; then
    [ "$(man -w pdeathsig)" = "$manpage" ] || die "man -w pdeathsig gives '$(man -w pdeathsig || true)', not $manpage"
    echo "man -w pdeathsig: $manpage"
else
    echo "skip: man -w (man-db is not installed); the page is $manpage"
fi

step "remove: dpkg -r"
dpkg_retry -r pdeathsig || die "dpkg -r pdeathsig failed"
installed=no
status=$(pkg_status)
case $status in
not-installed | config-files) ;;
*) die "dpkg says pdeathsig is '$status' after dpkg -r" ;;
esac
left=$(printf '%s\n' "$files" | while IFS= read -r f; do [ ! -e "$f" ] || echo "$f"; done)
[ -z "$left" ] || die "files left after dpkg -r: $left"
for p in $(cached_libs); do
    case $(dirname "$p") in
    "$libdir" | "/${libdir#/usr/}") die "ldconfig -p still lists $p after dpkg -r" ;;
    esac
done
[ "$status" = not-installed ] || dpkg_retry --purge pdeathsig >/dev/null
echo "removed: $(printf '%s\n' "$files" | wc -l) files gone, ldconfig -p lists no libpdeathsig in $libdir"

echo
echo "ci-deb.sh: OK ($(($(date +%s) - started)) s)"
