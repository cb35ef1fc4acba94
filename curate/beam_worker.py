"""Settings for every process that runs Beam bundles, applied when this module is imported.

Every pipeline's options name this module in ``--beam_plugins`` (``curate.runner.beam_args``),
so a Beam SDK worker imports it when it starts, before its first bundle: the local runner's
worker processes, the harnesses Flink starts (``curate.sdk_boot``) and Dataflow's. The driver
imports it with ``curate.runner``, which covers the local runner's in-process mode and
Flink's LOOPBACK workers (threads of the driver).

Beam's state sampler: each bundle starts a thread that wakes every ``sampling_period_ms`` to
charge the elapsed time to the step running, and ending the bundle joins that thread, which
returns only when it next wakes. Beam's period is 200 ms (reached after ~1.2 s of a bundle,
from 2 ms, x1.2 per wake): a bundle ended 83 ms after its last element at the median, up to
200 ms, with the worker idle, and the runner starts the stages that need its output only
then. At ``STATE_SAMPLING_MS`` the wait is 9.5 ms at the median
(``benchmarks/bench_bundle_end.py``). A 100K-pair text stage ran 126 bundles, 20 of them
longer than 0.2 s (``benchmarks/local_runner_bundles.py``); it ran 1.05x faster at the
medians, with the same clusters (at 1M pairs the difference is below the noise;
``benchmarks/results/text_stage_state_sampler_alternation_2026-12-03.txt``). The thread
wakes more often, each time without the interpreter lock (a lock, a clock read and an
addition); the step times Beam reports get a finer resolution, nothing else changes.
"""

from __future__ import annotations

STATE_SAMPLING_MS = 20


def short_state_sampling(period_ms: int = STATE_SAMPLING_MS) -> bool:
    """Make the state samplers of bundles created from now on wake every `period_ms`.
    False (and Beam's period kept) where Beam's ``StateSampler`` no longer takes the period
    as its last parameter with a default."""
    from apache_beam.runners.worker import statesampler

    init = statesampler.StateSampler.__init__
    code = init.__code__
    names = code.co_varnames[: code.co_argcount]
    if not names or names[-1] != "sampling_period_ms" or not init.__defaults__ or len(init.__defaults__) != 1:
        return False
    init.__defaults__ = (period_ms,)
    return True


short_state_sampling()


def data_plane_sizes_without_encoding() -> bool:
    """Make the gRPC data plane size the messages it coalesces by their payload's length, not
    by protobuf's ``ByteSize()``. Beam's ``_GrpcDataChannel._write_outputs`` (2.77) calls
    ``ByteSize()`` on every message it sends, to stop coalescing near 10 MB; with the upb
    protobuf backend that method encodes the whole message to count it: 22.5 ms for an 8 MB
    element against 0.44 ms for ``len(data)`` (``benchmarks/results/data_plane_sizes_2026-12-03.txt``),
    and in a 1M-pair text stage it was ~17 s of the driver's and the workers' samples
    (``pyspy_1m_direct_io_2026-12-03.txt``). The sizes differ only by the messages' few
    header bytes, so at most a message moves to the next batch near the 10 MB line; what is
    sent, and in what order, is the same. False (and Beam's method kept) where Beam's method
    no longer calls ``ByteSize``."""
    import queue

    from apache_beam.portability.api import beam_fn_api_pb2
    from apache_beam.runners.worker import data_plane

    channel = data_plane._GrpcDataChannel
    if getattr(channel._write_outputs, "curate_sized", False):
        return True
    if "ByteSize" not in channel._write_outputs.__code__.co_names:
        return False
    threshold = data_plane._DEFAULT_SIZE_FLUSH_THRESHOLD

    def _write_outputs(self):
        done = False
        while not done:
            streams = [self._to_send.get()]
            try:  # coalesce up to 100 more, below the threshold
                total = self._get_element_size_bytes(streams[0])
                while total < threshold and len(streams) <= 100:
                    item = self._to_send.get_nowait()
                    total += self._get_element_size_bytes(item)
                    streams.append(item)
            except queue.Empty:
                pass
            if streams[-1] is self._WRITES_FINISHED:
                done = True
                streams.pop()
            if streams:
                data = [x for x in streams if isinstance(x, beam_fn_api_pb2.Elements.Data)]
                timers = [x for x in streams if isinstance(x, beam_fn_api_pb2.Elements.Timers)]
                if len(data) + len(timers) != len(streams):
                    other = next(x for x in streams if not isinstance(x, (beam_fn_api_pb2.Elements.Data, beam_fn_api_pb2.Elements.Timers)))
                    raise ValueError(f"Unexpected output element type {type(other)}")
                yield beam_fn_api_pb2.Elements(data=data, timers=timers)

    _write_outputs.curate_sized = True
    _write_outputs.beam = channel._write_outputs
    channel._write_outputs = _write_outputs
    return True


data_plane_sizes_without_encoding()

