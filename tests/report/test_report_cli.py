"""`curate report --html` without a browser: the fixed sample of rows per reason, the
byte-identical page on a rerun, and one-line errors for what a user gets wrong."""

from __future__ import annotations

import random

import pytest

from curate.cli import main
from curate.report import gather
from tests.report.synthetic_run import write_run


def test_sample_is_the_smallest_hashes_whatever_the_order():
    uids = [f"{i:032x}" for i in range(500)]
    expect = sorted(uids, key=lambda u: gather.sample_key(u, "filter/language"))[:7]
    for seed in range(3):
        order = uids[:]
        random.Random(seed).shuffle(order)
        sample = gather.Sample(7)
        for u in order:
            sample.add("filter/language", {"uid": u})
        assert [r["uid"] for r in sample.rows("filter/language")] == expect
        assert sample.counts["filter/language"] == 500


def test_histogram_matches_numpy():
    import numpy as np

    values = np.random.default_rng(1).uniform(-1, 1, 1000)
    h = gather.Histogram()
    h.add(list(values[:600]), removed=False)
    h.add(list(values[600:]) + [None], removed=True)
    ref, _ = np.histogram(values, bins=gather.SCORE_BINS, range=gather.SCORE_RANGE)
    assert (h.kept + h.removed).tolist() == ref.tolist() and h.total == 1000


@pytest.mark.long
def test_rerun_gives_the_same_page(tmp_path):
    run = write_run(tmp_path / "run", removed_rows=600, kept_rows=200, reasons_per_stage=2, members=4, side=64)
    pages = []
    for name in ("a.html", "b.html"):
        assert main(["report", "--run", str(run), "--html", str(tmp_path / name)]) == 0
        pages.append((tmp_path / name).read_bytes())
    assert pages[0] == pages[1]
    # pairs removed before download show their caption, labelled; later ones their image
    assert b"no image: removed before download" in pages[0] and b'src="data:image/jpeg' in pages[0]


@pytest.mark.parametrize(
    "case, needle",
    [
        ("no_stats", "has no stats.json"),
        ("no_run", "does not exist: give the output folder"),
        ("html_folder_missing", "does not exist; create it first"),
        ("html_is_folder", "is a folder; give a file name"),
        ("compare_without_results", "has no results.json"),
    ],
)
def test_clear_errors(tmp_path, capsys, case, needle):
    run = tmp_path / "run"
    run.mkdir()
    if case != "no_stats":
        (run / "stats.json").write_text('{"input": 0, "kept": 0, "removed": 0, "stages": []}')
    args = {
        "no_stats": ["--run", str(run), "--html", str(tmp_path / "r.html")],
        "no_run": ["--run", str(tmp_path / "nowhere"), "--html", str(tmp_path / "r.html")],
        "html_folder_missing": ["--run", str(run), "--html", str(tmp_path / "missing" / "r.html")],
        "html_is_folder": ["--run", str(run), "--html", str(tmp_path)],
        "compare_without_results": ["--run", str(run), "--html", str(tmp_path / "r.html"), "--compare", str(run)],
    }[case]
    assert main(["report", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("curate report: error: ") and needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
