"""The live progress line: totals summed over processes, a line per interval off a terminal,
one rewritten line on a terminal, nothing left behind."""

from __future__ import annotations

import io
import multiprocessing
import os

from curate import progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _work(folder, n):
    os.environ[progress.ENV] = folder
    for _ in range(n):
        progress.advance("download", 10)


def test_totals_are_summed_over_worker_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_work, args=(str(tmp_path), n)) for n in (3, 5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    unit, done, _ = progress.read_totals(str(tmp_path))["download"]
    assert (unit, done) == ("pairs", 80)


def test_format_line():
    assert progress.format_line("embed", "pairs", 1500, 75.0) == "embed: 1,500 pairs done, 20.0/s, 1:15 elapsed"


def test_line_per_interval_off_a_terminal_and_cleanup():
    stream = io.StringIO()
    with progress.ProgressLine(stream, interval=0.0, tick=0.01) as line:
        folder = line.folder
        assert os.environ[progress.ENV] == folder
        progress.advance("capfilt", 7)
        line._stop.wait(0.2)
        progress.advance("capfilt", 3)
        line._stop.wait(0.2)
    out = stream.getvalue()
    assert "\r" not in out
    assert out.splitlines()[0].startswith("capfilt: 7 pairs done")
    assert out.splitlines()[-1].startswith("capfilt: 10 pairs done")
    assert progress.ENV not in os.environ and not os.path.exists(folder)


def test_one_rewritten_line_on_a_terminal_cleared_at_the_end():
    stream = _Tty()
    with progress.ProgressLine(stream, tick=0.01) as line:
        progress.advance("train", 64, unit="samples")
        line._stop.wait(0.2)
    out = stream.getvalue()
    assert "\n" not in out and "\rtrain: 64 samples done" in out.replace("\033[K", "")
    assert out.endswith("\r\033[K")


def test_nested_lines_share_the_outer_one():
    stream = io.StringIO()
    with progress.ProgressLine(stream, interval=0.0, tick=0.01) as outer:
        with progress.ProgressLine(io.StringIO()):
            assert os.environ[progress.ENV] == outer.folder
        assert os.environ[progress.ENV] == outer.folder


def test_nothing_is_written_without_a_line(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    progress.advance("embed", 5)  # no folder: only the Beam counter, outside a pipeline a no-op
    assert os.listdir(tmp_path) == []


def test_a_new_run_starts_its_counts_afresh():
    stream = io.StringIO()
    with progress.ProgressLine(stream, interval=0.0, tick=0.01) as line:
        progress.new_run()
        progress.advance("download", 700)
        line._stop.wait(0.2)
        progress.new_run()  # the next pipeline run of the same command
        progress.advance("download", 20)
        line._stop.wait(0.2)
        assert progress.read_totals(line.folder)["download"][:2] == ("pairs", 20)
    out = stream.getvalue().splitlines()
    assert out[0].startswith("download: 700 pairs") and out[-1].startswith("download: 20 pairs")


def test_off_a_terminal_a_line_is_printed_only_after_new_work():
    stream = io.StringIO()
    with progress.ProgressLine(stream, interval=0.0, tick=0.01) as line:
        progress.advance("embed", 5)
        line._stop.wait(0.3)  # many ticks, no new work
    assert len(stream.getvalue().splitlines()) == 1
