"""The whole pipeline on Beam's FlinkRunner: an embedded Flink cluster (``[local]``) inside
Beam's Flink job server, Python SDK workers in LOOPBACK mode, parallelism 4.

Output must be byte-identical to the local runner's (the shard writer is deterministic), and
with parallelism 4 the global facts (funnel counts, shard count) must be one worker's.

Needs Java and the job server jar that ``scripts/flink_jobserver.sh`` caches (or
$CURATE_FLINK_JOB_SERVER_JAR); skips, saying which is missing, otherwise.
"""

from __future__ import annotations

import pytest

from curate import pipeline
from curate import runners_flink as flink
from tests.integration.conftest import assert_same_output, whole_pipeline_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def job_server_jar():
    if not flink.java_available():
        pytest.skip("Flink tests need Java (a JRE 11 or 17 on PATH)")
    jar = flink.find_job_server_jar()
    if jar is None:
        pytest.skip(
            f"Beam's Flink job server jar is not at {flink.jar_path()}: run "
            "scripts/flink_jobserver.sh (it exits 3 when the Maven repository does not serve "
            f"org.apache.beam:beam-runners-flink-{flink.FLINK_VERSION}-job-server:{flink.BEAM_VERSION})"
        )
    return jar


def test_whole_pipeline_on_embedded_flink_equals_local(tmp_path, local_pool, beam_args, job_server_jar):
    flink_args = flink.flink_args(job_server_jar, "[local]", parallelism=4)
    stats = pipeline.run(whole_pipeline_config(local_pool, str(tmp_path / "flink")), flink_args)
    assert pipeline.run(whole_pipeline_config(local_pool, str(tmp_path / "local")), beam_args) == stats
    assert [s["stage"] for s in stats["stages"]] == ["ingest", "filter", "dedup_text", "balance"]
    assert (stats["input"], stats["kept"]) == (634, 233)
    assert_same_output(tmp_path / "flink", tmp_path / "local")
