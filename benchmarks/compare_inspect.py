"""Look inside a sample comparison: what the curated and random sets hold, and where the
trained models' zero-shot accuracy comes from.

    .venv/bin/python benchmarks/compare_inspect.py composition --sample data/sample \\
        --curated out/compare_sample/curated --pool out/compare_sample/pool [--seed 0]
    .venv/bin/python benchmarks/compare_inspect.py per-class --model curate-micro-rn \\
        out/compare_sample/compare/runs/*/model.pt [--limit 10000]
    .venv/bin/python benchmarks/compare_inspect.py probe --model curate-micro-rn \\
        out/compare_sample/compare/runs/*/model.pt [--train 5000]

`composition` joins the sets with the sample's manifest on uid and prints, per set, rows by
kind and, for Fashion-MNIST pairs, by injected defect and by label (the random subset is the
one `curate compare` draws for --seed). `per-class` prints each model's zero-shot top-1 on
Fashion-MNIST's test split, its recall per class and how many images it assigns to each class.
`probe` prints each model's zero-shot top-1 next to a linear probe's (logistic regression on
its image embeddings of --train class-balanced training images, scored on the whole test
split), then mean ± std per run-folder prefix (curated, random, pool): whether the seed
spread lives in the image tower or in grounding the class names.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def composition(args) -> None:
    from collections import Counter

    from curate.io import shards
    from curate.validate.compare import downloaded, random_subset

    manifest = shards.read_table(os.path.join(args.sample, "manifest.parquet")).to_pylist()
    by_uid: dict[str, dict] = {}
    for r in manifest:  # an exact_duplicate row shares its uid with the earlier row ingest keeps
        if r["uid"] is not None:
            by_uid.setdefault(r["uid"], r)
    curated = downloaded(shards.read_table(shards.join(args.curated, "kept", "*.parquet")))
    pool = downloaded(shards.read_table(shards.join(args.pool, "kept", "*.parquet")))
    sets = {"curated": curated, f"random (seed {args.seed})": random_subset(pool, curated.num_rows, args.seed), "pool": pool}
    if args.before:  # the curated set before its last stage: what that stage kept and removed
        removed = shards.read_table(shards.join(args.curated, "removed", "*.parquet"))
        gone = [u for u, s in zip(removed["uid"].to_pylist(), removed["stage"].to_pylist(), strict=True) if s == args.before]
        sets = {f"curated before {args.before}": curated["uid"].to_pylist() + gone, **sets}
    for name, table in sets.items():
        uids = table if isinstance(table, list) else table["uid"].to_pylist()
        rows = [by_uid[u] for u in uids]
        fashion = [r for r in rows if r["kind"] == "fashion"]
        labels = Counter(r["label"] for r in fashion)
        print(f"{name}: {len(rows)} pairs; by kind {dict(Counter(r['kind'] for r in rows).most_common())}")
        print(f"  all pairs by defect {dict(Counter(r['defect'] for r in rows).most_common())}")
        print(f"  fashion pairs by defect {dict(Counter(r['defect'] for r in fashion).most_common())}")
        print(f"  fashion pairs by label {[labels.get(i, 0) for i in range(10)]}")


def per_class(args) -> None:
    import numpy as np

    from curate.validate import evaluate as ev
    from curate.validate import models

    dataset, templates = ev.load_dataset("fashion-mnist", args.limit)
    print("classes:", ", ".join(dataset.classnames))
    for path in args.checkpoints:
        model, _, preprocess, tokenizer = models.create(args.model, path)
        model.eval()
        weights = ev.classifier(model, tokenizer, dataset.classnames, templates)
        pred = (ev.encode_images(model, preprocess, dataset.images) @ weights.T).argmax(1)
        recall = [float((pred[dataset.labels == c] == c).mean()) for c in range(len(dataset.classnames))]
        print(f"{path}: top-1 {float((pred == dataset.labels).mean()):.3f}; recall per class "
              f"{' '.join(f'{r:.2f}' for r in recall)}; assigned {np.bincount(pred, minlength=len(recall)).tolist()}")


def probe(args) -> None:
    import re
    from collections import defaultdict

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from curate.validate import evaluate as ev
    from curate.validate import models

    test, templates = ev.load_dataset("fashion-mnist", None)
    train, _ = ev.load_dataset("fashion-mnist-train", args.train)
    groups = defaultdict(lambda: defaultdict(list))
    for path in args.checkpoints:
        model, _, preprocess, tokenizer = models.create(args.model, path)
        model.eval()
        x_test = ev.encode_images(model, preprocess, test.images)
        zero_shot = float(((x_test @ ev.classifier(model, tokenizer, test.classnames, templates).T).argmax(1) == test.labels).mean())
        clf = LogisticRegression(max_iter=2000, C=10.0).fit(ev.encode_images(model, preprocess, train.images), train.labels)
        linear = float((clf.predict(x_test) == test.labels).mean())
        arm = re.sub(r"-seed\d+$", "", os.path.basename(os.path.dirname(path)))
        groups[arm]["zero-shot"].append(zero_shot)
        groups[arm]["linear probe"].append(linear)
        print(f"{path}: zero-shot {100 * zero_shot:.1f}, linear probe {100 * linear:.1f}", flush=True)
    for arm, metrics in groups.items():
        print(arm + ": " + "; ".join(f"{m} {100 * np.mean(v):.1f} ± {100 * np.std(v, ddof=1) if len(v) > 1 else 0:.1f}"
                                     for m, v in metrics.items()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("composition")
    c.add_argument("--sample", required=True)
    c.add_argument("--curated", required=True)
    c.add_argument("--before", default=None, help="also the curated set before this stage (its kept + its removed rows)")
    c.add_argument("--pool", required=True)
    c.add_argument("--seed", type=int, default=0)
    k = sub.add_parser("per-class")
    k.add_argument("--model", default="curate-micro-rn")
    k.add_argument("--limit", type=int, default=10000)
    k.add_argument("checkpoints", nargs="+")
    b = sub.add_parser("probe")
    b.add_argument("--model", default="curate-micro-rn")
    b.add_argument("--train", type=int, default=5000, help="class-balanced Fashion-MNIST training images for the probe")
    b.add_argument("checkpoints", nargs="+")
    args = p.parse_args(argv)
    {"composition": composition, "per-class": per_class, "probe": probe}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
