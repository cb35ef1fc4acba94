"""The demo's configs: the whole mission in two passes that `curate run --resume-from` joins,
with the bootstrapped models under the demo's output, and a report call that works with or
without the HTML report."""

import dataclasses
from pathlib import Path

import yaml

from curate import config as cfg
from curate.commands import demo
from curate.pipeline import STAGE_NAMES, resume_point

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_every_stage_in_two_passes(tmp_path):
    config = cfg.load(str(ROOT / "pipelines" / "demo.yaml"))
    assert list(config.stages) == STAGE_NAMES  # the whole mission
    moved = demo.with_bootstrap_paths(config, str(tmp_path / "d"))
    first = demo.first_pass_config(moved)
    assert list(first.stages) == STAGE_NAMES[: STAGE_NAMES.index("embed")]
    assert moved.stages["capfilt"].filter_pretrained == str(tmp_path / "d" / "filter" / "filters.json")
    assert moved.stages["embed"].pretrained == str(tmp_path / "d" / "filter" / "fold-0" / "model.pt")
    assert moved.stages["retrieve"].seed_images == str(tmp_path / "d" / "seeds")
    # pass 1's run folder is one that the whole config can resume from
    run = tmp_path / "first"
    run.mkdir()
    (run / "config.yaml").write_text(cfg.dump(dataclasses.replace(first, output=str(run))))
    (run / "stats.json").write_text('{"stages": []}')
    done, _ = resume_point(dataclasses.replace(moved, output=str(tmp_path / "d")), str(run))
    assert done == list(first.stages)


def test_validate_settings_build_their_configs(tmp_path):
    from curate.validate.compare import CompareConfig
    from curate.validate.crossfit import FilterTrainConfig

    settings = yaml.safe_load((ROOT / "pipelines" / "demo_validate.yaml").read_text())
    FilterTrainConfig(input="x", output="y", **settings["train_filter"])
    c = CompareConfig(curated="a", pool="b", output="c", **{k: tuple(v) if isinstance(v, list) else v for k, v in settings["compare"].items()})
    assert c.seeds == (0,) and c.samples_seen < 25600  # a smoke run, not the benchmark
    assert settings["retrieve_seeds"] > 0


def test_report_call_uses_html_only_where_the_report_has_it(monkeypatch):
    argv = demo.report_argv("out/demo", "m.parquet")
    from curate import cli

    parser = cli.build_parser("report")
    has_html = "--html" in parser.format_help() or "--html" in " ".join(
        o for a in next(a for a in parser._actions if a.dest == "command").choices["report"]._actions for o in a.option_strings
    )
    assert ("--html" in argv) == has_html
    assert argv[0] == "report" and "out/demo" in argv and argv[argv.index("--manifest") + 1] == "m.parquet"
    if has_html:
        assert argv[argv.index("--html") + 1] == "out/demo/report.html"
