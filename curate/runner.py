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

import curate.beam_worker  # noqa: F401  (this process may run bundles: the local runner in process, LOOPBACK)

LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
WORKER_PLUGIN = curate.beam_worker.__name__  # imported by every SDK worker at start (--beam_plugins)
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


# A part of a bundle's input this much larger than an even share is rebalanced element by element.
REBALANCE_ABOVE = 1.25


def split_evenly(chunks: list[bytes], n: int, coder_impl) -> list[list[bytes]]:
    """`chunks` (encoded elements, as the data plane delivered them) cut into `n` parts for
    `n` worker processes: Beam's cut (chunk k to part k mod n) where its parts are within
    ``REBALANCE_ABOVE`` of an even share of the bytes, else the elements dealt round-robin.

    The local runner splits each bundle's input between its worker processes by whole data
    chunks when there are at least as many chunks as workers, and a chunk is whatever one
    flush of a producing worker held (up to 10 MB): at 100K pairs dedup_text's signing got
    21.4 MB on one worker and 0.4 MB on the other, so one core signed while the other
    waited. Dealing out elements costs the driver one decode and encode of each."""
    parts = [chunks[k::n] for k in range(n)]
    sizes = [sum(map(len, p)) for p in parts]
    if n < 2 or sum(sizes) == 0 or max(sizes) <= REBALANCE_ABOVE * sum(sizes) / n:
        return parts
    from apache_beam.coders.coder_impl import create_InputStream, create_OutputStream

    out = [create_OutputStream() for _ in range(n)]
    k = 0
    for chunk in chunks:
        stream = create_InputStream(chunk)
        while stream.size() > 0:
            coder_impl.encode_to_stream(coder_impl.decode_from_stream(stream, True), out[k], True)
            k = (k + 1) % n
    return [[o.get()] for o in out]


def even_bundle_splits_on_local_runner() -> None:
    """Make the local runner deal a bundle's input evenly to its worker processes
    (``split_evenly``) where Beam (2.77) would hand over whole data chunks unevenly."""
    from apache_beam.runners.portability.fn_api_runner import execution

    if getattr(execution.ListBuffer.partition, "curate_even", False):
        return
    beam_partition = execution.ListBuffer.partition

    def partition(self, n: int) -> list[list[bytes]]:
        if self.cleared or len(self._inputs) < n:
            return beam_partition(self, n)  # Beam's own errors, and its element split below n chunks
        return split_evenly(self._inputs, n, self._coder_impl)

    partition.curate_even = True
    execution.ListBuffer.partition = partition


even_bundle_splits_on_local_runner()


def plugins_reach_local_workers() -> None:
    """Give the local runner's worker processes the pipeline's ``--beam_plugins``, as the
    portable runners (Flink, Dataflow) do with all the options: Beam 2.77's FnApiRunner
    starts them with no pipeline options, so they import no plugin at start, and
    ``curate.beam_worker``'s settings would reach a worker only when it first unpickles
    curate's code, after its first bundle processor was built."""
    from apache_beam.options.pipeline_options import SetupOptions
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    if getattr(fn_runner.FnApiRunner.run_pipeline, "curate_plugins", False):
        return
    beam_run_pipeline = fn_runner.FnApiRunner.run_pipeline

    def run_pipeline(self, pipeline, options):
        plugins = options.view_as(SetupOptions).beam_plugins
        if plugins:  # what a worker reads from its provision info: beam:option:<name>:v1
            self._provision_info.provision_info.pipeline_options.update({"beam:option:beam_plugins:v1": list(plugins)})
        return beam_run_pipeline(self, pipeline, options)

    run_pipeline.curate_plugins = True
    fn_runner.FnApiRunner.run_pipeline = run_pipeline


plugins_reach_local_workers()


def local_workers_stop_together() -> None:
    """Make the local runner stop its worker processes at the same time, not one after the
    other (Beam 2.77 closes each and waits for its process to exit before the next): a
    worker's exit takes longer the more it holds (0.5 s at 3K pairs, 2.2 s at 100K), so with
    2 workers a 100K-pair text stage spent 4.4 s of its ~27 s stopping them."""
    from concurrent.futures import ThreadPoolExecutor

    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    manager = worker_handlers.WorkerHandlerManager
    if getattr(manager.close_all, "curate_together", False):
        return
    beam_close_all = manager.close_all

    def close_all(self):
        handlers = {h for hs in self._cached_handlers.values() for h in hs}
        if len(handlers) > 1:
            def close(handler):
                try:
                    handler.close()
                except Exception:  # noqa: BLE001  (as Beam: logged, the others still closed)
                    worker_handlers._LOGGER.error("Error closing worker_handler %s", handler, exc_info=True)

            with ThreadPoolExecutor(len(handlers)) as pool:
                list(pool.map(close, handlers))
            self._cached_handlers.clear()
        beam_close_all(self)  # what is left: the handler lists and the gRPC server

    close_all.curate_together = True
    manager.close_all = close_all


local_workers_stop_together()


def _flag_values(args: list[str], *names: str) -> list[str]:
    """Every value of a repeatable flag, given as ``name=value`` or ``name value``."""
    out = []
    for i, a in enumerate(args):
        for name in names:
            if a == name and i + 1 < len(args):
                out.append(args[i + 1])
            elif a.startswith(name + "="):
                out.append(a.split("=", 1)[1])
    return out


def _flag_value(args: list[str], name: str) -> str | None:
    """The first value of a flag, or None."""
    return next(iter(_flag_values(args, name)), None)


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
    if WORKER_PLUGIN not in _flag_values(args, "--beam_plugins", "--beam_plugin"):
        args.append(f"--beam_plugins={WORKER_PLUGIN}")  # every SDK worker imports it at start
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
