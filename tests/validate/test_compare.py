"""compare: subset selection, aggregation, and one tiny end-to-end run of the protocol."""

import json
import os

import numpy as np
import pyarrow as pa
import pytest

from curate import cli
from curate.validate import compare
from tests.validate.fixtures import COLOURS, jpeg, make_run


def test_random_subset_is_seeded_sized_and_order_independent():
    uids = [f"{i:032x}" for i in range(100)]
    table = pa.table({"uid": uids, "x": list(range(100))})
    a = compare.random_subset(table, 30, seed=1)
    b = compare.random_subset(table.take(pa.array(np.arange(99, -1, -1))), 30, seed=1)
    assert a.num_rows == 30 and set(a["uid"].to_pylist()) == set(b["uid"].to_pylist())
    assert set(a["uid"].to_pylist()) != set(compare.random_subset(table, 30, seed=2)["uid"].to_pylist())
    with pytest.raises(ValueError):
        compare.random_subset(table, 101, seed=0)


def test_downloaded_keeps_only_rows_with_images():
    t = pa.table({"uid": ["a", "b", "c", "d"], "shard": ["s", None, "s", "s"], "key": ["1", "2", None, "4"],
                  "status": ["success", "success", "success", "failed_to_download"]})
    assert compare.downloaded(t)["uid"].to_pylist() == ["a"]


def test_summarise_and_gap():
    runs = [{"arm": a, "seed": s, "metrics": {"m": v}} for a, s, v in
            [("curated", 0, 0.5), ("curated", 1, 0.7), ("random", 0, 0.2), ("random", 1, 0.3)]]
    s = compare.summarise(runs)
    assert s["curated"]["m"]["mean"] == pytest.approx(0.6)
    assert s["curated"]["m"]["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    g = compare.gap(s, "m")
    assert g["diff"] == pytest.approx(0.35) and g["diff_in_std"] == pytest.approx(0.35 / s["curated"]["m"]["std"])
    assert compare.gap_words(g) == f"{0.35 / s['curated']['m']['std']:.2f} seed std"


def test_one_seed_gives_no_seed_noise_figure():
    """One seed per arm measures no spread: no 'inf seed std' claim, and the words say why."""
    runs = [{"arm": "curated", "seed": 0, "metrics": {"m": 0.5}}, {"arm": "random", "seed": 0, "metrics": {"m": 0.2}}]
    g = compare.gap(compare.summarise(runs), "m")
    assert g["diff"] == pytest.approx(0.3) and g["seed_std"] is None and g["diff_in_std"] is None
    assert compare.gap_words(g) == "seed noise not measured (one seed)"
    same = [{"arm": a, "seed": k, "metrics": {"m": v}} for a, v in (("curated", 0.5), ("random", 0.2)) for k in (0, 1)]
    assert compare.gap_words(compare.gap(compare.summarise(same), "m")) == "seed noise not measured (no spread over seeds)"
    md = compare.table_markdown(compare.summarise(runs), ["curated", "random"], {"curated": 1, "random": 1}, 8, {"m": g})
    assert "inf" not in md and "+30.0 points; seed noise not measured (one seed)" in md


@pytest.mark.slow
def test_compare_command_end_to_end(tmp_path):
    make_run(tmp_path / "c", n=16)
    make_run(tmp_path / "p", n=32)
    root = tmp_path / "folder"
    for colour in ("red", "blue"):
        os.makedirs(root / colour)
        (root / colour / "0.jpg").write_bytes(jpeg(COLOURS[colour]))
    out = tmp_path / "cmp"
    rc = cli.main([
        "compare", "--curated", str(tmp_path / "c" / "run"), "--pool", str(tmp_path / "p" / "run"),
        "--output", str(out), "--seeds", "0", "1", "--batch-size", "8", "--samples-seen", "16",
        "--datasets", f"folder:{root}", "--retrieval", "none", "--device", "cpu",
    ])
    assert rc == 0
    results = json.loads((out / "results.json").read_text())
    assert results["sizes"] == {"curated": 16, "random": 16, "pool": 32}
    assert len(results["runs"]) == 6 and {r["steps"] for r in results["runs"]} == {2}
    assert {r["train_samples"] for r in results["runs"] if r["arm"] == "random"} == {16}
    assert (out / "plot.png").stat().st_size > 1000
    assert "± " in (out / "table.md").read_text()
