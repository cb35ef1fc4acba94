"""Shared inputs of the text benchmarks: the largest available entry list and generated
alt-texts (~10 words, ~65 characters) drawn from Wikipedia word frequencies."""

from __future__ import annotations

import gzip
import itertools
import os
import random
from pathlib import Path

WORDNET_INDEX = [f"/usr/share/wordnet/index.{p}" for p in ("noun", "verb", "adj", "adv")]


def _wordfreq_path() -> Path:
    import pywordfreq

    return Path(pywordfreq.__file__).parent / "word_frequencies.gz"


def word_counts(min_count: int = 100) -> list[tuple[str, int]]:
    out = []
    with gzip.open(_wordfreq_path(), "rt", encoding="utf-8") as f:
        for line in f:
            word, _, count = line.rstrip("\n").rpartition(";")
            if word and count.isdigit() and int(count) >= min_count:
                out.append((word, int(count)))
    return out


def wordnet_lemmas() -> list[str]:
    out = []
    for path in WORDNET_INDEX:
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(" "):
                    continue  # licence header
                out.append(line.split(" ", 1)[0].replace("_", " "))
    return out


def entries(min_count: int = 100) -> tuple[list[str], str]:
    """(entries, where from): data/queries/full if built, else Wikipedia unigrams with
    count >= 100 (pywordfreq) + WordNet lemma names (Debian wordnet-base), "0".."99"."""
    full = Path(os.environ.get("CURATE_DATA", "data")) / "queries" / "full" / "entries.txt"
    if full.exists():
        return full.read_text(encoding="utf-8").rstrip("\n").split("\n"), str(full)
    words = [w for w, _ in word_counts(min_count)]
    found = sorted(set(words) | set(wordnet_lemmas()) | {str(i) for i in range(100)} - {""})
    return found, "pywordfreq count>=100 + WordNet lemmas + 0..99"


def texts(n: int, seed: int = 0) -> list[str]:
    """Alt-text-like strings: 4-16 words drawn by Wikipedia frequency, some capitalised,
    some punctuation, ~25% repeated with a small edit (near-duplicates)."""
    rng = random.Random(seed)
    vocab = word_counts(1000)[:50_000]
    words = [w for w, _ in vocab]
    cum = list(itertools.accumulate(c**0.7 for _, c in vocab))
    out: list[str] = []
    while len(out) < n:
        if out and rng.random() < 0.25:
            base = rng.choice(out[-1000:]).split()
            i = rng.randrange(len(base))
            base[i] = base[i][::-1] if rng.random() < 0.5 else rng.choice(words)
            out.append(" ".join(base))
            continue
        k = rng.randint(4, 16)
        ws = rng.choices(words, cum_weights=cum, k=k)
        if rng.random() < 0.3:
            ws[0] = ws[0].capitalize()
        text = " ".join(ws)
        if rng.random() < 0.2:
            text += rng.choice([".", ",", " |", " -", "!"]) + " " + rng.choice(words)
        out.append(text)
    return out[:n]


def peak_rss_mb() -> tuple[float, float]:
    """(this process, its finished children) peak resident set size in MB."""
    import resource

    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )


STAMPS: list[float] = []  # times seen by `stamp` (an in-process pipeline runs it in this process)


def stamp(element):
    """Identity that records when an element passed (a benchmark's Beam.Map; importable, so
    the pipeline pickles it by reference and appends to this module's STAMPS)."""
    import time

    STAMPS.append(time.perf_counter())
    return element


LATE_STAMPS: list[float] = []  # times seen by `stamp_late`


def stamp_late(element):
    """`stamp` into LATE_STAMPS: for a later point of the same pipeline."""
    import time

    LATE_STAMPS.append(time.perf_counter())
    return element
