"""Cross-fitted CapFilt filters: the uid -> fold rule, one filter per fold trained on the
other folds, stage capfilt scoring each pair with the filter that never saw it, and that
such filters, trained from scratch on a pool with swapped captions, rank those captions last."""

import json
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import cli, schema
from curate.io import shards
from curate.models.capfilt import CapFiltScorer
from curate.ops.capfilt import fold_of
from curate.validate.crossfit import FilterTrainConfig, fold_tables, train_filters
from tests.validate.fixtures import COLOURS, make_run


def test_fold_of_is_per_uid_seeded_and_balanced():
    uids = [f"{i:032x}" for i in range(3000)]
    f = fold_of(uids, 3, seed=0)
    assert f.dtype == np.int64 and set(f.tolist()) == {0, 1, 2}
    assert all(abs(c - 1000) < 100 for c in np.bincount(f))
    # a pair's fold depends on its uid only, not on the batch or its position in it
    assert fold_of(uids[::-1], 3, seed=0).tolist() == f[::-1].tolist()
    assert [fold_of([u], 3, seed=0)[0] for u in uids[:50]] == f[:50].tolist()
    assert (fold_of(uids, 3, seed=1) != f).mean() > 0.5
    assert set(fold_of(uids, 1).tolist()) == {0}
    with pytest.raises(ValueError, match="folds"):
        fold_of(uids, 0)


def test_fold_tables_hold_out_exactly_their_fold():
    uids = [f"{i:032x}" for i in range(200)]
    table = pa.table({"uid": uids})
    parts = fold_tables(table, 4, fold_seed=7)
    fold = fold_of(uids, 4, 7)
    for k, (train_rows, held_out) in enumerate(parts):
        assert set(train_rows["uid"].to_pylist()) == {u for u, f in zip(uids, fold, strict=True) if f != k}
        assert held_out == int((fold == k).sum())
    assert fold_tables(table, 1, 0)[0] == (table, 200)


def _tar_uids(pattern_folder) -> set[str]:
    out = set()
    for path in sorted(pattern_folder.glob("*.tar")):
        with tarfile.open(path) as tar:
            out |= {m.name.split(".")[0] for m in tar.getmembers()}
    return out


def _direct_score(checkpoint: str, table: pa.Table) -> np.ndarray:
    """The fold model called directly, as a user would: cosine of image and caption."""
    handler = CapFiltScorer("", checkpoint, device="cpu")
    return handler.score(table, handler.load_model()).clip_score


@pytest.mark.slow
def test_train_filters_then_capfilt_scores_out_of_fold(tmp_path):
    table = make_run(tmp_path / "r", n=48)
    run = tmp_path / "r" / "run"
    doc = train_filters(FilterTrainConfig(
        input=str(run), output=str(tmp_path / "f"), folds=2, model="curate-tiny-vit",
        batch_size=8, epochs=1, device="cpu",
    ), log=lambda s: None)
    saved = json.loads((tmp_path / "f" / "filters.json").read_text())
    assert saved["kind"] == "curate-cross-fitted-filter" and saved["folds"] == 2
    assert saved["checkpoints"] == ["fold-0/model.pt", "fold-1/model.pt"] and doc["checkpoints"] == saved["checkpoints"]
    fold = fold_of(table["uid"].to_pylist(), 2, 0)
    assert saved["rows_per_fold"] == np.bincount(fold).tolist()
    for k in range(2):  # filter k learned from every pair outside fold k, and only from those
        assert _tar_uids(tmp_path / "f" / f"fold-{k}" / "tars") == {
            u for u, f in zip(table["uid"].to_pylist(), fold, strict=True) if f != k
        }

    out = tmp_path / "cf"
    rc = cli.main([
        "capfilt", "--input", str(run / "kept"), "--output", str(out), "--filter-model", "",
        "--filter-pretrained", str(tmp_path / "f" / "filters.json"), "--captioner-model", "none",
        "--keep-top-percent", "50", "--device", "cpu",
    ])
    assert rc == 0
    kept = shards.read_table(shards.join(str(out), "kept", "*.parquet"))
    removed = shards.read_table(shards.join(str(out), "removed", "*.parquet"))
    assert kept.num_rows + removed.num_rows == 48 and 20 <= kept.num_rows <= 28
    assert set(removed["reason"].to_pylist()) == {"low_clip_score"}
    # every kept pair carries the score of the filter of its fold, and not the other's
    kept_fold = fold_of(kept["uid"].to_pylist(), 2, 0)
    for k in range(2):
        rows = kept.filter(pa.array(kept_fold == k))
        own = _direct_score(str(tmp_path / "f" / f"fold-{k}" / "model.pt"), rows)
        other = _direct_score(str(tmp_path / "f" / f"fold-{1 - k}" / "model.pt"), rows)
        np.testing.assert_allclose(rows["clip_score"].to_numpy(), own, atol=1e-5)
        assert np.abs(own - other).max() > 1e-3


