"""Make this process die when its parent dies (Linux), from Python.

One call at the top of a child::

    import signal, pdeathsig
    pdeathsig.arm(signal.SIGTERM)

``arm`` asks the kernel for the signal when the parent dies
(prctl(PR_SET_PDEATHSIG), see PR_SET_PDEATHSIG(2const)) and closes the race
with a parent that already died: a spawner that exports
``PDEATHSIG_PPID=<its own pid>`` into the child's environment lets the child
tell "my parent died before I armed" from "my parent is alive".

This package needs no compiler at run time: it loads the C library
libpdeathsig.so with ctypes, looking in order at

1. the path in the environment variable ``PDEATHSIG_LIBRARY`` (only there,
   when it is set),
2. ``libpdeathsig.so`` next to this file, inside the package: where
   ``pip install ./python`` (or a wheel built from it) puts the copy it built
   with cargo,
3. when the package sits in a checkout of the repository (python/pdeathsig/
   with the repository's Cargo.toml two levels up): ``$CARGO_TARGET_DIR/release``
   and ``target/release`` of that checkout
   (``cargo build --release -p pdeathsig-capi``),
4. the system library path (``ctypes.util.find_library("pdeathsig")``, then
   plain ``libpdeathsig.so``, which honours ``LD_LIBRARY_PATH``),

and raises :class:`LibraryNotFound` (an ``ImportError``) naming every place
it looked when none works.

Importing this module loads the library, and loading it runs the library's
load-time constructor, as in any program linked with it: it records the
parent of the moment (the expected parent when ``PDEATHSIG_PPID`` is unset)
and, when the environment has ``PDEATHSIG`` set, arms at once as
:func:`arm_from_env` would (``PDEATHSIG_PPID``, ``PDEATHSIG_MODE`` and
``PDEATHSIG_GRACE`` included; a bad value is one line on stderr and nothing
armed; with ``PDEATHSIG_MODE=process`` the watcher thread starts then). So a
process whose environment has ``PDEATHSIG`` is armed at import, before any
call of this module. Import it early: without ``PDEATHSIG_PPID``, the parent
seen at import is the one every later arming checks against.

Threads: the kernel keeps the setting per thread and loses it when the thread
that armed exits; arm from the main thread. The kernel also fires it when the
parent's *thread* that started this process exits (a parent that spawns
children from a ``threading.Thread``), even though the parent process lives
on. Process mode, :func:`arm_process`, fires only when the parent process
exits: the C library watches a pidfd of the parent (pidfd_open(2), Linux 5.3
or later) from a thread of its own, and can escalate to SIGKILL after a grace
period::

    pdeathsig.arm_process(signal.SIGTERM, grace=5.0)

Tree mode, :func:`arm_tree`, watches the parent (as process mode does) and
the tree's *anchor*: ``anchor=``, else the anchor the tree passed on
(``PDEATHSIG_ANCHOR``), else the process named in ``PDEATHSIG_PPID`` (the
tool that started the tree exports its own pid there), else this process.
The process gets the signal when its parent or the anchor dies; once it has
detached (``os.setsid()``, ``nohup``, a daemon's double fork, or left
behind by a parent that exited with status 0) only the anchor counts. A
child created with ``os.fork()`` without exec (a ``multiprocessing`` "fork"
worker) gets a watcher of its own (pthread_atfork(3)), so the whole tree
dies with the anchor::

    pdeathsig.arm_tree(signal.SIGTERM, grace=5.0)   # anchor: PDEATHSIG_PPID

A signal this process ignores (``SIG_IGN``, inherited or set) is armed all
the same but would do nothing: the arming functions then raise ``OSError``
with ``errno.ENOTSUP`` although the signal *is* armed (:func:`get` reports
it), unless a grace period follows it, whose SIGKILL still ends the process.
Where the facts cannot be read (a ``/proc`` of another PID namespace or with
``hidepid``, a stamped process alive but not an ancestor), the library arms
against the current parent and sends no signal: the arming functions then
return ``False`` instead of ``True`` and issue an :class:`UnverifiedWarning`,
so the case is never silent. Bad input is ``EINVAL`` and arms nothing: a signal outside 1..31 and
SIGRTMIN..SIGRTMAX (so 32 and 33 too), or an explicit pid that is not
positive (``None`` is the default; the C library's 0 is not taken here).
"""

