"""Errors meant for the user, and how to find one inside what a Beam runner raises.

A ``CurateError`` is an expected failure (an unreadable input file, a missing query list or
checkpoint, an output folder of another run): the CLI prints its message on one line,
``curate <command>: error: <message>``, and exits with status 2. Raised inside a Beam worker
it reaches the caller wrapped: the in-process runner re-raises it with `` [while running
'Step']`` appended, the multi-process and portable runners raise a ``RuntimeError`` whose
text holds the worker's traceback. ``find_user_error`` digs the message out of either.
"""

from __future__ import annotations

import re


class CurateError(Exception):
    """An error for the user: printed without a traceback, exit status 2."""


# Class names whose messages are shown as they are when found in a worker's traceback text.
# FileNotFoundError is one: a missing file named by the user (a query list, a checkpoint)
# is first opened where the work happens.
USER_ERROR_NAMES = ("CurateError", "PoolFormatError", "FileNotFoundError")

_WHILE_RUNNING = re.compile(r"\s*\[while running '[^']*'\]")
_TRACEBACK_LINE = re.compile(
    r"^(?:[\w.]+\.)?(" + "|".join(USER_ERROR_NAMES) + r"): (.+)$", re.MULTILINE
)


def _clean(message: str) -> str:
    return _WHILE_RUNNING.sub("", message).strip()


def find_user_error(exc: BaseException) -> str | None:
    """The message of the first user error in `exc`, its causes and contexts, or in the
    traceback text a runner wrapped it in; None when there is none (a bug)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, CurateError):
            return _clean(str(e))
        if isinstance(e, FileNotFoundError):
            return _clean(f"no such file or folder: {e.filename}" if e.filename else str(e))
        match = _TRACEBACK_LINE.findall(str(e))
        if match:
            return _clean(match[-1][1])
        todo += [e.__cause__, e.__context__]
    return None

