"""Live progress of long local stages (download, embed, capfilt, training), without Beam's logs.

Workers call ``advance(stage, n)`` as they finish work. That adds to the Beam counter
``<stage>/progress_<unit>`` (what a cluster's UI and ``result.metrics()`` show) and, when
the driver runs a ``ProgressLine`` (``$CURATE_PROGRESS_DIR`` is set), writes the process's
running total to a small file there: worker processes of the local runner inherit the
variable, and the driver's thread sums the files into one line — pairs done, rate, elapsed —
rewritten in place on a terminal (``\\r``), printed every ``interval`` seconds otherwise.

Nothing here touches a run's outputs: the files live in a temporary folder removed at the
end, and a worker that cannot write there (a remote one) just skips it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

ENV = "CURATE_PROGRESS_DIR"
RUN_ENV = "CURATE_PROGRESS_RUN"  # which pipeline run (or training) of the command this is
_totals: dict[tuple[str, str, str], int] = {}
_lock = threading.Lock()
_open_lines = 0


def advance(stage: str, n: int, unit: str = "pairs") -> None:
    """`n` more `unit` of `stage` done in this process."""
    if n <= 0:
        return
    if "apache_beam" in sys.modules:  # inside a pipeline (training alone needs no Beam)
        from apache_beam.metrics import Metrics

        Metrics.counter(stage, f"progress_{unit}").inc(n)
    folder = os.environ.get(ENV)
    if not folder:
        return
    run = os.environ.get(RUN_ENV, "0")
    with _lock:
        total = _totals[(run, stage, unit)] = _totals.get((run, stage, unit), 0) + n
    path = os.path.join(folder, f"{run}.{stage}.{os.getpid()}.{threading.get_ident()}.json")
    try:
        with open(path + ".tmp", "w") as f:
            json.dump({"run": int(run), "stage": stage, "unit": unit, "done": total}, f)
        os.replace(path + ".tmp", path)
    except OSError:
        pass  # a worker on another machine: the Beam counter is its progress


def new_run() -> None:
    """A new pipeline run (or training) of the same command starts: its counts start at 0
    (set before its worker processes start, which inherit it)."""
    if os.environ.get(ENV):
        os.environ[RUN_ENV] = str(int(os.environ.get(RUN_ENV, "0")) + 1)


def read_totals(folder: str) -> dict[str, tuple[str, int, float]]:
    """stage -> (unit, done over all processes, time of the last update), of the latest run."""
    out: dict[str, tuple[str, int, float]] = {}
    latest = -1
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".json")]
    except OSError:
        return out
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path) as f:
                doc = json.load(f)
            mtime = os.path.getmtime(path)
        except (OSError, ValueError):
            continue
        if doc.get("run", 0) > latest:
            out, latest = {}, doc.get("run", 0)
        elif doc.get("run", 0) < latest:
            continue
        unit, done, last = out.get(doc["stage"], (doc["unit"], 0, 0.0))
        out[doc["stage"]] = (unit, done + int(doc["done"]), max(last, mtime))
    return out


def format_line(stage: str, unit: str, done: int, seconds: float) -> str:
    rate = done / seconds if seconds > 0 else 0.0
    m, s = divmod(int(seconds), 60)
    return f"{stage}: {done:,} {unit} done, {rate:,.1f}/s, {m}:{s:02d} elapsed"


def _count(line: str) -> str:
    """The stage and count of a line (what changes when work is done, unlike the time)."""
    return line.split(" done,")[0]


class ProgressLine:
    """Context manager: while it is open, a thread shows the progress that ``advance`` calls
    report (in this process or the local runner's worker processes)."""

    def __init__(self, stream=None, interval: float = 30.0, tick: float = 0.5):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval, self.tick = interval, tick
        self._stop = threading.Event()
        self._started: dict[str, float] = {}
        self._shown = ""

    def __enter__(self):
        import tempfile

        global _open_lines
        _open_lines += 1
        self._outer = _open_lines > 1  # a command run inside another's line: that one shows it
        if self._outer:
            return self
        self._old = os.environ.get(ENV), os.environ.get(RUN_ENV)
        self.folder = tempfile.mkdtemp(prefix="curate-progress-")
        os.environ[ENV] = self.folder
        os.environ[RUN_ENV] = self._run = "0"
        _totals.clear()
        self._opened = time.time()
        self._thread = threading.Thread(target=self._loop, name="curate-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        import shutil

        global _open_lines
        _open_lines -= 1
        if self._outer:
            return False
        self._stop.set()
        self._thread.join()
        if self.tty and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
        for name, old in zip((ENV, RUN_ENV), self._old, strict=True):
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        _totals.clear()
        shutil.rmtree(self.folder, ignore_errors=True)
        return False

    def line(self) -> str | None:
        """The line for the stage updated last, or None before any progress."""
        totals = read_totals(self.folder)
        if not totals:
            return None
        now = time.time()
        run = os.environ.get(RUN_ENV, "0")
        if run != self._run:  # a new run of the command: its stages start afresh
            self._run, self._started, self._opened = run, {}, now
        for stage in totals:
            if stage not in self._started:
                # A stage began when the work before it ended: the last update of another
                # stage, or the opening of this line.
                earlier = [t for other, (_, _, t) in totals.items() if other != stage and other in self._started]
                self._started[stage] = max([self._opened, *earlier])
        stage, (unit, done, _) = max(totals.items(), key=lambda kv: kv[1][2])
        return format_line(stage, unit, done, now - self._started[stage])

    def _loop(self) -> None:
        last_print = time.monotonic()
        while not self._stop.wait(self.tick):
            line = self.line()
            if line is None:
                continue
            if self.tty:
                self.stream.write("\r\033[K" + line)
                self.stream.flush()
                self._shown = line
            elif time.monotonic() - last_print >= self.interval and _count(line) != _count(self._shown):
                self.stream.write(line + "\n")  # only when work was done since the last one
                self.stream.flush()
                self._shown, last_print = line, time.monotonic()
