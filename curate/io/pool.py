"""Readers for raw pools: Parquet, CSV, TSV and JSONL, local or remote (Beam FileSystems).

Column names of the common pool formats are accepted: img2dataset's (``url``, ``caption``),
DataComp's (``uid``, ``url``, ``text``), LAION's (``URL``, ``TEXT``). Each reader yields
``schema.RAW_SCHEMA`` batches: text as bytes, and rows it could not parse carried with a
``parse_error`` instead of crashing, so that ingest records them as removed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import posixpath
from collections.abc import Callable, Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from curate.schema import RAW_SCHEMA

URL_COLUMNS = ("url", "URL", "image_url", "img_url")
TEXT_COLUMNS = ("text", "caption", "TEXT", "alt", "alt_text", "alttext")
UID_COLUMNS = ("uid", "id", "key", "SAMPLE_ID")

DEFAULT_BATCH_ROWS = 4096


class PoolFormatError(ValueError):
    """A pool file whose format or columns cannot be read; the message names the file."""


def _pick(columns: list[str], candidates: tuple[str, ...], path: str, what: str) -> str | None:
    for name in candidates:
        if name in columns:
            return name
    if what == "uid":
        return None
    raise PoolFormatError(
        f"{path}: no {what} column; expected one of {list(candidates)}, found {columns}"
    )


def _raw_batch(path: str, start: int, urls, texts, uids, errors) -> pa.Table:
    n = len(urls)
    return pa.Table.from_arrays(
        [
            pa.array(urls, pa.string()),
            pa.array(texts, pa.binary()),
            pa.array([path] * n, pa.string()),
            pa.array(range(start, start + n), pa.int64()),
            pa.array(uids if uids is not None else [None] * n, pa.string()),
            pa.array(errors if errors is not None else [None] * n, pa.string()),
        ],
        schema=RAW_SCHEMA,
    )


class _RowBatcher:
    """Collects one file's rows into RAW_SCHEMA batches of `batch_rows`.

    A row with an error, or whose URL or uid is not valid UTF-8 (a JSON surrogate escape,
    undecodable CSV bytes), is kept as a row with only its `parse_error` set."""

    def __init__(self, path: str, batch_rows: int):
        self.path, self.batch_rows, self.start = path, batch_rows, 0
        self._clear()

    def _clear(self):
        self.urls, self.texts, self.uids, self.errors = [], [], [], []

    def add(self, url, text, uid, error=None) -> pa.Table | None:
        if error is None and not (_encodable(url) and _encodable(uid)):
            error = "url or uid is not valid UTF-8"
        if error is not None:
            url = text = uid = None
        self.urls.append(url)
        self.texts.append(text)
        self.uids.append(uid)
        self.errors.append(error)
        return self.flush() if len(self.urls) == self.batch_rows else None

    def flush(self) -> pa.Table | None:
        if not self.urls:
            return None
        batch = _raw_batch(self.path, self.start, self.urls, self.texts, self.uids, self.errors)
        self.start += len(self.urls)
        self._clear()
        return batch


def _text_bytes(value) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    # A lone surrogate (from a JSON "\udc80" escape) is not valid UTF-8: keep the broken
    # bytes so ingest removes the row as undecodable_text instead of a reader crashing.
    return str(value).encode("utf-8", "surrogatepass")


def _str_or_none(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _encodable(value: str | None) -> bool:
    if value is None:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_parquet(f, path: str, batch_rows: int) -> Iterator[pa.Table]:
    try:
        pf = pq.ParquetFile(f)
    except Exception as e:  # pyarrow raises several types for a broken file
        raise PoolFormatError(f"{path}: not a readable Parquet file: {e}") from e
    names = pf.schema_arrow.names
    url_col = _pick(names, URL_COLUMNS, path, "url")
    text_col = _pick(names, TEXT_COLUMNS, path, "text")
    uid_col = _pick(names, UID_COLUMNS, path, "uid")
    cols = [c for c in (url_col, text_col, uid_col) if c]
    start = 0
    for rb in pf.iter_batches(batch_size=batch_rows, columns=cols):
        urls = [_str_or_none(v) for v in rb.column(url_col).to_pylist()]
        texts_col = rb.column(text_col)
        if pa.types.is_string(texts_col.type) or pa.types.is_large_string(texts_col.type):
            texts_col = texts_col.cast(pa.binary())
        texts = [_text_bytes(v) for v in texts_col.to_pylist()]
        uids = [_str_or_none(v) for v in rb.column(uid_col).to_pylist()] if uid_col else None
        yield _raw_batch(path, start, urls, texts, uids, None)
        start += rb.num_rows


def _delimited(delimiter: str):
    def read(f, path: str, batch_rows: int) -> Iterator[pa.Table]:
        # csv on a bytes stream decoded with surrogateescape keeps undecodable bytes intact.
        text = io.TextIOWrapper(f, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise PoolFormatError(f"{path}: unreadable header: {e}") from e
        url_i = header.index(_pick(header, URL_COLUMNS, path, "url"))
        text_i = header.index(_pick(header, TEXT_COLUMNS, path, "text"))
        uid_name = _pick(header, UID_COLUMNS, path, "uid")
        uid_i = header.index(uid_name) if uid_name else None
        batcher = _RowBatcher(path, batch_rows)
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as e:
                batch = batcher.add(None, None, None, f"csv: {e}")
            else:
                if len(row) != len(header):
                    err = f"row has {len(row)} fields, header has {len(header)}"
                    batch = batcher.add(None, None, None, err)
                else:
                    batch = batcher.add(
                        row[url_i] or None,
                        row[text_i].encode("utf-8", "surrogateescape"),
                        row[uid_i] if uid_i is not None else None,
                    )
            if batch is not None:
                yield batch
        if (batch := batcher.flush()) is not None:
            yield batch

    return read


def read_jsonl(f, path: str, batch_rows: int) -> Iterator[pa.Table]:
    batcher = _RowBatcher(path, batch_rows)
    url_col = text_col = uid_col = None
    for line in f:
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except (UnicodeDecodeError, ValueError) as e:
            batch = batcher.add(None, None, None, f"json: {e}"[:200])
        else:
            if url_col is None:
                url_col = next((c for c in URL_COLUMNS if c in obj), None)
                text_col = next((c for c in TEXT_COLUMNS if c in obj), None)
                uid_col = next((c for c in UID_COLUMNS if c in obj), None)
                if url_col is None or text_col is None:
                    raise PoolFormatError(
                        f"{path}: first record has no url/text keys: {list(obj)}; expected one "
                        f"of {list(URL_COLUMNS)} and one of {list(TEXT_COLUMNS)}"
                    )
            batch = batcher.add(
                _str_or_none(obj.get(url_col)),
                _text_bytes(obj.get(text_col)),
                _str_or_none(obj.get(uid_col)) if uid_col else None,
            )
        if batch is not None:
            yield batch
    if (batch := batcher.flush()) is not None:
        yield batch


READERS: dict[str, Callable[..., Iterator[pa.Table]]] = {
    ".parquet": read_parquet,
    ".csv": _delimited(","),
    ".tsv": _delimited("\t"),
    ".jsonl": read_jsonl,
    ".json": read_jsonl,
}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".deflate")


def reader_for(path: str) -> Callable[..., Iterator[pa.Table]]:
    name = posixpath.basename(path)
    for ext in COMPRESSIONS:
        if name.endswith(ext):
            name = name[: -len(ext)]
    _, ext = posixpath.splitext(name)
    try:
        return READERS[ext.lower()]
    except KeyError:
        raise PoolFormatError(
            f"{path}: unknown pool format {ext!r}; supported: {sorted(READERS)} "
            f"(optionally compressed: {list(COMPRESSIONS)})"
        ) from None


def match_files(pattern: str) -> list[str]:
    """Files matching `pattern` (a path, a glob, or a folder), sorted; error if none."""
    if pattern.endswith("/") or (
        FileSystems.get_scheme(pattern) in (None, "file") and os.path.isdir(pattern)
    ):
        pattern = pattern.rstrip("/") + "/*"
    try:
        result = FileSystems.match([pattern])[0]
    except Exception as e:
        raise PoolFormatError(f"cannot list {pattern}: {e}") from e
    paths = sorted(m.path for m in result.metadata_list if not m.path.endswith("/"))
    if not paths:
        raise PoolFormatError(f"no files match {pattern}")
    return paths


class _RawStream(io.RawIOBase):
    """Any object with read(n) (Beam's CompressedFile has no iteration or readinto) as a
    standard binary stream, so csv and line iteration work on compressed remote files."""

    def __init__(self, f):
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._f.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_pool_file(path: str, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.Table]:
    """Raw batches of one pool file, local or on any Beam filesystem."""
    reader = reader_for(path)
    compression = CompressionTypes.AUTO
    if reader is read_parquet:
        compression = CompressionTypes.UNCOMPRESSED
    with FileSystems.open(path, compression_type=compression) as f:
        if reader is read_parquet:
            f = io.BytesIO(f.read()) if not hasattr(f, "seek") else f
        else:
            f = io.BufferedReader(_RawStream(f), buffer_size=1 << 20)
        yield from reader(f, path, batch_rows)


class ReadPool(beam.PTransform):
    """In: pipeline root. Out: RAW_SCHEMA batches of every file that `patterns` match.

    Files are listed at construction (clear error if none match), then read in parallel.
    """

    def __init__(self, patterns: str | list[str], batch_rows: int = DEFAULT_BATCH_ROWS):
        super().__init__()
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.paths = sorted({p for pattern in patterns for p in match_files(pattern)})
        for p in self.paths:
            reader_for(p)  # unknown formats fail before the pipeline starts
        self.batch_rows = batch_rows

    def expand(self, pbegin):
        return (
            pbegin
            | "Files" >> beam.Create(self.paths)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(read_pool_file, self.batch_rows)
        )
