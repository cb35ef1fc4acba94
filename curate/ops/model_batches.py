"""Model batches fixed by the data, not by the runner (stages ``embed`` and ``capfilt``).

A batched forward pass's floats depend on which rows share the pass: other batch sizes pick
other kernels and summation orders (gemv vs gemm, blocking, padding), so one embedding, or
one caption token near a nucleus boundary, changes with the batch a row lands in. On a runner
that batch depends on bundle sizes, worker count and timing. So model stages never run the
model on the batches that reach them; they regroup rows into *model batches* that only the
data defines:

- the rows of one image tar (``shard``) form a group (a GroupByKey on ``shard``: only the
  row metadata travels through the shuffle, never image bytes);
- a group is sorted by ``uid`` and cut into consecutive chunks of ``batch_size`` rows, and
  its images are read once, in one sequential pass over the tar;
- each chunk is one forward pass (rows that fail to decode drop out of it, which the data
  decides too).

So a row's batch is a function of (its tar's rows, batch_size): the same on any runner, worker
count or input batching, and adding rows to one tar changes no other tar's batches. Grouping by
tar rather than by a hash bucket of the uid is chosen for I/O: ``read_members`` reads a whole
tar, so a hash bucket (rows from many tars) would read every tar once per bucket, or image
bytes would have to travel through the shuffle. Rows with no tar (failed downloads) never
reach a model; they skip the shuffle.

``batch_size`` is therefore part of the result's definition (recorded in config.yaml with the
rest of the stage's config), as is the device and the model: the same config gives
byte-identical output, another batch size may change floats in the last bits.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import schema

# Image bytes of a model batch's rows, carried from the tar read to the model handler (which
# drops it again); not a schema column, never written.
IMAGE_COLUMN = "__image_bytes"


def by_shard(table: pa.Table) -> tuple[pa.Table, list[tuple[str, pa.Table]]]:
    """(rows without an image location, [(shard, its rows)]) of one input batch."""
    if "shard" not in table.column_names or "key" not in table.column_names:
        return table, []
    located = pc.and_(pc.is_valid(table["shard"]), pc.is_valid(table["key"]))
    located = pc.fill_null(located, False)
    elsewhere = table.filter(pc.invert(located))
    table = table.filter(located)
    if table.num_rows == 0:
        return elsewhere, []
    return elsewhere, list(schema.split_by_key(table, table["shard"].to_pylist()))


def sort_by_uid(table: pa.Table) -> pa.Table:
    """Rows in uid order; uids are unique, so the order is the data's alone."""
    idx = np.argsort(np.array(table["uid"].to_pylist(), dtype=object).astype(str), kind="stable")
    return table.take(pa.array(idx, pa.int64()))


def chunks(table: pa.Table, batch_size: int) -> list[pa.Table]:
    """Consecutive slices of at most ``batch_size`` rows."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [table.slice(a, batch_size) for a in range(0, table.num_rows, batch_size)]


def with_images(table: pa.Table, images: list[bytes | None]) -> pa.Table:
    """``table`` carrying its rows' image bytes (see IMAGE_COLUMN)."""
    return table.append_column(IMAGE_COLUMN, pa.array(images, pa.binary()))


def take_images(table: pa.Table) -> tuple[pa.Table, list[bytes | None] | None]:
    """(``table`` without the image bytes, the bytes; None where it carries none)."""
    i = table.schema.get_field_index(IMAGE_COLUMN)
    if i < 0:
        return table, None
    return table.remove_column(i), table.column(i).to_pylist()
