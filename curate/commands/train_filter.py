"""`curate train-filter`: cross-fitted CapFilt filters trained on a run's own pairs."""

from __future__ import annotations

HELP = "train cross-fitted CLIP filters on a run's pairs for stage capfilt (no pretrained weights needed)"
DESCRIPTION = """Bootstrap CapFilt's filter from the pool itself (BLIP's bootstrapping, DFN's filtering
network): split the run's kept pairs into K folds by uid, train one CLIP per fold on the other
folds, and write <output>/filters.json. Give that file to stage capfilt as the filter's
checkpoint; each pair is then scored by the one filter that never saw it.

  curate train-filter --input out/curated --output out/filter --model curate-micro-rn \\
      --batch-size 64 --lr 1e-3 --ema-decay 0.995 --freeze-token-embedding
  curate capfilt --input out/curated/kept --output out/capfilt --filter-model '' \\
      --filter-pretrained out/filter/filters.json --captioner-model none --keep-top-percent 70"""


def add_arguments(parser) -> None:
    from curate.commands.stage import add_stage_flags
    from curate.validate.crossfit import FilterTrainConfig

    add_stage_flags(parser, FilterTrainConfig)


def main(args, beam_args) -> int:
    from curate.commands.stage import stage_values
    from curate.validate.crossfit import FilterTrainConfig, train_filters

    values = stage_values(args, FilterTrainConfig, required=("input", "output"))
    doc = train_filters(FilterTrainConfig(**values), log=lambda s: print(s, flush=True))
    print(f"{doc['folds']} filter(s) in {values['output']}; give {values['output']}/filters.json to capfilt as --filter-pretrained")
    return 0
