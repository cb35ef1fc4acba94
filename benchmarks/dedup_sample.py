"""Issue 14's bar on the sample pool, and the measurement behind dedup_text's cluster cap.

    CURATE_DATA=... nice -n 10 .venv/bin/python benchmarks/dedup_sample.py \
        [--size 3000 --seed 0 --port 18765] [--out benchmarks/results/dedup_sample_<date>.json]

1. The bar: builds the sample pool (``curate sample``; a port of its own so it can run beside
   a demo on the default port), serves it on 127.0.0.1, runs the demo pipeline
   (pipelines/demo.yaml: ingest, filter, dedup_text, balance, download, dedup_images,
   decontaminate) and the same without balance, and scores both against the manifest as
   ``curate report --manifest`` does.
   Goal: clean pairs removed by any dedup stage <= 2% of clean pairs; same-image duplicates
   (exact, re-served, re-posted with an edited caption) removed >= 95%.
2. The cap: caption clusters (the stage's LSH + content-word rule + connected components,
   as pure functions) of the sample builder's rows before any stage, at several pool sizes
   (no images needed): how large do clusters of legitimate captions get, and how does that
   grow with the pool?
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from curate import config as cfg  # noqa: E402
from curate import pipeline  # noqa: E402
from curate.io import shards  # noqa: E402
from curate.ops import textdup  # noqa: E402
from curate.ops.components import union_find  # noqa: E402
from curate.report.score import markdown, score  # noqa: E402


def caption_clusters(texts: list[str], c: cfg.DedupTextConfig) -> dict[int, list[int]]:
    """{root index: member indices} of clusters with 2+ members, as the stage finds them."""
    label = union_find(textdup.lsh_edges(texts, c))
    out: dict[int, list[int]] = {}
    for node, root in label.items():
        out.setdefault(int(root), []).append(int(node))
    return out


def cluster_sizes(sizes: list[int], seed: int) -> dict:
    from curate.sample import build

    c = cfg.DedupTextConfig()
    result = {}
    for size in sizes:
        t0 = time.monotonic()
        rows = [r for r in build._assemble(size, seed) if r.text]
        texts = [r.text for r in rows]
        clusters = caption_clusters(texts, c)
        by_size = sorted(clusters.values(), key=len, reverse=True)
        hist = Counter(len(m) for m in by_size)
        result[str(size)] = {
            "rows_with_text": len(texts),
            "clusters_2plus": len(by_size),
            "rows_in_clusters_2plus": sum(len(m) for m in by_size),
            "largest": [len(m) for m in by_size[:10]],
            "largest_examples": [sorted({texts[i] for i in m})[:4] for m in by_size[:3]],
            "size_histogram": {str(k): v for k, v in sorted(hist.items())},
            "seconds": round(time.monotonic() - t0, 1),
        }
        print(f"pool {size}: largest caption clusters {result[str(size)]['largest']}", flush=True)
    return result


def bar(sample: Path, size: int, seed: int, port: int, output: Path, beam_args: list[str],
        reuse: bool = False, without: tuple[str, ...] = ()) -> dict:
    from curate.sample import SampleServer, build_sample

    if not (sample / "manifest.json").exists():
        print(f"building a {size}-pair sample pool in {sample} (port {port}) ...", flush=True)
        build_sample(sample, size=size, seed=seed, port=port)
    config = cfg.load(str(HERE.parent / "pipelines" / "demo.yaml"))
    config = dataclasses.replace(config, input=str(sample / "pool.parquet"), output=str(output),
                                 queries=str(HERE.parent / "queries" / "sample"),
                                 stages={k: v for k, v in config.stages.items() if k not in without})
    t0 = time.monotonic()
    if reuse and (output / "stats.json").exists():
        stats = shards.read_json(str(output / "stats.json"))
    else:
        server = SampleServer(sample, port=port)
        server.start()
        try:
            stats = pipeline.run(config, beam_args)
        finally:
            server.stop()
    manifest = shards.read_table(str(sample / "manifest.parquet"))
    removed = shards.read_table(str(output / "removed"), columns=["source_row", "stage", "reason"])
    scored = score(manifest, removed, stats["kept"])
    (output / "report.md").write_text(markdown(stats, scored))
    run_config = (output / "config.yaml").read_text()
    return {"seconds": round(time.monotonic() - t0, 1), "run_config": run_config, "stats": stats, "scored": scored}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--port", type=int, default=18765)
    p.add_argument("--work", default="out/dedup_sample")
    p.add_argument("--cluster-sizes", type=int, nargs="*", default=[3000, 10000, 20000])
    p.add_argument("--skip-bar", action="store_true")
    p.add_argument("--reuse-run", action="store_true", help="score <work>/run again without rerunning it")
    p.add_argument("--out", default=str(HERE / "results" / f"dedup_sample_{dt.date.today()}.json"))
    args, beam_args = p.parse_known_args(argv)
    work = Path(args.work)
    doc = {"size": args.size, "seed": args.seed, "dedup_text": dataclasses.asdict(cfg.DedupTextConfig()),
           "dedup_images": dataclasses.asdict(cfg.DedupImagesConfig())}
    if not args.skip_bar:
        # The demo pipeline, and the same without balancing (which removes about half of
        # every kind of row at random, flattering every other stage's count of clean losses).
        for name, without in (("bar", ()), ("bar_without_balance", ("balance",))):
            doc[name] = bar(work / f"sample_{args.size}_{args.seed}", args.size, args.seed, args.port,
                            work / ("run" if not without else "run_without_balance"), beam_args,
                            args.reuse_run, without)
            d = doc[name]["scored"]["dedup"]
            print(name, json.dumps(d, indent=1))
            print("clean removed by stage:", doc[name]["scored"]["clean_rows_removed_by_stage"])
    if args.cluster_sizes:
        doc["caption_clusters"] = cluster_sizes(args.cluster_sizes, args.seed)
    elif Path(args.out).exists():  # keep an earlier measurement of the same file
        doc["caption_clusters"] = json.loads(Path(args.out).read_text()).get("caption_clusters")
    Path(args.out).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