import ctypes
import ctypes.util
import datetime as _datetime
import errno as _errno
import math as _math
import os
import signal as _signal
import warnings as _warnings
from typing import Iterator, Optional, Tuple, Union

__all__ = [
    "LIBRARY_ENV",
    "LibraryNotFound",
    "UnverifiedWarning",
    "arm",
    "arm_expecting",
    "arm_from_env",
    "arm_process",
    "arm_tree",
    "rearm",
    "get",
    "disarm",
    "version",
    "library_path",
]

#: The environment variable naming the library to load.
LIBRARY_ENV = "PDEATHSIG_LIBRARY"

_LIBNAME = "libpdeathsig.so"
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_UINT_MAX = 2**32 - 1
_GRACE_MAX_MS = 3600000  # the C library's limit: one hour


class LibraryNotFound(ImportError):
    """libpdeathsig.so could not be loaded; the message names every place
    that was tried and why each failed."""


def _candidates() -> Iterator[Tuple[Optional[str], str]]:
    """(path, how it was found) in search order, after PDEATHSIG_LIBRARY;
    a None path is a place that could not be looked at (the text says why)."""
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, _LIBNAME), "inside the package, next to __init__.py"
    # python/pdeathsig/__init__.py in a checkout: the repository is two up.
    repo = os.path.dirname(os.path.dirname(here))
    if os.path.isfile(os.path.join(repo, "Cargo.toml")):
        target = os.environ.get("CARGO_TARGET_DIR")
        if target:
            target = os.path.join(repo, target)  # no-op when absolute
            yield os.path.join(target, "release", _LIBNAME), "$CARGO_TARGET_DIR/release"
        yield os.path.join(repo, "target", "release", _LIBNAME), "the repository's target/release"
    else:
        yield None, "no repository checkout around the package (no %s)" % os.path.join(
            repo, "Cargo.toml")
    found = ctypes.util.find_library("pdeathsig")
    if found:
        yield found, "ctypes.util.find_library('pdeathsig')"
    else:
        yield None, "ctypes.util.find_library('pdeathsig'): not found"
    yield _LIBNAME, "the dynamic loader's search path (LD_LIBRARY_PATH, ld.so.cache)"


