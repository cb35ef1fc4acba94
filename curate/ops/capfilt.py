"""CapFilt (stage ``capfilt``): seeds for caption sampling, attaching scores to batches, and
the threshold rule. Reasons: ``decode_error``, ``low_clip_score``.

Score, then decide: the model step writes ``clip_score`` (cosine of the normalised image and
web-caption embeddings of the filter model), ``synthetic_caption`` (the captioner's nucleus
sample) and ``synthetic_score`` (the same cosine for the synthetic caption); ``decide`` then
applies one threshold to both scores:

- kept when ``clip_score >= threshold`` (the web caption passes), or when the synthetic
  caption passes (``synthetic_score >= threshold``): such a pair keeps its web ``text`` and
  carries its ``synthetic_caption``, which export may use in its place (BLIP's CapFilt keeps
  the image with the synthetic caption);
- removed (``low_clip_score``) only when the web caption fails and the synthetic caption
  fails too, or no captioner ran.

The threshold is absolute, or the (100 - keep_top_percent)-th percentile of ``clip_score``
over the whole pool (DataComp's CLIP-score filter keeps the top 30%), computed exactly from
two global histograms of the scores' float32 bits (``percentile_plan``,
``threshold_from_counts``): the same value on any runner and batching. Scores are float32
values compared as such (``decide``): a pair whose score equals the threshold is kept.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import schema

STAGE = "capfilt"


def _uid_hash(uid: str, purpose: str, seed: int) -> int:
    """64 bits of blake2b over (uid, purpose, seed): per-pair draws that reruns, retries,
    batchings and runners all agree on."""
    d = hashlib.blake2b(f"{uid}\x00{purpose}\x00{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(d, "little")


def caption_seeds(uids: list[str], seed: int) -> list[int]:
    """One sampling seed per pair from (uid, stage, seed): reruns, retries, batchings and
    runners draw the same caption for the same pair."""
    return [_uid_hash(uid, STAGE, seed) & (2**63 - 1) for uid in uids]


def fold_of(uids: list[str], folds: int, seed: int = 0) -> np.ndarray:
    """Each pair's fold (0 .. folds-1) from (uid, seed) alone, for cross-fitted filters:
    the filter of fold k is trained on every fold but k and scores only fold k, so no pair
    is scored by a model that saw it (a model scores the pairs it was trained on too well,
    mismatched captions included). Stable across batchings, reruns and runners."""
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    return np.array([_uid_hash(uid, f"{STAGE}-fold", seed) % folds for uid in uids], np.int64)


def clean_caption(decoded: str) -> str:
    """The text of a decoded token sequence: up to the first end token, without the start."""
    text = decoded.split("<end_of_text>", 1)[0].replace("<start_of_text>", "")
    return " ".join(text.split())


def attach(
    table: pa.Table,
    ok: list[int],
    clip_score: np.ndarray,
    captions: list[str] | None,
    synthetic_score: np.ndarray | None,
    errors: list[tuple[int, str]],
) -> tuple[pa.Table, pa.Table]:
    """(rows that decoded, with the score columns; removed ``decode_error`` records)."""
    kept = table.take(pa.array(ok, pa.int64()))
    n = kept.num_rows
    columns = {
        "clip_score": pa.array(np.asarray(clip_score, np.float32).reshape(n)),
        "synthetic_caption": pa.array(captions if captions is not None else [None] * n, pa.string()),
        "synthetic_score": (
            pa.array(np.asarray(synthetic_score, np.float32).reshape(n))
            if synthetic_score is not None
            else pa.nulls(n, pa.float32())
        ),
    }
    for name, values in columns.items():  # replaced where a rerun's input carries them
        kept = schema.with_column(kept, name, values)
    bad = table.take(pa.array([i for i, _ in errors], pa.int64()))
    return kept, schema.removed(bad, STAGE, "decode_error", [e for _, e in errors])


# The exact percentile: ``clip_score`` is float32, so a value is one of 2**32 bit patterns.
# Mapped to uint32 keys whose order is the floats' order, a histogram of the top 16 bits
# (pass 1) finds the bucket holding each rank needed, and a histogram of the low 16 bits of
# the values in those buckets (pass 2) finds the value. Histograms are sums of counts, the
# same whatever the order or grouping of their inputs, so unlike a quantile sketch (Beam's
# ApproximateQuantiles compacts buffers whose contents depend on bundles: approximate and
# runner-dependent past ~15K values) the threshold is exact and runner-independent.
HALF = 1 << 16


def score_keys(table: pa.Table) -> np.ndarray:
    """uint32 keys of the batch's non-null ``clip_score`` values, ordered as the floats
    (negative floats: all bits flipped; others: sign bit set); -0.0 is counted as 0.0."""
    v = pc.drop_null(table["clip_score"]).to_numpy(zero_copy_only=False).astype(np.float32)
    v = np.where(v == 0, np.float32(0), v)
    bits = v.view(np.uint32)
    return np.where(bits >> 31 == 1, ~bits, bits | np.uint32(1 << 31)).astype(np.uint32)


def _key_value(key: int) -> float:
    bits = np.uint32(key ^ (1 << 31)) if key >> 31 else np.uint32(~np.uint32(key))
    return float(np.array([bits], np.uint32).view(np.float32)[0])


def high_counts(keys: np.ndarray) -> np.ndarray:
    """Pass 1: counts per top-16-bit bucket (int64, 65536)."""
    return np.bincount(keys >> 16, minlength=HALF).astype(np.int64)


@dataclass(frozen=True)
class PercentilePlan:
    """What pass 2 needs: pool size, the two ranks (0-based) and the interpolation weight,
    and for each rank its top-16-bit bucket and the count of keys in lower buckets."""

    n: int
    ranks: tuple[int, int]
    frac: float
    buckets: tuple[int, int]
    below: tuple[int, int]


def percentile_plan(counts, keep_top_percent: float) -> PercentilePlan | None:
    """From pass 1's global counts (None or 0 for an empty pool: no plan)."""
    counts = np.asarray(counts if counts is not None and not np.isscalar(counts) else np.zeros(HALF, np.int64))
    n = int(counts.sum())
    if n == 0:
        return None
    pos = (1.0 - keep_top_percent / 100.0) * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    cum = np.cumsum(counts)
    buckets = tuple(int(np.searchsorted(cum, r, side="right")) for r in (lo, hi))
    below = tuple(int(cum[b] - counts[b]) for b in buckets)
    return PercentilePlan(n, (lo, hi), pos - lo, buckets, below)


