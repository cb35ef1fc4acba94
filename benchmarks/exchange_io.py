"""What writing dedup_text's exchange files and reading them back costs the machine: the
exchange's own code (``curate.transforms.base._Spill`` and ``read_pieces``: local files past
the page cache, ``curate.io.direct``) against the same Arrow IPC streams written and read
through Beam's ``FileSystems`` with buffered I/O (what the exchange did before), alternated,
the same band rows in both and checked equal when read back.

The band rows are one generated batch's (``SignBatchFn.pieces`` at a pool's partition count),
written again and again to reach ``--gb`` per round, in files of ``--file-mb`` (one signing
bundle's spill file each). Each arm ends with ``os.sync()`` so that the kernel's writeback of
what it wrote is counted in it; "machine CPU" is the busy time of all cores from
``/proc/stat`` over the arm (the writing process, the reader and the kernel's writeback
threads), "wall" its elapsed time.

    .venv/bin/python benchmarks/exchange_io.py [--gb 4] [--rounds 3] [--folder /tmp]
        [--output benchmarks/results/exchange_io_<date>.json]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import text_data  # noqa: E402

from curate import schema  # noqa: E402
from curate.config import DedupTextConfig  # noqa: E402
from curate.transforms.base import Segment, _Spill, read_pieces  # noqa: E402
from curate.transforms.dedup_text import SignBatchFn  # noqa: E402


def band_tables(pairs: int, batch: int) -> dict[int, pa.Table]:
    c = DedupTextConfig()
    texts = text_data.texts(batch, seed=1)
    table = pa.table({"uid": [f"{k:032x}" for k in range(len(texts))], "text": texts})
    fn = SignBatchFn(c)
    fn.setup()
    parts = collections.defaultdict(list)
    for part, piece in fn.pieces(table, max(1, pairs // c.rows_per_partition)):
        parts[part].append(piece)
    return {part: schema.concat(v) for part, v in sorted(parts.items())}


def busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (not idle, not waiting on I/O)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def write_buffered(folder: str, gathered: dict[int, list[pa.Table]]) -> list[Segment]:
    """The exchange before curate.io.direct: each stream serialized into memory, then written
    through FileSystems.create (a buffered local file)."""
    from apache_beam.io.filesystems import FileSystems

    path = FileSystems.join(folder, f"{uuid.uuid4().hex}.arrows")
    segments, size = [], 0
    with FileSystems.create(path) as f:
        for part in sorted(gathered):
            sink = pa.BufferOutputStream()
            table = schema.concat(gathered[part])
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            data = sink.getvalue()
            f.write(memoryview(data))
            segments.append(Segment(path, size, data.size))
            size += data.size
    return segments


def read_buffered(segments: list[Segment]) -> list[pa.Table]:
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    out = []
    with FileSystems.open(segments[0].path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for seg in segments:
            f.seek(seg.offset)
            out.append(pa.ipc.open_stream(pa.py_buffer(f.read(seg.size))).read_all())
    return out


def write_direct(folder: str, gathered: dict[int, list[pa.Table]]) -> list[Segment]:
    spill = _Spill(folder)
    spill.write(gathered)
    spill.finish()
    return [Segment(spill.path, start, size) for part in sorted(spill.segments) for start, size in spill.segments[part]]


ARMS = {"buffered": (write_buffered, read_buffered), "direct": (write_direct, read_pieces)}


def run_arm(arm: str, folder: str, tables: dict[int, pa.Table], files: int, per_file: int, check: bool) -> dict:
    write, read = ARMS[arm]
    os.sync()
    busy0, t0 = busy_seconds(), time.perf_counter()
    written = []
    for _ in range(files):
        gathered = {}
        for k, (part, table) in enumerate(tables.items()):
            if k >= per_file:
                break
            gathered[part] = [table]
        written.append(write(folder, gathered))
    os.sync()
    busy1, t1 = busy_seconds(), time.perf_counter()
    ok = True
    for segments in written:
        got = read(segments)
        if check:
            want = [tables[p] for p in sorted(tables)][: len(got)]
            ok &= all(g.equals(w) for g, w in zip(got, want, strict=True))
        del got
    busy2, t2 = busy_seconds(), time.perf_counter()
    size = sum(s.size for segments in written for s in segments)
    for segments in written:
        os.unlink(segments[0].path)
    return {"arm": arm, "gb": round(size / 1e9, 2), "write_wall_s": round(t1 - t0, 2), "write_machine_cpu_s": round(busy1 - busy0, 2),
            "read_wall_s": round(t2 - t1, 2), "read_machine_cpu_s": round(busy2 - busy1, 2),
            "machine_cpu_s": round(busy2 - busy0, 2), "wall_s": round(t2 - t0, 2), "read_back_equal": ok}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=4.0, help="bytes each arm writes per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=1_000_000, help="the pool size whose partition count is used")
    ap.add_argument("--batch", type=int, default=8192, help="pairs in the batch signed")
    ap.add_argument("--file-mb", type=int, default=64, help="about how much each file holds (a bundle's spill round)")
    ap.add_argument("--folder", default=tempfile.gettempdir(), help="where the files go (the exchange's disk)")
    ap.add_argument("--output", default=None)
    a = ap.parse_args(argv)

    tables = band_tables(a.pairs, a.batch)
    ipc_bytes = sum(t.nbytes for t in tables.values())
    per_file = max(1, min(len(tables), int(len(tables) * (a.file_mb << 20) / ipc_bytes)))
    file_bytes = ipc_bytes * per_file / len(tables)
    files = max(1, round(a.gb * 1e9 / file_bytes))
    print(f"{len(tables)} band partitions of one {a.batch:,}-pair batch, {ipc_bytes / 1e6:.0f} MB; "
          f"{files} files of ~{file_bytes / 1e6:.0f} MB per arm and round, in {a.folder}")
    folder = tempfile.mkdtemp(dir=a.folder, prefix="exchange-io-")
    runs = []
    try:
        for r in range(a.rounds):
            for arm in (("buffered", "direct") if r % 2 == 0 else ("direct", "buffered")):
                res = run_arm(arm, folder, tables, files, per_file, check=(r == 0))
                res["round"] = r + 1
                runs.append(res)
                print(json.dumps(res))
    finally:
        shutil.rmtree(folder)
    summary = {}
    for arm in ARMS:
        mine = [x for x in runs if x["arm"] == arm]
        summary[arm] = {k: statistics.median(x[k] for x in mine) for k in
                        ("wall_s", "machine_cpu_s", "write_machine_cpu_s", "read_machine_cpu_s", "write_wall_s", "read_wall_s")}
    ratio_cpu = summary["buffered"]["machine_cpu_s"] / summary["direct"]["machine_cpu_s"]
    ratio_wall = summary["buffered"]["wall_s"] / summary["direct"]["wall_s"]
    equal = all(x["read_back_equal"] for x in runs)
    for arm, s in summary.items():
        print(f"{arm:>9}: median machine CPU {s['machine_cpu_s']:.1f} s (write {s['write_machine_cpu_s']:.1f}, "
              f"read {s['read_machine_cpu_s']:.1f}), wall {s['wall_s']:.1f} s")
    print(f"buffered / direct: machine CPU {ratio_cpu:.1f}x, wall {ratio_wall:.1f}x; read back equal: {equal}")
    if a.output:
        Path(a.output).write_text(json.dumps({
            "command": " ".join(["benchmarks/exchange_io.py", *(argv if argv is not None else sys.argv[1:])]),
            "date": str(dt.date.today()), "machine": f"{os.cpu_count()} cores",
            "folder": a.folder, "files_per_arm": files, "file_mb": round(file_bytes / 1e6),
            "runs": runs, "medians": summary, "buffered_over_direct_machine_cpu": round(ratio_cpu, 2),
            "buffered_over_direct_wall": round(ratio_wall, 2), "read_back_equal": equal,
        }, indent=1) + "\n")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
