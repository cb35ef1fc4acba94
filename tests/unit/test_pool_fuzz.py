"""Fuzzing the pool readers: damaged Parquet, CSV, TSV, JSONL and their gzip versions.

Each damaged file must end one of two ways: a one-line file-level ``PoolFormatError`` that
names the file (from the planning check or the reader), or rows that ingest turns into kept
and removed records with reasons. Never a hang, never another exception, never a silent
loss: rows are numbered without gaps, and every row that can be read is there (checked
exactly where "readable" is well defined: truncated files, whole row groups, files that
read without a break).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import random
import re
import signal
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.config import IngestConfig
from curate.io import pool
from curate.ops import ingest as ingest_ops

CASES_PER_FORMAT = 200
ROWS = 60
SECONDS_PER_FILE = 10


@contextlib.contextmanager
def _deadline(seconds: int, what: str):
    def hang(*_):
        raise TimeoutError(f"{what}: no result after {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _pairs(rng: random.Random) -> list[dict]:
    words = ["red", "café", "ünïcode", "dog", "a, comma", "straße", "東京", "x" * 30, "tab"]
    return [
        {
            "uid": f"u{i:04d}",
            "url": f"http://example.com/{i}/{rng.choice(words)}.jpg",
            "text": " ".join(rng.choice(words) for _ in range(rng.randint(1, 6))),
        }
        for i in range(ROWS)
    ]


def _delimited(rows: list[dict], sep: str) -> bytes:
    # No quotes or line breaks inside fields: one line per record, so "complete lines of a
    # truncated file" is exactly its readable rows.
    lines = [sep.join(("uid", "url", "text"))]
    lines += [sep.join(r[k].replace(sep, " ") for k in ("uid", "url", "text")) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _parquet(rows: list[dict], table: pa.Table | None = None) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table if table is not None else pa.Table.from_pylist(rows), sink, row_group_size=ROWS // 4, compression="zstd")
    return sink.getvalue()


PLAIN = {
    "csv": lambda rows: _delimited(rows, ","),
    "tsv": lambda rows: _delimited(rows, "\t"),
    "jsonl": _jsonl,
    "parquet": _parquet,
}
FORMATS = ["parquet", "csv", "tsv", "jsonl", "csv.gz", "tsv.gz", "jsonl.gz"]


def _encode(fmt: str, rows: list[dict]) -> bytes:
    data = PLAIN[fmt.removesuffix(".gz")](rows)
    return gzip.compress(data, mtime=0) if fmt.endswith(".gz") else data


def _gunzip_prefix(data: bytes) -> bytes:
    """What a decompressor can recover from the start of a (cut) gzip stream."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return d.decompress(data)
    except zlib.error:
        return b""


def _damage(fmt: str, rows: list[dict], rng: random.Random) -> tuple[str, bytes, dict]:
    """(kind, damaged bytes, expectations) for one random damage."""
    data = _encode(fmt, rows)
    kind = rng.choice(["truncate", "flip", "insert", "types", "huge", "encoding"])
    if kind == "truncate":
        cut = rng.randrange(0, len(data))
        return kind, data[:cut], {"cut": cut}
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return kind, bytes(out), {}
    if kind == "insert":
        at = rng.randrange(len(data))
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        return kind, data[:at] + junk + data[at:], {}
    if kind == "types":
        if fmt == "parquet":
            bad = rng.choice([
                pa.table({"url": pa.array(range(ROWS)), "text": [r["text"] for r in rows]}),
                pa.table({"url": [r["url"] for r in rows], "text": pa.array([float(i) for i in range(ROWS)])}),
                pa.table({"url": [[r["url"]] for r in rows], "text": [{"a": 1}] * ROWS}),
                pa.table({"url": [r["url"].encode() for r in rows], "text": [r["text"].encode() for r in rows]}),
            ])
            return kind, _parquet(rows, bad), {"rows": ROWS}
        mangled = [dict(r) for r in rows]
        for r in rng.sample(mangled, 10):
            r[rng.choice(["url", "text", "uid"])] = rng.choice([17, None, [1, 2], {"k": "v"}, 3.5, True])
        if fmt.startswith("jsonl"):
            return kind, _encode(fmt, mangled), {"rows": ROWS}
        return kind, _encode(fmt, [{k: str(v) for k, v in r.items()} for r in mangled]), {"rows": ROWS}
    if kind == "huge":
        big = [dict(r) for r in rows]
        big[rng.randrange(ROWS)]["text"] = "w " * rng.choice([70_000, 300_000])  # over csv's field limit
        return kind, _encode(fmt, big), {"rows": ROWS}
    # Mixed encodings: some records in Latin-1 or UTF-16, a BOM, lone continuation bytes.
    plain = PLAIN[fmt.removesuffix(".gz")](rows) if fmt != "parquet" else None
    if plain is None:
        table = pa.table({"url": [r["url"] for r in rows], "text": pa.array([r["text"].encode("latin-1", "replace") for r in rows], pa.binary())})
        return kind, _parquet(rows, table), {"rows": ROWS}
    lines = plain.split(b"\n")
    for i in rng.sample(range(1, ROWS + 1), 8):
        lines[i] = rng.choice([
            lines[i].decode().encode("latin-1", "replace"),
            lines[i].decode().encode("utf-16-le"),
            lines[i] + b"\x80\xbf",
            b"\xef\xbb\xbf" + lines[i],
        ])
    mixed = b"\n".join(lines)
    return kind, gzip.compress(mixed, mtime=0) if fmt.endswith(".gz") else mixed, {}


