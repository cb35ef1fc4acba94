"""Embedding results → pair batches (stage ``embed``). Reasons: ``decode_error``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curate import schema

STAGE = "embed"


def embedding_array(emb: np.ndarray) -> pa.Array:
    """(n, d) float16 → a list<float16> column."""
    emb = np.ascontiguousarray(emb, dtype=np.float16)
    n = emb.shape[0]
    d = emb.shape[1] if emb.ndim == 2 and n else 0
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * d, pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(emb.reshape(-1), pa.float16()))


def embeddings_of(table: pa.Table) -> np.ndarray:
    """The ``embedding`` column as an (n, d) float32 array."""
    col = table["embedding"].combine_chunks()
    n = len(col)
    values = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return values.reshape(n, -1) if n else np.zeros((0, 0), np.float32)


def attach(table: pa.Table, ok: list[int], emb: np.ndarray, errors: list[tuple[int, str]]):
    """(kept batch with ``embedding``, removed decode errors)."""
    kept = table.take(pa.array(ok, pa.int64()))
    kept = schema.with_column(kept, "embedding", embedding_array(emb))
    bad = table.take(pa.array([i for i, _ in errors], pa.int64()))
    return kept, schema.removed(bad, STAGE, "decode_error", [e for _, e in errors])


# Decisions taken on embeddings (semdedup's cosines and eps, decontaminate's min_cosine,
# retrieve's nearest seed and neighbour ranks) must not depend on which rows were multiplied
# together: a float32 matmul over a batch can give a row other bits than the same row in
# another batch (gemv vs gemm, blocking, thread split). ``cosines`` is exact instead.
MAX_EXACT_NORM = 4.0


def _exact_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float16-rounded rows as float64, their exact norms). Rows of norm >= MAX_EXACT_NORM
    (never the embed stage's unit rows) are scaled to unit length first, row by row."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"cosines: want a 2-d array, got shape {x.shape}")
    x = x.astype(np.float16).astype(np.float64)
    norms = np.sqrt((x * x).sum(axis=1))
    big = norms >= MAX_EXACT_NORM
    if big.any():
        x[big] = (x[big] / norms[big, None]).astype(np.float16)
        norms[big] = np.sqrt((x[big] * x[big]).sum(axis=1))
    return x, norms


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) float32 cosines of every row of ``a`` with every row of ``b``, the same bits
    whatever the batch, blocking or BLAS kernel.

    Both sides are first rounded to float16, the precision the ``embedding`` column stores (a
    no-op for stored embeddings; seeds, eval images and centroids are rounded like the pool).
    Every float16 is a multiple of 2**-24, so every product is a multiple of 2**-48, and by
    Cauchy-Schwarz every partial sum of a dot product is below |a| |b| < 16 for rows of norm
    < 4 (unit embeddings; longer rows are scaled to unit length first, row by row): 52
    bits, which float64's 53-bit mantissa holds exactly. So the
    float64 matmul is exact in any summation order, and the cosine, dot / (|a| |b|) in
    IEEE float64 (correctly rounded elementwise), then rounded once to float32, is a function
    of the two rows alone. Decisions compare that float32 value, the one stored in score
    columns, so a re-tune on the stored column decides as the stage did."""
    a, na = _exact_rows(a)
    b, nb = _exact_rows(b)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]), np.float32)
    denom = na[:, None] * nb[None, :]
    dots = a @ b.T
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(denom > 0, dots / np.where(denom > 0, denom, 1.0), 0.0)
    return cos.astype(np.float32)


def cosine_reference(x: np.ndarray, y: np.ndarray) -> float:
    """One cosine the slow, obvious way (a Python sum in float64), for tests: ``cosines``
    gives the same float32 bits."""
    x = [float(v) for v in _exact_rows(np.asarray(x)[None, :])[0][0]]
    y = [float(v) for v in _exact_rows(np.asarray(y)[None, :])[0][0]]
    dot = sum(p * q for p, q in zip(x, y, strict=True))
    nx, ny = np.sqrt(sum(p * p for p in x)), np.sqrt(sum(q * q for q in y))
    return float(np.float32(dot / (nx * ny))) if nx * ny > 0 else 0.0
