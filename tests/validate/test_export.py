"""Export: tars open_clip reads, Parquet shards, DataComp uids, the card."""

import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate import cli
from curate.io import export as io_export
from curate.ops import export as ops
from tests.validate.fixtures import make_run


@pytest.mark.parametrize("n", [0, 1, 7])
def test_datacomp_uids_round_trip_sorted_unique(n):
    rng = np.random.default_rng(n)
    uids = ["".join(rng.choice(list("0123456789abcdef"), 32)) for _ in range(n)]
    arr = ops.uids_to_datacomp(uids + uids[:1])
    assert arr.dtype == np.dtype("u8,u8")
    assert ops.datacomp_to_uids(arr) == sorted(set(uids))  # hex order == (f0, f1) order


def test_bad_uid_is_refused():
    with pytest.raises(ValueError, match="32 hex"):
        ops.uids_to_datacomp(["abc"])


def test_brace_pattern():
    assert ops.brace_pattern("d", "x-", 1) == "d/x-00000.tar"
    assert ops.brace_pattern("d", "x-", 12) == "d/x-{00000..00011}.tar"


def test_tar_bytes_deterministic_and_sorted():
    samples = [("b", b"jpg-b", "tb", {"uid": "b"}), ("a", b"jpg-a", "ta", {"uid": "a"})]
    one = io_export.tar_bytes(samples)
    assert one == io_export.tar_bytes(list(reversed(samples)))
    import io

    with tarfile.open(fileobj=io.BytesIO(one)) as tar:
        assert tar.getnames() == ["a.jpg", "a.txt", "a.json", "b.jpg", "b.txt", "b.json"]


def test_export_command(tmp_path, beam_args):
    table = make_run(tmp_path, n=30, drop_image_every=10)
    out = tmp_path / "export"
    rc = cli.main(
        ["export", "--input", str(tmp_path / "run"), "--output", str(out), "--samples-per-tar", "8",
         "--target-parquet-mb", "0.002", "--row-group-rows", "4", *beam_args]
    )
    assert rc == 0
    card = json.loads((out / "card.json").read_text())
    assert card["samples"] == 27 and card["missing_image"] == 3
    sizes = json.loads((out / "tars" / "sizes.json").read_text())
    assert len(sizes) == 4 and sum(sizes.values()) == 27  # ceil(30 / 8) tars
    names = []
    for name in sizes:
        with tarfile.open(out / "tars" / name) as tar:
            members = tar.getnames()
            assert len(members) == 3 * sizes[name]
            names += members
    exported = {n.split(".")[0] for n in names}
    assert exported == set(table["uid"].to_pylist()[i] for i in range(30) if i % 10)
    uids = io_export.read_uids(str(out / "uids.npy"))
    assert ops.datacomp_to_uids(uids) == sorted(table["uid"].to_pylist())
    parquet = sorted((out / "parquet").glob("*.parquet"))
    assert len(parquet) > 1 and sum(pq.ParquetFile(p).metadata.num_rows for p in parquet) == 30
    assert pq.ParquetFile(parquet[0]).metadata.row_group(0).num_rows <= 4
    md = (out / "card.md").read_text()
    assert "http_404: 2" in md and "fixture queries" in md and "open_clip_torch" in md
    assert card["train_data"].endswith("curated-{00000..00003}.tar")
