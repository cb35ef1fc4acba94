"""The columns of a pair record and of a removed record: the one schema every stage keeps.

Records travel between stages as ``pyarrow.Table`` batches of a few thousand pairs (Beam
costs tens of microseconds per element, so one pair per element is too slow for hot stages).
Every batch has the four core columns; later stages add the optional columns listed in
``PAIR_COLUMNS`` and nothing else. ``conform`` puts a batch into canonical column order and
types so that shards written by any stage, on any runner, are byte-identical.

A pair's ``uid`` is a 128-bit hex digest of its normalised URL and its text (see ``make_uid``):
stable across reruns and runners, and the same for exact (URL, text) duplicates, which the
ingest stage removes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Core columns: every batch in every stage has them.
CORE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("uid", pa.string(), nullable=False),  # make_uid(normalised url, text)
    pa.field("url", pa.string()),  # normalised URL
    pa.field("text", pa.string()),  # alt-text / caption as found in the pool
    pa.field("source", pa.string()),  # pool file (or dataset) the pair came from
)

# Columns added by later stages, in canonical order. All nullable: a stage that has not
# run leaves them out of the batch entirely; `conform` adds them as nulls only on request.
OPTIONAL_FIELDS: tuple[pa.Field, ...] = (
    pa.field("source_row", pa.int64()),  # row index inside `source`
    pa.field("source_uid", pa.string()),  # the pool's own id (DataComp `uid`), if any
    # text filter
    pa.field("num_words", pa.int32()),
    pa.field("lang", pa.string()),
    pa.field("lang_score", pa.float32()),
    pa.field("matched_entries", pa.list_(pa.int32())),  # ids into the query list
    # text dedup
    pa.field("text_cluster", pa.string()),  # smallest uid of its near-duplicate caption cluster
    pa.field("text_cluster_size", pa.int32()),  # pairs in that cluster (1: no near-duplicate)
    # balance
    pa.field("balance_p", pa.float32()),  # probability the pair was kept with
    # download
    pa.field("key", pa.string()),  # sample key in the webdataset shards
    pa.field("shard", pa.string()),  # webdataset tar the image lives in
    pa.field("status", pa.string()),  # "success" or img2dataset's failure status
    pa.field("error_message", pa.string()),
    pa.field("width", pa.int32()),
    pa.field("height", pa.int32()),
    pa.field("original_width", pa.int32()),
    pa.field("original_height", pa.int32()),
    pa.field("sha256", pa.string()),  # of the downloaded (resized) image file
    # image dedup
    pa.field("pixel_sha256", pa.string()),  # of the decoded RGB pixels
    pa.field("phash", pa.uint64()),
    pa.field("image_cluster", pa.string()),
    pa.field("embedding", pa.list_(pa.float16())),
    pa.field("semantic_cluster", pa.int32()),
    pa.field("semantic_cosine", pa.float32()),  # SemDeDup M: max cosine to a cluster member farther from the centroid
    # capfilt
    pa.field("clip_score", pa.float32()),
    pa.field("synthetic_caption", pa.string()),
    pa.field("synthetic_score", pa.float32()),
    # retrieve
    pa.field("seed_cosine", pa.float32()),  # cosine to the nearest seed image
    pa.field("seed_rank", pa.int32()),  # best rank in any seed's neighbour list (1 = nearest); null: none
    # balance_clusters
    pa.field("cluster_path", pa.list_(pa.int32())),  # hierarchical k-means clusters, top level first, leaf last
)

PAIR_FIELDS: tuple[pa.Field, ...] = CORE_FIELDS + OPTIONAL_FIELDS
PAIR_COLUMNS: dict[str, pa.Field] = {f.name: f for f in PAIR_FIELDS}
CORE_SCHEMA = pa.schema(CORE_FIELDS)
PAIR_SCHEMA = pa.schema(PAIR_FIELDS)

# A removed record: which pair, which stage removed it, why, and a free-form detail
# (the kept duplicate's uid, the detected language, the HTTP error...).
REMOVED_SCHEMA = pa.schema(
    [
        pa.field("uid", pa.string()),
        pa.field("url", pa.string()),
        pa.field("text", pa.string()),
        pa.field("source", pa.string()),
        pa.field("source_row", pa.int64()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
    ]
)

# What the pool readers emit before ingest: text as raw bytes so that undecodable text is
# caught (and recorded) by ingest rather than crashing a reader; `parse_error` set for rows
# the reader could not parse at all (a bad JSON line, a CSV row with the wrong field count).
RAW_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string()),
        pa.field("text", pa.binary()),
        pa.field("source", pa.string()),
        pa.field("source_row", pa.int64()),
        pa.field("source_uid", pa.string()),
        pa.field("parse_error", pa.string()),
    ]
)

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str) -> str:
    """The canonical form of an http(s) URL: used for the uid and written to `url`.

    Lower-cases scheme and host, drops a default port, the fragment and surrounding
    white space, and gives an empty path "/". Path and query keep their case and order
    (servers treat them as case-sensitive). Raises ValueError for a URL without a host.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"URL has a bad port: {url!r}") from e
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += ":" + parts.password
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def make_uid(url: str, text: str) -> str:
    """128-bit hex uid of a pair: sha256 over the normalised URL and the text.

    The NUL separator keeps ("ab", "c") and ("a", "bc") apart. 32 hex characters like
    DataComp's uids.
    """
    h = hashlib.sha256()
    h.update(url.encode("utf-8"))
    h.update(b"\x00")
    h.update(text.encode("utf-8"))
    return h.hexdigest()[:32]


