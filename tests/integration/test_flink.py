"""The pipeline on Beam's FlinkRunner: an embedded Flink cluster (``[local]``) inside Beam's
Flink job server, Python SDK workers in LOOPBACK mode, parallelism 4.

Output must be byte-identical to the local runner's (the shard writer is deterministic, model
batches are fixed by the data), and with parallelism 4 the global facts (funnel counts,
balance's t, k-means centroids, CapFilt's percentile threshold, retrieval's neighbour lists)
must be one worker's.

Needs Java and the job server jar that ``scripts/flink_jobserver.sh`` caches or builds (setup
runs it). In CI (``CI`` set) a missing jar or Java fails the test; elsewhere it skips and
names the command that fixes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

import pytest

from curate import pipeline
from curate import runners_flink as flink
from curate.commands import export as export_command
from curate.runner import in_process_args
from tests.integration import mission
from tests.integration.conftest import assert_same_output, output_files, whole_pipeline_config

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.flink]


def require_flink():
    """The job server jar, or a skip (a failure in CI) that says how to get it."""
    missing = None
    if not flink.java_available():
        missing = "Flink tests need Java (a JRE 11 or 17 on PATH)"
    elif flink.find_job_server_jar() is None:
        missing = (
            f"Beam's Flink job server jar is not in {flink.jar_path().parent}: run "
            "`bash scripts/flink_jobserver.sh` (Maven Central, else a pinned build from Beam's "
            "source) or set CURATE_FLINK_JOB_SERVER_JAR"
        )
    if missing and os.environ.get("CI"):
        pytest.fail(f"{missing} (CI must run the Flink tests)")
    if missing:
        pytest.skip(missing)
    return flink.find_job_server_jar()


@pytest.fixture(scope="module")
def job_server_jar():
    return require_flink()


def test_text_stages_on_embedded_flink_equal_local(tmp_path, local_pool, beam_args, job_server_jar):
    """The raw pool of every format (bad rows, duplicates across files) through the text stages."""
    flink_args = flink.flink_args(job_server_jar, "[local]", parallelism=4)
    stats = pipeline.run(whole_pipeline_config(local_pool, str(tmp_path / "flink")), flink_args)
    assert pipeline.run(whole_pipeline_config(local_pool, str(tmp_path / "local")), beam_args) == stats
    assert [s["stage"] for s in stats["stages"]] == ["ingest", "filter", "dedup_text", "balance"]
    assert (stats["input"], stats["kept"]) == (634, 589)  # lid176: 4 removed for language, 10 balanced out
    assert_same_output(tmp_path / "flink", tmp_path / "local")


def _export(run, out, args) -> dict[str, bytes]:
    """`curate export` of a run into `out`; the files, with the card's creation time dropped."""
    export_command.main(argparse.Namespace(input=str(run), output=str(out), name="curated",
                                           samples_per_tar=50, target_parquet_mb=1.0, row_group_rows=1000,
                                           tars=True, parquet=True), list(args))
    files = output_files(out)
    card = json.loads(files.pop("card.json"))
    files.pop("card.md")
    card.pop("created")
    files["card.json"] = json.dumps(card, sort_keys=True).encode()
    shutil.rmtree(out)  # the next runner exports to the same path (the card names it)
    return files


def test_every_stage_on_embedded_flink_equals_local(tmp_path, job_server_jar):
    """The whole mission (download from a loopback server, image dedup, embeddings,
    decontamination, SemDeDup, CapFilt, retrieval, then export) at parallelism 4."""
    files = mission.models(tmp_path / "models")
    seeds = mission.seed_images(tmp_path / "seeds")
    run = tmp_path / "run"
    with mission.served_sample(tmp_path / "sample") as pool:
        config = mission.mission_config(pool, run, files, seeds)
        local_stats = pipeline.run(config, in_process_args())
        local_export = _export(run, tmp_path / "export", in_process_args())
        local = mission.move_run(run, tmp_path / "local")
        flink_args = flink.flink_args(job_server_jar, "[local]", parallelism=4)
        flink_stats = pipeline.run(config, flink_args)
        flink_export = _export(run, tmp_path / "export", flink_args)
    assert flink_stats == local_stats
    assert [s["stage"] for s in flink_stats["stages"]] == list(mission.MISSION_STAGES)
    by_stage = {s["stage"]: s for s in flink_stats["stages"]}
    # every stage saw pairs, and the ones whose defects the sample injects removed some
    assert all(s["in"] > 0 for s in flink_stats["stages"]), by_stage
    for stage in ("ingest", "filter", "download"):
        assert by_stage[stage]["removed"] > 0, (stage, by_stage[stage])
    assert flink_stats["kept"] > 0
    # byte-identical shards, stats, balance.json, capfilt.json, images; and the export
    run.rename(tmp_path / "flink")
    assert_same_output(tmp_path / "flink", local)
    assert sorted(flink_export) == sorted(local_export)
    for name in local_export:
        assert flink_export[name] == local_export[name], f"export/{name} differs"
