"""Duplicates in real sources, found by the dedup_images stage; precision and recall printed
(run with -s). Ground truth: OpenClipArt files with the same md5 (the same clip filed under
several categories) and the Google and Twitter renders of the same emoji (same concept,
different art: pHash is not expected to find most of them; SemDeDup is the tool for those)."""

import hashlib
import itertools
from collections import defaultdict

import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate import config as cfg
from curate import paths, pipeline
from curate.io.shards import read_table
from tests.imagepool import emoji_images, to_jpeg, write_pool


def _pairs(groups):
    return {tuple(sorted(p)) for g in groups for p in itertools.combinations(g, 2)}


def _thumb(path, size=256):
    img = Image.open(path)
    img.thumbnail((size, size))
    return to_jpeg(img)


@pytest.mark.slow
def test_duplicates_in_openclipart_and_emoji(tmp_path, beam_args):
    clipart = sorted(p for p in paths.debian_files("openclipart-png") if p.endswith(".png"))[:400]
    google = {f.name: f for f in emoji_images("google", 150)}
    twitter = {f.name: f for f in emoji_images("twitter") if f.name in google}
    items, truth = [], defaultdict(list)
    for p in clipart:
        name = "clipart:" + p
        items.append((name, _thumb(p)))
        with open(p, "rb") as f:
            truth["clipart:" + hashlib.md5(f.read()).hexdigest()].append(name)
    for vendor, files in (("google", google), ("twitter", twitter)):
        for n, f in files.items():
            items.append((f"{vendor}:{n}", to_jpeg(Image.open(f))))
            truth["emoji:" + n].append(f"{vendor}:{n}")
    table = write_pool(tmp_path / "tars", items, per_tar=100)
    pq.write_table(table, tmp_path / "in.parquet")
    pipeline.run(
        cfg.PipelineConfig(input=str(tmp_path / "in.parquet"), output=str(tmp_path / "out"),
                           stages={"dedup_images": cfg.DedupImagesConfig(max_distance=4)}),
        beam_args,
    )
    kept = read_table(str(tmp_path / "out" / "kept" / "*.parquet"))
    removed = read_table(str(tmp_path / "out" / "removed" / "*.parquet"))
    uid_name = dict(zip(table["uid"].to_pylist(), table["text"].to_pylist(), strict=True))
    cluster = {uid_name[u]: c for u, c in zip(kept["uid"].to_pylist(), kept["image_cluster"].to_pylist(), strict=True)}
    kept_cluster = dict(zip(kept["uid"].to_pylist(), kept["image_cluster"].to_pylist(), strict=True))
    for u, d in zip(removed["uid"].to_pylist(), removed["detail"].to_pylist(), strict=True):
        # "same pixels as <uid>; ... caption" or "near <uid> (phash hamming k); ... caption":
        # the kept pair it duplicates, whose cluster it joins
        match = d.split(";")[0].split()[-1] if d.startswith("same pixels") else d.split()[1]
        cluster[uid_name[u]] = kept_cluster.get(match, match)
    assert len(cluster) == len(items)
    found = defaultdict(list)
    for name, c in cluster.items():
        found[c].append(name)
    results = {}
    for source in ("clipart", "emoji"):
        t = _pairs(g for k, g in truth.items() if k.startswith(source))
        f = _pairs([n for n in g if n.startswith(source) or n.split(":")[0] in ("google", "twitter") and source == "emoji"] for g in found.values())
        tp = len(t & f)
        results[source] = {"true_pairs": len(t), "found_pairs": len(f), "precision": tp / len(f) if f else 1.0, "recall": tp / len(t) if t else 1.0}
    print("\ndedup_images precision/recall (pairs):", results)
    assert results["clipart"]["true_pairs"] > 30
    assert results["clipart"]["recall"] == 1.0  # every md5 duplicate found
    bad = sorted(p for p in _pairs(found.values()) if p[0].startswith("clipart") and p not in _pairs(truth.values()))
    print("clipart pairs not md5-equal:", bad[:12])
    # md5 under-counts: the extra pairs seen are re-saved copies and colour/bw variants of
    # one clip (flamand / flamand_bw, emperor_penguin / ralf_ark...), i.e. real near-duplicates
    assert results["clipart"]["precision"] >= 0.7
