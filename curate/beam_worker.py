"""Settings for every process that runs Beam bundles, applied when this module is imported.

Every pipeline's options name this module in ``--beam_plugins`` (``curate.runner.beam_args``),
so a Beam SDK worker imports it when it starts, before its first bundle: the local runner's
worker processes, the harnesses Flink starts (``curate.sdk_boot``) and Dataflow's. The driver
imports it with ``curate.runner``, which covers the local runner's in-process mode and
Flink's LOOPBACK workers (threads of the driver).

Beam's state sampler: each bundle starts a thread that wakes every ``sampling_period_ms`` to
charge the elapsed time to the step running, and ending the bundle joins that thread, which
returns only when it next wakes. Beam's period is 200 ms (after a ramp from 2 ms over the
bundle's first ~1.2 s), so every bundle longer than that ended 0-200 ms (100 ms on average)
after its last element, with the worker idle; the runner starts the stages that depend on
it only then. A 100K-pair text stage runs a few dozen such bundles per worker. At
``STATE_SAMPLING_MS`` the wait is at most that; the thread wakes more often, each time
without the interpreter lock (a lock, a clock read and an addition). The sampled times are
what Beam reports as each step's msecs; their resolution gets finer, nothing else changes.
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
