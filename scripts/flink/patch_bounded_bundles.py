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

This patch closes the bundle and opens a new one every --max_bundle_size input elements
(FlinkPipelineOptions, default 1000; the streaming translation already bounds its bundles
by the same option), so a stage's buffered output is bounded by what that many elements
produce. Bundles are the runner's choice in Beam's model: DoFns see more start/finish_bundle
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
NEW_MAP = """    // Bounded bundles (curate: scripts/flink/patch_bounded_bundles.py): a new bundle every
    // maxBundleSize input elements, so that a bundle's outputs, which the runner drains only
    // when the bundle closes, stay bounded.
    long maxBundleSize =
        Math.max(1L, pipelineOptions.get().as(FlinkPipelineOptions.class).getMaxBundleSize());
    java.util.Iterator<WindowedValue<InputT>> inputs = iterable.iterator();
    do {
      try (RemoteBundle bundle =
          stageBundleFactory.getBundle(
              receiverFactory,
              stateRequestHandler,
              progressHandler,
              finalizationHandler,
              bundleCheckpointHandler)) {
        FnDataReceiver<WindowedValue<?>> mainReceiver =
            Iterables.getOnlyElement(bundle.getInputReceivers().values());
        for (long n = 0; n < maxBundleSize && inputs.hasNext(); n++) {
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
