"""Writing an exported dataset: webdataset tars, the DataComp uid array, the card files.

Tars are byte-identical for identical rows: members sorted by key, mtime 0, owner 0, mode
0o644. A sample is ``<uid>.jpg``, ``<uid>.txt`` (the caption) and ``<uid>.json`` (the pair's
columns), which is what open_clip's ``get_wds_dataset`` (and img2dataset's output) carries.
"""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pyarrow as pa

from curate.io import shards, tars
from curate.ops import export as ops


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def tar_bytes(samples: list[tuple[str, bytes, str, dict]]) -> bytes:
    """(key, jpg bytes, caption, metadata) samples → the bytes of one webdataset tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, jpg, text, meta in sorted(samples, key=lambda s: s[0]):
            _add_member(tar, f"{key}.jpg", jpg)
            _add_member(tar, f"{key}.txt", (text or "").encode("utf-8"))
            _add_member(tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode("utf-8"))
    return buf.getvalue()


def table_samples(table: pa.Table) -> tuple[list[tuple[str, bytes, str, dict]], int]:
    """The samples of a batch of pairs (images read from their download tars), and how
    many rows had no image to read (no shard/key, or the member is missing)."""
    n = table.num_rows
    shard_col = table["shard"].to_pylist() if "shard" in table.column_names else [None] * n
    key_col = table["key"].to_pylist() if "key" in table.column_names else [None] * n
    images = tars.read_images(shard_col, key_col)
    columns = [c for c in ops.SAMPLE_JSON_COLUMNS if c in table.column_names]
    rows = table.select(columns).to_pylist()
    samples, missing = [], 0
    for row, image in zip(rows, images, strict=True):
        if image is None:
            missing += 1
            continue
        samples.append((row["uid"], image, row.get("text") or "", ops.sample_metadata(row)))
    return samples, missing


def write_tar(path: str, samples: list[tuple[str, bytes, str, dict]]) -> int:
    shards.write_bytes(path, tar_bytes(samples))
    return len(samples)


def write_table_as_tars(table: pa.Table, folder: str, samples_per_shard: int, prefix: str = "") -> dict:
    """A small table (fits in memory) → tars ``<folder>/<prefix>NNNNN.tar`` + sizes.json.

    Rows go to tar ``int(uid[:15], 16) % num_shards`` (as the Beam export does), so the
    same rows give the same tars. Returns {"sizes": {name: count}, "missing_image": n,
    "train_data": brace pattern, "samples": total}."""
    n_shards = ops.num_shards(table.num_rows, samples_per_shard)
    sizes, missing = {}, 0
    parts = dict(shards.split_into_shards(table, n_shards)) if table.num_rows else {}
    for i in range(n_shards):
        part = parts.get(i)
        samples, miss = table_samples(part) if part is not None else ([], 0)
        missing += miss
        name = f"{prefix}{i:05d}.tar"
        sizes[name] = write_tar(shards.join(folder, name), samples)
    shards.write_json(shards.join(folder, "sizes.json"), sizes)
    return {
        "sizes": sizes,
        "missing_image": missing,
        "samples": sum(sizes.values()),
        "train_data": ops.brace_pattern(folder, prefix, n_shards),
    }


def write_uids(path: str, uids) -> int:
    """Write DataComp's sorted ``u8,u8`` uid array; returns how many uids."""
    arr = ops.uids_to_datacomp(uids)
    buf = io.BytesIO()
    np.save(buf, arr)
    shards.write_bytes(path, buf.getvalue())
    return len(arr)


def read_uids(path: str) -> np.ndarray:
    return np.load(io.BytesIO(shards.read_bytes(path)))


def read_text_if_exists(path: str) -> str | None:
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        return None
    return shards.read_bytes(path).decode("utf-8")


def bytes_per_row(pattern: str) -> tuple[int, float]:
    """(rows, on-disk bytes per row) of the Parquet shards matching `pattern` (from their
    footers and file sizes, without reading the data)."""
    from apache_beam.io.filesystems import FileSystems

    found = [m for m in FileSystems.match([pattern])[0].metadata_list if m.path.endswith(".parquet")]
    rows = shards.shard_rows([m.path for m in found])
    size = sum(m.size_in_bytes for m in found)
    return rows, (size / rows if rows else 0.0)


def write_json_to(obj, path: str) -> str:
    shards.write_json(path, obj)
    return path


def fill_empty_tars(folder: str, prefix: str, count: int, sizes: dict) -> dict:
    """Write an empty tar for every index in range(count) that got no rows (hashing can
    leave one empty), so the brace pattern names only files that exist."""
    sizes = dict(sizes)
    for i in range(count):
        name = f"{prefix}{i:05d}.tar"
        if name not in sizes:
            sizes[name] = write_tar(shards.join(folder, name), [])
    return dict(sorted(sizes.items()))
