"""curate.io.direct: files written and read past the page cache hold exactly the bytes written,
whatever the sizes and alignment of the writes and of the ranges read back, and the same
bytes come back where the filesystem refuses O_DIRECT at open, on write or on read."""

from __future__ import annotations

import errno
import os
import random

import pytest

from curate.io import direct


def write_random(path, rng: random.Random, staging_bytes: int):
    """A file from random writes and reservations (sizes around the block and the staging
    buffer's); its bytes and the (offset, size) of each write."""
    ref, ranges = bytearray(), []
    with direct.Writer(str(path), staging_bytes=staging_bytes) as w:
        for _ in range(rng.randrange(1, 40)):
            n = rng.choice([0, 1, 7, 511, 4095, 4096, 4097, 10_000, 70_000, 300_000])
            data = rng.randbytes(n)
            assert w.tell() == len(ref)
            if rng.random() < 0.5:
                w.write(data)
            else:
                with w.reserve(n) as view:
                    view[:] = data
            ranges.append((len(ref), n))
            ref += data
    return bytes(ref), ranges, w


@pytest.mark.parametrize("seed", range(6))
def test_random_writes_and_ranges_read_back_exactly(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "x.arrows"
    ref, ranges, _ = write_random(path, rng, staging_bytes=rng.choice([4096, 8192, 65536, 1 << 20]))
    assert path.read_bytes() == ref  # the true size: the padded last block was cut off
    assert [b.to_pybytes() for b in direct.read_ranges(str(path), ranges)] == [ref[o : o + n] for o, n in ranges]
    odd = [(o, n) for o, n in ((rng.randrange(len(ref) + 1), rng.randrange(9000)) for _ in range(50)) if o + n <= len(ref)]
    odd += [(len(ref), 0), (max(0, len(ref) - 1), min(1, len(ref)))]  # at the end of the file
    assert [b.to_pybytes() for b in direct.read_ranges(str(path), odd)] == [ref[o : o + n] for o, n in odd]


def test_a_range_past_the_end_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "short.arrows"
    with direct.Writer(str(path)) as w:
        w.write(b"x" * 5000)
    with pytest.raises(OSError, match="short.arrows.*ends at byte 5000"):
        direct.read_ranges(str(path), [(4000, 2000)])


def test_direct_io_is_used_where_the_filesystem_takes_it(tmp_path):
    """The point of the module: here (Linux, a disk filesystem) the writer does bypass the
    page cache; where O_DIRECT is missing or refused, the fallback tests below hold."""
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this system")
    probe = tmp_path / "probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT))
    except OSError:
        pytest.skip("this filesystem refuses O_DIRECT")
    with direct.Writer(str(tmp_path / "x")) as w:
        w.write(b"y" * 10)
    assert w.direct


def refuse_direct_open(monkeypatch):
    real = os.open

    def fake(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(path, flags, *args)

    monkeypatch.setattr(os, "open", fake)


def test_same_bytes_where_o_direct_is_refused_at_open(tmp_path, monkeypatch):
    refuse_direct_open(monkeypatch)
    path = tmp_path / "x"
    ref, ranges, w = write_random(path, random.Random(7), staging_bytes=8192)
    assert not w.direct
    assert path.read_bytes() == ref
    assert [b.to_pybytes() for b in direct.read_ranges(str(path), ranges)] == [ref[o : o + n] for o, n in ranges]


def test_same_bytes_where_direct_writes_and_reads_are_refused(tmp_path, monkeypatch):
    """Some filesystems accept O_DIRECT at open and refuse the transfers (EINVAL): the writer
    reopens the file buffered and goes on; the reader reads it buffered."""
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this system")
    direct_fds: set[int] = set()
    real_open, real_pwrite, real_preadv = os.open, os.pwrite, os.preadv

    def fake_open(path, flags, *args):
        fd = real_open(path, flags, *args)
        (direct_fds.add if flags & os.O_DIRECT else direct_fds.discard)(fd)
        return fd

    def refuse(real):
        def call(fd, *args):
            if fd in direct_fds:
                raise OSError(errno.EINVAL, "Invalid argument")
            return real(fd, *args)

        return call

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "pwrite", refuse(real_pwrite))
    monkeypatch.setattr(os, "preadv", refuse(real_preadv))
    path = tmp_path / "x"
    ref, ranges, w = write_random(path, random.Random(8), staging_bytes=8192)
    assert not w.direct
    assert path.read_bytes() == ref
    assert [b.to_pybytes() for b in direct.read_ranges(str(path), ranges)] == [ref[o : o + n] for o, n in ranges]


def test_other_write_errors_are_not_swallowed(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError, match="No space"):
        with direct.Writer(str(tmp_path / "x"), staging_bytes=4096) as w:
            w.write(b"z" * 10_000)


def test_local_paths():
    assert direct.is_local("/tmp/x/.exchange/a.arrows")
    assert direct.is_local("relative/a.arrows")
    assert not direct.is_local("gs://bucket/x/.exchange/a.arrows")
