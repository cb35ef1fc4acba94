"""Downloading one shard of pairs with img2dataset: webdataset tar + per-row results.

``download_shard(table, images_dir, config)`` runs img2dataset's own ``Downloader`` (its
thread pool, retries, X-Robots-Tag check and ``Resizer``) on one shard, in the calling
process (``processes_count=1``: Beam provides the parallelism across shards). Two things
are swapped in through img2dataset's extension points:

- the fetch: ``curate.io.fetch.download_image`` (address check in the connection path,
  size/time/redirect limits, content checks), installed once per process;
- the sample writer: ``_ShardWriter`` keys samples by the pair's ``uid`` and writes the tar
  in uid order with fixed metadata, so the same images give a byte-identical tar.

Layout under ``images_dir`` (``<output>/images``)::

    <name>.tar       members <uid>.<jpg|png|webp>, <uid>.txt, <uid>.json (successes only)
    <name>.parquet   one row per pair of the shard: uid, key, shard, status, ... (written
                     last: its presence means the shard is complete)
    .tmp/            work folders of shards in progress (``curate.io.scratch``: each
                     attempt holds a lock; the next attempt removes those of dead ones)

``<name>`` is a hash of the shard's uids and of the image settings
(``curate.ops.download.shard_name``). Both files are written under a temporary name and
renamed into place, tar first, so a crash never leaves a half-written shard under a final
name, and a rerun that finds ``<name>.parquet`` reuses the shard without downloading.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time

# img2dataset imports albumentations (which checks a registry for updates on import) and
# wandb: keep both off the network.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

import pyarrow as pa  # noqa: E402
from apache_beam.io.filesystem import CompressionTypes  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402

from curate import schema  # noqa: E402
from curate.io import fetch, scratch  # noqa: E402
from curate.io import shards as shard_io  # noqa: E402
from curate.ops import download as ops  # noqa: E402

# Bump when the tar/result layout changes, so old shards are not reused.
LAYOUT_VERSION = 1

RESULT_COLUMNS = (
    "uid",
    "key",
    "shard",
    "status",
    "error_message",
    "width",
    "height",
    "original_width",
    "original_height",
    "sha256",
)
RESULT_SCHEMA = pa.schema([schema.PAIR_COLUMNS[c] for c in RESULT_COLUMNS])
DOWNLOAD_COLUMNS = RESULT_COLUMNS[1:]
META_KEYS = ("width", "height", "original_width", "original_height")


def image_fingerprint(config) -> str:
    """The settings that change stored images: part of a shard's name."""
    keys = (
        "image_size",
        "resize_mode",
        "resize_only_if_bigger",
        "encode_format",
        "encode_quality",
        "min_image_size",
        "max_aspect_ratio",
    )
    d = {k: getattr(config, k) for k in keys}
    d["layout"] = LAYOUT_VERSION
    return json.dumps(d, sort_keys=True, default=str)


def make_resizer(config):
    from img2dataset.resizer import Resizer

    return Resizer(
        image_size=config.image_size,
        resize_mode=config.resize_mode,
        resize_only_if_bigger=config.resize_only_if_bigger,
        encode_quality=config.encode_quality,
        encode_format=config.encode_format,
        min_image_size=config.min_image_size,
        max_image_area=config.max_pixels,
        max_aspect_ratio=config.max_aspect_ratio,
    )


def policy_for(config, deadline: float | None = None) -> fetch.FetchPolicy:
    return fetch.FetchPolicy(
        timeout=config.timeout,
        request_time_limit=config.request_time_limit,
        max_bytes=config.max_bytes,
        max_pixels=config.max_pixels,
        max_redirects=config.max_redirects,
        allow_loopback=config.allow_loopback,
        deadline=deadline,
    )


