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
