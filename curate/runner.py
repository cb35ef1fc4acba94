"""Beam pipeline options: the local default, and pass-through of everything else.

The local default is Beam's FnApiRunner in multi-process mode, named by its full class path:
the plain ``DirectRunner`` may hand a pipeline to the Prism runner, which downloads a binary
from the internet first. Any ``--runner`` the user gives (FlinkRunner, PortableRunner,
DataflowRunner...) and every other Beam flag pass through untouched.
"""

from __future__ import annotations

import os

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
RUNNER_ALIASES = {"local": LOCAL_RUNNER, "fnapi": LOCAL_RUNNER}


def no_timed_flushes_on_local_data_plane() -> None:
    """Make the local runner's gRPC data plane send only on size and on close, never on a
    timer: its timed flushes lose data (Beam 2.77).

    With worker processes (multi_processing, multi_threading) the FnApiRunner sends each
    bundle's input through a data-plane stream that a timer thread flushes every
    ``DATA_BUFFER_TIME_LIMIT_MS`` (1 s). The flush takes the buffer, hands it to the send
    queue and then clears the buffer, without a lock against ``write``: what the runner
    writes while the hand-over blocks (a full 100 MB send queue, i.e. any input of a few
    hundred MB) is cleared unsent, and the bundle runs on fewer elements with no error.
    At 3M pairs dedup_text's label join, and on other runs its signing, got 1-4% fewer rows
    than were sent (driver bytes sent vs. SDK bytes received for one bundle: 589,000,257 vs.
    563,326,412); 5 of 5 runs lost rows before, none of 5 after (benchmarks/results/local_data_plane_*).
    With 0 the stream is Beam's size-based one, flushed only by the thread that writes.
    The in-memory mode and Flink's Java runner do not flush on a timer this way."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0


no_timed_flushes_on_local_data_plane()


def _flag_value(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


# Below this many input bytes a local run needs no worker processes: starting them and
# handing them ~20 bundles costs more than the work (a 10-row `curate ingest` took 28-35 s
# with two worker processes under load, see README "Start-up cost"). Output is byte-identical
# either way (tests/integration/test_parallelism.py); an explicit --direct_running_mode or
# --direct_num_workers is always obeyed.
SMALL_INPUT_BYTES = 1_000_000


def input_bytes(pattern: str) -> int | None:
    """Total size of the files a pool or shard pattern (path, glob or folder) names; None
    when it cannot be listed (the run reports that with its own error)."""
    from curate.io.pool import match_files

    try:
        paths = match_files(pattern)
        results = FileSystems.match(paths)
    except Exception:  # noqa: BLE001  (only a hint for choosing the runner mode)
        return None
    return sum(m.size_in_bytes for r in results for m in r.metadata_list)


def beam_args(args: list[str], input_size: int | None = None) -> list[str]:
    """`args` with the local defaults filled in and runner aliases resolved. `input_size`
    (bytes, if known): under SMALL_INPUT_BYTES the local runner runs in this process."""
    args = list(args)
    runner = _flag_value(args, "--runner")
    if runner is None:
        args.append(f"--runner={LOCAL_RUNNER}")
        runner = LOCAL_RUNNER
    elif runner in RUNNER_ALIASES:
        args = [a for a in args if not a.startswith("--runner")]
        args = [a for a in args if a != runner]
        runner = RUNNER_ALIASES[runner]
        args.append(f"--runner={runner}")
    if runner == LOCAL_RUNNER:
        chosen = _flag_value(args, "--direct_running_mode") or _flag_value(args, "--direct_num_workers")
        if chosen is None and input_size is not None and input_size < SMALL_INPUT_BYTES:
            return args + in_process_args()[1:]
        if _flag_value(args, "--direct_running_mode") is None:
            args.append("--direct_running_mode=multi_processing")
        if _flag_value(args, "--direct_num_workers") is None:
            args.append(f"--direct_num_workers={max(1, min(os.cpu_count() or 1, 8))}")
    return args


def pipeline_options(args: list[str] | None = None, input_size: int | None = None) -> PipelineOptions:
    return PipelineOptions(beam_args(args or [], input_size))


def in_process_args(num_workers: int = 1) -> list[str]:
    """Flags for a fast single-process local run (tests, small samples)."""
    return [
        f"--runner={LOCAL_RUNNER}",
        "--direct_running_mode=in_memory",
        f"--direct_num_workers={num_workers}",
    ]
