"""The "done when" benchmark of validation: does curation beat a random subset of the same size?

    .venv/bin/python benchmarks/compare_sample.py            # ~15 min on 2 cores (budget 30)

1. Builds the sample pool (data/sample, `curate sample`) if it is not there, and serves it on
   127.0.0.1 (nothing leaves loopback).
2. The downloaded pool: `ingest` + `download` over the pool -> out/compare_sample/pool.
3. The curated set, in two passes, as BLIP's bootstrapping runs:
   a. one `curate run` of the stages that need no model, in pipeline order with their
      default settings (ingest, filter, dedup_text, download, dedup_images) over the same
      pool -> out/compare_sample/text_image. `--curation` changes the list: `balance`
      (MetaCLIP) is left out by default because on a pool of thousands it removes the head
      concepts - the fashion pairs - that Fashion-MNIST measures (README has the run);
   b. `curate train-filter`: two CLIP filters trained from scratch on that set's own pairs,
      cross-fitted (filter k learns from the other fold and scores fold k), with the same
      recipe as the comparison's models -> out/compare_sample/filter;
   c. stage `capfilt` with those filters (no captioner: a CoCa cannot be pretrained here),
      keeping the top 70% by CLIP score -> out/compare_sample/curated. 70% of what the
      earlier stages left is about a third of the downloaded pool, near DataComp's best
      CLIP-score rule (top 30% of its raw pool). `--capfilt-keep 0` skips 3b and 3c.
   d. with `--retrieve-seeds N`: stage `retrieve` after CapFilt (DINOv2's retrieval from a
      curated seed set; DataComp's image-based filter is the same idea). The seeds are N
      Fashion-MNIST *training* images the pool does not use (the evaluation is the test
      split), 4 neighbours each, embedded by the first filter's image tower. This targets
      the evaluated task, as those methods target ImageNet: a separate configuration,
      reported next to the task-agnostic one.
   e. with `--balance-clusters`: stage `balance_clusters` last (Vo et al. 2024's
      hierarchical k-means balancing: task-agnostic, no seed set), at its default settings,
      on embeddings from the same first filter's image tower.
   Pretrained-model stages (embed, semdedup, decontaminate) need weights that cannot be
   fetched here; they are left out.
4. `curate export` of the curated set (tars, Parquet, uids.npy, card).
5. `curate compare`: one recipe for every arm (curate-micro-rn from scratch, fixed random
   token embedding, batch 64, lr 1e-3, weight average 0.995) and the same 25,600 samples
   seen (400 steps; DataComp fixes samples seen per scale whatever the subset's size) on
   curated / random same-size subset (redrawn per seed) / whole pool, 5 seeds; zero-shot
   Fashion-MNIST (all 10,000 test images) and emoji retrieval (Google renders vs CLDR
   names). Prints the table and the curated-vs-random gap in seed standard deviations;
   writes results.json, table.md, plot.png.

The sample pool's defect rates are the sample builder's (documented there); nothing here
tunes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sample", default=None, help="sample pool folder (default: $CURATE_DATA/sample)")
    p.add_argument("--size", type=int, default=3000, help="pool size when building it")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the sample pool when building it (another seed: another pool)")
    p.add_argument("--out", default="out/compare_sample")
    p.add_argument("--queries", default="queries/sample")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--arms", nargs="+", default=["curated", "random", "pool"])
    p.add_argument("--samples-seen", type=int, default=25600, help="training samples per run, every arm (0: --epochs x curated size)")
    p.add_argument("--epochs", type=float, default=20.0, help="passes over the curated set when --samples-seen is 0")
    p.add_argument("--capfilt-keep", type=float, default=70.0, help="bootstrapped CapFilt: percent of the pre-capfilt set kept by cross-fitted CLIP score (0: no capfilt)")
    p.add_argument("--filter-folds", type=int, default=2, help="cross-fitting folds of the bootstrapped filters")
    p.add_argument("--retrieve-seeds", type=int, default=0, help="> 0: after CapFilt, stage retrieve with this many Fashion-MNIST training images the pool does not use as seeds (DINOv2 / DataComp image-based); 0: no retrieval")
    p.add_argument("--retrieve-neighbours", type=int, default=4, help="pool images kept per seed (DINOv2: 4)")
    p.add_argument("--balance-clusters", action="store_true", help="after CapFilt (and retrieval), stage balance_clusters at its defaults on the first filter's image embeddings")
    p.add_argument("--digits-share", type=float, default=0.0, help="when building the sample pool: share of handwritten digit scans (0: none, the earlier pools)")
    p.add_argument("--datasets", nargs="+", default=["fashion-mnist"], help="zero-shot sets (fashion-mnist, mnist)")
    p.add_argument("--model", default="curate-micro-rn", help="open_clip model trained from scratch for every arm")
    p.add_argument("--ema-decay", type=float, default=0.995, help="evaluate a moving average of the weights (0: last weights)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-limit", type=int, default=10000, help="Fashion-MNIST test images (10000: all)")
    p.add_argument("--retrieval-limit", type=int, default=500)
    p.add_argument("--image-size", type=int, default=64, help="download resize target")
    p.add_argument("--curation", default="filter,dedup_text,dedup_images",
                   help="curation stages of the curated run (ingest and download are always in it)")
    p.add_argument("--pool-dir", default=None, help="reuse this downloaded-pool run folder (default: <out>/pool)")
    p.add_argument("--reuse-pool", action="store_true", help="reuse out/pool from an earlier run")
    p.add_argument("--skip-pipeline", action="store_true", help="reuse pool/ and curated/ from an earlier run")
    p.add_argument("--results", default=None, help="also write the summary JSON here")
    args = p.parse_args(argv)

    from pathlib import Path

    from curate import cli, paths, pipeline
    from curate import config as cfg
    from curate.runner import in_process_args
    from curate.validate.bootstrap import bootstrapped_stages, write_seed_images
    from curate.validate.compare import CompareConfig, gap_words, run_compare
    from curate.validate.crossfit import FilterTrainConfig, train_filters

    beam_args = in_process_args()
    sample = Path(args.sample) if args.sample else paths.data_dir() / "sample"
    out = Path(args.out)
    pool_dir = Path(args.pool_dir) if args.pool_dir else out / "pool"
    timings = {}
    t0 = time.perf_counter()
    if not args.skip_pipeline:
        from curate.sample import SampleServer, build_sample

        if not (sample / "pool.parquet").exists():
            print(f"building a {args.size}-pair sample pool in {sample}", flush=True)
            build_sample(sample, size=args.size, seed=args.sample_seed, digits_share=args.digits_share)
        timings["sample_s"] = time.perf_counter() - t0
        download = {"allow_loopback": True, "image_size": args.image_size}
        with SampleServer(sample) as server:
            print(f"serving {server.base_url}", flush=True)
            t = time.perf_counter()
            if args.reuse_pool and (pool_dir / "stats.json").exists():
                pool_stats = json.loads((pool_dir / "stats.json").read_text())
            else:
                pool_stats = pipeline.run(
                    cfg.from_dict({
                        "input": str(sample / "pool.parquet"),
                        "output": str(pool_dir),
                        "stages": {"ingest": {}, "download": download},
                    }),
                    beam_args,
                )
            timings["pool_pipeline_s"] = time.perf_counter() - t
            t = time.perf_counter()
            first_pass = out / ("text_image" if args.capfilt_keep > 0 else "curated")
            curated_stats = [pipeline.run(
                cfg.from_dict({
                    "input": str(sample / "pool.parquet"),
                    "output": str(first_pass),
                    "queries": args.queries,
                    "stages": {"ingest": {}, "download": download,
                               **{name: {} for name in args.curation.split(",") if name}},
                }),
                beam_args,
            )]
            timings["curated_pipeline_s"] = time.perf_counter() - t
        if args.capfilt_keep > 0:
            t = time.perf_counter()
            train_filters(FilterTrainConfig(
                input=str(first_pass), output=str(out / "filter"), folds=args.filter_folds, model=args.model,
                batch_size=args.batch_size, epochs=args.epochs, lr=args.lr, ema_decay=args.ema_decay,
                freeze_token_embedding=True, device="cpu",
            ), log=lambda s: print(s, flush=True))
            timings["filter_train_s"] = time.perf_counter() - t
            t = time.perf_counter()
            # embeddings (if retrieving or balancing by clusters) from the first fold's filter:
            # a CLIP trained from scratch on this pool
            seeds = write_seed_images(sample, out / "seeds", args.retrieve_seeds) if args.retrieve_seeds else None
            stages = bootstrapped_stages(out / "filter", args.model, args.capfilt_keep, seeds, args.retrieve_neighbours,
                                         balance_clusters=args.balance_clusters)
            curated_stats.append(pipeline.run(
                cfg.from_dict({"input": str(first_pass / "kept"), "output": str(out / "curated"), "stages": stages}),
                beam_args,
            ))
            timings["capfilt_s"] = time.perf_counter() - t
        for stats in (pool_stats, *curated_stats):
            for s in stats["stages"]:
                print(f"{s['stage']:>14}: in {s['in']}, kept {s['kept']}, removed {s['removed_by_reason']}", flush=True)
        t = time.perf_counter()
        cli.main(["export", "--input", str(out / "curated"), "--output", str(out / "export"), *beam_args])
        timings["export_s"] = time.perf_counter() - t
    t = time.perf_counter()
    results = run_compare(
        CompareConfig(
            curated=str(out / "curated"), pool=str(pool_dir), output=str(out / "compare"),
            seeds=tuple(args.seeds), arms=tuple(args.arms), model=args.model, ema_decay=args.ema_decay,
            batch_size=args.batch_size, samples_seen=args.samples_seen, epochs=args.epochs, lr=args.lr,
            eval_limit=args.eval_limit, retrieval_limit=args.retrieval_limit, device="cpu",
            datasets=tuple(args.datasets),
        ),
        log=lambda s: print(s, flush=True),
    )
    timings["compare_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    print(results["table_markdown"])
    for metric, gap in sorted((m, g) for m, g in results["curated_vs_random"].items() if g):
        if gap["seed_std"] is None:
            verdict = "cannot be said to beat"
        else:
            verdict = "beats" if gap["diff"] > 2 * gap["seed_std"] else "does NOT beat"
        print(f"curated {verdict} random same-size by > 2 seed std on {metric} "
              f"({100 * gap['diff']:+.1f} points, {gap_words(gap)})")
    print(json.dumps(timings))
    if args.results:
        summary = {k: results[k] for k in ("samples_seen", "sizes", "summary", "curated_vs_random")}
        summary["timings"] = timings
        summary["command"] = "python benchmarks/compare_sample.py " + " ".join(argv or sys.argv[1:])
        os.makedirs(os.path.dirname(args.results) or ".", exist_ok=True)
        with open(args.results, "w") as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