def _read(path: str) -> tuple[str | None, list[dict]]:
    """(file-level error or None, raw rows)."""
    try:
        pool.check_pool_file(path)
        rows = [r for t in pool.read_pool_file(path, batch_rows=16) for r in t.to_pylist()]
    except pool.PoolFormatError as e:
        return str(e), []
    return None, rows


def _readable_lines(fmt: str, data: bytes) -> int:
    """Complete records in what can be decoded of a truncated text file."""
    text = _gunzip_prefix(data) if fmt.endswith(".gz") else data
    complete = text[: text.rfind(b"\n") + 1] if b"\n" in text else b""
    lines = [ln for ln in complete.split(b"\n")[:-1] if ln.strip() or not fmt.startswith("jsonl")]
    return max(0, len(lines) - (0 if fmt.startswith("jsonl") else 1))


@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_files_become_removed_rows_or_one_line_errors(tmp_path, fmt):
    rng = random.Random(f"fuzz-{fmt}")
    config = IngestConfig()
    outcomes = {"file_error": 0, "rows": 0, "broken": 0}
    for case in range(CASES_PER_FORMAT):
        rows = _pairs(rng)
        kind, data, expect = _damage(fmt, rows, rng)
        path = str(tmp_path / f"case{case:03d}.{fmt}")
        with open(path, "wb") as f:
            f.write(data)
        what = f"{fmt} case {case} ({kind}, {len(data)} bytes)"
        with _deadline(SECONDS_PER_FILE, what):
            error, raw = _read(path)
        if error is not None:
            assert "\n" not in error and path in error, what
            if kind in ("types", "huge") and not fmt.startswith("jsonl"):
                # Readable columns of another type are read as text; only a url column
                # that is not text-like may be refused.
                assert fmt == "parquet", f"{what}: {error}"
            if kind == "truncate" and fmt != "parquet":
                assert _readable_lines(fmt, data) == 0 or "column" in error or "keys" in error, f"{what}: {error}"
            outcomes["file_error"] += 1
            continue
        outcomes["rows"] += 1
        # Rows are numbered from 0 without gaps, but for the rows a broken_file record
        # stands for: none skipped without a trace.
        broken = [r for r in raw if (r["parse_error"] or "").startswith("broken_file: ")]
        numbers = [r["source_row"] for r in raw]
        assert numbers[:1] in ([], [0]), what
        for prev, row in zip(raw, numbers[1:], strict=False):
            assert row == prev["source_row"] + 1 or (prev in broken and row > prev["source_row"]), what
        if fmt != "parquet":
            assert broken in ([], raw[-1:]), f"{what}: a break ends a text file"
        else:
            lost = sum(int(re.search(r"\((\d+)\) do not decode", r["parse_error"]).group(1)) for r in broken)
            assert len(raw) - len(broken) + lost == ROWS, f"{what}: every row read or counted as lost"
        outcomes["broken"] += bool(broken)
        if kind == "truncate" and fmt == "parquet":
            pytest.fail(f"{what}: a Parquet file cut short has no footer: a file-level error")
        if kind == "truncate":
            assert len(raw) - len(broken) >= _readable_lines(fmt, data), f"{what}: rows lost"
        if "rows" in expect and not broken:
            assert len(raw) >= expect["rows"], f"{what}: {len(raw)} rows of {expect['rows']}"
        # Ingest turns every row into a pair or a removed record with a reason.
        table = pool._raw_batch(path, 0, [], [], None, None) if not raw else pa.Table.from_pylist(raw, schema=pool.RAW_SCHEMA)
        kept, removed = ingest_ops.ingest_batch(table, config)
        assert kept.num_rows + removed.num_rows == len(raw), what
        assert None not in removed["reason"].to_pylist(), what
        if broken:
            assert "broken_file" in removed["reason"].to_pylist(), what
    # The damage reached both outcomes (a fuzzer that never breaks anything tests nothing).
    assert outcomes["rows"] > 0, outcomes
    if fmt in ("parquet", "csv.gz", "tsv.gz", "jsonl.gz"):
        assert outcomes["file_error"] > 0, outcomes


