"""The whole pipeline builds for Dataflow offline: with DataflowRunner's options (nothing is
submitted; the runner object is a stand-in, because DataflowRunner's own option validation
calls GCS and the credential lookup probes the GCE metadata server), the graph turns into a portable pipeline proto, every DoFn, CombineFn and
ModelHandler in it unpickles, and nothing in it captures a path of this machine (inputs and
outputs on a remote scheme: workers on other machines could not see local paths)."""

from __future__ import annotations

import base64
import bz2
import os
import re
import sys
import zlib
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.internal import pickler
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability import common_urns, python_urns
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.runner import PipelineRunner

from curate import pipeline
from curate.paths import data_dir
from tests.integration import memfs
from tests.integration.conftest import QUERIES, whole_pipeline_config

REMOTE_QUERIES = "memfs://bucket/queries"

DATAFLOW_ARGS = [
    "--runner=DataflowRunner",
    "--project=example-project",
    "--region=europe-west4",
    "--temp_location=gs://example-bucket/tmp",
    "--staging_location=gs://example-bucket/staging",
    "--worker_machine_type=n2-standard-8",
    "--sdk_container_image=europe-west4-docker.pkg.dev/example-project/curate/curate-beam-python:2.77.0",
    "--experiments=use_runner_v2",
]


class NoSubmitRunner(PipelineRunner):
    """Builds the graph like any runner; refuses to run it."""

    def run_pipeline(self, pipeline, options):
        raise AssertionError("this test must not run or submit the pipeline")


def _payloads(proto):
    """(transform label, pickled user function) of every ParDo and Combine in the graph."""
    for t in proto.components.transforms.values():
        if t.spec.urn == common_urns.primitives.PAR_DO.urn:
            fn = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload).do_fn
            if fn.urn == python_urns.PICKLED_DOFN_INFO:
                yield t.unique_name, fn.payload
        elif t.spec.urn == common_urns.composites.COMBINE_PER_KEY.urn:
            fn = beam_runner_api_pb2.CombinePayload.FromString(t.spec.payload).combine_fn
            if fn.urn == python_urns.PICKLED_COMBINE_FN:
                yield t.unique_name, fn.payload


def _plain(payload: bytes) -> bytes:
    """Beam's pickler output (base64 of zlib or bz2): the raw pickle, to search for paths."""
    raw = base64.b64decode(payload)
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return bz2.decompress(raw)


@pytest.fixture
def remote_pool(pool_bytes):
    memfs.STORE.clear()
    for name, data in pool_bytes.items():
        memfs.STORE[f"memfs://bucket/pool/{name}"] = data
    for f in Path(QUERIES).iterdir():
        memfs.STORE[f"memfs://bucket/queries/{f.name}"] = f.read_bytes()
    yield "memfs://bucket/pool/"
    memfs.STORE.clear()


def test_whole_pipeline_builds_for_dataflow_without_local_paths(remote_pool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Defence in depth: nothing here may look for Google credentials on the network.
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    config = whole_pipeline_config(remote_pool, "memfs://bucket/out", queries=REMOTE_QUERIES)
    options = PipelineOptions(DATAFLOW_ARGS)
    assert options.get_all_options()["runner"] == "DataflowRunner"
    p = beam.Pipeline(runner=NoSubmitRunner(), options=options)
    pipeline.build(p, config)
    proto = p.to_runner_api()

    pickled = list(_payloads(proto))
    assert len(pickled) >= 10
    for label, payload in pickled:
        fn = pickler.loads(payload)  # what a Dataflow worker does with it
        assert fn is not None, label

    assert _local_paths_in(proto, [str(tmp_path)]) == []
    assert b"memfs://bucket/out" in _searchable(proto)  # outputs do travel with the graph


def test_the_local_path_check_finds_a_local_output(remote_pool, tmp_path):
    config = whole_pipeline_config(remote_pool, str(tmp_path / "local-out"), queries=REMOTE_QUERIES)
    p = beam.Pipeline(runner=NoSubmitRunner(), options=PipelineOptions(DATAFLOW_ARGS))
    pipeline.build(p, config)
    assert str(tmp_path) in _local_paths_in(p.to_runner_api(), [str(tmp_path)])


def _searchable(proto) -> bytes:
    blob = proto.SerializeToString() + b"".join(_plain(payload) for _, payload in _payloads(proto))
    # Lambdas pickled by value carry their source file name (code objects' co_filename):
    # debug information, never opened. Any other local path would be data a worker reads.
    return re.sub(rb"/[^\x00-\x1f\x94]*?\.py(?=\x94)", b"<code>", blob)


def _local_paths_in(proto, extra: list[str]) -> list[str]:
    blob = _searchable(proto)
    local = {os.getcwd(), os.path.dirname(os.path.dirname(pipeline.__file__)), sys.prefix,
             os.path.expanduser("~"), str(data_dir()), *extra}
    return sorted(p for p in local if len(p) > 1 and p.encode() in blob)
