"""Cross-fitted CapFilt filters trained on the pool itself: BLIP's bootstrapping and DFN's
"data filtering network" without pretrained weights.

BLIP pre-trains on the noisy web pairs, then filters those same pairs with what it learned;
DFN trains the filter on other data. A model scoring pairs it was trained on scores them too
well (a contrastive model fits its mismatched captions too), so here the pool is split into
K folds by uid (``curate.ops.capfilt.fold_of``) and filter k is trained on every fold but k.
Stage ``capfilt`` given the resulting ``filters.json`` as its filter scores each pair with
the one model that never saw it.

``train_filters`` writes::

    <output>/fold-<k>/model.pt        filter k (a `curate train` run: log.jsonl, tars/)
    <output>/filters.json             kind, model, folds, fold_seed, checkpoints, rows per fold
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

import pyarrow as pa


@dataclass(frozen=True)
class FilterTrainConfig:
    input: str = field(metadata={"help": "run folder whose kept/ pairs (with downloaded images) the filters learn from and will score"})
    output: str = field(metadata={"help": "folder for fold-<k>/ runs and filters.json"})
    folds: int = field(default=2, metadata={"help": "K: filter k learns from every fold but k and scores fold k (1: one filter scores the pairs it learned from)"})
    fold_seed: int = field(default=0, metadata={"help": "seed of the uid -> fold assignment"})
    model: str = field(default="ViT-B-32", metadata={"help": "open_clip model trained from scratch for each fold (curate-micro-rn on a CPU)"})
    batch_size: int = field(default=256, metadata={"help": "samples per step"})
    epochs: float = field(default=20.0, metadata={"help": "passes over each filter's training folds"})
    lr: float = field(default=5e-4, metadata={"help": "peak learning rate"})
    warmup: int = field(default=10, metadata={"help": "warm-up steps"})
    ema_decay: float = field(default=0.0, metadata={"help": "keep a moving average of the weights (e.g. 0.995) and score with it; 0: off"})
    freeze_token_embedding: bool = field(default=False, metadata={"help": "keep the random token embedding fixed"})
    seed: int = field(default=0, metadata={"help": "model init and data order (filter k uses seed + k)"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if available), cpu or cuda"})

    def __post_init__(self):
        if self.folds < 1:
            raise ValueError(f"train-filter.folds must be >= 1, got {self.folds}")
        if self.epochs <= 0 or self.batch_size < 1:
            raise ValueError("train-filter: epochs > 0 and batch_size >= 1")


def fold_tables(table: pa.Table, folds: int, fold_seed: int) -> list[tuple[pa.Table, int]]:
    """Per fold k: (the pairs filter k learns from, how many pairs fold k holds)."""
    from curate.ops.capfilt import fold_of

    fold = fold_of(table["uid"].to_pylist(), folds, fold_seed)
    if folds == 1:
        return [(table, table.num_rows)]
    return [(table.filter(pa.array(fold != k)), int((fold == k).sum())) for k in range(folds)]


def train_filters(config: FilterTrainConfig, log=print) -> dict:
    """Train one filter per fold; returns the filters.json document (also written)."""
    from curate.io import export as io_export
    from curate.io import shards
    from curate.models.capfilt import FILTER_SET_KIND
    from curate.validate.compare import downloaded
    from curate.validate.train import TrainConfig, train

    table = downloaded(shards.read_table(shards.join(config.input, "kept", "*.parquet")))
    if table.num_rows == 0:
        raise ValueError(f"{config.input}: no kept pairs with a downloaded image")
    parts = fold_tables(table, config.folds, config.fold_seed)
    checkpoints, fold_rows, runs = [], [], []
    for k, (train_rows, held_out) in enumerate(parts):
        if train_rows.num_rows < config.batch_size:
            raise ValueError(
                f"filter {k} would learn from {train_rows.num_rows} pairs, fewer than one batch "
                f"({config.batch_size}); use fewer folds or a smaller batch"
            )
        folder = os.path.join(config.output, f"fold-{k}")
        t0 = time.perf_counter()
        tars = io_export.write_table_as_tars(train_rows, os.path.join(folder, "tars"), 10_000, prefix="train-")
        trained = train(TrainConfig(
            train_data=tars["train_data"], output=folder, model=config.model, batch_size=config.batch_size,
            samples_seen=max(config.batch_size, int(config.epochs * train_rows.num_rows)), lr=config.lr,
            warmup=config.warmup, seed=config.seed + k, device=config.device, cache="auto", log_every=50,
            resume=False, freeze_token_embedding=config.freeze_token_embedding, ema_decay=config.ema_decay,
        ))
        checkpoints.append(os.path.relpath(trained["model_path"], config.output))
        fold_rows.append(held_out)
        runs.append({"fold": k, "trained_on": train_rows.num_rows, "steps": trained["steps"],
                     "final_loss": trained["losses"][-1], "seconds": round(time.perf_counter() - t0, 1)})
        log(f"filter {k}: learned from {train_rows.num_rows} pairs, scores {held_out}; "
            f"{trained['steps']} steps, loss {trained['losses'][-1]:.3f} ({runs[-1]['seconds']:.0f} s)")
    doc = {
        "kind": FILTER_SET_KIND,
        "model": config.model,
        "folds": config.folds,
        "fold_seed": config.fold_seed,
        "checkpoints": checkpoints,
        "rows_per_fold": fold_rows,
        "trained_on": os.path.abspath(config.input),
        "config": asdict(config),
        "runs": runs,
    }
    os.makedirs(config.output, exist_ok=True)
    with open(os.path.join(config.output, "filters.json"), "w") as f:
        json.dump(doc, f, indent=2)
    return doc
