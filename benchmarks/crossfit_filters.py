"""Does cross-fitting matter? Filters bootstrapped from the pool, scored against the sample's
ground truth: how well each ranks the injected mismatched captions last, and what the top
70% (compare_sample's CapFilt rule) keeps.

    .venv/bin/python benchmarks/crossfit_filters.py --run out/compare_sample/text_image \\
        --sample data/sample --folds 1 2 5

For each K in --folds, `curate train-filter` trains K filters on the run's pairs (K=1: one
filter that scores the very pairs it learned from; K>1: each pair scored by the filter that
never saw it), with compare_sample's recipe (curate-micro-rn from scratch, batch 64, lr 1e-3,
20 passes, weight average 0.995). Prints, per K: ROC AUC of "mismatched caption" against
the CLIP score (1.0: every mismatched caption below every other pair), how many mismatched
captions the top 70% keeps, its clean Fashion-MNIST pairs, and the training time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def auc(negative_scores, positive_scores) -> float:
    """P(a positive scores above a negative), ties counting half (Mann-Whitney U / n1 n2)."""
    import numpy as np

    neg, pos = np.asarray(negative_scores)[:, None], np.asarray(positive_scores)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run folder whose kept pairs are filtered (e.g. compare_sample's text_image)")
    p.add_argument("--sample", default="data/sample", help="the sample pool folder (manifest.parquet)")
    p.add_argument("--folds", type=int, nargs="+", default=[1, 2, 5])
    p.add_argument("--out", default="out/crossfit_filters")
    p.add_argument("--keep", type=float, default=70.0)
    args = p.parse_args(argv)

    import numpy as np

    from curate.io import shards
    from curate.models.capfilt import CapFiltScorer
    from curate.validate.compare import downloaded
    from curate.validate.crossfit import FilterTrainConfig, train_filters

    table = downloaded(shards.read_table(shards.join(args.run, "kept", "*.parquet")))
    truth = {}
    for r in shards.read_table(os.path.join(args.sample, "manifest.parquet")).to_pylist():
        if r["uid"] is not None:
            truth.setdefault(r["uid"], r)
    rows = [truth[u] for u in table["uid"].to_pylist()]
    mismatched = np.array([r["defect"] == "mismatched_caption" for r in rows])
    clean_fashion = np.array([r["kind"] == "fashion" and r["defect"] in ("none", "redirect") for r in rows])
    print(f"{table.num_rows} pairs, {mismatched.sum()} mismatched captions, {clean_fashion.sum()} clean fashion pairs")
    print("| folds | AUC mismatched | mismatched kept in top 70% | clean fashion kept | train s |")
    print("|---|---|---|---|---|")
    for k in args.folds:
        t = time.perf_counter()
        out = os.path.join(args.out, f"k{k}")
        train_filters(FilterTrainConfig(
            input=args.run, output=out, folds=k, model="curate-micro-rn", batch_size=64, epochs=20.0,
            lr=1e-3, ema_decay=0.995, freeze_token_embedding=True, device="cpu",
        ), log=lambda s: None)
        seconds = time.perf_counter() - t
        handler = CapFiltScorer("", os.path.join(out, "filters.json"), device="cpu", batch_size=256)
        scored = handler.score(table, handler.load_model())
        assert len(scored.ok) == table.num_rows, "every pair of a downloaded run decodes"
        s = np.asarray(scored.clip_score)
        kept = s >= np.percentile(s, 100 - args.keep)
        print(f"| {k} | {auc(s[mismatched], s[~mismatched]):.3f} | {int((kept & mismatched).sum())} of {int(mismatched.sum())} "
              f"| {int((kept & clean_fashion).sum())} of {int(clean_fashion.sum())} | {seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