def _load() -> Tuple[ctypes.CDLL, str]:
    """The loaded library and the path (or name) it was loaded from."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        try:
            return ctypes.CDLL(explicit, use_errno=True), explicit
        except OSError as err:
            raise LibraryNotFound(
                "pdeathsig: cannot load %r named by %s: %s"
                % (explicit, LIBRARY_ENV, err)
            ) from None
    tried = []
    for path, how in _candidates():
        if path is None:
            tried.append(how)
            continue
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (%s): no such file" % (path, how))
            continue
        try:
            return ctypes.CDLL(path, use_errno=True), path
        except OSError as err:
            tried.append("%s (%s): %s" % (path, how, err))
    raise LibraryNotFound(
        "pdeathsig: cannot find %s; looked at:\n  %s\n"
        "Install the package with `pip install ./python` from the repository "
        "(it builds and bundles the library), or build it with "
        "`cargo build --release -p pdeathsig-capi`, install it "
        "(scripts/install-c-lib.sh PREFIX), or set %s=/path/to/%s."
        % (_LIBNAME, "\n  ".join(tried), LIBRARY_ENV, _LIBNAME)
    )


#: The path (or name) of the libpdeathsig.so that was loaded.
library_path: str
_lib, library_path = _load()

for _name, _args in (
    ("arm_parent_death_signal", [ctypes.c_int]),
    ("arm_parent_death_signal_expecting", [ctypes.c_int, ctypes.c_int]),
    ("arm_parent_death_signal_from_env", []),
    ("arm_parent_process_death_signal", [ctypes.c_int]),
    ("arm_parent_process_death_signal_expecting", [ctypes.c_int, ctypes.c_int]),
    ("arm_parent_process_death_signal_with_grace", [ctypes.c_int, ctypes.c_int, ctypes.c_uint]),
    ("arm_parent_tree_death_signal", [ctypes.c_int]),
    ("arm_parent_tree_death_signal_expecting", [ctypes.c_int, ctypes.c_int]),
    ("arm_parent_tree_death_signal_with_grace", [ctypes.c_int, ctypes.c_int, ctypes.c_uint]),
    ("rearm_parent_death_signal", []),
    ("get_parent_death_signal", []),
    ("disarm_parent_death_signal", []),
):
    _fn = getattr(_lib, _name)
    _fn.argtypes = _args
    _fn.restype = ctypes.c_int
_lib.pdeathsig_version.argtypes = []
_lib.pdeathsig_version.restype = ctypes.c_char_p


def _c_int(value: object, what: str) -> int:
    """An int that fits a C int, or OSError(EINVAL) naming the value (ctypes
    would silently truncate it)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("pdeathsig: %s must be an int, got %r" % (what, value))
    if not _INT_MIN <= value <= _INT_MAX:
        raise OSError(
            _errno.EINVAL,
            "%s (%s %d is out of range)" % (os.strerror(_errno.EINVAL), what, value),
        )
    return int(value)


_EINVAL_SIGNAL = ("the signal must be 1..31 or SIGRTMIN..SIGRTMAX (%d..%d)"
                  % (_signal.SIGRTMIN, _signal.SIGRTMAX))
_PPID_ENV_HINT = ", and PDEATHSIG_PPID, if set, a pid or PID:TICKS (it is %r)"

#: ENOTSUP (the same number as EOPNOTSUPP on Linux) from an arming that
#: armed a signal this process ignores.
_IGNORED_HINT = ("the signal IS armed, but this process ignores it (SIG_IGN), so it would "
                 "do nothing: pick another signal, restore its default action, or give "
                 "a grace period (process and tree mode)")


_VERIFIED = 0

#: What the C library's arming functions return when they armed but could
#: not verify the parent (PDEATHSIG_UNVERIFIED in pdeathsig.h).
_UNVERIFIED = 2


class UnverifiedWarning(RuntimeWarning):
    """Armed, but the expected parent (tree mode: the anchor) could not be
    verified alive: ``/proc`` unreadable or another PID namespace's, or the
    stamped process alive but not an ancestor. The guard is armed against the
    current parent and no signal was sent. The arming functions then return
    ``False`` and issue this warning, so the case is never silent."""


def _check(rc: int, call: str, einval_hint: Optional[str] = None,
           enotsup_hint: Optional[str] = None) -> int:
    """Raise OSError(errno, message) for rc == -1; the message names the
    call, its arguments and what is accepted. ``enotsup_hint`` says what
    ENOTSUP (EOPNOTSUPP) means for this call."""
    if rc == -1:
        err = ctypes.get_errno()
        hint = {
            _errno.EINVAL: einval_hint,
            _errno.ESRCH: "the parent (tree mode: the anchor) had already died; "
                          "this process survived the signal",
            _errno.ENOSYS: "process and tree mode need pidfd_open, Linux 5.3 or later; "
                           "nothing armed",
            _errno.EOPNOTSUPP: enotsup_hint,
            _errno.EBUSY: "this process already watches a different process",
        }.get(err)
        message = os.strerror(err) + " (" + call + (": " + hint if hint else "") + ")"
        raise OSError(err, message)
    if rc == _UNVERIFIED:
        _warnings.warn(UnverifiedWarning(
            "%s: armed, but the parent could not be verified alive "
            "(no signal sent; the library's stderr line says why)" % call), stacklevel=3)
    return rc


