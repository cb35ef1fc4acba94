"""What scripts/setup.sh leaves in .venv beyond the packages themselves."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What each SDK worker process imports before it runs a bundle (bench_startup.py --bytecode).
WORKER_MODULES = [
    "apache_beam.runners.worker.sdk_worker_main",
    "apache_beam.runners.worker.bundle_processor",
    "numba.core.compiler",
    "scipy.special",
    "pyarrow.parquet",
    "curate.pipeline",
    "curate.ops.textdup",
]


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="checks the project's .venv: run `make test` (scripts/setup.sh makes it)")
def test_worker_modules_have_bytecode():
    """Every module a worker imports has its .pyc beside it: where Python may not write
    bytecode (PYTHONDONTWRITEBYTECODE, a read-only tree) each process would otherwise compile
    them from source, ~3 s more per worker process."""
    missing = []
    for name in WORKER_MODULES:
        path = importlib.import_module(name).__file__
        cached = importlib.util.cache_from_source(path)
        if not Path(cached).is_file() or Path(cached).stat().st_mtime < Path(path).stat().st_mtime:
            missing.append(f"{name}: {cached}")
    assert not missing, "no bytecode (scripts/setup.sh compiles it):\n" + "\n".join(missing)
