"""What sizing the gRPC data plane's messages costs: protobuf's ``ByteSize()`` (Beam's
``_GrpcDataChannel._write_outputs`` calls it on every message it sends) against the payload's
``len(data)`` (``curate.beam_worker.data_plane_sizes_without_encoding``), per message, and the
whole send loop of each over the same queued messages (checked to yield the same bytes).
Medians of --repeats.

    .venv/bin/python benchmarks/data_plane_sizes.py [--mb 8] [--messages 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=8, help="payload of each message")
    ap.add_argument("--messages", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)

    from apache_beam.portability.api import beam_fn_api_pb2 as pb
    from apache_beam.runners.worker import data_plane
    from google.protobuf.internal import api_implementation
    from test_beam_worker import _send_all

    import curate.beam_worker  # noqa: F401  (the patch)

    payload = os.urandom(int(a.mb * (1 << 20)))
    message = pb.Elements.Data(instruction_id="bundle-1", transform_id="ref_PCollection_1", data=payload)

    def per_call(fn, n=20):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n * 1e3

    byte_size = statistics.median(per_call(message.ByteSize) for _ in range(a.repeats))
    length = statistics.median(per_call(lambda: len(message.data)) for _ in range(a.repeats))
    items = [pb.Elements.Data(instruction_id="bundle-1", transform_id="ref_PCollection_1", data=payload) for _ in range(a.messages)]
    ours_fn = data_plane._GrpcDataChannel._write_outputs
    times = {"beam": [], "curate": []}
    same = True
    for _ in range(a.repeats):
        for name, fn in (("beam", ours_fn.beam), ("curate", ours_fn)):
            start = time.perf_counter()
            out = _send_all(fn, items)
            times[name].append(time.perf_counter() - start)
            if name == "beam":
                reference = out
            else:
                same &= out == reference
    beam_s, ours_s = statistics.median(times["beam"]), statistics.median(times["curate"])
    print(f"protobuf backend {api_implementation.Type()}; one {a.mb:g} MB message: ByteSize() {byte_size:.2f} ms, "
          f"len(data) {length:.2f} ms ({byte_size / length:.0f}x)")
    print(f"send loop over {a.messages} messages (serialized as gRPC would): Beam's {beam_s:.2f} s, curate's {ours_s:.2f} s "
          f"({beam_s / ours_s:.2f}x); same bytes: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