def _positive_pid(pid: object, what: str) -> int:
    """An explicit pid: a positive int that fits a C int; OSError(EINVAL)
    naming it otherwise (the C library would take 0 as "the default")."""
    pid = _c_int(pid, what)
    if pid <= 0:
        raise OSError(
            _errno.EINVAL,
            "%s (%s %d: want a positive pid, or None for PDEATHSIG_PPID)"
            % (os.strerror(_errno.EINVAL), what, pid))
    return pid


def _signame(sig: int) -> str:
    """SIGTERM for 15; the number for a signal Python does not name."""
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return str(sig)


def arm(sig: int = _signal.SIGTERM) -> bool:
    """Ask for ``sig`` when the parent dies, and close the race with a parent
    that already died: the expected parent is ``PDEATHSIG_PPID`` from the
    environment or, when unset, the parent seen when the library was loaded
    (at import). If that parent is gone, ``sig`` is sent to this process at
    once, as the kernel would have.

    Returns ``True`` when armed and verified, ``False`` when armed but the
    parent could not be verified (with an :class:`UnverifiedWarning`).
    Raises ``OSError`` with the errno: ``EINVAL`` for a signal outside
    1..31 and SIGRTMIN..SIGRTMAX (32 and 33 are refused) or a bad
    ``PDEATHSIG_PPID`` (nothing armed); ``ESRCH`` (``ProcessLookupError``)
    when the parent had already died and this process survived ``sig``
    (caught or ignored); ``ENOTSUP`` when this process ignores ``sig``
    (``SIG_IGN``): ``sig`` *is* armed, but would do nothing.

    Wraps arm_parent_death_signal() of libpdeathsig, itself
    prctl(PR_SET_PDEATHSIG): see PR_SET_PDEATHSIG(2const).
    """
    sig = _c_int(sig, "signal")
    return _VERIFIED == _check(_lib.arm_parent_death_signal(sig),
           "arm_parent_death_signal(%s)" % _signame(sig),
           _EINVAL_SIGNAL + _PPID_ENV_HINT % os.environ.get("PDEATHSIG_PPID"),
           _IGNORED_HINT)


def arm_expecting(sig: int, ppid: int) -> bool:
    """:func:`arm` with the expected parent pid given explicitly instead of
    read from ``PDEATHSIG_PPID``; a ppid that is not positive is ``EINVAL``
    (use :func:`arm` for the default). Other errors as for :func:`arm`.

    Wraps arm_parent_death_signal_expecting(), see PR_SET_PDEATHSIG(2const).
    """
    sig = _c_int(sig, "signal")
    ppid = _positive_pid(ppid, "parent pid")
    return _VERIFIED == _check(_lib.arm_parent_death_signal_expecting(sig, ppid),
           "arm_parent_death_signal_expecting(%s, %d)" % (_signame(sig), ppid),
           _EINVAL_SIGNAL, _IGNORED_HINT)


