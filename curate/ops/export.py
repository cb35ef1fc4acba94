"""Export logic without Beam or files: DataComp uid arrays, per-sample metadata, the card.

DataComp's subset files are a sorted ``.npy`` of 128-bit uids stored as a structured array
of two big-endian-meaning uint64 halves (``np.dtype("u8,u8")``: first 16 hex digits, last
16): ``np.load(path)`` gives an array that ``np.searchsorted`` / ``np.isin`` work on directly
(DataComp ``baselines/utils.py``; Apple's DFN subset scripts write the same format).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

UID_DTYPE = np.dtype("u8,u8")

# Columns copied into each sample's .json in the webdataset tars (embeddings are left
# out: they are large and belong to the Parquet shards).
SAMPLE_JSON_COLUMNS = (
    "uid",
    "url",
    "text",
    "source",
    "source_uid",
    "lang",
    "matched_entries",
    "width",
    "height",
    "original_width",
    "original_height",
    "sha256",
    "clip_score",
    "synthetic_caption",
    "balance_p",
)


def uids_to_datacomp(uids: Iterable[str]) -> np.ndarray:
    """Hex uids (32 digits) → DataComp's sorted, unique ``u8,u8`` array."""
    pairs = []
    for uid in uids:
        if uid is None or len(uid) != 32:
            raise ValueError(f"a uid must be 32 hex digits, got {uid!r}")
        pairs.append((int(uid[:16], 16), int(uid[16:], 16)))
    arr = np.array(pairs, dtype=UID_DTYPE) if pairs else np.empty(0, dtype=UID_DTYPE)
    return np.unique(arr)  # sorts lexicographically by (f0, f1)


def datacomp_to_uids(arr: np.ndarray) -> list[str]:
    """The inverse of ``uids_to_datacomp``: hex uids in the array's order."""
    return [f"{int(a):016x}{int(b):016x}" for a, b in zip(arr["f0"], arr["f1"], strict=True)]


def sample_metadata(row: dict) -> dict:
    """The .json member of a sample: the pair's scalar columns (nulls dropped)."""
    out = {}
    for name in SAMPLE_JSON_COLUMNS:
        value = row.get(name)
        if value is not None:
            out[name] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def rows_for_target_bytes(bytes_per_row: float, target_bytes: int, minimum: int = 1) -> int:
    """How many rows make a shard of about `target_bytes`."""
    if target_bytes <= 0:
        raise ValueError(f"target_bytes must be > 0, got {target_bytes}")
    if bytes_per_row <= 0:
        return max(minimum, 100_000)
    return max(minimum, math.floor(target_bytes / bytes_per_row))


def num_shards(total: int, per_shard: int) -> int:
    return max(1, math.ceil(total / max(1, per_shard)))


def brace_pattern(folder: str, prefix: str, count: int, digits: int = 5) -> str:
    """The brace-expanded shard list open_clip's ``--train-data`` takes."""
    last = count - 1
    if count == 1:
        return f"{folder}/{prefix}{0:0{digits}d}.tar"
    return f"{folder}/{prefix}{{{0:0{digits}d}..{last:0{digits}d}}}.tar"


def card_markdown(card: dict) -> str:
    """The dataset card as Markdown, from the card dict ``build_card`` makes."""
    lines = [f"# Dataset card: {card.get('name', 'curated set')}", ""]
    lines += [
        f"- samples exported: **{card['samples']}** in {card['tar_shards']} webdataset tars "
        f"and {card['parquet_shards']} Parquet shards",
        f"- open_clip: `--train-data '{card['train_data']}' --train-num-samples {card['samples']}`",
        f"- uid list (DataComp format, sorted `u8,u8`): `{card['uids_file']}`",
        f"- created: {card.get('created', '')}",
    ]
    if card.get("missing_image"):
        lines.append(f"- kept pairs without an image in their tar (not exported): {card['missing_image']}")
    lines += ["", "## Funnel (per stage)", "", "| stage | in | kept | removed | removed by reason |", "|---|---|---|---|---|"]
    for s in card.get("stages", []):
        reasons = ", ".join(f"{k}: {v}" for k, v in s.get("removed_by_reason", {}).items()) or "-"
        lines.append(f"| {s['stage']} | {s['in']} | {s['kept']} | {s['removed']} | {reasons} |")
    lines += ["", "## Thresholds and settings", "", "```yaml", card.get("config_yaml", "").rstrip(), "```"]
    if card.get("queries_provenance"):
        lines += ["", "## Query list provenance", "", card["queries_provenance"].rstrip()]
    lines += ["", "## Package versions", "", "| package | version |", "|---|---|"]
    for name, version in sorted(card.get("packages", {}).items()):
        lines.append(f"| {name} | {version} |")
    return "\n".join(lines) + "\n"


def package_versions(names: Sequence[str]) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


CARD_PACKAGES = (
    "curate",
    "apache-beam",
    "pyarrow",
    "numpy",
    "open_clip_torch",
    "torch",
    "img2dataset",
    "datasketch",
    "faiss-cpu",
    "ahocorasick-rs",
    "numba",
    "py3langid",
    "fasttext-predict",
    "webdataset",
)


# The settings of an export (a command over a finished run, not a pipeline stage).


@dataclass(frozen=True)
class ExportConfig:
    samples_per_tar: int = field(
        default=10_000, metadata={"help": "samples per webdataset tar (img2dataset's default)"}
    )
    target_parquet_mb: float = field(
        default=256.0, metadata={"help": "target size of a Parquet shard in MB (estimated from the input's bytes per row)"}
    )
    row_group_rows: int = field(default=16_384, metadata={"help": "rows per Parquet row group"})
    tars: bool = field(default=True, metadata={"help": "write webdataset tars"})
    parquet: bool = field(default=True, metadata={"help": "write Parquet shards"})
    name: str = field(default="curated", metadata={"help": "dataset name for the card and tar prefix"})

    def __post_init__(self):
        if self.samples_per_tar < 1:
            raise ValueError(f"export.samples_per_tar must be >= 1, got {self.samples_per_tar}")
        if not self.target_parquet_mb > 0:
            raise ValueError(f"export.target_parquet_mb must be > 0, got {self.target_parquet_mb}")
        if self.row_group_rows < 1:
            raise ValueError(f"export.row_group_rows must be >= 1, got {self.row_group_rows}")
        if not (self.tars or self.parquet):
            raise ValueError("export: at least one of tars / parquet must be on")
