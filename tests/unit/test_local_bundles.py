"""How the local runner shares a bundle's input between its worker processes and stops them
(``curate.runner.even_bundle_splits_on_local_runner``, ``local_workers_stop_together``)."""

import threading
import time
from collections import Counter

import pyarrow as pa
from apache_beam.coders import PickleCoder
from apache_beam.coders.coder_impl import create_InputStream, create_OutputStream
from apache_beam.runners.portability.fn_api_runner import execution, worker_handlers

from curate import runner


def _chunks(coder_impl, sizes_per_chunk: list[list[int]]) -> list[bytes]:
    """Encoded chunks as the data plane delivers them: chunk c holds one table per size."""
    chunks, n = [], 0
    for sizes in sizes_per_chunk:
        out = create_OutputStream()
        for rows in sizes:
            coder_impl.encode_to_stream(pa.table({"uid": [f"{n}-{i}" for i in range(rows)]}), out, True)
            n += 1
        chunks.append(out.get())
    return chunks


def _decoded(coder_impl, parts: list[list[bytes]]) -> list[list[str]]:
    """Each part's rows (the uids), in order."""
    out = []
    for part in parts:
        uids = []
        for chunk in part:
            stream = create_InputStream(chunk)
            while stream.size() > 0:
                uids += coder_impl.decode_from_stream(stream, True)["uid"].to_pylist()
        out.append(uids)
    return out


def test_uneven_chunks_are_dealt_out_by_element():
    """What dedup_text's signing got at 100K pairs: a big chunk and small ones; Beam's cut
    by chunk gives one worker nearly everything."""
    impl = PickleCoder().get_impl()
    chunks = _chunks(impl, [[4096] * 10, [300], [4096] * 2, [50]])
    beam_parts = [chunks[k::2] for k in range(2)]
    beam_bytes = [sum(map(len, p)) for p in beam_parts]
    assert max(beam_bytes) > 3 * min(beam_bytes)
    parts = runner.split_evenly(chunks, 2, impl)
    rows = _decoded(impl, parts)
    assert Counter(rows[0] + rows[1]) == Counter(_decoded(impl, [chunks])[0])  # nothing lost or doubled
    assert abs(len(rows[0]) - len(rows[1])) <= 4096  # one table's worth at most


def test_even_chunks_keep_beams_cut():
    impl = PickleCoder().get_impl()
    chunks = _chunks(impl, [[1000], [1000], [1000], [1000]])
    assert runner.split_evenly(chunks, 2, impl) == [[chunks[0], chunks[2]], [chunks[1], chunks[3]]]


def test_the_local_runner_uses_it():
    impl = PickleCoder().get_impl()
    buffer = execution.ListBuffer(impl)
    for chunk in _chunks(impl, [[4096] * 6, [10], [10]]):
        buffer.append(chunk)
    rows = _decoded(impl, buffer.partition(2))
    assert [len(r) for r in rows] == [3 * 4096 + 10] * 2  # 3 big tables and a small one each, not 6 and 2
    assert _decoded(impl, execution.ListBuffer(impl).partition(2)) == [[], []]


class _SlowHandler:
    """A worker handler whose process takes `seconds` to exit."""

    def __init__(self, seconds: float, fail: bool = False):
        self.seconds, self.fail, self.closed_at = seconds, fail, None

    def close(self):
        time.sleep(self.seconds)
        self.closed_at = time.perf_counter()
        if self.fail:
            raise RuntimeError("worker would not stop")


def test_workers_stop_together():
    manager = worker_handlers.WorkerHandlerManager.__new__(worker_handlers.WorkerHandlerManager)
    handlers = [_SlowHandler(0.5), _SlowHandler(0.5, fail=True), _SlowHandler(0.5)]
    manager._cached_handlers = {"env": handlers}
    manager._workers_by_id = {}
    manager._grpc_server = None
    start = time.perf_counter()
    manager.close_all()
    took = time.perf_counter() - start
    assert all(h.closed_at is not None for h in handlers)  # one failing does not stop the rest
    assert took < 1.0, took  # one after the other: 1.5 s
    assert dict(manager._cached_handlers) == {} and manager._workers_by_id == {}
    assert threading.active_count() < 50
