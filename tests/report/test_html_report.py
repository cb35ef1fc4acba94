"""`curate report --html` opened in headless Chromium (Debian's `chromium`, installed by
scripts/setup.sh) through Playwright: no console error, no broken image, no request beyond
the file itself, and the funnel numbers shown equal stats.json. Screenshots are saved under
the test's tmp folder (or $CURATE_REPORT_SCREENSHOTS)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate import config as cfg
from curate import pipeline
from curate.cli import main
from curate.report import gather, html
from tests.integration.mission import served_sample
from tests.report.synthetic_run import write_compare, write_run

ROOT = Path(__file__).resolve().parents[2]


def chromium_path() -> str:
    path = os.environ.get("CURATE_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("no chromium on PATH: scripts/setup.sh installs Debian's chromium package")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()


def open_report(browser, page_path: Path, screenshot: Path) -> dict:
    """Load the page, fail on console errors, page errors, network requests and broken
    images; return what the page shows."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def route(r):
        if r.request.url.startswith(("file://", "data:")):
            r.continue_()
        else:
            problems.append(f"request: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.goto(page_path.as_uri(), wait_until="load")
    shown = page.evaluate("""() => ({
        images: Array.from(document.images).map(i => ({src: i.src.slice(0, 30), ok: i.complete && i.naturalWidth > 0})),
        stages: Array.from(document.querySelectorAll('#funnel-table tr.stage')).map(r => ({
            stage: r.dataset.stage, in: +r.dataset.in, kept: +r.dataset.kept, removed: +r.dataset.removed,
            shown: Array.from(r.cells).slice(1, 4).map(c => +c.textContent),
            reasons: Object.fromEntries(Array.from(r.querySelectorAll('[data-reason]')).map(s => [s.dataset.reason, +s.dataset.count]))})),
        defects: Array.from(document.querySelectorAll('#confusion tr[data-defect]')).map(r => r.dataset.defect),
        sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
        noImage: document.querySelectorAll('.noimg').length,
    })""")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    assert not problems, problems
    broken = [i for i in shown["images"] if not i["ok"]]
    assert not broken, broken
    assert all(i["src"].startswith("data:image/") for i in shown["images"])
    return shown


def screenshots(tmp_path: Path) -> Path:
    return Path(os.environ.get("CURATE_REPORT_SCREENSHOTS", tmp_path / "screenshots"))


def assert_funnel(shown: dict, stats: dict) -> None:
    expect = [{"stage": s["stage"], "in": s["in"], "kept": s["kept"], "removed": s["removed"],
               "shown": [s["in"], s["kept"], s["removed"]], "reasons": s["removed_by_reason"]} for s in stats["stages"]]
    assert shown["stages"] == expect


@pytest.mark.long
def test_report_of_a_sample_run_in_chromium(tmp_path, beam_args, browser, capsys):
    """The demo's first pass (the stages that need no model) on the smallest served sample
    pool, reported with its manifest."""
    from curate.commands.demo import first_pass_config

    with served_sample(tmp_path / "sample", size=100) as pool:
        config = first_pass_config(cfg.load(str(ROOT / "pipelines" / "demo.yaml")))
        stages = dict(config.stages)
        config = dataclasses.replace(config, input=str(pool), output=str(tmp_path / "run"),
                                     queries=str(ROOT / "queries" / "sample"), stages=stages)
        stats = pipeline.run(config, beam_args)
    page = tmp_path / "report.html"
    assert main(["report", "--run", str(tmp_path / "run"), "--manifest", str(tmp_path / "sample" / "manifest.parquet"),
                 "--html", str(page)]) == 0
    assert f"HTML report: {page}" in capsys.readouterr().out
    shown = open_report(browser, page, screenshots(tmp_path) / "sample_run.png")
    assert_funnel(shown, json.loads((tmp_path / "run" / "stats.json").read_text()))
    assert stats["stages"][0]["in"] == 100
    defects = set(pq.read_table(tmp_path / "sample" / "manifest.parquet")["defect"].to_pylist())
    assert set(shown["defects"]) == defects
    assert {"funnel", "examples", "duplicates", "balance", "ground-truth"} <= set(shown["sections"])
    # downloaded pairs show their image, pairs removed before download say they have none
    thumbs = [i for i in shown["images"] if i["src"].startswith("data:image/jpeg")]
    assert len(thumbs) >= 10 and shown["noImage"] >= 10


def test_big_run_report_is_bounded_and_complete_in_chromium(tmp_path, browser):
    """60 reasons (the most shown), 16,000 rows, 480-pixel noise images: the page shows a
    fixed number of thumbnails whatever the row count, each at most 96 pixels, so it stays
    far under 20 MB; every section renders in the browser."""
    run = write_run(tmp_path / "run", removed_rows=12_000, kept_rows=4_000, reasons_per_stage=10)
    cmp = write_compare(tmp_path / "compare")
    page = tmp_path / "report.html"
    assert main(["report", "--run", str(run), "--html", str(page), "--compare", str(cmp)]) == 0
    data = page.read_bytes()
    reasons = 6 * 10
    assert reasons == gather.MAX_REASONS
    thumbs = data.count(b'src="data:image/jpeg')
    bound = (reasons * (gather.EXAMPLES_PER_REASON + gather.KEPT_PER_REASON) + 2 * gather.CAPFILT_ROWS
             + 2 * 2 * gather.CLUSTERS_PER_REASON)
    assert 0 < thumbs <= bound
    assert len(data) < html.MAX_BYTES and len(data) < 3_000_000 + thumbs * 12_000
    shown = open_report(browser, page, screenshots(tmp_path) / "synthetic_run.png")
    assert_funnel(shown, json.loads((run / "stats.json").read_text()))
    assert {"funnel", "examples", "duplicates", "capfilt", "balance", "scores", "compare"} <= set(shown["sections"])
