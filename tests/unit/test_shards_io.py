"""curate.io.shards.makedirs: creating one new folder from many workers at once."""

import threading

import pytest

from curate.io import shards


def test_makedirs_creates_parents_and_accepts_an_existing_folder(tmp_path):
    path = str(tmp_path / "a" / "b" / "kept")
    shards.makedirs(path)
    shards.makedirs(path)  # a second worker finding it there is fine
    assert (tmp_path / "a" / "b" / "kept").is_dir()


def test_makedirs_from_many_threads_at_once(tmp_path):
    """Every writer of a shard creates its folder first; they must not trip on each other."""
    errors = []
    start = threading.Barrier(16)

    def create(path):
        start.wait()
        try:
            shards.makedirs(path)
        except Exception as e:  # noqa: BLE001 - any failure is what the test looks for
            errors.append(e)

    for round_ in range(20):
        path = str(tmp_path / f"r{round_}" / "kept")
        threads = [threading.Thread(target=create, args=(path,)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_makedirs_still_fails_where_a_file_is_in_the_way(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        shards.makedirs(str(tmp_path / "file" / "kept"))
