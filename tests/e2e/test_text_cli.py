"""`curate filter`, `curate dedup-text`, `curate balance` chained on a small pool, and the
three stages in one `curate run` config giving the same result."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from curate.cli import main
from curate.io.shards import read_table

TEXTS = [
    "a red car parked by the river",
    "A red car parked by the river!",  # near-duplicate caption: one cluster, both kept
    "red car",  # too few words
    "ein rotes Auto steht am Fluss und wartet",  # language
    "the quick brown fox jumps high",  # no match
    "a blue bicycle near a red car",
    "a dog and a cat in the garden",
    "my dog sleeping on the sofa",
]


def _setup(tmp_path: Path):
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"url": [f"http://127.0.0.1/{i}.png" for i in range(len(TEXTS))], "text": TEXTS}), pool)
    q = tmp_path / "queries"
    q.mkdir()
    (q / "entries.txt").write_text("bicycle\ncar\ncat\ndog\nred car\nriver\n")
    return pool, q


def test_text_stages_cli_chain(tmp_path, beam_args):
    pool, q = _setup(tmp_path)
    assert main(["ingest", "--input", str(pool), "--output", str(tmp_path / "i"), *beam_args]) == 0
    assert main(["filter", "--input", str(tmp_path / "i/kept/*.parquet"), "--output", str(tmp_path / "f"), "--queries", str(q), *beam_args]) == 0
    stats = json.loads((tmp_path / "f/stats.json").read_text())["stages"][0]
    assert stats["removed_by_reason"] == {"language": 1, "no_match": 1, "too_few_words": 1}
    assert main(["dedup-text", "--input", str(tmp_path / "f/kept/*.parquet"), "--output", str(tmp_path / "d"), *beam_args]) == 0
    dedup = json.loads((tmp_path / "d/stats.json").read_text())["stages"][0]
    assert (dedup["in"], dedup["kept"], dedup["removed"]) == (5, 5, 0)  # no spam-size cluster
    kept = read_table(str(tmp_path / "d/kept/*.parquet")).to_pylist()
    red = [r for r in kept if r["text"].lower().startswith("a red car parked")]
    assert len(red) == 2 and red[0]["text_cluster"] == red[1]["text_cluster"]
    assert [r["text_cluster_size"] for r in red] == [2, 2]
    assert all(r["text_cluster_size"] == 1 for r in kept if r not in red)
    assert main(["balance", "--input", str(tmp_path / "d/kept/*.parquet"), "--output", str(tmp_path / "b"), "--t", "1", "--queries", str(q), *beam_args]) == 0
    kept = read_table(str(tmp_path / "b/kept/*.parquet"))
    assert 1 <= kept.num_rows <= 4 and kept["balance_p"].null_count == 0
    summary = json.loads((tmp_path / "b/balance.json").read_text())
    assert summary["t"] == 1 and {e["entry"] for e in summary["top_entries"]} >= {"car", "dog"}

    # The same stages in one run.
    config = {
        "input": str(pool),
        "output": str(tmp_path / "run"),
        "queries": str(q),
        "stages": {"ingest": {}, "filter": {}, "dedup_text": {}, "balance": {"t": 1}},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(tmp_path / "run.yaml"), *beam_args]) == 0
    run_kept = read_table(str(tmp_path / "run/kept/*.parquet"))
    assert sorted(run_kept["uid"].to_pylist()) == sorted(kept["uid"].to_pylist())
    names = [s["stage"] for s in json.loads((tmp_path / "run/stats.json").read_text())["stages"]]
    assert names == ["ingest", "filter", "dedup_text", "balance"]
