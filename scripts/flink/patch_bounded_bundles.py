#!/usr/bin/env python3
"""Bounded bundles for Beam's Flink batch runner (portable pipelines). Usage:
patch_bounded_bundles.py <maven-project-dir>

Beam's batch translation runs each fused Python stage as one Flink MapPartition whose whole
input partition is a single SDK bundle (FlinkExecutableStageFunction.mapPartition). The
runner reads the bundle's outputs only when the bundle closes (SdkHarnessClient ActiveBundle
.close -> BeamFnDataInboundObserver.awaitCompletion), and until then queues at most 100 data
messages (~10 MB each from the Python SDK). A stage whose output for one partition exceeds
that (dedup_text's Sign at 1M pairs, parallelism 2: ~3.6 GB per partition) deadlocks: the
gRPC thread waits for room in the full queue, the Python harness waits to send its output
and stops taking input, the task thread waits to send more input (seen with jstack:
benchmarks/results/flink_1m_stall_2026-11-30.txt); with less heap than the queue holds the
TaskManager runs out of memory first.

This patch closes the bundle and opens a new one after --max_bundle_size input elements or
--max_bundle_time_millis of processing, whichever comes first (FlinkPipelineOptions, defaults
1000 and 1000 ms; the streaming translation already bounds its bundles by the same two
options), so a stage's buffered output is bounded by what it writes in that time. (A bound in
elements alone does not fit stages whose elements range from one pair to a batch of
thousands: 8 elements per bundle made the stage after ingest's uid shuffle batch 8 pairs at a
time.) Bundles are the runner's choice in Beam's model: DoFns see more start/finish_bundle
calls, nothing else changes. A partition with no input still runs one (empty) bundle, as
before.
"""
import pathlib
import sys

path = pathlib.Path(sys.argv[1]) / "src/main/java/org/apache/beam/runners/flink/translation/functions/FlinkExecutableStageFunction.java"
s = path.read_text()

OLD_MAP = """    try (RemoteBundle bundle =
        stageBundleFactory.getBundle(
            receiverFactory,
            stateRequestHandler,
            progressHandler,
            finalizationHandler,
            bundleCheckpointHandler)) {
      processElements(iterable, bundle);
    }
    if (sdfTimerInternals != null) {"""
NEW_MAP = """    // Bounded bundles (curate: scripts/flink/patch_bounded_bundles.py): a new bundle after
    // maxBundleSize input elements or maxBundleTimeMills, so that a bundle's outputs, which the
    // runner drains only when the bundle closes, stay bounded.
    FlinkPipelineOptions flinkOptions = pipelineOptions.get().as(FlinkPipelineOptions.class);
    long maxBundleSize = Math.max(1L, flinkOptions.getMaxBundleSize());
    long maxBundleMillis = Math.max(1L, flinkOptions.getMaxBundleTimeMills());
    java.util.Iterator<WindowedValue<InputT>> inputs = iterable.iterator();
    do {
      long bundleStart = System.currentTimeMillis();
      try (RemoteBundle bundle =
          stageBundleFactory.getBundle(
              receiverFactory,
              stateRequestHandler,
              progressHandler,
              finalizationHandler,
              bundleCheckpointHandler)) {
        FnDataReceiver<WindowedValue<?>> mainReceiver =
            Iterables.getOnlyElement(bundle.getInputReceivers().values());
        for (long n = 0;
            n < maxBundleSize
                && inputs.hasNext()
                && (n == 0 || System.currentTimeMillis() - bundleStart < maxBundleMillis);
            n++) {
          mainReceiver.accept(inputs.next());
        }
      }
    } while (inputs.hasNext());
    if (sdfTimerInternals != null) {"""

if s.count(OLD_MAP) != 1:
    sys.exit(f"{path.name}: expected 1 match of the mapPartition bundle, found {s.count(OLD_MAP)}")
s = s.replace(OLD_MAP, NEW_MAP)
path.write_text(s)
print("patched", path.name)
