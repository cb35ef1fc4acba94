"""The local runner's mode: in this process for a small input, worker processes otherwise,
and whatever the user asked for when they asked."""

from curate.runner import LOCAL_RUNNER, SMALL_INPUT_BYTES, beam_args, input_bytes


def _mode(args):
    return {a.split("=")[0]: a.split("=", 1)[1] for a in args if a.startswith("--direct_")}


def test_small_input_runs_in_process():
    assert _mode(beam_args([], 10)) == {"--direct_running_mode": "in_memory", "--direct_num_workers": "1"}
    assert f"--runner={LOCAL_RUNNER}" in beam_args([], 10)


def test_large_or_unknown_input_gets_worker_processes():
    for size in (SMALL_INPUT_BYTES, None):
        assert _mode(beam_args([], size))["--direct_running_mode"] == "multi_processing"


def test_explicit_flags_are_obeyed():
    assert _mode(beam_args(["--direct_num_workers=4"], 10)) == {
        "--direct_num_workers": "4", "--direct_running_mode": "multi_processing"}
    assert _mode(beam_args(["--direct_running_mode=multi_threading"], 10))["--direct_running_mode"] == "multi_threading"
    assert _mode(beam_args(["--runner=FlinkRunner"], 10)) == {}


def test_input_bytes(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"x" * 100)
    (tmp_path / "b.parquet").write_bytes(b"x" * 23)
    assert input_bytes(str(tmp_path)) == 123
    assert input_bytes(str(tmp_path / "*.parquet")) == 123
    assert input_bytes(str(tmp_path / "missing")) is None
