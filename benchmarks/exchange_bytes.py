"""What dedup_text's exchange writes, and what writing it costs here: the band rows one batch of
generated pairs makes (``SignBatchFn.pieces`` at a pool's partition count), their Arrow IPC
bytes per pair and per row by column, the same streams compressed with Arrow's IPC codecs
(size, CPU MB/s to write and to read back), and the machine's sequential write speed to the
folder the exchange would use (a temporary folder: the benchmarks' output sits there). CPU speeds are the best of three.

    .venv/bin/python benchmarks/exchange_bytes.py [--pairs 1000000] [--batch 8192]
        [--write-mb 1024] [--output benchmarks/results/exchange_bytes_<date>.json]

Figures are per batch and scale with the pool: multiply the bytes per pair by the pool.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import text_data  # noqa: E402

from curate import schema  # noqa: E402
from curate.config import DedupTextConfig  # noqa: E402
from curate.transforms.dedup_text import SignBatchFn  # noqa: E402

CODECS = [None, ("lz4", None), ("zstd", 1), ("zstd", -1)]


def ipc(table: pa.Table, codec) -> pa.Buffer:
    options = pa.ipc.IpcWriteOptions(compression=None if codec is None else pa.Codec(codec[0], compression_level=codec[1]))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


def write_speed(folder: str, megabytes: int) -> float:
    """MB/s of writing `megabytes` in 8 MB blocks to a new file in `folder`, closed (not synced)."""
    block = os.urandom(8 << 20)
    fd, path = tempfile.mkstemp(dir=folder)
    try:
        start = time.perf_counter()
        with os.fdopen(fd, "wb") as f:
            for _ in range(max(1, megabytes // 8)):
                f.write(block)
        return megabytes * (1 << 20) / 1e6 / (time.perf_counter() - start)
    finally:
        os.unlink(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=1_000_000, help="the pool size whose partition count is used")
    ap.add_argument("--batch", type=int, default=8192, help="pairs in the batch signed")
    ap.add_argument("--write-mb", type=int, default=1024)
    ap.add_argument("--output", default=None)
    a = ap.parse_args(argv)

    c = DedupTextConfig()
    texts = text_data.texts(a.batch, seed=1)
    table = pa.table({"uid": [f"{k:032x}" for k in range(len(texts))], "text": texts})
    fn = SignBatchFn(c)
    fn.setup()
    pair_partitions = max(1, a.pairs // c.rows_per_partition)
    parts = collections.defaultdict(list)
    for part, piece in fn.pieces(table, pair_partitions):
        parts[part].append(piece)
    tables = [schema.concat(v) for _, v in sorted(parts.items())]
    rows = sum(t.num_rows for t in tables)
    by_column = {name: sum(t.column(name).nbytes for t in tables) / rows for name in tables[0].column_names}
    codecs = {}
    for codec in CODECS:
        written = read = float("inf")
        for _ in range(3):  # the best of three (the first pays one-off allocations)
            start = time.perf_counter()
            buffers = [ipc(t, codec) for t in tables]
            written = min(written, time.perf_counter() - start)
            start = time.perf_counter()
            for b in buffers:
                pa.ipc.open_stream(b).read_all()
            read = min(read, time.perf_counter() - start)
        size = sum(b.size for b in buffers)
        raw = sum(t.nbytes for t in tables)
        name = "none" if codec is None else f"{codec[0]}" + ("" if codec[1] is None else f" level {codec[1]}")
        codecs[name] = {"bytes_per_pair": round(size / len(texts), 1), "ratio": round(raw / size, 2),
                        "write_cpu_mb_per_s": round(raw / written / 1e6), "read_cpu_mb_per_s": round(raw / read / 1e6)}
        print(f"{name}: {size / len(texts):,.0f} bytes per pair ({raw / size:.2f}x), write {raw / written / 1e6:,.0f} MB/s, "
              f"read {raw / read / 1e6:,.0f} MB/s of uncompressed data, one core")
    folder = tempfile.gettempdir()
    speed = write_speed(folder, a.write_mb)
    per_pair = codecs["none"]["bytes_per_pair"]
    print(f"{len(tables)} band partitions, {rows / len(texts):.1f} band rows per pair, {per_pair:,.0f} IPC bytes per pair "
          f"({', '.join(f'{k} {v:.0f}' for k, v in by_column.items())} bytes per row); at {a.pairs:,} pairs "
          f"{per_pair * a.pairs / 1e9:.1f} GB; writing to {folder}: {speed:,.0f} MB/s")
    if a.output:
        Path(a.output).write_text(json.dumps({
            "command": " ".join(["benchmarks/exchange_bytes.py", *(argv if argv is not None else sys.argv[1:])]),
            "date": str(dt.date.today()), "machine": f"{os.cpu_count()} cores",
            "pairs": a.pairs, "batch": a.batch, "band_partitions": len(tables), "band_rows_per_pair": round(rows / len(texts), 2),
            "bytes_per_row_by_column": {k: round(v, 1) for k, v in by_column.items()},
            "codecs": codecs, "pool_gb_uncompressed": round(per_pair * a.pairs / 1e9, 2),
            "write_folder": folder, "write_mb_per_s": round(speed),
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