def test_parquet_broken_in_a_middle_row_group_keeps_the_rows_before(tmp_path):
    rows = _pairs(random.Random(1))
    data = bytearray(_parquet(rows))
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata
    col = meta.row_group(2).column(1)  # the url column of the third of four row groups
    start = col.dictionary_page_offset or col.data_page_offset
    data[start + 20 : start + col.total_compressed_size - 4] = b"\x00" * (col.total_compressed_size - 24)
    path = tmp_path / "pool.parquet"
    path.write_bytes(bytes(data))
    pool.check_pool_file(str(path))  # the footer is fine: the break shows when reading
    raw = [r for t in pool.read_pool_file(str(path), batch_rows=8) for r in t.to_pylist()]
    n = ROWS // 4  # rows per row group
    good = [r for r in raw if r["parse_error"] is None]
    assert [r["url"] for r in good] == [r["url"] for r in rows[: 2 * n] + rows[3 * n :]]
    assert [r["source_row"] for r in good] == [*range(2 * n), *range(3 * n, 4 * n)]
    (broken,) = [r for r in raw if r["parse_error"] is not None]
    assert broken["source_row"] == 2 * n
    assert broken["parse_error"].startswith(f"broken_file: row group 2: rows {2 * n}..{3 * n - 1} ({n}) do not decode")


def test_gzip_cut_midway_keeps_every_complete_row(tmp_path):
    rows = [{"url": f"http://e.com/{i}.jpg", "text": f"caption number {i} of many"} for i in range(50_000)]
    data = gzip.compress(_jsonl(rows), mtime=0)
    path = tmp_path / "pool.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    raw = [r for t in pool.read_pool_file(str(path)) for r in t.to_pylist()]
    readable = _readable_lines("jsonl.gz", data[: len(data) // 2])
    assert 1000 < readable < 50_000
    # Every complete line, maybe the partial last line (broken JSON), then the break.
    assert [r["url"] for r in raw[:readable]] == [r["url"] for r in rows[:readable]]
    assert len(raw) in (readable + 1, readable + 2)
    assert all(r["parse_error"].startswith("json:") for r in raw[readable:-1])
    assert raw[-1]["parse_error"].startswith(f"broken_file: cannot read past row {len(raw) - 1}: EOFError")


def test_a_50mb_jsonl_line_is_one_removed_row(tmp_path):
    path = tmp_path / "pool.jsonl"
    with open(path, "wb") as f:
        f.write(json.dumps({"url": "http://e.com/1.jpg", "text": "fine caption"}).encode() + b"\n")
        f.write(json.dumps({"url": "http://e.com/2.jpg", "text": "x" * (50 << 20)}).encode() + b"\n")
        f.write(json.dumps({"url": "http://e.com/3.jpg", "text": "last caption"}).encode() + b"\n")
    with _deadline(60, "50 MB line"):
        pool.check_pool_file(str(path))
        raw = pa.concat_tables(list(pool.read_pool_file(str(path))))
        kept, removed = ingest_ops.ingest_batch(raw, IngestConfig())
    assert kept["url"].to_pylist() == ["http://e.com/1.jpg", "http://e.com/3.jpg"]
    assert removed["reason"].to_pylist() == ["text_too_long"]