def arm_from_env() -> bool:
    """Arm as the environment asks: ``PDEATHSIG`` names the signal (TERM,
    SIGTERM, 15, RTMIN+3), ``PDEATHSIG_PPID`` the expected parent (tree
    mode: the anchor; a pid or ``PID:TICKS``), ``PDEATHSIG_MODE`` the mode
    (prctl, the default, process or tree) and ``PDEATHSIG_GRACE`` the grace
    before SIGKILL (500ms, 5s or 5; process and tree mode only). Returns
    True when armed, False when ``PDEATHSIG`` is unset or empty. Raises
    ``OSError``: ``EINVAL`` for a bad value (nothing armed), else the errors
    of the mode's function (:func:`arm`, :func:`arm_process`,
    :func:`arm_tree`).

    Note: the environment is read from the C library (``getenv``), which
    reflects ``os.environ`` changes made with ``os.putenv``/``os.environ``.

    Wraps arm_parent_death_signal_from_env(), see PR_SET_PDEATHSIG(2const).
    """
    return _check(_lib.arm_parent_death_signal_from_env(),
                  "arm_parent_death_signal_from_env()",
                  "PDEATHSIG must name a signal (TERM, SIGTERM, 15, RTMIN+3; it is %r), "
                  "PDEATHSIG_PPID, if set, be a pid or PID:TICKS (it is %r), "
                  "PDEATHSIG_MODE prctl, process or tree (it is %r) and "
                  "PDEATHSIG_GRACE, only in process or tree mode, 1ms to 1h (it is %r)"
                  % tuple(os.environ.get(name) for name in (
                      "PDEATHSIG", "PDEATHSIG_PPID", "PDEATHSIG_MODE", "PDEATHSIG_GRACE")),
                  "the signal IS armed, but this process ignores it (SIG_IGN), or the "
                  "parent is outside this PID namespace (process mode)") in (1, _UNVERIFIED)


def _grace_ms(grace: object) -> int:
    """Seconds (int or float) or a datetime.timedelta, as whole milliseconds
    rounded up (a grace is never shortened); ValueError/TypeError naming the
    value otherwise."""
    if isinstance(grace, _datetime.timedelta):
        seconds = grace.total_seconds()
    elif isinstance(grace, (int, float)) and not isinstance(grace, bool):
        seconds = float(grace)
    else:
        raise TypeError(
            "pdeathsig: grace must be seconds (int or float) or a datetime.timedelta, got %r"
            % (grace,))
    if not _math.isfinite(seconds) or seconds < 0:
        raise ValueError(
            "pdeathsig: grace %r is not accepted: want 0 (no escalation) to 3600 seconds"
            % (grace,))
    ms = _math.ceil(seconds * 1000)
    if ms > _UINT_MAX:
        raise ValueError(
            "pdeathsig: grace %r does not fit in milliseconds (C unsigned int): "
            "want 0 (no escalation) to 3600 seconds" % (grace,))
    return ms


def arm_process(
    sig: int = _signal.SIGTERM,
    ppid: Optional[int] = None,
    grace: Union[None, int, float, _datetime.timedelta] = None,
) -> bool:
    """Process mode: ask for ``sig`` when the parent *process* has exited,
    not when the parent's thread that started this process exits (which is
    when the kernel fires :func:`arm`). No prctl is made: the C library opens
    a pidfd on the expected parent and one detached thread of this process
    waits for it, then sends ``sig`` to this process. The race is closed as
    in :func:`arm`. The watcher does not survive ``fork`` or ``exec``; it
    survives ``setuid``.

    ``ppid`` is the expected parent pid (positive), or None for
    ``PDEATHSIG_PPID`` from the environment (a pid or ``PID:TICKS``), else
    the parent seen when the library was loaded. ``grace`` (seconds as an
    int or float, or a ``datetime.timedelta``; None or 0 for none)
    escalates: if this process is still alive ``grace`` after ``sig``, it
    gets SIGKILL. Below a millisecond it is rounded up to one; at most one
    hour.

    Raises ``TypeError`` or ``ValueError`` for a grace of the wrong type,
    negative, not finite or too large for a C unsigned int in milliseconds;
    ``OSError`` with the errno: ``EINVAL`` for a bad signal, ppid,
    ``PDEATHSIG_PPID`` or a grace above one hour (nothing armed); ``ESRCH``
    when the parent had already died and this process survived ``sig``;
    ``ENOTSUP`` when this process ignores ``sig`` and no grace follows
    (``sig`` *is* armed; the message says so);
    ``ENOSYS`` without pidfd_open (before Linux 5.3, nothing armed);
    ``EOPNOTSUPP`` (the same number as ``ENOTSUP``) when the parent is
    outside this PID namespace (nothing armed); ``EBUSY`` when this process
    already watches a different parent; ``EAGAIN``, ``ENOMEM``, ``EMFILE``
    when the thread or the pidfd cannot be created.

    Wraps arm_parent_process_death_signal(),
    arm_parent_process_death_signal_expecting() and
    arm_parent_process_death_signal_with_grace() of libpdeathsig: see
    pidfd_open(2), poll(2), pthread_create(3), and PR_SET_PDEATHSIG(2const)
    for the thread-exit behaviour it avoids.
    """
    return _arm_watcher("process", sig, ppid, grace)


