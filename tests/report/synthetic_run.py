"""A synthetic run folder with every part the HTML report shows: removed pairs over many
reasons (with image duplicates, CapFilt and SemDeDup details), kept pairs with scores,
download results and a tar of large noisy images, balance.json, capfilt.json, config.yaml
and a `curate compare` output folder.

Many uids share one of a few tar members, so a run of any row count needs only a few MB of
images: what the report's size bound is tested against is how many thumbnails it shows and
how large each one is, whatever the pool size."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml
from PIL import Image

from curate import schema
from curate.io import shards

STAGES = ("ingest", "filter", "download", "dedup_images", "semdedup", "capfilt")


def _noise_jpeg(rng, side: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _uid(i: int) -> str:
    return schema.make_uid(f"http://example.com/{i}.jpg", f"caption {i}")


def write_run(root: Path, removed_rows: int, kept_rows: int, reasons_per_stage: int = 8,
              members: int = 24, side: int = 480) -> Path:
    """The run folder `root`; `members` distinct images of `side` pixels, shared by uids."""
    rng = np.random.default_rng(0)
    run = root
    (run / "images").mkdir(parents=True, exist_ok=True)
    tar_path = run / "images" / "shard0.tar"
    with tarfile.open(tar_path, "w") as tar:
        for m in range(members):
            data = _noise_jpeg(rng, side)
            info = tarfile.TarInfo(f"m{m}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    total = removed_rows + kept_rows
    uids = [_uid(i) for i in range(total)]
    reasons = [(s, f"{s}_reason_{j}") for s in STAGES for j in range(reasons_per_stage)]
    reasons[STAGES.index("dedup_images") * reasons_per_stage] = ("dedup_images", "duplicate_image_exact")
    reasons[STAGES.index("semdedup") * reasons_per_stage] = ("semdedup", "semantic_duplicate")
    reasons[STAGES.index("capfilt") * reasons_per_stage] = ("capfilt", "low_clip_score")
    rem = {"uid": [], "url": [], "text": [], "source": [], "source_row": [], "stage": [], "reason": [], "detail": []}
    by_reason: dict[tuple[str, str], int] = {}
    for i in range(removed_rows):
        stage, reason = reasons[i % len(reasons)]
        by_reason[(stage, reason)] = by_reason.get((stage, reason), 0) + 1
        partner = uids[removed_rows + (i % max(1, kept_rows))]
        detail = {
            "duplicate_image_exact": f"same pixels as {partner}; same caption",
            "semantic_duplicate": f"cosine {0.95 + (i % 50) / 1000:.4f} to {partner}",
            "low_clip_score": f"clip_score={-0.2 + (i % 30) / 100:.4f} synthetic_score=none threshold=0.1000",
        }.get(reason, f"detail {i}")
        for k, v in (("uid", uids[i]), ("url", f"http://example.com/{i}.jpg"), ("text", f"caption {i} " + "long " * (i % 90)),
                     ("source", "pool"), ("source_row", i), ("stage", stage), ("reason", reason), ("detail", detail)):
            rem[k].append(v)
    shards.write_bytes(str(run / "removed" / "part-0.parquet"),
                       shards.table_to_parquet_bytes(pa.table(rem, schema=schema.REMOVED_SCHEMA)))
    kept_uids = uids[removed_rows:]
    kept = pa.table({
        "uid": kept_uids,
        "url": [f"http://example.com/{i}.jpg" for i in range(removed_rows, total)],
        "text": [f"caption {i}" for i in range(removed_rows, total)],
        "source": ["pool"] * kept_rows,
        "key": [f"m{i % members}" for i in range(kept_rows)],
        "shard": [str(tar_path)] * kept_rows,
        "semantic_cosine": pa.array([0.5 + (i % 40) / 100 for i in range(kept_rows)], pa.float32()),
        "clip_score": pa.array([0.1 + (i % 30) / 100 for i in range(kept_rows)], pa.float32()),
        "synthetic_caption": [f"a photo of thing {i % 7}" for i in range(kept_rows)],
        "synthetic_score": pa.array([0.05 + (i % 20) / 100 for i in range(kept_rows)], pa.float32()),
    })
    shards.write_bytes(str(run / "kept" / "part-0.parquet"), shards.table_to_parquet_bytes(schema.conform(kept)))
    # download results: every pair from download on has an image (a shared member)
    downloaded = [u for u, (st, _) in zip(uids, [reasons[i % len(reasons)] for i in range(removed_rows)], strict=False)
                  if st not in ("ingest", "filter", "download")] + kept_uids
    results = pa.table({"uid": downloaded, "key": [f"m{i % members}" for i in range(len(downloaded))],
                        "shard": [str(tar_path)] * len(downloaded), "status": ["success"] * len(downloaded)})
    shards.write_bytes(str(run / "images" / "shard0.parquet"), shards.table_to_parquet_bytes(results))
    stages, n = [], total
    for s in STAGES:
        rs = {r: c for (st, r), c in by_reason.items() if st == s}
        gone = sum(rs.values())
        stages.append({"stage": s, "in": n, "kept": n - gone, "removed": gone, "removed_by_reason": dict(sorted(rs.items()))})
        n -= gone
    stats = {"input": total, "kept": kept_rows, "removed": removed_rows, "stages": stages, "bad_files": []}
    shards.write_json(str(run / "stats.json"), stats)
    shards.write_json(str(run / "capfilt.json"), {"threshold": 0.1, "keep_top_percent": 70.0,
                                                  "rule": "removed when clip_score and synthetic_score are both below threshold"})
    counts = {str(e): [int(c), int(min(c, 40))] for e, c in enumerate(sorted(rng.zipf(1.6, 300) % 5000, reverse=True)) if c}
    shards.write_json(str(run / "balance.json"), {
        "t": 40, "t_rule": "given", "pairs_in": total, "entries_matched": len(counts), "head_entries": 12,
        "matches_before": sum(v[0] for v in counts.values()), "matches_after": sum(v[1] for v in counts.values()),
        "tail_share_before": 0.2, "tail_share_after": 0.5, "counts": counts,
        "top_entries": [{"id": int(e), "entry": f"entry {e}", "before": v[0], "after": v[1]} for e, v in list(counts.items())[:5]],
    })
    (run / "config.yaml").write_text(yaml.safe_dump({"input": "pool.parquet", "output": str(run),
                                                     "stages": {"semdedup": {"eps": 0.05}}}))
    return run


def write_compare(folder: Path) -> Path:
    """A `curate compare` output folder, made by compare's own summary, gap and plot code."""
    from curate.validate.compare import gap, plot, summarise

    metrics = ("zeroshot/fashion-mnist/top1", "retrieval/emoji/image_to_text_R@5")
    runs = [{"arm": arm, "seed": seed, "metrics": {m: base + 0.01 * seed + 0.02 * j for j, m in enumerate(metrics)}}
            for arm, base in (("curated", 0.4), ("random", 0.3), ("pool", 0.35)) for seed in range(3)]
    summary = summarise(runs)
    folder.mkdir(parents=True, exist_ok=True)
    results = {"samples_seen": 25600, "sizes": {"curated": 600, "random": 600, "pool": 1700}, "runs": runs,
               "summary": summary, "curated_vs_random": {m: gap(summary, m) for m in metrics}}
    (folder / "results.json").write_text(json.dumps(results))
    plot(summary, ["curated", "random", "pool"], list(metrics), str(folder / "plot.png"))
    return folder
