"""Build step of the pdeathsig Python package (metadata: pyproject.toml).

Builds libpdeathsig.so from the repository's sources with
`cargo build --release -p pdeathsig-capi` and puts it inside the package,
next to pdeathsig/__init__.py, where the module looks first after
PDEATHSIG_LIBRARY. The wheel is tagged py3-none-<platform>: it holds a native
library (no Python extension, so any Python 3 will do).

Needs a checkout of the repository (this directory's parent holds the
Cargo.toml): `pip install ./python`, `pip wheel ./python`,
`python3 -m build --wheel python`. An sdist is refused: it could not hold the
Rust sources, which live outside this directory.
"""

import json
import os
import re
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
from setuptools.command.build_py import build_py as _build_py
from setuptools.command.sdist import sdist as _sdist
from setuptools.errors import ExecError, PlatformError, SetupError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LIBNAME = "libpdeathsig.so"
PACKAGE = "pdeathsig"


def repo_manifest() -> str:
    """The repository's root Cargo.toml, or a one-line error."""
    path = os.path.join(REPO, "Cargo.toml")
    if not os.path.isfile(path):
        raise SetupError(
            "pdeathsig: no %s: build from a checkout of the repository "
            "(pip install ./python), not from an sdist or a copy of python/" % path)
    return path


def crate_version() -> str:
    """version of [package] (or [workspace.package], when the package
    inherits it) in the repository's root Cargo.toml."""
    path = repo_manifest()
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    try:
        import tomllib  # Python 3.11
    except ImportError:
        tomllib = None
    if tomllib is not None:
        data = tomllib.loads(text)
        version = data.get("package", {}).get("version")
        if isinstance(version, dict) and version.get("workspace"):
            version = data.get("workspace", {}).get("package", {}).get("version")
    else:
        # Python 3.9/3.10: the first `version = "..."` of the [package] or,
        # failing that, [workspace.package] table.
        version = None
        for table in ("package", "workspace.package"):
            section = re.search(r"(?ms)^\[%s\]\s*$(.*?)(?=^\[|\Z)" % re.escape(table), text)
            found = section and re.search(r'(?m)^version\s*=\s*"([^"]+)"', section.group(1))
            if found:
                version = found.group(1)
                break
    if not isinstance(version, str):
        raise SetupError("pdeathsig: no version in [package] of %s" % path)
    return version


def cargo_build() -> str:
    """Run cargo; the path of the libpdeathsig.so it built."""
    repo_manifest()
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if not cargo:
        raise PlatformError(
            "pdeathsig: cargo not found on PATH (nor $CARGO): install Rust "
            "(rustup, or apt-get install cargo) to build libpdeathsig.so")
    cmd = [cargo, "build", "--release", "-p", "pdeathsig-capi",
           "--message-format=json-render-diagnostics"]
    print("pdeathsig: running %s in %s" % (" ".join(cmd), REPO), file=sys.stderr)
    try:
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, check=False)
    except OSError as err:
        raise ExecError("pdeathsig: cannot run %s: %s" % (cargo, err)) from None
    if proc.returncode != 0:
        raise ExecError("pdeathsig: `%s` failed (exit %d); its errors are above"
                        % (" ".join(cmd[:5]), proc.returncode))
    built = None
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-artifact":
            continue
        if "cdylib" not in msg.get("target", {}).get("kind", []):
            continue
        for name in msg.get("filenames", []):
            if os.path.basename(name) == LIBNAME:
                built = name
    if built is None or not os.path.isfile(built):
        raise ExecError("pdeathsig: cargo reported no %s among its artifacts" % LIBNAME)
    return built


class build_py(_build_py):
    """Also builds libpdeathsig.so with cargo and copies it into the
    package (in an editable install, only builds it: the package in
    python/ then finds it in the repository's target/release)."""

    def run(self) -> None:
        if not self.editable_mode:
            # pip builds in python/build/: drop what an earlier build left
            # there (a file since removed would land in the wheel).
            shutil.rmtree(os.path.join(self.build_lib, PACKAGE), ignore_errors=True)
        super().run()
        built = cargo_build()
        if not self.editable_mode:
            dest = os.path.join(self.build_lib, PACKAGE, LIBNAME)
            self.mkpath(os.path.dirname(dest))
            # Always copied (copy_file skips a destination newer than the
            # source: a stale library from another CARGO_TARGET_DIR).
            shutil.copy2(built, dest)

    def get_outputs(self, include_bytecode: bool = True) -> list:
        outputs = list(super().get_outputs(include_bytecode))
        if not self.editable_mode:
            outputs.append(os.path.join(self.build_lib, PACKAGE, LIBNAME))
        return outputs


class BinaryDistribution(Distribution):
    """Holds a native library: installed in platlib, wheel not pure."""

    def has_ext_modules(self) -> bool:
        return True


class bdist_wheel(_bdist_wheel):
    """A platform wheel, py3-none-<platform>: it holds a native library that
    any Python 3 loads with ctypes, no Python extension (no ABI tag)."""

    def get_tag(self) -> tuple:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


class sdist(_sdist):
    """Refused: the Rust sources live outside python/."""

    def run(self) -> None:
        raise SetupError(
            "pdeathsig: no sdist (the Rust sources are outside python/): build "
            "a wheel from a checkout, pip wheel ./python or python3 -m build --wheel python")


try:
    VERSION = crate_version()
except SetupError as err:
    # Outside setup(), which would turn it into one line: do it here.
    sys.exit("error: %s" % err)

setup(
    version=VERSION,
    distclass=BinaryDistribution,
    cmdclass={"build_py": build_py, "bdist_wheel": bdist_wheel, "sdist": sdist},
)
