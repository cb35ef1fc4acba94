"""Beam flags for running curate on Flink, and where the cached Flink job server jar lives.

Beam's Python FlinkRunner talks to Beam's Flink *job server*, a Java jar
(``org.apache.beam:beam-runners-flink-<flink>-job-server:<beam>`` on Maven Central) that
translates the portable pipeline into a Flink job. ``scripts/flink_jobserver.sh`` fetches it
into ``$CURATE_DATA/jars`` (checksum verified), or, where the Maven repository does not serve
it, builds it from Beam's runner source with the pinned recipe in ``scripts/flink/``; these
helpers find it and build the flags, so that no run downloads a jar behind the user's back
(``--flink_job_server_jar`` is explicit).

Flink master ``[local]`` runs an embedded Flink cluster inside the job server's JVM (tests);
``host:8081`` submits to a real cluster's REST endpoint. Python SDK workers run LOOPBACK
(inside the submitting process: tests, one machine) or EXTERNAL (a worker pool service,
``python -m apache_beam.runners.worker.worker_pool_main``: docker-compose, clusters).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import apache_beam

# Beam 2.77 publishes job servers for Flink 1.19, 1.20, 2.0, 2.1, 2.2
# (FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS). 1.20 is the last 1.x line: the widest
# deployed base and the official `flink:1.20` / `apache/beam_flink1.20_job_server` images.
FLINK_VERSION = "1.20"
BEAM_VERSION = apache_beam.__version__
JAR_ENV = "CURATE_FLINK_JOB_SERVER_JAR"


def jar_name(flink_version: str = FLINK_VERSION, beam_version: str = BEAM_VERSION) -> str:
    return f"beam-runners-flink-{flink_version}-job-server-{beam_version}.jar"


def jar_path(flink_version: str = FLINK_VERSION, beam_version: str = BEAM_VERSION) -> Path:
    """Where scripts/flink_jobserver.sh caches the jar (it may not exist yet)."""
    from curate.paths import data_dir

    return Path(os.environ.get("CURATE_JARS", data_dir() / "jars")) / jar_name(
        flink_version, beam_version
    )


def find_job_server_jar(flink_version: str = FLINK_VERSION) -> Path | None:
    """The job server jar: $CURATE_FLINK_JOB_SERVER_JAR if set, else the cached official one,
    else the cached one built from source (``beam-runners-flink-<v>-job-server-<beam>-src<commit>.jar``);
    None when there is none."""
    env = os.environ.get(JAR_ENV)
    if env:
        return Path(env) if Path(env).is_file() else None
    path = jar_path(flink_version)
    if path.is_file():
        return path
    built = sorted(path.parent.glob(f"beam-runners-flink-{flink_version}-job-server-*-src*.jar"))
    return built[-1] if built else None


def java_available() -> bool:
    return shutil.which("java") is not None


def flink_args(
    jar: str | os.PathLike,
    master: str = "[local]",
    parallelism: int = 1,
    environment: str = "LOOPBACK",
    environment_config: str | None = None,
    flink_version: str = FLINK_VERSION,
) -> list[str]:
    """Beam flags for FlinkRunner with an explicit, local job server jar.

    ``environment`` is LOOPBACK (SDK workers in this process) or EXTERNAL with
    ``environment_config`` = the worker pool's ``host:port``.
    """
    args = [
        "--runner=FlinkRunner",
        f"--flink_master={master}",
        f"--flink_version={flink_version}",
        f"--flink_job_server_jar={os.fspath(jar)}",
        f"--parallelism={parallelism}",
        f"--environment_type={environment}",
        # The whole mission's graph (eleven stages) overflowed the default 1 MB thread stack of
        # the job server JVM once in four embedded runs (java.lang.StackOverflowError: embedded
        # Flink plans and runs the job inside that JVM): give its threads 16 MB.
        "--job_server_jvm_properties=-Xss16m",
    ]
    if environment_config:
        args.append(f"--environment_config={environment_config}")
    return args