def test_filter_set_file_errors(tmp_path):
    from curate.models.capfilt import read_filter_set

    assert read_filter_set(str(tmp_path / "model.pt")) is None
    path = tmp_path / "filters.json"
    path.write_text(json.dumps({"kind": "something-else"}))
    with pytest.raises(ValueError, match="not a filter set"):
        read_filter_set(str(path))
    path.write_text(json.dumps({"kind": "curate-cross-fitted-filter", "model": "m", "folds": 2, "checkpoints": ["a.pt"]}))
    with pytest.raises(ValueError, match="one checkpoint per fold"):
        read_filter_set(str(path))
    path.write_text(json.dumps({"kind": "curate-cross-fitted-filter", "model": "m", "folds": 1, "checkpoints": ["a.pt"]}))
    with pytest.raises(ValueError, match="not found"):
        read_filter_set(str(path))


def test_train_filters_refuses_folds_smaller_than_a_batch(tmp_path):
    make_run(tmp_path / "r", n=12)
    with pytest.raises(ValueError, match="fewer than one batch"):
        train_filters(FilterTrainConfig(input=str(tmp_path / "r" / "run"), output=str(tmp_path / "f"),
                                        folds=4, model="curate-tiny-vit", batch_size=8, device="cpu"))


@pytest.mark.slow
@pytest.mark.long
def test_cross_fitted_filters_rank_swapped_captions_last(tmp_path):
    """A pool of coloured squares where one caption in eight names another colour: filters
    trained from scratch on that pool, cross-fitted, give the swapped captions the lowest
    scores (each scored by the filter that never saw it)."""
    table = make_run(tmp_path / "r", n=128)
    names = list(COLOURS)
    texts = table["text"].to_pylist()
    swapped = np.zeros(len(texts), bool)
    rng = np.random.default_rng(0)
    for i in rng.choice(len(texts), len(texts) // 8, replace=False):
        right = i % len(names)  # make_run colours row i with names[i % 4]
        texts[i] = texts[i].replace(names[right], names[(right + 1 + rng.integers(3)) % len(names)])
        swapped[i] = True
    table = schema.with_column(table, "text", pa.array(texts))
    pq.write_table(table, tmp_path / "r" / "run" / "kept" / "part-00000-of-00001.parquet")
    train_filters(FilterTrainConfig(
        input=str(tmp_path / "r" / "run"), output=str(tmp_path / "f"), folds=2, model="curate-tiny-vit",
        batch_size=16, epochs=30, lr=1e-3, device="cpu",
    ), log=lambda s: None)
    handler = CapFiltScorer("", str(tmp_path / "f" / "filters.json"), device="cpu")
    scores = handler.score(table, handler.load_model()).clip_score
    # AUC of "swapped" against the score (1: every swapped caption below every right one)
    lower = (scores[swapped][:, None] < scores[~swapped][None, :]).mean()
    assert lower > 0.9, (lower, scores[swapped], np.sort(scores[~swapped])[:12])
