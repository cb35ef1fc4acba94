"""An in-memory Beam filesystem (``memfs://bucket/key``) standing in for gs:// or s3://.

Like an object store it has no directories, only keys; nothing it holds is on local disk, so
a pipeline that runs through it end to end assumes no local path anywhere. Defining the
class registers the scheme with Beam's FileSystems (subclasses are discovered by scheme).
The store is process-wide: use it with in-process runners.
"""

from __future__ import annotations

import io
import posixpath
import time

from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
)

STORE: dict[str, bytes] = {}
SCHEME = "memfs"


class _Reader(io.BytesIO):
    mode = "rb"  # CompressedFile asks the raw file for its mode


class _Writer(io.BytesIO):
    mode = "wb"

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def close(self):
        if not self.closed:
            STORE[self._path] = self.getvalue()
        super().close()


def _wrap(f, path, mime_type, compression_type):
    compression_type = (
        CompressionTypes.detect_compression_type(path)
        if compression_type == CompressionTypes.AUTO
        else compression_type
    )
    if compression_type == CompressionTypes.UNCOMPRESSED:
        return f
    return CompressedFile(f, compression_type=compression_type)


class MemFileSystem(FileSystem):
    @classmethod
    def scheme(cls):
        return SCHEME

    def join(self, basepath, *paths):
        return posixpath.join(basepath.rstrip("/"), *(p.strip("/") for p in paths))

    def split(self, path):
        head, tail = path.rstrip("/").rsplit("/", 1)
        return head, tail

    def mkdirs(self, path):
        pass  # an object store has no directories

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        for path, data in sorted(STORE.items()):
            if path.startswith(dir_or_prefix):
                yield FileMetadata(path, len(data), time.time())

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return _wrap(_Writer(path), path, mime_type, compression_type)

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        if path not in STORE:
            raise BeamIOError(f"no such object {path}", {path: FileNotFoundError(path)})
        return _wrap(_Reader(STORE[path]), path, mime_type, compression_type)

    def copy(self, source_file_names, destination_file_names):
        for s, d in zip(source_file_names, destination_file_names, strict=True):
            STORE[d] = STORE[s]

    def rename(self, source_file_names, destination_file_names):
        for s, d in zip(source_file_names, destination_file_names, strict=True):
            STORE[d] = STORE.pop(s)

    def exists(self, path):
        return path in STORE or any(k.startswith(path.rstrip("/") + "/") for k in STORE)

    def size(self, path):
        return len(STORE[path])

    def last_updated(self, path):
        return time.time()

    def checksum(self, path):
        return str(hash(STORE[path]))

    def metadata(self, path):
        return FileMetadata(path, len(STORE[path]), time.time())

    def delete(self, paths):
        for p in paths:
            for k in [k for k in STORE if k == p or k.startswith(p.rstrip("/") + "/")]:
                del STORE[k]
