"""docker-compose.yml and the Dockerfile agree with each other, with the Flink version the
job server is built for and with the Beam and Python versions of this package."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import apache_beam
import pytest
import yaml

from curate import runners_flink as flink

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_images(compose):
    services = compose["services"]
    assert set(services) == {"jobmanager", "taskmanager", "jobserver", "python-worker", "curate"}
    flink_image = f"flink:{flink.FLINK_VERSION}-java17"
    assert services["jobmanager"]["image"] == services["taskmanager"]["image"] == flink_image
    assert services["jobserver"]["image"] == (
        f"apache/beam_flink{flink.FLINK_VERSION}_job_server:{apache_beam.__version__}"
    )
    assert services["python-worker"]["image"] == services["curate"]["image"]
    assert services["python-worker"]["build"] == {"context": ".", "dockerfile": "Dockerfile"}


def test_commands_ports_and_wiring(compose):
    s = compose["services"]
    assert s["jobmanager"]["command"] == "jobmanager"
    assert s["taskmanager"]["command"] == "taskmanager"
    assert "8081:8081" in s["jobmanager"]["ports"]
    assert {"8099:8099", "8098:8098", "8097:8097"} <= set(s["jobserver"]["ports"])
    assert "--flink-master=jobmanager:8081" in s["jobserver"]["command"]
    assert "taskmanager.numberOfTaskSlots: 4" in s["taskmanager"]["environment"]["FLINK_PROPERTIES"]
    assert "jobmanager.rpc.address: jobmanager" in s["taskmanager"]["environment"]["FLINK_PROPERTIES"]
    # EXTERNAL environment: the TaskManager reaches the pool at localhost:50000 (sidecar).
    assert s["python-worker"]["command"] == ["--worker_pool"]
    assert s["python-worker"]["network_mode"] == "service:taskmanager"
    assert "ports" not in s["python-worker"]  # not allowed with a shared network namespace
    assert s["curate"]["entrypoint"] == ["curate"]


def test_volumes_are_shared_where_files_are_touched(compose):
    s = compose["services"]
    artifacts = "artifacts:/tmp/beam-artifact-staging"
    for name in ("jobserver", "taskmanager", "python-worker"):
        assert artifacts in s[name]["volumes"], name
    for name in ("python-worker", "curate", "taskmanager"):
        assert {"./data:/data", "./out:/out"} <= set(s[name]["volumes"]), name
    assert "artifacts" in compose["volumes"]


def test_dockerfile_builds_from_the_matching_sdk_image():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, re.M).group(1)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert base == f"apache/beam_python{py}_sdk:{apache_beam.__version__}"
    assert "pip install ." in text
    # the numba kernels are compiled into the image, after the install that holds them
    assert text.index("python -m curate.ops.warm") > text.index("pip install .")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", "out"} <= set(ignored)


def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        ok = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
        if ok:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_accepts_the_file():
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose client (docker compose / docker-compose) on this machine")
    result = subprocess.run(
        [*cli, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_jobserver_builds_with_the_setup_recipe_where_the_image_is_not_served(compose):
    """No pull_policy: compose pulls the official image, else builds it with the same script
    (Maven Central first, then Beam's source with the pinned recipe) that setup runs."""
    js = compose["services"]["jobserver"]
    assert js["build"] == {"context": ".", "dockerfile": "docker/jobserver.Dockerfile"}
    assert "pull_policy" not in js
    text = (ROOT / "docker" / "jobserver.Dockerfile").read_text()
    assert "bash scripts/flink_jobserver.sh" in text
    for path in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (ROOT / path).exists(), path  # every COPY source is in the build context
    entry = re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1)
    assert "-jar" in entry  # takes the official image's flags (--flink-master ...) as arguments