def low_counts(keys: np.ndarray, plan: PercentilePlan | None) -> np.ndarray:
    """Pass 2: counts per low 16 bits of the keys in each of the plan's two buckets (2, 65536)."""
    out = np.zeros((2, HALF), np.int64)
    if plan is not None:
        for i, bucket in enumerate(plan.buckets):
            out[i] = np.bincount(keys[(keys >> 16) == bucket] & (HALF - 1), minlength=HALF)
    return out


def threshold_from_counts(plan: PercentilePlan | None, low) -> float:
    """The (100 - keep_top_percent)-th percentile of the pool's clip_score: numpy's
    ``percentile`` (linear) of all values (to float64 rounding in the interpolation); -inf
    for an empty pool."""
    if plan is None:
        return -math.inf
    values = []
    for i in range(2):
        cum = np.cumsum(np.asarray(low)[i])
        low_bits = int(np.searchsorted(cum, plan.ranks[i] - plan.below[i], side="right"))
        values.append(_key_value((plan.buckets[i] << 16) | low_bits))
    a, b, t = values[0], values[1], plan.frac
    return float(b - (b - a) * (1.0 - t) if t >= 0.5 else a + (b - a) * t)  # numpy's _lerp


def _fmt(x) -> str:
    return "none" if x is None else f"{x:.4f}"


def decide(table: pa.Table, threshold: float) -> tuple[pa.Table, pa.Table]:
    """(kept, removed ``low_clip_score``): removed only when neither caption reaches the
    threshold (a missing score fails). The detail names both scores and the threshold."""
    if table.num_rows == 0:
        return table, schema.removed(table, STAGE, "low_clip_score")
    if "clip_score" not in table.column_names:
        raise ValueError("capfilt: batch has no clip_score column (run with score on)")
    web_ok = pc.fill_null(pc.greater_equal(table["clip_score"], threshold), False)
    if "synthetic_score" in table.column_names:
        syn_ok = pc.fill_null(pc.greater_equal(table["synthetic_score"], threshold), False)
        keep = pc.or_(web_ok, syn_ok)
    else:
        keep = web_ok
    kept, failed = schema.split_by_mask(table, keep)
    web = failed["clip_score"].to_pylist()
    syn = (
        failed["synthetic_score"].to_pylist()
        if "synthetic_score" in failed.column_names
        else [None] * failed.num_rows
    )
    details = [
        f"clip_score={_fmt(w)} synthetic_score={_fmt(s)} threshold={_fmt(threshold)}"
        for w, s in zip(web, syn, strict=True)
    ]
    return kept, schema.removed(failed, STAGE, "low_clip_score", details)
