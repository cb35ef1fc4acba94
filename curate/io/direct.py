"""Local files written once and read once, past the operating system's page cache.

The exchange folder's files (``curate.transforms.base.PartitionedTablesFn``: dedup_text's band
rows, ~4.7 GB at 1M pairs) are written by one bundle and read once by the bundles that group
them; keeping them in the page cache helps nobody, and filling it is not free. On this
project's 2-core VM writing and reading back 4 GB of band rows cost the machine 19.3 CPU
seconds buffered (the writing process's system time and the kernel's writeback) and 10.7
with ``O_DIRECT``, at about the same wall time (``benchmarks/exchange_io.py``,
``exchange_io_2026-12-03.json``). Where the filesystem refuses ``O_DIRECT`` (tmpfs, some
network and FUSE filesystems, every non-Linux system) the same calls fall back to ordinary
buffered I/O with the same bytes.

``O_DIRECT`` needs the file offset, the length and the memory address of every transfer
aligned to the device's block; ``ALIGN`` (4096) covers 512-byte and 4K devices. Writes
therefore go through a page-aligned staging buffer (``mmap`` memory) and the file's last
block is padded, then the file is truncated to its true length; reads fetch the aligned
range around what was asked and hand out a view of it.
"""

from __future__ import annotations

import errno
import mmap
import os

import pyarrow as pa

ALIGN = 4096
STAGING_BYTES = 8 << 20


def _down(n: int) -> int:
    return n - n % ALIGN


def _up(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def is_local(path: str) -> bool:
    """A path of this machine's filesystem (no ``scheme://``), where ``os.open`` applies."""
    return "://" not in path


def _open_direct(path: str, flags: int) -> tuple[int, bool]:
    """(fd, direct?): with O_DIRECT where the OS and the filesystem take it, else without."""
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            return os.open(path, flags | direct, 0o644), True
        except OSError as e:
            if e.errno != errno.EINVAL:  # EINVAL: this filesystem has no O_DIRECT (tmpfs)
                raise
    return os.open(path, flags, 0o644), False


class Writer:
    """A local file (created, or emptied) written front to back, past the page cache where
    the filesystem allows (see the module's docstring). ``write`` copies bytes in;
    ``reserve(n)`` hands out the next n bytes of the file as writable memory (serialize
    straight into it, before the next call). ``close`` writes what is staged and leaves the
    file at its true size; ``tell`` is the number of bytes written so far."""

    def __init__(self, path: str, staging_bytes: int = STAGING_BYTES):
        self.path = path
        self.fd, self.direct = _open_direct(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        self._staging = mmap.mmap(-1, _up(max(staging_bytes, ALIGN)))
        self._base = 0  # file offset of the staging buffer's first byte (a multiple of ALIGN)
        self._pos = 0  # bytes staged
        self.closed = False

    def tell(self) -> int:
        return self._base + self._pos

    def write(self, data) -> None:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            n = min(len(view) - done, len(self._staging) - self._pos)
            self._staging[self._pos : self._pos + n] = view[done : done + n]
            self._pos += n
            done += n
            if self._pos == len(self._staging):
                self._flush()

    def reserve(self, n: int) -> memoryview:
        if self._pos + n > len(self._staging):
            self._flush()
            if self._pos + n > len(self._staging):  # larger than the staging buffer: grow it
                grown = mmap.mmap(-1, _up(self._pos + n))
                grown[: self._pos] = self._staging[: self._pos]
                self._staging = grown  # the old one is freed with the last view of it
        view = memoryview(self._staging)[self._pos : self._pos + n]
        self._pos += n
        return view

    def _flush(self) -> None:
        """Write the staged whole blocks; the partial last block moves to the front."""
        whole = _down(self._pos)
        if not whole:
            return
        with memoryview(self._staging) as staged:
            self._write_all(staged[:whole])
        tail = self._pos - whole
        self._staging[:tail] = self._staging[whole : self._pos]
        self._base += whole
        self._pos = tail

    def _write_all(self, view: memoryview) -> None:
        done = 0
        while done < len(view):
            try:
                done += os.pwrite(self.fd, view[done:], self._base + done)
            except OSError as e:
                if e.errno != errno.EINVAL or not self.direct:
                    raise
                self._reopen_buffered()  # opened with O_DIRECT, but writes are refused

    def _reopen_buffered(self) -> None:
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY)
        self.direct = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            size = self.tell()
            if self._pos:
                padded = _up(self._pos)
                self._staging[self._pos : padded] = bytes(padded - self._pos)
                with memoryview(self._staging) as staged:
                    self._write_all(staged[:padded])
            os.ftruncate(self.fd, size)
        finally:
            os.close(self.fd)
            self._staging = None  # freed with the last view of it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_ranges(path: str, ranges: list[tuple[int, int]]) -> list[pa.Buffer]:
    """The (offset, size) byte ranges of a local file, each as a buffer of its own memory,
    read past the page cache where the filesystem allows."""
    fd, direct = _open_direct(path, os.O_RDONLY)
    try:
        try:
            return [_read_range(fd, direct, path, offset, size) for offset, size in ranges]
        except _Refused:  # opened with O_DIRECT, but reads are refused
            os.close(fd)
            fd = os.open(path, os.O_RDONLY)
            return [_read_range(fd, False, path, offset, size) for offset, size in ranges]
    finally:
        os.close(fd)


class _Refused(Exception):
    pass


def _read_range(fd: int, direct: bool, path: str, offset: int, size: int) -> pa.Buffer:
    """The range in memory from Arrow's pool (which reuses what it freed: fresh pages cost a
    fault each), with room to start a direct read at an aligned address."""
    start, end = (_down(offset), _up(offset + size)) if direct else (offset, offset + size)
    memory = pa.allocate_buffer(end - start + (ALIGN if direct else 0))
    skip = -memory.address % ALIGN if direct else 0
    view = memoryview(memory)[skip : skip + end - start]
    got = 0
    while got < end - start:
        try:
            n = os.preadv(fd, [view[got:]], start + got)
        except OSError as e:
            if e.errno == errno.EINVAL and direct:
                raise _Refused from e
            raise
        if n == 0:  # the end of the file (a direct read asks up to the next block boundary)
            break
        got += n
    if start + got < offset + size:
        raise OSError(errno.EIO, f"{path}: the file ends at byte {start + got}, a range asked up to {offset + size}")
    return memory.slice(skip + offset - start, size)
