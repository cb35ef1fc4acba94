"""Readers for raw pools: Parquet, CSV, TSV and JSONL, local or remote (Beam FileSystems).

Column names of the common pool formats are accepted: img2dataset's (``url``, ``caption``),
DataComp's (``uid``, ``url``, ``text``), LAION's (``URL``, ``TEXT``). Each reader yields
``schema.RAW_SCHEMA`` batches: text as bytes, and rows it could not parse carried with a
``parse_error`` instead of crashing, so that ingest records them as removed.

Bad files (see the README's "Bad input"):

- A file that cannot be read at all (not Parquet, no footer, not gzip, no url/text column,
  an empty .parquet) is found while the pipeline is planned: ``check_pool_file`` reads each
  file's header or footer. By default the run stops with an error naming it; with
  ``skip_bad_files`` the run goes on without it and lists it in stats.json.
- A file that breaks part-way keeps what can be read: a gzip/bz2 stream cut off, every
  complete row before the cut; a Parquet row group whose pages do not decode, every other
  row group. What cannot be read becomes one row with a ``broken_file: ...`` parse error
  (ingest removes it with reason ``broken_file``), so it is not lost silently.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import io
import itertools
import json
import os
import posixpath
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from curate.errors import CurateError
from curate.ops.ingest import BROKEN_FILE
from curate.schema import RAW_SCHEMA

URL_COLUMNS = ("url", "URL", "image_url", "img_url")
TEXT_COLUMNS = ("text", "caption", "TEXT", "alt", "alt_text", "alttext")
UID_COLUMNS = ("uid", "id", "key", "SAMPLE_ID")

DEFAULT_BATCH_ROWS = 4096


# Errors that a damaged file raises part-way through (decoders, decompressors, Arrow).
READ_ERRORS = (OSError, EOFError, zlib.error, pa.ArrowException, ValueError, UnicodeError, csv.Error)
# How much of a text file's head the planning check reads: its header and first row.
CHECK_BYTES = 1 << 20
SKIP_HINT = "fix or remove it, or pass --skip-bad-files (ingest.skip_bad_files: true) to run without it"


class PoolFormatError(CurateError, ValueError):
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


class _ReadBreak(Exception):
    """A read error part-way through a file, raised after the rows before it: `rows` is
    the batch they fill (or None)."""

    def __init__(self, error: BaseException, rows: pa.Table | None):
        super().__init__(str(error))
        self.error, self.rows = error, rows


def _flush_on_error(items, batcher: _RowBatcher):
    """`items`, but a read error (a stream cut off) comes as ``_ReadBreak`` carrying the
    rows collected so far, so that the caller yields them before the break."""
    it = iter(items)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except csv.Error:
            raise  # a row-level csv error: the reader records the row
        except READ_ERRORS as e:
            raise _ReadBreak(e, batcher.flush()) from e
        yield item


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
    # Row group by row group: they decode independently, so one that does not (damaged
    # pages) costs its own rows - one broken_file record says which - and not the rest.
    start = 0
    for group in range(pf.num_row_groups):
        group_rows = pf.metadata.row_group(group).num_rows
        done = 0
        try:
            for rb in pf.iter_batches(batch_size=batch_rows, columns=cols, row_groups=[group]):
                urls = [_str_or_none(v) for v in rb.column(url_col).to_pylist()]
                texts_col = rb.column(text_col)
                if pa.types.is_string(texts_col.type) or pa.types.is_large_string(texts_col.type):
                    texts_col = texts_col.cast(pa.binary())
                texts = [_text_bytes(v) for v in texts_col.to_pylist()]
                uids = [_str_or_none(v) for v in rb.column(uid_col).to_pylist()] if uid_col else None
                yield _raw_batch(path, start + done, urls, texts, uids, None)
                done += rb.num_rows
        except READ_ERRORS as e:
            lost = group_rows - done
            yield _broken_row(
                path,
                start + done,
                f"row group {group}: rows {start + done}..{start + group_rows - 1} ({lost}) do not decode: {type(e).__name__}: {e}",
                rest=False,
            )
        start += group_rows


# csv's default field limit (128 KiB) raises on a long field, and the reader does not resume
# after that error on a stream: every row after it was lost. A long field is read instead,
# and ingest removes it (text_too_long) like any other.
CSV_FIELD_LIMIT = 2**31 - 1


def _delimited(delimiter: str):
    def read(f, path: str, batch_rows: int) -> Iterator[pa.Table]:
        if csv.field_size_limit() < CSV_FIELD_LIMIT:
            csv.field_size_limit(CSV_FIELD_LIMIT)
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
        rows = _flush_on_error(iter(reader), batcher)
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
    for line in _flush_on_error(f, batcher):
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
                    error = PoolFormatError(
                        f"{path}: first record has no url/text keys: {list(obj)}; expected one "
                        f"of {list(URL_COLUMNS)} and one of {list(TEXT_COLUMNS)}"
                    )
                    error.rows = batcher.flush()  # the broken lines before it, for skip_bad_files
                    raise error
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
        # read1 where there is one (a decompressor): what it decoded before a stream that
        # is cut off raises is handed on, not dropped with the call that raised.
        data = getattr(self._f, "read1", self._f.read)(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# Python's own decompressors raise EOFError on a stream cut off; Beam's CompressedFile
# ends such a stream silently, which would lose its tail without a word.
_DECOMPRESSORS = {
    ".gz": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
    ".bz2": lambda f: bz2.BZ2File(f, mode="rb"),
}


@contextlib.contextmanager
def _open(path: str, reader):
    """A binary stream of the file's (decompressed) bytes."""
    name = posixpath.basename(path).lower()
    ext = next((e for e in _DECOMPRESSORS if name.endswith(e)), None)
    if reader is read_parquet or ext is not None:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            if ext is None:
                yield f
            else:
                with _DECOMPRESSORS[ext](_RawStream(f)) as d:
                    yield d
    else:
        with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as f:
            yield f


