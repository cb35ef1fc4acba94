"""`curate train`: train a CLIP with open_clip on exported webdataset tars."""

from __future__ import annotations

HELP = "train a CLIP (open_clip) on exported tars: ViT-B-32 bf16 on a GPU, small configs on the CPU"
DESCRIPTION = """Train an open_clip model on the tars `curate export` wrote, with checkpoints and resume.

  curate train --train-data 'out/export/tars/curated-{00000..00003}.tar' --output out/train \\
      --model ViT-B-32 --batch-size 4096 --samples-seen 12800000        # GPU, bf16
  curate train --train-data ... --output out/tiny --model curate-tiny-vit --batch-size 64 --steps 200

The result, <output>/model.pt, loads with
open_clip.create_model_and_transforms(<model>, pretrained="<output>/model.pt")
(import curate.validate.models first for the curate-* configs). log.jsonl has loss and samples/s."""


def add_arguments(parser) -> None:
    from curate.commands.stage import add_stage_flags
    from curate.validate.train import TrainConfig

    add_stage_flags(parser, TrainConfig)


def main(args, beam_args) -> int:
    from curate.commands.stage import stage_values
    from curate.validate.train import TrainConfig, train

    values = stage_values(args, TrainConfig, required=("train_data", "output"))
    config = TrainConfig(**values)

    def show(entry):
        print(f"step {entry['step']}: loss {entry['loss']:.4f} lr {entry['lr']:.2e} {entry['samples_per_s']:.1f} samples/s", flush=True)

    result = train(config, on_log=show)
    print(f"trained {result['steps']} steps ({result['samples_seen']} samples seen, {result['precision']} on {result['device']}); model: {result['model_path']}")
    return 0
