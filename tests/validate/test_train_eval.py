"""Training and evaluation on tiny exported shards: open_clip reads them, two steps lower the
loss, checkpoints round-trip through open_clip's loader, resume continues, eval on a folder."""

import argparse
import json
import os

import numpy as np
import pytest
import torch

from curate import cli
from curate.io import export as io_export
from curate.io import shards
from curate.validate import evaluate, models
from curate.validate.train import TrainConfig, lr_at, train
from tests.validate.fixtures import COLOURS, jpeg, make_run


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    table = make_run(folder, n=24)
    info = io_export.write_table_as_tars(table, str(folder / "tars"), samples_per_shard=8, prefix="s-")
    return folder, info


def test_open_clip_train_reads_the_tars(exported, monkeypatch):
    """open_clip_train.data.get_wds_dataset (what `python -m open_clip_train.main` uses) on
    our tars, with the sample count taken from our sizes.json.

    webdataset >= 0.2.96 ends each shard with an empty EOF sample that open_clip_train
    3.3's group_by_keys_nothrow cannot handle (KeyError 'fname': open_clip#935,
    webdataset#384); the documented workaround, eof_value=None, is applied here as users
    must (or pin webdataset<0.2.96)."""
    data = pytest.importorskip("open_clip_train.data")
    import functools

    from webdataset.tariterators import tar_file_expander

    monkeypatch.setattr(data, "tar_file_expander", functools.partial(tar_file_expander, eof_value=None))
    _, info = exported
    model, _, preprocess, tokenizer = models.create("curate-tiny-vit")
    args = argparse.Namespace(
        train_data=info["train_data"], val_data=None, train_num_samples=None, dataset_resampled=False,
        train_data_upsampling_factors=None, seed=0, batch_size=4, workers=1, world_size=1,
    )
    assert data.get_dataset_size(info["train_data"]) == (24, 3)
    wds_data = data.get_wds_dataset(args, preprocess, is_train=True, tokenizer=tokenizer)
    assert wds_data.dataloader.num_samples == 24
    images, texts = next(iter(wds_data.dataloader))
    assert images.shape == (4, 3, 32, 32) and texts.shape == (4, 32)


def test_two_steps_lower_the_loss_and_checkpoint_round_trips(exported, tmp_path):
    _, info = exported
    config = TrainConfig(
        train_data=info["train_data"], output=str(tmp_path / "t"), model="curate-tiny-vit",
        batch_size=24, steps=2, lr=1e-4, warmup=1, cache="yes", log_every=1,
    )
    result = train(config)
    assert result["steps"] == 2 and result["train_samples"] == 24
    # The batch is the whole set both times, so the second loss is after one update on it.
    assert result["losses"][1] < result["losses"][0]
    import open_clip

    loaded, _, _ = open_clip.create_model_and_transforms("curate-tiny-vit", pretrained=result["model_path"])
    ckpt = torch.load(result["model_path"], weights_only=True)
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, ckpt["state_dict"][name]), name
    log = [json.loads(line) for line in open(tmp_path / "t" / "log.jsonl")]
    assert [e["step"] for e in log] == [1, 2] and all(e["samples_per_s"] > 0 for e in log)


