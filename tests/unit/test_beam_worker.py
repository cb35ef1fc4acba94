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
