"""Summarise `compare_sample.py --results` JSONs of several pools: per pool the zero-shot
Fashion-MNIST mean ± std of each arm, the curated - random gap in units of the larger std,
the same-seed differences, and over all pools the mean gap in units of the root mean square
of the arms' stds and the same-seed differences' mean, std and t statistic.

    .venv/bin/python benchmarks/compare_pools.py benchmarks/results/compare_retrieve_seed*_2026-11-29.json
    .venv/bin/python benchmarks/compare_pools.py --bar benchmarks/results/compare_clusters_seed*_2026-11-30.json

`--metric M` summarises another metric; `--bar` checks issue 17's pre-registered bar per pool
(benchmarks/results/compare_clusters_preregistered_2026-11-30.md): curated - random > 2 seed
std on at least two of BAR_METRICS and >= -1 std on the third.
"""

from __future__ import annotations

import json
import statistics
import sys

METRIC = "zeroshot/fashion-mnist/top1"
BAR_METRICS = ("zeroshot/fashion-mnist/top1", "zeroshot/mnist/top1", "retrieval/emoji:google/image_to_text_R@5")


def bar(doc: dict) -> tuple[bool, list[str]]:
    """Issue 17's bar on one pool: (met, one line per metric with the gap and per-seed values)."""
    lines, in_std = [], []
    for metric in BAR_METRICS:
        cur = [100 * v for v in doc["summary"]["curated"][metric]["values"]]
        rnd = [100 * v for v in doc["summary"]["random"][metric]["values"]]
        gap = statistics.mean(cur) - statistics.mean(rnd)
        sd = max(statistics.stdev(cur), statistics.stdev(rnd))
        in_std.append(gap / sd if sd > 0 else float("inf"))
        lines.append(f"  {metric}: curated {' '.join(f'{v:.1f}' for v in cur)} | random {' '.join(f'{v:.1f}' for v in rnd)}"
                     f" | gap {gap:+.1f} = {in_std[-1]:+.2f} std")
    ranked = sorted(in_std, reverse=True)
    return ranked[1] > 2 and ranked[2] >= -1, lines


def main(argv=None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    metric = METRIC
    if "--metric" in args:
        i = args.index("--metric")
        metric = args[i + 1]
        del args[i : i + 2]
    check_bar = "--bar" in args
    paths = [a for a in args if a != "--bar"]
    if not paths:
        print(__doc__)
        return 2
    gaps, stds, diffs = [], [], []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        if check_bar:
            met, lines = bar(doc)
            print(f"{path}: sizes {doc['sizes']}; bar {'MET' if met else 'NOT met'}")
            print("\n".join(lines))
        values = {arm: [100 * v for v in doc["summary"][arm][metric]["values"]] for arm in doc["summary"]}
        cur, rnd = values["curated"], values["random"]
        gap = statistics.mean(cur) - statistics.mean(rnd)
        sd = max(statistics.stdev(cur), statistics.stdev(rnd))
        gaps.append(gap)
        stds += [statistics.stdev(cur), statistics.stdev(rnd)]
        arms = ", ".join(f"{arm} {statistics.mean(v):.1f} ± {statistics.stdev(v):.1f}" for arm, v in values.items())
        diffs += [a - b for a, b in zip(cur, rnd, strict=True)]
        paired = ", ".join(f"{a - b:+.1f}" for a, b in zip(cur, rnd, strict=True))
        print(f"{path}: sizes {doc['sizes']}; {arms}; gap {gap:+.1f} = {gap / sd:.2f} std; same-seed {paired}")
    rms = (sum(s * s for s in stds) / len(stds)) ** 0.5
    print(f"{len(paths)} pools: mean gap {statistics.mean(gaps):+.2f} points, rms arm std {rms:.2f}, "
          f"ratio {statistics.mean(gaps) / rms:.2f}")
    m, sd = statistics.mean(diffs), statistics.stdev(diffs)
    print(f"same-seed differences: {sum(d > 0 for d in diffs)} of {len(diffs)} positive, mean {m:+.2f}, "
          f"std {sd:.2f}, t = {m / (sd / len(diffs) ** 0.5):.1f} ({len(diffs) - 1} df)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
