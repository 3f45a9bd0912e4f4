#!/usr/bin/env bash
# The declared rust-version (Cargo.toml, [workspace.package]) is true:
#
# 1. no dependency that a user compiles (normal and build dependencies of
#    the crate and of the C library, proc macros included; not the
#    dev-dependencies, which only the tests build) declares a newer
#    rust-version;
# 2. with that toolchain (rustup toolchain install <msrv> --profile minimal),
#    the crate (library and exec wrapper) and the C library build from the
#    committed Cargo.lock (--locked);
# 3. one release older does not compile the crate (the declared version is
#    the minimum, not a guess from above).
#
# Steps 2 and 3 print SKIP when rustup cannot install the toolchain. They
# use their own target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "check-msrv: FAIL: $*" >&2
    exit 1
}

host=$(rustc -vV | sed -n 's/^host: //p')
meta_file=$(mktemp)
trap 'rm -f "$meta_file"' EXIT
cargo metadata --format-version 1 --locked --filter-platform "$host" >"$meta_file"

# Prints the MSRV, then one line per dependency that declares a newer one.
report=$(python3 - "$meta_file" <<'EOF'
import json, sys

with open(sys.argv[1]) as f:
    meta = json.load(f)
pkgs = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
by_name = {p["name"]: p for p in pkgs.values() if p["id"] in meta["workspace_members"]}

def version(text):
    return tuple(int(x) for x in text.split("."))[:3] + (0,) * (3 - len(text.split(".")))

msrv_text = by_name["pdeathsig"]["rust_version"]
if not msrv_text:
    sys.exit("pdeathsig declares no rust-version")
msrv = version(msrv_text)
print(msrv_text)

# Everything reachable through normal and build edges from what users build.
seen, todo = set(), [by_name["pdeathsig"]["id"], by_name["pdeathsig-capi"]["id"]]
while todo:
    node = nodes[todo.pop()]
    for dep in node["deps"]:
        kinds = {k["kind"] for k in dep["dep_kinds"]}
        if kinds & {None, "build"} and dep["pkg"] not in seen:
            seen.add(dep["pkg"])
            todo.append(dep["pkg"])
for pkg_id in sorted(seen, key=lambda i: pkgs[i]["name"]):
    p = pkgs[pkg_id]
    declared = p.get("rust_version")
    shown = declared or "none declared"
    print(f"  {p['name']} {p['version']}: rust-version {shown}", file=sys.stderr)
    if declared and version(declared) > msrv:
        print(f"{p['name']} {p['version']} declares rust-version {declared}")
EOF
)
msrv=$(head -n1 <<<"$report")
too_new=$(tail -n +2 <<<"$report")
echo "check-msrv: declared rust-version $msrv"
[ -z "$too_new" ] || fail "dependencies newer than rust-version $msrv:
$too_new"
echo "check-msrv: no normal or build dependency declares a rust-version above $msrv"

target_dir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["target_directory"])' "$meta_file")
msrv_target="$target_dir/msrv"

if ! rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1; then
    echo "check-msrv: SKIP building with Rust $msrv: rustup toolchain install $msrv failed here"
    exit 0
fi
echo "--- cargo +$msrv build --locked -p pdeathsig"
cargo "+$msrv" build --locked -p pdeathsig --target-dir "$msrv_target"
echo "--- cargo +$msrv build --locked --release -p pdeathsig-capi"
cargo "+$msrv" build --locked --release -p pdeathsig-capi --target-dir "$msrv_target"
[ -f "$msrv_target/release/libpdeathsig.so" ] || fail "no libpdeathsig.so from Rust $msrv"
echo "check-msrv: Rust $msrv builds the crate, the wrapper and the C library"

# One minor release older must fail, or the declared version is too high.
IFS=. read -r major minor _ <<<"$msrv"
older="$major.$((minor - 1))"
if ! rustup toolchain install "$older" --profile minimal >/dev/null 2>&1; then
    echo "check-msrv: SKIP the Rust $older check: rustup toolchain install $older failed here"
    exit 0
fi
if cargo "+$older" check --locked --quiet -p pdeathsig --ignore-rust-version \
    --target-dir "$msrv_target" >/dev/null 2>&1; then
    fail "Rust $older compiles the crate too: rust-version $msrv could be lowered"
fi
echo "check-msrv: Rust $older does not compile the crate: $msrv is the minimum"
echo "check-msrv: OK"
