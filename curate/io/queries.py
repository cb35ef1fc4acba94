"""Reading and writing a built query list (``queries/<name>/``).

A built list is a folder with:
  entries.txt        one entry a line, UTF-8, sorted; line i (0-based) is entry id i
  entries.parquet    the same entries in the same order, with sources, unigram count, PMI, views
  PROVENANCE.md      inputs with checksums, thresholds, count per source, versions

Entry ids are positions in the sorted list, so they are stable for a given list.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from curate.io import shards

ENTRIES_TXT = "entries.txt"
ENTRIES_PARQUET = "entries.parquet"
PROVENANCE_MD = "PROVENANCE.md"


def _exists(path: str) -> bool:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def load_entries(folder: str) -> list[str]:
    """The entries of the list in ``folder``; entry id = position in the returned list.

    Reads ``entries.txt`` (falls back to ``entries.parquet``). Entries never contain a
    newline, so the text file is exact."""
    txt = shards.join(folder, ENTRIES_TXT)
    if _exists(txt):
        text = shards.read_bytes(txt).decode("utf-8")
        if not text:
            return []
        if text.endswith("\n"):
            text = text[:-1]
        return text.split("\n")
    parquet = shards.join(folder, ENTRIES_PARQUET)
    if _exists(parquet):
        return load_table(folder).column("entry").to_pylist()
    raise FileNotFoundError(
        f"no query list in {folder}: neither {ENTRIES_TXT} nor {ENTRIES_PARQUET} exists "
        "(build one with `curate queries build`)"
    )


def load_table(folder: str) -> pa.Table:
    """The full table (entry, sources, unigram_count, pmi, views) of a built list."""
    data = shards.read_bytes(shards.join(folder, ENTRIES_PARQUET))
    return pq.read_table(io.BytesIO(data))


ENTRY_SCHEMA = pa.schema([
    pa.field("entry", pa.string(), nullable=False),
    pa.field("sources", pa.list_(pa.string()), nullable=False),
    pa.field("unigram_count", pa.int64()),
    pa.field("pmi", pa.float64()),
    pa.field("views", pa.int64()),
])


def write_query_list(folder: str, rows: list[dict], provenance: str) -> str:
    """Write entries.parquet, entries.txt and PROVENANCE.md into `folder` (byte-identical for
    identical rows). Returns the folder."""
    table = pa.Table.from_pylist(rows, schema=ENTRY_SCHEMA)
    shards.write_bytes(shards.join(folder, ENTRIES_PARQUET), shards.table_to_parquet_bytes(table))
    text = "".join(r["entry"] + "\n" for r in rows)
    shards.write_bytes(shards.join(folder, ENTRIES_TXT), text.encode("utf-8"))
    shards.write_bytes(shards.join(folder, PROVENANCE_MD), provenance.encode("utf-8"))
    return folder