class _ShardWriter:
    """img2dataset's sample-writer contract (``__init__(shard_id, output_folder,
    save_caption, oom_shard_count, schema, encode_format)``, ``write``, ``close``).

    Image bytes are spooled to a local file as they arrive (in completion order); the tar
    is written at the end in uid order, so its bytes do not depend on thread timing."""

    def __init__(self, shard_id, output_folder, save_caption, oom_shard_count, schema_, encode_format, *, sink):
        self.encode_format = encode_format
        self.spool = open(os.path.join(output_folder, "spool.bin"), "w+b")  # noqa: SIM115
        self.samples: dict[str, tuple[int, int, dict]] = {}
        self.rows: list[dict] = []
        sink.append(self)

    def write(self, img_str, key, caption, meta):
        uid = meta["uid"]
        row = {c: None for c in RESULT_COLUMNS}
        row.update(uid=uid, status=meta["status"], error_message=meta["error_message"])
        if img_str is not None:
            row.update({k: meta[k] for k in META_KEYS})
            row.update(key=uid, sha256=hashlib.sha256(img_str).hexdigest())
            offset = self.spool.tell()
            self.spool.write(img_str)
            info = {"uid": uid, "url": meta["url"], "caption": caption, **{k: row[k] for k in ("key", "status", *META_KEYS, "sha256")}}
            self.samples[uid] = (offset, len(img_str), info)
        self.rows.append(row)

    def close(self):
        self.spool.flush()

    def write_tar(self, path: str) -> None:
        with open(path, "wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for uid in sorted(self.samples):
                offset, length, info = self.samples[uid]
                self.spool.seek(offset)
                image = self.spool.read(length)
                members = (
                    (f"{uid}.{self.encode_format}", image),
                    (f"{uid}.txt", (info["caption"] or "").encode("utf-8")),
                    (f"{uid}.json", json.dumps(info, sort_keys=True).encode("utf-8")),
                )
                for name, data in members:
                    ti = tarfile.TarInfo(name)
                    ti.size, ti.mtime, ti.mode = len(data), 0, 0o444
                    ti.uname = ti.gname = "bigdata"  # as webdataset's TarWriter
                    tar.addfile(ti, io.BytesIO(data))
        self.spool.close()


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def _publish(local_path: str, dest: str) -> None:
    """Move a finished local file to `dest` atomically (rename on a local filesystem; an
    object store makes an object visible only when its upload completes)."""
    if _is_local(dest):
        os.replace(local_path, dest)
        return
    with open(local_path, "rb") as src, FileSystems.create(
        dest, compression_type=CompressionTypes.UNCOMPRESSED
    ) as dst:
        shutil.copyfileobj(src, dst, 4 * 2**20)
    os.remove(local_path)


def read_results(path: str) -> pa.Table:
    return schema.conform(pa.concat_tables(list(shard_io.read_shard(path))), RESULT_SCHEMA)


def scratch_base(images_dir: str) -> str:
    """Where shards in progress work: ``<images>/.tmp`` (local), else a local temp folder."""
    if _is_local(images_dir):
        return os.path.join(images_dir, ".tmp")
    return os.path.join(tempfile.gettempdir(), "curate-download")


@dataclasses.dataclass
class ShardResult:
    results: pa.Table  # RESULT_SCHEMA, one row per input uid
    name: str
    skipped: bool  # complete from an earlier run
    seconds: float


def download_shard(table: pa.Table, images_dir: str, config, resizer=None) -> ShardResult:
    """Download every pair of `table` (needs uid, url, text) into one webdataset shard.

    Returns one result row per uid (failures with img2dataset's status and a reason-tagged
    error message). Reuses a complete shard of an earlier run with the same name."""
    from img2dataset.downloader import Downloader

    start = time.monotonic()
    uids = table["uid"].to_pylist()
    name = ops.shard_name(uids, image_fingerprint(config))
    tar_path = shard_io.join(images_dir, f"{name}.tar")
    marker = shard_io.join(images_dir, f"{name}.parquet")
    if FileSystems.exists(marker):
        return ShardResult(read_results(marker), name, True, time.monotonic() - start)

    shard_io.makedirs(images_dir)
    fetch.install_into_img2dataset()
    # The work folder is removed on exit, and a killed attempt's by the next one.
    with scratch.attempt(scratch_base(images_dir), name) as work:
        inputs = pa.table(
            {"uid": table["uid"], "caption": table["text"], "url": table["url"]}
        ).sort_by("uid")
        ipc_path = os.path.join(work, "input.feather")
        with pa.OSFile(ipc_path, "wb") as f, pa.ipc.new_file(f, inputs.schema) as w:
            w.write_table(inputs)
        sink: list[_ShardWriter] = []
        downloader = Downloader(
            sample_writer_class=functools.partial(_ShardWriter, sink=sink),
            resizer=resizer or make_resizer(config),
            thread_count=config.thread_count,
            save_caption=True,
            extract_exif=False,
            output_folder=work,
            column_list=["uid", "caption", "url"],
            # img2dataset hands `timeout` to download_image untouched: it carries the policy.
            timeout=policy_for(config, deadline=start + config.shard_time_limit),
            number_sample_per_shard=max(1, inputs.num_rows),
            oom_shard_count=5,
            compute_hash=None,  # sha256 of the stored (resized) file is taken by _ShardWriter
            verify_hash_type=None,
            encode_format=config.encode_format,
            retries=config.retries,
            user_agent_token=config.user_agent_token or None,
            disallowed_header_directives=list(config.disallowed_header_directives) or None,
        )
        downloader.download_shard((0, ipc_path))
        writer = sink[0]
        local_tar = os.path.join(work, f"{name}.tar")
        writer.write_tar(local_tar)
        results = _complete(writer.rows, uids, tar_path)
        local_marker = os.path.join(work, f"{name}.parquet")
        with open(local_marker, "wb") as f:
            f.write(shard_io.table_to_parquet_bytes(results))
        _publish(local_tar, tar_path)  # the tar first: a marker always has its tar
        _publish(local_marker, marker)
    return ShardResult(results, name, False, time.monotonic() - start)


def _complete(rows: list[dict], uids: list[str], tar_path: str) -> pa.Table:
    """Result rows in uid order, the tar path on successes, and a failure row for any uid
    img2dataset lost (it logs and skips a sample whose processing raised)."""
    by_uid = {r["uid"]: r for r in rows}
    out = []
    for uid in sorted(set(uids)):
        r = by_uid.get(uid)
        if r is None:
            r = {c: None for c in RESULT_COLUMNS}
            r.update(
                uid=uid,
                status="failed_to_download",
                error_message=ops.tag("download_error", "img2dataset returned no result"),
            )
        elif r["key"] is not None:
            r = {**r, "shard": tar_path}
        out.append(r)
    return pa.Table.from_pylist(out, schema=RESULT_SCHEMA)
