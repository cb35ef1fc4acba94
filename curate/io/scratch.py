"""Scratch folders of work in progress, removed by the next attempt once their owner is gone.

An attempt (``attempt(base, prefix)``) works in ``<base>/<id>/`` and holds an exclusive
``flock`` on ``<base>/<id>.lock`` for as long as it runs. The kernel drops that lock when the
process ends, however it ends (SIGKILL, OOM kill, a power cut of a local disk), so liveness
needs no pid file, no clock and no guess: ``sweep(base)``, run at the start of every
attempt, removes the folders whose lock it can take, and folders without a lock file (a
cleanup cut short, an older layout); a folder whose owner still runs keeps its lock and its
files.

Order that makes this safe: the lock file is created and locked under a temporary name and
renamed into place before its folder is made, and removed after the folder, so a folder
never exists without a locked lock file while its owner runs. Local filesystems only
(``flock`` over NFS is not reliable); remote outputs keep their scratch under the local
temporary folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterator

LOCK = ".lock"
CREATING = ".creating-"
# A lock file being created is locked microseconds after it appears; one unlocked and older
# than this was left by a process killed in between.
CREATING_GRACE_S = 60.0


def _try_lock(path: str) -> int | None:
    """An fd holding the exclusive lock of `path`, or None if another process holds it
    (or the file is gone)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def sweep(base: str) -> list[str]:
    """Remove the scratch folders in `base` of attempts that no longer run; returns them."""
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    removed = []
    for name in sorted(names):
        path = os.path.join(base, name)
        if name.endswith(LOCK):
            fd = _try_lock(path)
            if fd is None:
                continue  # its attempt is running
            try:
                folder = path[: -len(LOCK)]
                if os.path.isdir(folder):
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
                _unlink(path)
            finally:
                os.close(fd)
        elif name.startswith(CREATING):
            fd = _try_lock(path)
            if fd is not None:
                try:
                    if time.time() - os.stat(path).st_mtime > CREATING_GRACE_S:
                        _unlink(path)
                except FileNotFoundError:
                    pass
                finally:
                    os.close(fd)
        elif os.path.isdir(path) and not os.path.exists(path + LOCK):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _locked_file(base: str) -> tuple[int, str]:
    for _ in range(5):  # another attempt may remove an empty `base` between our steps
        os.makedirs(base, exist_ok=True)
        path = os.path.join(base, CREATING + secrets.token_hex(8))
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, path
    raise OSError(f"cannot create a scratch lock in {base}")


@contextlib.contextmanager
def attempt(base: str, prefix: str) -> Iterator[str]:
    """A fresh scratch folder ``<base>/<prefix>-<random>/``, removed on exit; the scratch
    of dead attempts in `base` is removed first. `base` itself is removed once empty."""
    sweep(base)
    fd, creating = _locked_file(base)
    try:
        name = f"{prefix}-{secrets.token_hex(6)}"
        lock = os.path.join(base, name + LOCK)
        os.rename(creating, lock)
        folder = os.path.join(base, name)
        try:
            os.mkdir(folder)
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            _unlink(lock)
    finally:
        _unlink(creating)  # only if the rename did not happen
        os.close(fd)
        with contextlib.suppress(OSError):
            os.rmdir(base)  # once no attempt is in progress
