"""Every process that runs bundles gets the short state-sampling period before its first
bundle: the local runner's worker processes through --beam_plugins, this process on import."""

import apache_beam as beam
from apache_beam.runners.worker import statesampler
from apache_beam.testing.util import assert_that, equal_to

from curate.beam_worker import STATE_SAMPLING_MS
from curate.runner import WORKER_PLUGIN, beam_args, pipeline_options


def _period(_):
    """The sampling period of the bundle running this element (in a worker process)."""
    import os

    return os.getpid(), statesampler.get_current_tracker().sampling_period_ms


def test_plugin_named_once_whatever_the_user_gave():
    for given in ([], ["--beam_plugins=other"], ["--beam_plugin", WORKER_PLUGIN], [f"--beam_plugins={WORKER_PLUGIN}"]):
        args = beam_args(given)
        values = [a.split("=", 1)[1] for a in args if a.startswith("--beam_plugin") and "=" in a]
        values += [args[i + 1] for i, a in enumerate(args) if a in ("--beam_plugin", "--beam_plugins")]
        assert values.count(WORKER_PLUGIN) == 1, args
        assert all(g in args for g in given)


def test_this_process_samples_at_the_short_period():
    sampler = statesampler.StateSampler("x", None)
    assert sampler.sampling_period_ms == STATE_SAMPLING_MS < 200


def test_worker_processes_sample_at_the_short_period_from_their_first_bundle():
    # the first stage's bundle processor is built before any of curate's code is unpickled in
    # the worker: only the plugin, imported at the worker's start, reaches it
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    with beam.Pipeline(options=pipeline_options(args)) as p:
        first = p | beam.Create(range(40)) | "First" >> beam.Map(_period)
        second = (
            first
            | beam.Map(lambda x: (x[0] % 3, x))
            | beam.GroupByKey()
            | "Second" >> beam.FlatMap(lambda kv: [_period(None)] * len(kv[1]))
        )
        seen = (first, second) | beam.Flatten() | beam.Map(lambda x: x[1]) | beam.combiners.Count.PerElement()
        assert_that(seen, equal_to([(STATE_SAMPLING_MS, 80)]))


def _send_all(write_outputs, items) -> list:
    """What a data channel's `write_outputs` yields for `items` queued before the end marker."""
    import types

    from apache_beam.runners.worker import data_plane
    from apache_beam.utils.byte_limited_queue import ByteLimitedQueue

    channel = data_plane._GrpcDataChannel
    fake = types.SimpleNamespace(_to_send=ByteLimitedQueue(), _WRITES_FINISHED=channel._WRITES_FINISHED)
    fake._get_element_size_bytes = lambda e: channel._get_element_size_bytes(fake, e)
    for item in [*items, channel._WRITES_FINISHED]:
        fake._to_send.put(item, 0)
    return [m.SerializeToString() for m in write_outputs(fake)]


def test_data_plane_sends_what_beams_own_method_sends():
    """curate.beam_worker sizes the data plane's messages by their payload instead of encoding
    them (``ByteSize``); the gRPC messages it yields are Beam's, byte for byte: the same
    elements, in the same order, coalesced the same way (sizes here far from the 10 MB line)."""
    import random

    from apache_beam.portability.api import beam_fn_api_pb2 as pb
    from apache_beam.runners.worker import data_plane

    patched = data_plane._GrpcDataChannel._write_outputs
    assert patched.curate_sized
    rng = random.Random(3)
    items = []
    for k in range(260):  # more than the 100 a message may coalesce
        if k % 17 == 5:
            items.append(pb.Elements.Timers(instruction_id="i", transform_id="t", timer_family_id="f", timers=b"x" * 40))
        elif k % 13 == 0:
            items.append(pb.Elements.Data(instruction_id="i", transform_id=f"t{k % 3}", is_last=True))
        else:
            size = rng.choice([10, 1000, 100_000, 3_000_000, 4_500_000, 12_000_000])
            items.append(pb.Elements.Data(instruction_id="i", transform_id=f"t{k % 3}", data=rng.randbytes(size)))
    ours, beams = _send_all(patched, items), _send_all(patched.beam, items)
    assert len(ours) > 3 and ours == beams