_NIBBLE = np.full(256, 255, np.uint8)  # lowercase hex digit -> its value; anything else 255
_NIBBLE[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
PACKED_UID = pa.binary(16)


def uid_chars(uids: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """The uids' characters as an (n, 32) uint8 array straight from Arrow's buffer when every
    uid is 32 ASCII characters (``make_uid``'s form; no nulls), else None."""
    arr = uids.combine_chunks() if isinstance(uids, pa.ChunkedArray) else uids
    n = len(arr)
    if not n or arr.null_count or arr.type != pa.string():
        return None
    offsets = np.frombuffer(arr.buffers()[1], np.int32, n + 1, arr.offset * 4)
    if offsets[-1] - offsets[0] != 32 * n or not (np.diff(offsets) == 32).all():
        return None
    data = np.frombuffer(arr.buffers()[2], np.uint8, 32 * n, int(offsets[0]))
    return data.reshape(n, 32) if (data < 128).all() else None


def pack_uids(uids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``make_uid``'s uids as the 16 bytes their 32 lowercase hex digits spell
    (``PACKED_UID``): 16 bytes a row instead of 36 in Arrow, in the same order (byte order of
    the packed form is the hex strings' order). Any other uid (another length, upper case, a
    null) and the strings are returned as they are; ``unpack_uids`` reverses it."""
    arr = uids.combine_chunks() if isinstance(uids, pa.ChunkedArray) else uids
    chars = uid_chars(arr)
    if chars is None:
        return arr
    digits = _NIBBLE[chars]
    if (digits == 255).any():
        return arr
    n = len(arr)
    pairs = digits.reshape(n, 16, 2)
    packed = (pairs[:, :, 0] << 4) | pairs[:, :, 1]
    return pa.FixedSizeBinaryArray.from_buffers(PACKED_UID, n, [None, pa.py_buffer(packed.tobytes())])


def unpack_uids(uids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The hex string uids of ``pack_uids``' packed form (anything else as it is)."""
    arr = uids.combine_chunks() if isinstance(uids, pa.ChunkedArray) else uids
    if arr.type != PACKED_UID:
        return arr
    n = len(arr)
    raw = np.frombuffer(arr.buffers()[1], np.uint8, 16 * n, arr.offset * 16).reshape(n, 16)
    chars = np.empty((n, 16, 2), np.uint8)
    chars[:, :, 0], chars[:, :, 1] = _HEX_DIGITS[raw >> 4], _HEX_DIGITS[raw & 15]
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(chars.tobytes()))


def conform(table: pa.Table, schema: pa.Schema = PAIR_SCHEMA, fill: bool = False) -> pa.Table:
    """Cast `table` to the canonical types and order of `schema`.

    Columns not in `schema` raise ValueError (one schema: a stage may not invent columns).
    Missing optional columns are left out, or added as nulls with `fill=True`.
    """
    unknown = [n for n in table.column_names if schema.get_field_index(n) < 0]
    if unknown:
        raise ValueError(f"columns not in the schema: {unknown}; add them to curate/schema.py")
    arrays, fields = [], []
    for field in schema:
        if field.name in table.column_names:
            arrays.append(table[field.name].cast(field.type))
        elif fill or not field.nullable:
            if not field.nullable:
                raise ValueError(f"required column {field.name!r} is missing")
            arrays.append(pa.nulls(table.num_rows, field.type))
        else:
            continue
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def removed(
    table: pa.Table,
    stage: str,
    reason: str | Sequence[str],
    detail: str | Sequence[str | None] | None = None,
) -> pa.Table:
    """Removed records for every row of `table`, with one reason (or one per row)."""
    n = table.num_rows

    def column(name: str, type_: pa.DataType) -> pa.Array:
        if name in table.column_names:
            return table[name].cast(type_)
        return pa.nulls(n, type_)

    reasons = [reason] * n if isinstance(reason, str) else list(reason)
    details = [detail] * n if detail is None or isinstance(detail, str) else list(detail)
    if len(reasons) != n or len(details) != n:
        raise ValueError("one reason and one detail per removed row")
    return pa.Table.from_arrays(
        [
            column("uid", pa.string()),
            column("url", pa.string()),
            column("text", pa.string()),
            column("source", pa.string()),
            column("source_row", pa.int64()),
            pa.array([stage] * n, pa.string()),
            pa.array(reasons, pa.string()),
            pa.array(details, pa.string()),
        ],
        schema=REMOVED_SCHEMA,
    )


def empty(schema: pa.Schema = CORE_SCHEMA) -> pa.Table:
    return schema.empty_table()


def concat(tables: Iterable[pa.Table]) -> pa.Table | None:
    """Concatenate batches whose optional columns may differ (missing ones become null)."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def with_column(table: pa.Table, name: str, values) -> pa.Table:
    """`table` with column `name` set to `values` (cast to the schema's type): replaced where
    it exists (a rerun, or shards that carry it as nulls), appended otherwise."""
    field = PAIR_COLUMNS[name]
    values = pa.array(values, field.type) if not isinstance(values, (pa.Array, pa.ChunkedArray)) else values.cast(field.type)
    i = table.schema.get_field_index(name)
    if i >= 0:
        return table.set_column(i, field, values)
    return table.append_column(field, values)


def split_by_mask(table: pa.Table, keep: pa.Array) -> tuple[pa.Table, pa.Table]:
    """(rows where keep is true, rows where it is false or null)."""
    keep = pc.fill_null(keep, False)
    return table.filter(keep), table.filter(pc.invert(keep))


def key_groups(keys) -> Iterable[tuple]:
    """(key, the positions holding it, ascending) for each distinct value of `keys` (ints or
    strings), keys ascending. One stable sort of the keys (of their 16-bit form where they fit
    in 16 bits, which numpy sorts by radix): a filter per key costs rows x distinct keys, which
    grows with the pool where keys are shuffle partitions (dedup_text's signing at 3M pairs:
    2,520 band partitions per batch)."""
    keys = np.asarray(keys)
    if keys.size == 0:
        return
    small = keys.dtype.kind in "iu" and 0 <= keys.min() and keys.max() < 1 << 16
    order = np.argsort(keys.astype(np.uint16) if small else keys, kind="stable")
    ordered = keys[order]
    bounds = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts = np.concatenate(([0], bounds)).tolist()
    ends = np.concatenate((bounds, [keys.size])).tolist()
    for key, a, e in zip(ordered[starts].tolist(), starts, ends, strict=True):
        yield key, order[a:e]


def split_by_key(table: pa.Table, keys) -> Iterable[tuple]:
    """(key, the rows of `table` with that key) for each distinct value of `keys` (one per
    row), as ``key_groups`` gives them: keys ascending, rows in table order; each sub-table
    is compact (taken, not a slice of a shared buffer)."""
    for key, rows in key_groups(keys):
        yield key, table.take(pa.array(rows))