def _stream(f, reader):
    if reader is read_parquet:
        return f if hasattr(f, "seek") else io.BytesIO(f.read())
    return io.BufferedReader(_RawStream(f), buffer_size=1 << 20)


def _broken_row(path: str, start: int, error: BaseException | str, rest: bool = True) -> pa.Table:
    """One row standing for what cannot be read: the rest of the file from row `start`
    (`rest`), or the part that `error` names."""
    detail = " ".join(str(error).split())[:300]
    if rest:
        message = f"{BROKEN_FILE}: cannot read past row {start}: {detail}; the rest of the file is not counted"
    else:
        message = f"{BROKEN_FILE}: {detail}; not counted"
    return _raw_batch(path, start, [None], [None], None, [message])


def read_pool_file(
    path: str, batch_rows: int = DEFAULT_BATCH_ROWS, skip_bad_files: bool = False
) -> Iterator[pa.Table]:
    """Raw batches of one pool file, local or on any Beam filesystem.

    A read error part-way ends the file with one ``broken_file`` row (the rows before it
    stay). A format error (``PoolFormatError``: no url column...) is raised, or, with
    `skip_bad_files`, also becomes that row."""
    reader = reader_for(path)
    rows = 0
    try:
        with _open(path, reader) as f:
            for batch in reader(_stream(f, reader), path, batch_rows):
                rows += batch.num_rows
                yield batch
    except PoolFormatError as e:
        if not skip_bad_files:
            raise
        pending = getattr(e, "rows", None)
        if pending is not None:
            rows += pending.num_rows
            yield pending
        yield _broken_row(path, rows, e)
    except _ReadBreak as e:
        if e.rows is not None:
            rows += e.rows.num_rows
            yield e.rows
        yield _broken_row(path, rows, f"{type(e.error).__name__}: {e.error}")
    except READ_ERRORS as e:
        yield _broken_row(path, rows, f"{type(e).__name__}: {e}")


_MAGIC = {".gz": b"\x1f\x8b", ".bz2": b"BZh", ".zst": b"\x28\xb5\x2f\xfd"}


def _check_parquet(path: str) -> None:
    names = parquet_columns(path)
    for candidates, what in ((URL_COLUMNS, "url"), (TEXT_COLUMNS, "text")):
        _pick(names, candidates, path, what)


