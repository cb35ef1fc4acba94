"""Build the largest query list the installable sources give into $CURATE_DATA/queries/full
(WordNet + pywordfreq unigram counts >= 100 + the hand-written page-view titles + "0".."99"),
for benchmarks of the matching stage. Does nothing if the list exists (pass --force).

    .venv/bin/python benchmarks/build_full_queries.py [--force] [Beam flags]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from curate import paths
from curate.cli import main


def full_list_dir() -> Path:
    return paths.data_dir() / "queries" / "full"


def build(force: bool = False, beam_args: list[str] | None = None) -> Path:
    import pywordfreq

    out = full_list_dir()
    if (out / "entries.txt").is_file() and not force:
        return out
    counts = os.path.join(os.path.dirname(pywordfreq.__file__), "word_frequencies.gz")
    pageviews = Path(__file__).resolve().parents[1] / "queries" / "sources" / "pageviews"
    rc = main(["queries", "build", "--name", "full", "--output", str(out),
               "--unigram-counts", counts, "--pageviews", str(pageviews),
               "--min-unigram-count", "100", *(beam_args or [])])
    if rc != 0:
        raise SystemExit(rc)
    return out


if __name__ == "__main__":
    argv = sys.argv[1:]
    print(build("--force" in argv, [a for a in argv if a != "--force"]))