def test_resume_equals_uninterrupted(exported, tmp_path):
    """Stopped after 2 of 4 steps and resumed, a run ends with the same weights as one that
    ran straight through (data order and lr depend only on seed and step)."""
    _, info = exported
    common = dict(train_data=info["train_data"], model="curate-tiny-vit", batch_size=8, lr=1e-4,
                  warmup=1, cache="yes", log_every=100, steps=4)
    straight = train(TrainConfig(output=str(tmp_path / "a"), **common))
    first = train(TrainConfig(output=str(tmp_path / "b"), stop_at=2, **common))
    resumed = train(TrainConfig(output=str(tmp_path / "b"), **common))
    assert first["steps"] == 2 and resumed["start_step"] == 2 and resumed["steps"] == 4
    assert first["losses"] + resumed["losses"] == pytest.approx(straight["losses"], rel=1e-5)
    a = torch.load(straight["model_path"], weights_only=True)["state_dict"]
    b = torch.load(resumed["model_path"], weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_weight_average_equals_a_hand_computed_one(exported, tmp_path):
    """With --ema-decay, model.pt holds the moving average of the weights after each step,
    with timm's warm-up (decay_k = min(decay, 1 - (1 + k - 1) ** -2/3), so step 1 copies),
    recomputed here from the per-step checkpoints; the checkpoints themselves keep the raw
    weights (what resume needs) and the average beside them."""
    _, info = exported
    config = TrainConfig(train_data=info["train_data"], output=str(tmp_path / "e"), model="curate-tiny-vit",
                         batch_size=8, steps=4, lr=1e-3, warmup=1, cache="yes", log_every=100,
                         checkpoint_every=1, ema_decay=0.6)
    result = train(config)
    folder = tmp_path / "e" / "checkpoints"
    raw = [torch.load(folder / f"step_{k:07d}.pt", weights_only=True)["state_dict"] for k in range(1, 5)]
    expected = {name: value.clone() for name, value in raw[0].items()}
    for k in range(2, 5):
        decay = min(0.6, 1 - k ** (-2 / 3))
        for name, value in raw[k - 1].items():
            expected[name] = decay * expected[name] + (1 - decay) * value if value.is_floating_point() else value
    final = torch.load(result["model_path"], weights_only=True)["state_dict"]
    assert any(not torch.equal(final[name], raw[-1][name]) for name in final)  # an average, not the last weights
    for name, value in expected.items():
        assert torch.allclose(final[name], value, atol=1e-6), name
    latest = torch.load(folder / "latest.pt", weights_only=True)
    assert all(torch.equal(latest["ema_state_dict"][n], final[n]) for n in final)


def test_weight_average_resumes_exactly(exported, tmp_path):
    _, info = exported
    common = dict(train_data=info["train_data"], model="curate-tiny-vit", batch_size=8, lr=1e-3,
                  warmup=1, cache="yes", log_every=100, steps=4, ema_decay=0.6)
    straight = train(TrainConfig(output=str(tmp_path / "a"), **common))
    train(TrainConfig(output=str(tmp_path / "b"), stop_at=2, **common))
    resumed = train(TrainConfig(output=str(tmp_path / "b"), **common))
    a = torch.load(straight["model_path"], weights_only=True)["state_dict"]
    b = torch.load(resumed["model_path"], weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(ValueError, match="no weight average"):
        plain = dict(common, ema_decay=0.0)
        train(TrainConfig(output=str(tmp_path / "c"), stop_at=2, **plain))
        train(TrainConfig(output=str(tmp_path / "c"), **common))
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(train_data="x", output="y", ema_decay=1.0)


def test_lr_schedule():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(10, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, 10) < 0.001


def test_eval_on_a_tiny_folder(tmp_path):
    """A model whose image and text embeddings are rigged to a known answer gets it right;
    the folder loader and the metrics are checked against that."""
    root = tmp_path / "folder"
    for colour in ("red", "blue"):
        os.makedirs(root / colour)
        for i in range(3):
            (root / colour / f"{i}.jpg").write_bytes(jpeg(COLOURS[colour], seed=i))
    ds, templates = evaluate.load_dataset(f"folder:{root}", None)
    assert ds.classnames == ("blue", "red") and list(ds.labels) == [0, 0, 0, 1, 1, 1]
    model, _, preprocess, tokenizer = models.create("curate-tiny-vit")
    out = evaluate.zero_shot(model, tokenizer, preprocess, ds, templates)
    assert out["n"] == 6 and 0.0 <= out["top1"] <= 1.0
    assert "top5" not in out  # only two classes


@pytest.mark.parametrize(
    "logits,labels,top1,mpcr",
    [
        ([[2, 1], [0, 1], [3, 0]], [0, 1, 1], 2 / 3, 0.75),
        ([[0, 1], [0, 1]], [1, 1], 1.0, 1.0),
    ],
)
def test_accuracy_table(logits, labels, top1, mpcr):
    out = evaluate.accuracy_from_logits(np.array(logits, float), np.array(labels))
    assert out["top1"] == pytest.approx(top1) and out["mean_per_class_recall"] == pytest.approx(mpcr)


def test_recall_at_k_against_brute_force():
    rng = np.random.default_rng(0)
    sim = rng.normal(size=(30, 30))
    got = evaluate.recall_at(sim, ks=(1, 5))
    for k in (1, 5):
        want = np.mean([i in np.argsort(-sim[i])[:k] for i in range(30)])
        assert got[f"R@{k}"] == pytest.approx(want)


def test_eval_command_writes_json(exported, tmp_path):
    folder, _ = exported
    root = tmp_path / "f"
    for colour in ("red", "green"):
        os.makedirs(root / colour)
        (root / colour / "0.jpg").write_bytes(jpeg(COLOURS[colour]))
    out = tmp_path / "eval.json"
    rc = cli.main(["eval", "--model", "curate-tiny-vit", "--dataset", f"folder:{root}", "--device", "cpu",
                   "--output", str(out)])
    assert rc == 0
    result = shards.read_json(str(out))
    assert result["zero_shot"][f"folder:{root}"]["n"] == 2
