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
over the whole pool (DataComp's CLIP-score filter keeps the top 30%), read off Beam's
ApproximateQuantiles by ``threshold_from_quantiles``.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import schema

STAGE = "capfilt"
# Quantiles the percentile is read from: 0.1% resolution, interpolated in between.
NUM_QUANTILES = 1001


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


def threshold_from_quantiles(quantiles: list[float], keep_top_percent: float) -> float:
    """The score at or above which the top ``keep_top_percent``% of the pool lies.

    ``quantiles``: sorted values at equally spaced ranks (min ... max), as Beam's
    ApproximateQuantiles gives them (pool values at ranks within about 1/NUM_QUANTILES of
    the true ones; repeated for a pool smaller than NUM_QUANTILES); linear interpolation
    between neighbours. Given every value of the pool, sorted, this is numpy's
    ``percentile``. An empty pool has no threshold (-inf)."""
    if not quantiles:
        return -math.inf
    q = 1.0 - keep_top_percent / 100.0
    pos = q * (len(quantiles) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(quantiles) - 1)
    frac = pos - lo
    return float(quantiles[lo] + frac * (quantiles[hi] - quantiles[lo]))


def score_values(table: pa.Table) -> list[float]:
    """The non-null ``clip_score`` values of a batch (input of the quantile combiner)."""
    return pc.drop_null(table["clip_score"]).to_numpy(zero_copy_only=False).astype(float).tolist()


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
