"""Reading samples back out of webdataset tars (what the download stage writes).

A downloaded pair has ``shard`` (the tar's path, local or remote) and ``key`` (the sample
key: members ``<key>.jpg``, ``<key>.txt``, ``<key>.json`` inside that tar).
"""

from __future__ import annotations

import io
import tarfile
from collections import defaultdict
from collections.abc import Iterable

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems


def read_members(tar_path: str, keys: Iterable[str], ext: str = "jpg") -> dict[str, bytes]:
    """{key: bytes of <key>.<ext>} for the keys found in one tar (missing keys are absent)."""
    wanted = {f"{k}.{ext}": k for k in keys}
    found: dict[str, bytes] = {}
    with FileSystems.open(tar_path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            key = wanted.get(member.name.rsplit("/", 1)[-1])
            if key is not None and member.isfile():
                found[key] = tar.extractfile(member).read()
    return found


def read_images(shards: list[str | None], keys: list[str | None], ext: str = "jpg") -> list[bytes | None]:
    """Image bytes per row of a batch (``shard`` and ``key`` columns), None where absent.

    Opens each tar once per batch."""
    by_shard: dict[str, list[str]] = defaultdict(list)
    for shard, key in zip(shards, keys, strict=True):
        if shard is not None and key is not None:
            by_shard[shard].append(key)
    found = {shard: read_members(shard, ks, ext) for shard, ks in by_shard.items()}
    return [
        found.get(shard, {}).get(key) if shard is not None and key is not None else None
        for shard, key in zip(shards, keys, strict=True)
    ]


def read_pair_images(table, reader=None) -> list[bytes | None]:
    """Image bytes per row of a pair batch: ``reader(table)`` when given (tests, benchmarks),
    else from the tars its ``shard`` / ``key`` columns name."""
    if reader is not None:
        return reader(table)
    return read_images(table["shard"].to_pylist(), table["key"].to_pylist())
