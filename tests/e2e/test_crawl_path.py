"""From crawl files to shards on the command line: `curate extract` on a WARC of pages, then
`curate run --config pipelines/crawl.yaml` on its pool (ingest ... dedup_images, images from a
server on 127.0.0.1), then `curate export`; every record accounted for from the first one."""

from __future__ import annotations

import json

import pyarrow as pa
from PIL import Image

from curate.cli import main
from curate.io import shards, tars
from curate.sample.crawl import EDGE_PAGES, write_pool_warc
from curate.sample.server import SampleServer


def test_crawl_to_shards(tmp_path, beam_args, capsys):
    served = tmp_path / "served"
    (served / "images").mkdir(parents=True)
    colours = {"red": (200, 10, 10), "green": (10, 200, 10), "blue": (10, 10, 200)}
    for name, rgb in colours.items():
        Image.new("RGB", (48, 40), rgb).save(served / "images" / f"{name}.png")
    with SampleServer(served, port=0) as srv:
        img = srv.base_url + "/img/"
        rows = [
            (img + "red.png", "a red square painted on a white wall"),
            (img + "green.png", "a green square painted on a white wall"),
            (img + "blue.png", "a blue square painted on a white wall"),
            (img + "red.png", "a red square painted on a white wall"),  # the same pair, another page: extract
            (srv.base_url + "/dead/x.png", "a yellow square painted on a white wall"),  # http_404: download
            (img + "blue.png", "the blue square painted on a white wall again"),  # same image, near-same text
        ]
        pool = pa.table({"url": [u for u, _ in rows], "text": [t for _, t in rows]})
        (tmp_path / "crawl").mkdir()
        write_pool_warc(pool, tmp_path / "crawl" / "pool.warc.gz")
        assert main(["extract", "--input", str(tmp_path / "crawl"), "--output", str(tmp_path / "extract"), *beam_args]) == 0
        run = tmp_path / "run"
        assert main(["run", "--config", "pipelines/crawl.yaml", "--input", str(tmp_path / "extract" / "pool"),
                     "--output", str(run), *beam_args]) == 0
    assert main(["export", "--input", str(run), "--output", str(run / "export"), *beam_args]) == 0
    capsys.readouterr()

    extract = json.loads((tmp_path / "extract" / "stats.json").read_text())["stages"][0]
    edge_kept = sum(k for *_, k in EDGE_PAGES)
    assert extract["kept"] == 5 + edge_kept  # the repeated pair removed at extraction
    assert extract["removed_by_reason"]["duplicate_pair"] == 1
    assert extract["in"] == extract["kept"] + extract["removed"]
    funnel = json.loads((run / "stats.json").read_text())["stages"]
    assert funnel[0]["stage"] == "ingest" and funnel[0]["in"] == extract["kept"]
    for before, after in zip(funnel, funnel[1:], strict=False):
        assert after["in"] == before["kept"]
    for s in funnel:
        assert s["in"] == s["kept"] + s["removed"], s
    by_stage = {s["stage"]: s["removed_by_reason"] for s in funnel}
    assert by_stage["download"].get("http_404") == 1
    kept = shards.read_table(str(run / "kept"))
    pairs = set(zip(kept["url"].to_pylist(), kept["text"].to_pylist(), strict=True))
    # red and green; the blue image under a near-duplicate caption is the same pair again:
    # one of the two kept, the other removed by dedup_images (docs/DEDUP.md)
    assert {rows[0], rows[1]} <= pairs and len(pairs & {rows[2], rows[5]}) == 1
    assert sum(by_stage["dedup_images"].values()) == 1
    assert not any("yellow" in t for _, t in pairs)
    exported = shards.read_table(str(run / "export" / "parquet"))
    assert sorted(exported["uid"].to_pylist()) == sorted(kept["uid"].to_pylist())
    captions = tars.read_images(kept["shard"].to_pylist(), kept["key"].to_pylist(), ext="txt")
    assert sorted(c.decode() for c in captions) == sorted(kept["text"].to_pylist())