def arm_tree(
    sig: int = _signal.SIGTERM,
    anchor: Optional[int] = None,
    grace: Union[None, int, float, _datetime.timedelta] = None,
) -> bool:
    """Tree mode: ask for ``sig`` when the tree's *anchor* exits, whoever
    this process's parent is. The anchor is ``anchor`` (a positive pid) or,
    when None, the process named in ``PDEATHSIG_PPID`` (the tool that
    started the tree exports its own pid there; a pid, or ``PID:TICKS`` as
    the library writes it), else the parent seen when the library was loaded
    (at import). As in :func:`arm_process`, one thread of the C library
    watches a pidfd of the anchor and then sends ``sig`` to this process.

    Unlike process mode, the parent does not matter: this process keeps
    living when its parent exits while the anchor lives (detached,
    daemonized, behind an intermediate that exits), and dies with the
    anchor. A child this process creates with ``os.fork()`` without exec (a
    ``multiprocessing`` worker of the "fork" start method) gets a watcher
    of its own (pthread_atfork(3)); exec'd children under
    ``LD_PRELOAD=libpdeathsig.so PDEATHSIG_MODE=tree`` arm the same way, so
    the whole tree gets ``sig`` at once. The race is closed: if the anchor
    is already gone (or its pid was reused: with ``PID:TICKS`` its start
    time is checked), ``sig`` is sent at once. A process that is itself the
    anchor has nothing to follow: nothing is started.

    ``grace`` as for :func:`arm_process` (seconds or a
    ``datetime.timedelta``; None or 0 for none; at most one hour): SIGKILL
    if this process is still alive ``grace`` after ``sig``.

    Raises ``TypeError`` or ``ValueError`` for a bad grace; ``OSError`` with
    the errno: ``EINVAL`` for a bad signal, anchor, ``PDEATHSIG_PPID`` or a
    grace above one hour (nothing armed); ``ESRCH`` when the anchor had
    already died and this process survived ``sig``; ``ENOTSUP`` when this
    process ignores ``sig`` and no grace follows (``sig`` *is* armed);
    ``ENOSYS`` without pidfd_open (before Linux 5.3, nothing armed);
    ``EBUSY`` when this process already watches another process;
    ``EAGAIN``, ``ENOMEM``, ``EMFILE`` when the thread or the pidfd cannot
    be created. A parent outside this PID namespace is no error: only the
    anchor matters.

    Wraps arm_parent_tree_death_signal(),
    arm_parent_tree_death_signal_expecting() and
    arm_parent_tree_death_signal_with_grace() of libpdeathsig: see
    pidfd_open(2) and pthread_atfork(3).
    """
    return _arm_watcher("tree", sig, anchor, grace)


