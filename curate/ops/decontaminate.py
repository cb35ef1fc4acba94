"""Decontamination (stage ``decontaminate``): pool images that are near-copies of an
evaluation image are removed, as DataComp and DINOv2 do. Reason ``eval_overlap``; the detail
says which check fired and names the eval image.

Checks, on the columns earlier stages wrote (a check whose column is absent is skipped):

- exact: ``pixel_sha256`` equals an eval image's (decoded RGB pixels + size);
- perceptual: ``phash`` within ``max_distance`` bits of an eval image's pHash;
- embedding: cosine of ``embedding`` to an eval image's embedding > ``min_cosine``
  (the eval set is embedded with the same model as the pool, rounded to float16 as the
  pool is; the cosine is exact, ``curate.ops.embed.cosines``, so a row within float error
  of min_cosine is decided the same way in any batch).

Pool images went through the download stage's resize, so exact copies are found only when
the sizes agree; the perceptual and embedding checks catch resized copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate import schema
from curate.ops import image_hash

STAGE = "decontaminate"


@dataclass
class EvalFeatures:
    names: list[str]
    shas: dict[str, int]  # pixel_sha256 -> index
    phashes: np.ndarray  # uint64 per eval image
    embeddings: np.ndarray | None  # (n, d) unit, float16 like the pool's, or None


def eval_features(items: list[tuple[str, bytes]], embed=None) -> EvalFeatures:
    """`items`: (name, bytes). `embed`: images → (n, d) unit embeddings, or None."""
    names, images = [], []
    for name, data in items:
        try:
            images.append(image_hash.decode_rgb(data))
            names.append(name)
        except image_hash.DecodeError:
            continue
    shas = {}
    for i, img in enumerate(images):
        shas.setdefault(image_hash.pixel_sha256(img), i)
    emb = None
    if embed is not None and images:
        emb = np.asarray(embed(images), dtype=np.float16)  # as the pool's are stored
    return EvalFeatures(names, shas, image_hash.phash_batch(images), emb)


def _nearest_hamming(pool: np.ndarray, evals: np.ndarray, block: int = 256):
    best = np.full(len(pool), 65, dtype=np.int64)
    arg = np.zeros(len(pool), dtype=np.int64)
    for a in range(0, len(pool), block):
        d = image_hash.hamming(pool[a : a + block, None], evals[None, :])
        arg[a : a + block] = d.argmin(axis=1)
        best[a : a + block] = d[np.arange(len(d)), arg[a : a + block]]
    return best, arg


def overlaps(table: pa.Table, feats: EvalFeatures, max_distance: int, min_cosine: float) -> list[str | None]:
    """Per row: None, or the detail of the first check that matched an eval image."""
    n = table.num_rows
    detail: list[str | None] = [None] * n
    if not feats.names or n == 0:
        return detail
    if "pixel_sha256" in table.column_names:
        for i, sha in enumerate(table["pixel_sha256"].to_pylist()):
            if sha in feats.shas:
                detail[i] = f"exact copy of {feats.names[feats.shas[sha]]}"
    if max_distance >= 0 and "phash" in table.column_names:
        col = table["phash"]
        valid = np.array(col.is_valid().to_pylist(), dtype=bool)
        ph = np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.uint64)
        dist, arg = _nearest_hamming(ph, feats.phashes)
        for i in np.nonzero(valid & (dist <= max_distance))[0]:
            if detail[i] is None:
                detail[i] = f"phash hamming {dist[i]} to {feats.names[arg[i]]}"
    if min_cosine <= 1.0 and feats.embeddings is not None and "embedding" in table.column_names:
        from curate.ops.embed import cosines, embeddings_of

        sims = cosines(embeddings_of(table), feats.embeddings)  # exact: the same for any batch
        arg = sims.argmax(axis=1)
        best = sims[np.arange(n), arg]
        for i in np.nonzero(best.astype(np.float64) > min_cosine)[0]:
            if detail[i] is None:
                detail[i] = f"cosine {best[i]:.4f} to {feats.names[arg[i]]}"
    return detail


def decontaminate_batch(table: pa.Table, feats: EvalFeatures, max_distance: int, min_cosine: float):
    """(kept rows, removed records with reason eval_overlap)."""
    detail = overlaps(table, feats, max_distance, min_cosine)
    hit = np.array([d is not None for d in detail], dtype=bool)
    removed = schema.removed(
        table.filter(pa.array(hit)), STAGE, "eval_overlap", [d for d in detail if d is not None]
    )
    return table.filter(pa.array(~hit)), removed