def parquet_columns(path: str) -> list[str]:
    """The column names in a Parquet file's footer, after checking its magic bytes and
    footer length; ``PoolFormatError`` naming the file if it has none."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f = _stream(f, read_parquet)
        f.seek(0, io.SEEK_END)
        size = f.tell()
        if size < 12:
            raise PoolFormatError(f"{path}: not a Parquet file ({size} bytes)")
        f.seek(0)
        head = f.read(4)
        f.seek(size - 8)
        tail = f.read(8)
        if head != b"PAR1" or tail[4:] != b"PAR1":
            what = "no Parquet footer (a truncated or partly downloaded file?)" if head == b"PAR1" else "not a Parquet file"
            raise PoolFormatError(f"{path}: {what}")
        footer = int.from_bytes(tail[:4], "little")
        if footer > size - 12:
            raise PoolFormatError(f"{path}: Parquet footer length {footer} exceeds the file ({size} bytes)")
        f.seek(0)
        try:
            return pq.ParquetFile(f).schema_arrow.names
        except Exception as e:  # noqa: BLE001  (pyarrow raises several types for a bad footer)
            raise PoolFormatError(f"{path}: unreadable Parquet footer: {' '.join(str(e).split())[:200]}") from e


def _check_text(path: str, reader) -> None:
    name = posixpath.basename(path)
    magic = next((m for ext, m in _MAGIC.items() if name.endswith(ext)), None)
    if magic is not None:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            head = f.read(len(magic))
        if head != magic:
            kind = name.rsplit(".", 1)[1]
            raise PoolFormatError(f"{path}: not a {kind} file ({'empty' if not head else 'wrong magic bytes'})")
    head = b""
    with _open(path, reader) as f:
        while len(head) < CHECK_BYTES:
            try:
                chunk = getattr(f, "read1", f.read)(1 << 16)  # see _RawStream.readinto
            except READ_ERRORS as e:
                if head:
                    break  # damage further in: the reader keeps the rows before it
                raise PoolFormatError(f"{path}: cannot decompress its start: {e}") from e
            if not chunk:
                break
            head += chunk
    # The header and first row, through the reader itself: its column checks apply.
    for _ in itertools.islice(reader(io.BytesIO(head), path, 1), 1):
        pass


def check_pool_file(path: str) -> None:
    """Raise ``PoolFormatError`` if `path` cannot be read at all. Cheap: a Parquet file's
    magic bytes and footer (schema), a compressed file's magic bytes and its first MiB, a
    text file's header. Damage further in is left to the reader (``broken_file``)."""
    reader = reader_for(path)
    if reader is read_parquet:
        _check_parquet(path)
    else:
        _check_text(path, reader)


def check_pool_files(paths: list[str], check: Callable[[str], object] = check_pool_file) -> list[tuple[str, str]]:
    """(path, reason) of each file of `paths` that `check` (by default: cannot be read at
    all) refuses, in path order; the files are checked in parallel threads."""

    def one(path):
        try:
            check(path)
        except PoolFormatError as e:
            return path, str(e)
        except READ_ERRORS as e:
            return path, f"{path}: cannot be read: {type(e).__name__}: {e}"
        return None

    with ThreadPoolExecutor(max_workers=min(16, max(1, len(paths)))) as pool:
        return [r for r in pool.map(one, paths) if r is not None]


class ReadPool(beam.PTransform):
    """In: pipeline root. Out: RAW_SCHEMA batches of every file that `patterns` match.

    Files are listed and checked at construction (``check_pool_file``), then read in
    parallel. A file that cannot be read at all stops the run before any work with an
    error naming it, or, with `skip_bad_files`, is left out and listed in ``skipped``
    (``[{"path", "reason"}]``)."""

    def __init__(
        self,
        patterns: str | list[str],
        batch_rows: int = DEFAULT_BATCH_ROWS,
        skip_bad_files: bool = False,
    ):
        super().__init__()
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        paths = sorted({p for pattern in patterns for p in match_files(pattern)})
        for p in paths:
            reader_for(p)  # unknown formats fail before the pipeline starts
        bad = check_pool_files(paths)
        if bad and not skip_bad_files:
            more = f" (and {len(bad) - 1} more bad files of {len(paths)})" if len(bad) > 1 else ""
            raise PoolFormatError(f"{bad[0][1]}{more}; {SKIP_HINT}")
        bad_paths = {p for p, _ in bad}
        self.paths = [p for p in paths if p not in bad_paths]
        if not self.paths:
            raise PoolFormatError(f"none of the {len(paths)} input files can be read; first: {bad[0][1]}")
        self.skipped = [{"path": p, "reason": reason.removeprefix(f"{p}: ")} for p, reason in bad]
        self.files_in = len(paths)
        self.batch_rows = batch_rows
        self.skip_bad_files = skip_bad_files

    def expand(self, pbegin):
        return (
            pbegin
            | "Files" >> beam.Create(self.paths)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(read_pool_file, self.batch_rows, self.skip_bad_files)
        )