def _arm_watcher(mode: str, sig: object, pid: object, grace: object) -> bool:
    """arm_process (mode "process", pid the parent) or arm_tree (mode
    "tree", pid the anchor): checks the arguments, picks the C function."""
    sig = _c_int(sig, "signal")
    what = "parent pid" if mode == "process" else "anchor pid"
    einval = _EINVAL_SIGNAL
    if pid is not None:
        pid = _positive_pid(pid, what)
        einval += " and the %s positive" % what
    else:
        einval += _PPID_ENV_HINT % os.environ.get("PDEATHSIG_PPID")
    ms = 0 if grace is None else _grace_ms(grace)
    if ms > _GRACE_MAX_MS:
        einval = "the grace must be at most 3600 seconds (it is %r); " % (grace,) + einval
    base = "arm_parent_%s_death_signal" % mode
    if ms:
        call = "%s_with_grace(%s, %d, %d)" % (base, _signame(sig), pid or 0, ms)
        rc = getattr(_lib, base + "_with_grace")(sig, pid or 0, ms)
    elif pid is not None:
        call = "%s_expecting(%s, %d)" % (base, _signame(sig), pid)
        rc = getattr(_lib, base + "_expecting")(sig, pid)
    else:
        call = "%s(%s)" % (base, _signame(sig))
        rc = getattr(_lib, base)(sig)
    enotsup = _IGNORED_HINT
    if rc == -1 and mode == "process" and ctypes.get_errno() == _errno.EOPNOTSUPP:
        # The same number for two cases: the signal ignored (armed: get()
        # reports it) or the parent outside this PID namespace (nothing
        # armed). The call to get_parent_death_signal() may change ctypes'
        # saved errno: it is restored for _check.
        armed = _lib.get_parent_death_signal()
        if armed != sig:
            enotsup = "the parent is outside this PID namespace; nothing armed"
        ctypes.set_errno(_errno.EOPNOTSUPP)
    return _VERIFIED == _check(rc, call, einval, enotsup)


def rearm() -> bool:
    """Arm again what the last successful arming in this process armed (same
    signal, expected parent, mode and grace), with the same race check. Call
    it after dropping privileges: ``os.setuid``, ``os.setgid`` and any change
    of effective or filesystem ids clear the prctl setting. In prctl mode it
    arms the calling thread.

    Raises ``OSError``: ``EINVAL`` when nothing was armed in this process
    before; ``ESRCH`` when the parent (tree mode: the anchor) died meanwhile
    (the signal was sent and this process survived it); the errors of
    :func:`arm`, :func:`arm_process` and :func:`arm_tree` (``ENOTSUP``
    again when the signal is ignored and no grace follows: re-armed all the
    same).

    Wraps rearm_parent_death_signal() of libpdeathsig, see
    PR_SET_PDEATHSIG(2const) and pidfd_open(2).
    """
    return _VERIFIED == _check(_lib.rearm_parent_death_signal(), "rearm_parent_death_signal()",
           "nothing was armed in this process before",
           "the signal IS armed, but this process ignores it (SIG_IGN), or the "
           "parent is outside this PID namespace (process mode)")


def get() -> Union[None, _signal.Signals, int]:
    """The signal armed for the calling thread (a ``signal.Signals`` when
    Python knows it, else an int) or, when that is empty and a watcher runs
    (process or tree mode), its signal; None when nothing is armed.

    Wraps get_parent_death_signal(), itself prctl(PR_GET_PDEATHSIG): see
    PR_GET_PDEATHSIG(2const).
    """
    sig = _check(_lib.get_parent_death_signal(), "get_parent_death_signal()")
    if sig == 0:
        return None
    try:
        return _signal.Signals(sig)
    except ValueError:
        return sig


def disarm() -> None:
    """Clear the setting: no signal when the parent dies. A process- or
    tree-mode watcher is disarmed too (its idle thread remains, and fork
    children start none).

    Wraps disarm_parent_death_signal(), itself prctl(PR_SET_PDEATHSIG, 0):
    see PR_SET_PDEATHSIG(2const).
    """
    _check(_lib.disarm_parent_death_signal(), "disarm_parent_death_signal()")


def version() -> str:
    """The version of the loaded libpdeathsig, such as ``"0.1.0"``."""
    raw: bytes = _lib.pdeathsig_version()
    return raw.decode("ascii")
