"""PartitionedTablesFn: pieces gathered per partition over a bundle, spilled to local disk past
its memory budget, emitted only when the bundle ends, none larger than its piece size, and
nothing lost, duplicated or moved to another partition."""

from __future__ import annotations

import glob
import os
import pickle
import tempfile

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.testing.util import assert_that, equal_to

from curate.runner import in_process_args, pipeline_options
from curate.transforms.base import PartitionedTablesFn


class ModuloFn(PartitionedTablesFn):
    """Rows of an int table → partition value % parts (the second column's text varies in
    length, so pieces differ in size)."""

    def __init__(self, parts: int, memory_bytes: int, piece_bytes: int):
        self.parts = parts
        self.memory_bytes, self.piece_bytes = memory_bytes, piece_bytes

    def pieces(self, table: pa.Table):
        v = table["v"].to_numpy()
        for p in range(self.parts):
            yield p, table.filter(pa.array(v % self.parts == p))


def batches(n: int, rows: int) -> list[pa.Table]:
    out = []
    for i in range(0, n, rows):
        v = np.arange(i, min(n, i + rows), dtype=np.int64)
        out.append(pa.table({"v": v, "s": [f"row {x} " + "x" * (x % 50) for x in v.tolist()]}))
    return out


def spill_files() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "curate-spill-*")))


def run_bundle(fn: PartitionedTablesFn, tables: list[pa.Table]) -> tuple[list, list]:
    fn.setup()
    fn.start_bundle()
    during = [out for t in tables for out in fn.process(t)]
    spilled = fn._spill is not None
    after = [w.value for w in fn.finish_bundle()]
    fn.teardown()
    return during, after, spilled


def test_bundle_emits_only_at_its_end_in_bounded_pieces_nothing_lost():
    tables = batches(20_000, 1_000)
    before = spill_files()
    fn = ModuloFn(parts=7, memory_bytes=60_000, piece_bytes=20_000)
    during, after, spilled = run_bundle(fn, tables)
    assert during == []  # nothing before the bundle ends
    assert spilled  # the budget (60 KB) is far below the bundle's ~1.3 MB
    assert spill_files() == before  # the spill file is gone with the bundle
    seen = {}
    for part, piece in after:
        assert piece.num_rows > 0
        # bounded, as pickled (what Beam's coder ships), whatever slicing did
        assert len(pickle.dumps(piece)) < 2 * 20_000 + 4_000
        assert set((piece["v"].to_numpy() % 7).tolist()) == {part}
        seen.setdefault(part, []).extend(piece["v"].to_pylist())
        assert piece["s"].to_pylist() == [f"row {x} " + "x" * (x % 50) for x in piece["v"].to_pylist()]
    assert sorted(seen) == list(range(7))
    assert sorted(v for vs in seen.values() for v in vs) == list(range(20_000))


def test_small_bundle_stays_in_memory_and_gathers_per_partition():
    tables = batches(300, 100)
    fn = ModuloFn(parts=3, memory_bytes=64 << 20, piece_bytes=4 << 20)
    during, after, spilled = run_bundle(fn, tables)
    assert during == [] and not spilled
    assert [p for p, _ in after] == [0, 1, 2]  # one piece per partition, in order
    assert [t.num_rows for _, t in after] == [100, 100, 100]


def test_failed_bundle_leaves_no_spill_file():
    before = spill_files()
    fn = ModuloFn(parts=2, memory_bytes=1_000, piece_bytes=1_000)
    fn.setup()
    fn.start_bundle()
    for t in batches(2_000, 500):
        list(fn.process(t))
    assert fn._spill is not None and spill_files() != before
    fn.start_bundle()  # a retry on the same instance
    assert spill_files() == before
    list(fn.process(batches(10, 10)[0]))
    fn.teardown()
    assert spill_files() == before


def test_grouped_result_same_as_unspilled_through_beam():
    tables = batches(5_000, 250)

    def grouped(memory_bytes, piece_bytes):
        def rows(item):
            part, pieces = item
            return part, sorted(v for t in pieces for v in t["v"].to_pylist())

        with beam.Pipeline(options=pipeline_options(in_process_args(1))) as p:
            out = (
                p
                | beam.Create(tables, reshuffle=False)
                | beam.ParDo(ModuloFn(5, memory_bytes, piece_bytes))
                | beam.GroupByKey()
                | beam.Map(rows)
            )
            expected = [(k, [v for v in range(5_000) if v % 5 == k]) for k in range(5)]
            assert_that(out, equal_to(expected))

    grouped(64 << 20, 4 << 20)
    grouped(10_000, 5_000)
