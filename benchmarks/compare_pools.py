"""Summarise `compare_sample.py --results` JSONs of several pools: per pool the zero-shot
Fashion-MNIST mean ± std of each arm, the curated - random gap in units of the larger std,
the same-seed differences, and over all pools the mean gap in units of the root mean square
of the arms' stds and the same-seed differences' mean, std and t statistic.

    .venv/bin/python benchmarks/compare_pools.py benchmarks/results/compare_retrieve_seed*_2026-11-29.json
"""

from __future__ import annotations

import json
import statistics
import sys

METRIC = "zeroshot/fashion-mnist/top1"


def main(argv=None) -> int:
    paths = (argv if argv is not None else sys.argv[1:])
    if not paths:
        print(__doc__)
        return 2
    gaps, stds, diffs = [], [], []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        values = {arm: [100 * v for v in doc["summary"][arm][METRIC]["values"]] for arm in doc["summary"]}
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
