"""Precision and recall of the near-duplicate caption rule on labelled pairs of real captions.

    .venv/bin/python benchmarks/bench_text_dup.py [--pairs benchmarks/data/text_pairs.tsv ...]
        [--out benchmarks/results/text_dup_<date>.json]

The pairs come from ``benchmarks/text_pairs.py`` (how they are made is in its docstring):
``text_pairs.tsv`` (seed 0) is the set the rule was developed on, ``text_pairs_heldout.tsv``
(seed 1, other captions and edits drawn the same way) was generated after the rule was
fixed. Three rules are scored per set and per edit kind:

- ``old``: what dedup_text did before issue 14: character 3-gram Jaccard >= 0.7.
- ``content``: ``curate.ops.textdup.near_duplicate`` alone.
- ``stage``: what ``dedup_text`` and ``dedup_images`` decide with the default
  ``DedupTextConfig``: an LSH candidate (a shared band of one of the texts' MinHash keys,
  the real signatures), Jaccard of the keys >= threshold, and the content rule. (dedup_images
  compares the captions of one image cluster directly, i.e. with ``content``.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from text_pairs import read  # noqa: E402

from curate.config import DedupTextConfig  # noqa: E402
from curate.ops import minhash, textdup  # noqa: E402


def old_rule(a: str, b: str) -> bool:
    return minhash.jaccard(set(minhash.shingles(a, 3)), set(minhash.shingles(b, 3))) >= 0.7


def stage_rule(rows: list[dict], c: DedupTextConfig) -> list[bool]:
    keys_a = [textdup.lsh_keys(r["a"]) for r in rows]
    keys_b = [textdup.lsh_keys(r["b"]) for r in rows]
    flat = [k for ks in keys_a + keys_b for k in ks]
    sig = minhash.signatures([minhash.shingles(k, c.ngram, c.unit) for k in flat], c.num_perm, c.minhash_seed)
    bands = minhash.band_keys(sig, c.bands, c.rows)
    band_of = {}
    for k, row in zip(flat, bands, strict=True):
        band_of[k] = set(row.tolist())
    out = []
    for r, ka, kb in zip(rows, keys_a, keys_b, strict=True):
        candidate = any(band_of[x] & band_of[y] for x in ka for y in kb)
        sa = textdup.key_shingles(r["a"], c.ngram, c.unit)
        sb = textdup.key_shingles(r["b"], c.ngram, c.unit)
        out.append(
            candidate
            and textdup.key_jaccard(sa, sb) >= c.threshold
            and textdup.near_duplicate(r["a"], r["b"])
        )
    return out


def score(rows: list[dict], said: list[bool]) -> dict:
    dup = [s for r, s in zip(rows, said, strict=True) if r["label"] == "dup"]
    distinct = [s for r, s in zip(rows, said, strict=True) if r["label"] == "distinct"]
    tp, fp = sum(dup), sum(distinct)
    kinds = {}
    for kind in sorted({r["kind"] for r in rows}):
        sel = [s for r, s in zip(rows, said, strict=True) if r["kind"] == kind]
        label = next(r["label"] for r in rows if r["kind"] == kind)
        kinds[kind] = {"label": label, "pairs": len(sel), "called_duplicate": sum(sel)}
    return {
        "dup_pairs": len(dup),
        "distinct_pairs": len(distinct),
        "precision": round(tp / max(1, tp + fp), 4),
        "recall": round(tp / max(1, len(dup)), 4),
        "false_positives": fp,
        "by_kind": kinds,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", nargs="+", default=[str(HERE / "data" / "text_pairs.tsv"),
                                                  str(HERE / "data" / "text_pairs_heldout.tsv")])
    p.add_argument("--out", default=str(HERE / "results" / f"text_dup_{dt.date.today()}.json"))
    args = p.parse_args(argv)
    c = DedupTextConfig()
    result = {"config": {"num_perm": c.num_perm, "bands": c.bands, "rows": c.rows, "threshold": c.threshold,
                         "ngram": c.ngram, "unit": c.unit}, "sets": {}}
    for path in args.pairs:
        rows = read(path)
        rules = {
            "old": [old_rule(r["a"], r["b"]) for r in rows],
            "content": [textdup.near_duplicate(r["a"], r["b"]) for r in rows],
            "stage": stage_rule(rows, c),
        }
        result["sets"][Path(path).name] = {name: score(rows, said) for name, said in rules.items()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for name, rules in result["sets"].items():
        print(f"\n{name}\n\n| rule | precision | recall | false positives |\n|---|---|---|---|")
        for rule, s in rules.items():
            print(f"| {rule} | {s['precision']:.3f} | {s['recall']:.3f} | {s['false_positives']} of {s['distinct_pairs']} |")
        kinds = rules["stage"]["by_kind"]
        print("\n| kind | label | pairs | called duplicate: old / content / stage |\n|---|---|---|---|")
        for kind, k in kinds.items():
            calls = " / ".join(str(rules[r]["by_kind"][kind]["called_duplicate"]) for r in ("old", "content", "stage"))
            print(f"| {kind} | {k['label']} | {k['pairs']} | {calls} |")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
